/*
 * flowlog_capture: live libpcap capture that hands over a whole read at once.
 *
 * node-pcap's binding calls pcap_dispatch(handle, 1, ...) and crosses into JavaScript once per
 * packet; with the packet path itself in WebAssembly that crossing is most of the cost. Here one
 * call of `dispatch` copies every frame libpcap holds (as many as fit) into a caller-owned buffer,
 * laid out as pcap file records, which is what the packet kernel reads:
 *
 *   offset 0  u32 LE seconds
 *          4  u32 LE microseconds (libpcap), or the segmentation (own ring: bit 31 set)
 *          8  u32 LE captured length (<= snaplen)
 *         12  u32 LE wire length
 *         16  captured bytes, then the next record
 *
 * The handle is non-blocking on TPACKET_V3 (a read timeout above 0): the kernel hands a block over
 * when it fills or the timeout passes, libuv polls the descriptor, `dispatch` never waits.
 *
 * Ethernet devices are read from the addon's own TPACKET_V3 ring (packet-ring.c), which adds the
 * kernel's virtio_net_hdr: word 1 of their records is the segmentation of a GSO/GRO super-frame
 * (bit 31 set, see packet-ring.c) instead of microseconds. Other devices (loopback, tun, GRE)
 * go through libpcap's ring, as before; their word 1 is microseconds (bit 31 clear).
 *
 * Exports: open(device, snaplen, bufferBytes, timeoutMs, filter, promiscuous) -> handle (throws);
 * openAsync(same..., callback(error, handle)) activates on a libuv worker; closeAsync(h, callback);
 * describe(h) -> [linkType, snaplen, mtu (0: unknown), 1 when word 1 carries the segmentation],
 * start(h, onReadable), dispatch(h, buffer, offset, length) -> bytes
 * written (-1 read error: see lastError(h); -2 closed), stats(h) -> [recv, drop, ifdrop],
 * lastError(h), close(h). Nothing here allocates JavaScript values per packet or per dispatch.
 */
#include <net/if.h>
#include <node_api.h>
#include <pcap/pcap.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "packet-ring.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "link-events.h"

typedef struct {
  /* Exactly one of the two while open: the addon's own ring (Ethernet) or libpcap's. */
  pcap_t *pcap;
  packet_ring_t *ring;
  uv_poll_t poll;
  int poll_inited;   /* uv_poll_init succeeded: the poll handle must be uv_close()d */
  int poll_closed;   /* uv_close callback ran */
  /* The pause after each read (see start): the poll stops and this timer starts it again. */
  uv_timer_t pause;
  uint32_t pause_ms;
  int pause_inited;
  int pause_closed;
  int finalized;     /* the JavaScript handle was collected */
  napi_env env;
  napi_ref on_readable;
  napi_async_context async;
  int link_type;
  uint32_t snaplen;
  uint32_t mtu;
  /* dispatch target, valid during one dispatch call */
  uint8_t *out;
  size_t room;
  size_t used;
  char error[PCAP_ERRBUF_SIZE + 64];
} capture_t;

#define CHECK(call)                                                          \
  do {                                                                       \
    if ((call) != napi_ok) {                                                 \
      napi_throw_error(env, NULL, "flowlog_capture: N-API call failed: " #call); \
      return NULL;                                                           \
    }                                                                        \
  } while (0)

static void free_if_done(capture_t *c) {
  if (c->finalized && (!c->poll_inited || c->poll_closed) && (!c->pause_inited || c->pause_closed)) free(c);
}

static void on_poll_closed(uv_handle_t *handle) {
  capture_t *c = (capture_t *)handle->data;
  c->poll_closed = 1;
  free_if_done(c);
}

static void on_pause_closed(uv_handle_t *handle) {
  capture_t *c = (capture_t *)handle->data;
  c->pause_closed = 1;
  free_if_done(c);
}

/* Stops polling and drops the JavaScript references (idempotent); libpcap's handle is untouched. */
static void detach(capture_t *c, napi_env env) {
  if (c->pause_inited && !c->pause_closed && !uv_is_closing((uv_handle_t *)&c->pause)) {
    uv_timer_stop(&c->pause);
    uv_close((uv_handle_t *)&c->pause, on_pause_closed);
  }
  if (c->poll_inited && !c->poll_closed && !uv_is_closing((uv_handle_t *)&c->poll)) {
    uv_poll_stop(&c->poll);
    uv_close((uv_handle_t *)&c->poll, on_poll_closed);
  }
  if (env != NULL && c->on_readable != NULL) {
    napi_delete_reference(env, c->on_readable);
    c->on_readable = NULL;
  }
  if (env != NULL && c->async != NULL) {
    napi_async_destroy(env, c->async);
    c->async = NULL;
  }
}

static int is_open(const capture_t *c) { return c->pcap != NULL || c->ring != NULL; }

/* Stops polling and frees the ring; the struct lives until the poll handle is closed. */
static void close_capture(capture_t *c, napi_env env) {
  if (!is_open(c)) return;
  detach(c, env);
  if (c->pcap != NULL) pcap_close(c->pcap);
  packet_ring_close(c->ring);
  c->pcap = NULL;
  c->ring = NULL;
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  capture_t *c = (capture_t *)data;
  close_capture(c, env);
  c->finalized = 1;
  free_if_done(c);
}

static capture_t *unwrap(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "flowlog_capture: not a capture handle");
    return NULL;
  }
  return (capture_t *)data;
}

/* The call's arguments (up to *argc into argv) and its first, the capture handle; NULL when it throws. */
static capture_t *handle_call(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  if (napi_get_cb_info(env, info, argc, argv, NULL, NULL) != napi_ok) {
    napi_throw_error(env, NULL, "flowlog_capture: cannot read the arguments");
    return NULL;
  }
  return unwrap(env, argv[0]);
}

static int get_string(napi_env env, napi_value v, char *buf, size_t size) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok) return 0;
  return len < size - 1;
}

/* Calls a job's callback (the global object as `this`), then releases the callback and the work. */
static void answer(napi_env env, napi_ref callback, napi_async_work work, size_t argc, napi_value *argv) {
  napi_value fn, recv, result;
  if (napi_get_reference_value(env, callback, &fn) == napi_ok && napi_get_global(env, &recv) == napi_ok) napi_call_function(env, recv, fn, argc, argv, &result);
  napi_delete_reference(env, callback);
  if (work != NULL) napi_delete_async_work(env, work);
}

/* Queues `data` on a libuv worker: `execute` there, then `complete` on the main thread. */
static napi_status queue(napi_env env, const char *name, napi_async_execute_callback execute, napi_async_complete_callback complete, void *data,
                         napi_async_work *work) {
  napi_value resource;
  napi_status status = napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource);
  if (status == napi_ok) status = napi_create_async_work(env, NULL, resource, execute, complete, data, work);
  if (status == napi_ok) status = napi_queue_async_work(env, *work);
  return status;
}

/* What an open needs, read on the main thread; activated on the main thread or a worker. */
typedef struct {
  char device[256];
  char filter[4096];
  uint32_t snaplen, buffer_bytes, timeout_ms;
  bool promiscuous;
  pcap_t *pcap;
  packet_ring_t *ring;
  uint32_t mtu;
  char error[PCAP_ERRBUF_SIZE + 80];
  napi_async_work work;
  napi_ref callback;
} open_job_t;

static int read_open_args(napi_env env, napi_value *argv, open_job_t *o) {
  return get_string(env, argv[0], o->device, sizeof o->device) && get_string(env, argv[4], o->filter, sizeof o->filter) &&
         napi_get_value_uint32(env, argv[1], &o->snaplen) == napi_ok && napi_get_value_uint32(env, argv[2], &o->buffer_bytes) == napi_ok &&
         napi_get_value_uint32(env, argv[3], &o->timeout_ms) == napi_ok && napi_get_value_bool(env, argv[5], &o->promiscuous) == napi_ok;
}

/* The MTU of `device`, 0 when it cannot be read. */
static uint32_t device_mtu(const char *device) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (strlen(device) >= sizeof ifr.ifr_name) return 0;
  strcpy(ifr.ifr_name, device);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  int ok = ioctl(fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0;
  close(fd);
  return ok ? (uint32_t)ifr.ifr_mtu : 0;
}

/*
 * Creates and activates the handle (ring, filter, non-blocking). Touches no JavaScript, so it may
 * run on a libuv worker: activating a packet socket waits for kernel RCU grace periods (about
 * 13 ms each), so hundreds of devices open in parallel or not at all within seconds.
 */
static void activate(open_job_t *o) {
  char errbuf[PCAP_ERRBUF_SIZE];
  errbuf[0] = 0;
  o->pcap = NULL;
  int not_ethernet = 0;
  o->ring = packet_ring_open(o->device, o->snaplen, o->buffer_bytes, o->timeout_ms, o->filter, o->promiscuous, o->error, sizeof o->error, &not_ethernet);
  if (o->ring != NULL) {
    o->mtu = packet_ring_mtu(o->ring);
    return;
  }
  if (!not_ethernet) return;
  o->error[0] = 0;
  o->mtu = device_mtu(o->device);
  pcap_t *p = pcap_create(o->device, errbuf);
  if (p == NULL) {
    snprintf(o->error, sizeof o->error, "%s", errbuf);
    return;
  }
  pcap_set_snaplen(p, (int)o->snaplen);
  pcap_set_promisc(p, o->promiscuous ? 1 : 0);
  pcap_set_buffer_size(p, (int)o->buffer_bytes);
  if (o->timeout_ms == 0) pcap_set_immediate_mode(p, 1);
  else pcap_set_timeout(p, (int)o->timeout_ms);
  int rc = pcap_activate(p);
  if (rc < 0) {
    const char *status = pcap_statustostr(rc);
    const char *detail = pcap_geterr(p);
    int same = detail[0] == 0 || strcmp(detail, status) == 0; /* libpcap often repeats the status */
    snprintf(o->error, sizeof o->error, "%s%s%s", status, same ? "" : ": ", same ? "" : detail);
    pcap_close(p);
    return;
  }
  if (o->filter[0] != 0) {
    struct bpf_program program;
    if (pcap_compile(p, &program, o->filter, 1, PCAP_NETMASK_UNKNOWN) != 0 || pcap_setfilter(p, &program) != 0) {
      snprintf(o->error, sizeof o->error, "filter: %s", pcap_geterr(p));
      pcap_close(p);
      return;
    }
    pcap_freecode(&program);
  }
  if (pcap_setnonblock(p, 1, errbuf) != 0 || pcap_get_selectable_fd(p) < 0) {
    snprintf(o->error, sizeof o->error, "%s", errbuf[0] ? errbuf : "no selectable descriptor");
    pcap_close(p);
    return;
  }
  o->pcap = p;
}

/* Wraps an opened job's ring as the JavaScript handle; NULL (ring closed) when that fails. */
static napi_value wrap(napi_env env, open_job_t *o) {
  capture_t *c = (capture_t *)calloc(1, sizeof(capture_t));
  napi_value handle;
  if (c != NULL) {
    c->pcap = o->pcap;
    c->ring = o->ring;
    c->env = env;
    c->link_type = o->ring != NULL ? DLT_EN10MB : pcap_datalink(o->pcap);
    c->snaplen = o->ring != NULL ? o->snaplen : (uint32_t)pcap_snapshot(o->pcap);
    c->mtu = o->mtu;
  }
  if (c == NULL || napi_create_external(env, c, finalize, NULL, &handle) != napi_ok) {
    if (o->pcap != NULL) pcap_close(o->pcap);
    packet_ring_close(o->ring);
    free(c);
    return NULL;
  }
  return handle;
}

static napi_value open_capture(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  open_job_t o;
  memset(&o, 0, sizeof o);
  if (argc < 6 || !read_open_args(env, argv, &o)) {
    napi_throw_type_error(env, NULL, "open(device, snaplen, bufferBytes, timeoutMs, filter, promiscuous): bad arguments");
    return NULL;
  }
  activate(&o);
  if (o.pcap == NULL && o.ring == NULL) {
    napi_throw_error(env, NULL, o.error);
    return NULL;
  }
  napi_value handle = wrap(env, &o);
  if (handle == NULL) napi_throw_error(env, NULL, "open: cannot wrap the handle");
  return handle;
}

static void open_execute(napi_env env, void *data) {
  (void)env;
  activate((open_job_t *)data);
}

/* Back on the main thread: callback(error message or null, handle or undefined). */
static void open_complete(napi_env env, napi_status status, void *data) {
  open_job_t *o = (open_job_t *)data;
  napi_value argv[2];
  napi_get_undefined(env, &argv[1]);
  if (status != napi_ok && (o->pcap != NULL || o->ring != NULL)) {
    if (o->pcap != NULL) pcap_close(o->pcap);
    packet_ring_close(o->ring);
    o->pcap = NULL;
    o->ring = NULL;
    snprintf(o->error, sizeof o->error, "open cancelled");
  }
  int opened = o->pcap != NULL || o->ring != NULL;
  napi_value handle = opened ? wrap(env, o) : NULL;
  if (handle != NULL) {
    napi_get_null(env, &argv[0]);
    argv[1] = handle;
  } else {
    napi_create_string_utf8(env, opened ? "open: cannot wrap the handle" : o->error, NAPI_AUTO_LENGTH, &argv[0]);
  }
  answer(env, o->callback, o->work, 2, argv);
  free(o);
}

static napi_value open_async(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  open_job_t *o = (open_job_t *)calloc(1, sizeof(open_job_t));
  if (o == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  if (argc < 7 || !read_open_args(env, argv, o)) {
    free(o);
    napi_throw_type_error(env, NULL, "openAsync(device, snaplen, bufferBytes, timeoutMs, filter, promiscuous, callback): bad arguments");
    return NULL;
  }
  CHECK(napi_create_reference(env, argv[6], 1, &o->callback));
  CHECK(queue(env, "flowlog_capture_open", open_execute, open_complete, o, &o->work));
  return NULL;
}

/* describe(h) -> [link type (DLT), snaplen, MTU (0: unknown), 1 when records carry the segmentation] */
static napi_value describe(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result, v;
  capture_t *c = handle_call(env, info, &argc, argv);
  if (c == NULL) return NULL;
  CHECK(napi_create_array_with_length(env, 4, &result));
  CHECK(napi_create_int32(env, c->link_type, &v));
  CHECK(napi_set_element(env, result, 0, v));
  CHECK(napi_create_uint32(env, c->snaplen, &v));
  CHECK(napi_set_element(env, result, 1, v));
  CHECK(napi_create_uint32(env, c->mtu, &v));
  CHECK(napi_set_element(env, result, 2, v));
  CHECK(napi_create_uint32(env, c->ring != NULL ? 1 : 0, &v));
  CHECK(napi_set_element(env, result, 3, v));
  return result;
}

static void on_poll(uv_poll_t *poll, int status, int events);

/* The pause after a read is over: poll again (a descriptor already readable calls back at once). */
static void on_pause_end(uv_timer_t *timer) {
  capture_t *c = (capture_t *)timer->data;
  if (is_open(c) && c->poll_inited && !uv_is_closing((uv_handle_t *)&c->poll)) uv_poll_start(&c->poll, UV_READABLE, on_poll);
}

static void on_poll(uv_poll_t *poll, int status, int events) {
  (void)status;
  (void)events;
  capture_t *c = (capture_t *)poll->data;
  if (!is_open(c) || c->on_readable == NULL) return;
  napi_env env = c->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, result;
  if (napi_get_reference_value(env, c->on_readable, &fn) == napi_ok && fn != NULL && napi_get_global(env, &recv) == napi_ok) {
    /* make_callback runs the microtask queue and reports a throw as an uncaught exception */
    napi_make_callback(env, c->async, recv, fn, 0, NULL, &result);
  }
  napi_close_handle_scope(env, scope);
  /* The callback read the ring empty (or closed the handle). Frames arriving now gather in the
   * ring for pause_ms, so one wake-up reads several blocks instead of one. */
  if (c->pause_ms > 0 && is_open(c) && c->pause_inited && !uv_is_closing((uv_handle_t *)&c->poll)) {
    uv_poll_stop(&c->poll);
    uv_timer_start(&c->pause, on_pause_end, c->pause_ms, 0);
  }
}

/* start(h, onReadable, pauseMs): calls onReadable when the descriptor is readable, then polls
 * again only pauseMs later (0: at once). */
static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  capture_t *c = handle_call(env, info, &argc, argv);
  if (c == NULL) return NULL;
  uint32_t pause_ms = 0;
  if (argc < 3 || napi_get_value_uint32(env, argv[2], &pause_ms) != napi_ok) {
    napi_throw_type_error(env, NULL, "start(handle, onReadable, pauseMs): bad arguments");
    return NULL;
  }
  if (!is_open(c) || c->poll_inited) {
    napi_throw_error(env, NULL, !is_open(c) ? "start: closed" : "start: already started");
    return NULL;
  }
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  CHECK(napi_create_reference(env, argv[1], 1, &c->on_readable));
  napi_value name;
  CHECK(napi_create_string_utf8(env, "flowlog_capture", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, NULL, name, &c->async));
  if (uv_poll_init(loop, &c->poll, c->ring != NULL ? packet_ring_fd(c->ring) : pcap_get_selectable_fd(c->pcap)) != 0) {
    napi_throw_error(env, NULL, "start: cannot poll the descriptor");
    return NULL;
  }
  c->poll_inited = 1;
  c->poll.data = c;
  if (pause_ms > 0 && uv_timer_init(loop, &c->pause) == 0) {
    c->pause_inited = 1;
    c->pause.data = c;
    c->pause_ms = pause_ms;
  }
  uv_poll_start(&c->poll, UV_READABLE, on_poll);
  return NULL;
}

static void copy_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes) {
  capture_t *c = (capture_t *)user;
  uint32_t caplen = h->caplen;
  if (caplen > c->snaplen) caplen = c->snaplen; /* libpcap never exceeds it; the room check relies on it */
  uint8_t *at = c->out + c->used;
  uint32_t words[4] = {(uint32_t)h->ts.tv_sec, (uint32_t)h->ts.tv_usec, caplen, h->len};
  memcpy(at, words, 16); /* x86-64 and arm64 are little-endian: the pcap record layout as is */
  memcpy(at + 16, bytes, caplen);
  c->used += 16 + caplen;
}

static napi_value dispatch(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], result;
  capture_t *c = handle_call(env, info, &argc, argv);
  if (c == NULL) return NULL;
  if (!is_open(c)) {
    CHECK(napi_create_int32(env, -2, &result));
    return result;
  }
  void *data = NULL;
  size_t length = 0;
  uint32_t offset = 0, room = 0;
  if (napi_get_buffer_info(env, argv[1], &data, &length) != napi_ok || napi_get_value_uint32(env, argv[2], &offset) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &room) != napi_ok || (size_t)offset + room > length) {
    napi_throw_range_error(env, NULL, "dispatch: buffer range out of bounds");
    return NULL;
  }
  if (c->ring != NULL) {
    long n = packet_ring_read(c->ring, (uint8_t *)data + offset, room, c->error, sizeof c->error);
    CHECK(napi_create_int32(env, n < 0 ? -1 : (int32_t)n, &result));
    return result;
  }
  c->out = (uint8_t *)data + offset;
  c->room = room;
  c->used = 0;
  const size_t record_max = 16 + (size_t)c->snaplen;
  int rc = 0;
  /* Each pass takes as many packets as surely fit; libpcap keeps its place inside a block. */
  while (c->room - c->used >= record_max) {
    int fit = (int)((c->room - c->used) / record_max);
    rc = pcap_dispatch(c->pcap, fit, copy_packet, (u_char *)c);
    if (rc <= 0) break;
  }
  int32_t bytes = (int32_t)c->used;
  if (rc == PCAP_ERROR && c->used == 0) {
    snprintf(c->error, sizeof c->error, "%s", pcap_geterr(c->pcap));
    bytes = -1;
  }
  c->out = NULL;
  CHECK(napi_create_int32(env, bytes, &result));
  return result;
}

static napi_value stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result, v;
  capture_t *c = handle_call(env, info, &argc, argv);
  if (c == NULL) return NULL;
  struct pcap_stat s;
  uint32_t recv = 0, drop = 0, ifdrop = 0;
  int failed = c->ring != NULL ? packet_ring_stats(c->ring, &recv, &drop, &ifdrop) != 0 : c->pcap == NULL || pcap_stats(c->pcap, &s) != 0;
  if (failed) {
    CHECK(napi_get_null(env, &result));
    return result;
  }
  if (c->ring == NULL) {
    recv = s.ps_recv;
    drop = s.ps_drop;
    ifdrop = s.ps_ifdrop;
  }
  CHECK(napi_create_array_with_length(env, 3, &result));
  CHECK(napi_create_uint32(env, recv, &v));
  CHECK(napi_set_element(env, result, 0, v));
  CHECK(napi_create_uint32(env, drop, &v));
  CHECK(napi_set_element(env, result, 1, v));
  CHECK(napi_create_uint32(env, ifdrop, &v));
  CHECK(napi_set_element(env, result, 2, v));
  return result;
}

static napi_value last_error(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  capture_t *c = handle_call(env, info, &argc, argv);
  if (c == NULL) return NULL;
  CHECK(napi_create_string_utf8(env, c->error, NAPI_AUTO_LENGTH, &result));
  return result;
}

static napi_value close_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  capture_t *c = handle_call(env, info, &argc, argv);
  if (c == NULL) return NULL;
  close_capture(c, env);
  return NULL;
}

typedef struct {
  pcap_t *pcap;
  packet_ring_t *ring;
  napi_async_work work;
  napi_ref callback;
} close_job_t;

static void close_execute(napi_env env, void *data) {
  (void)env;
  close_job_t *j = (close_job_t *)data;
  /* releasing a packet socket waits for an RCU grace period too */
  if (j->pcap != NULL) pcap_close(j->pcap);
  packet_ring_close(j->ring);
}

static void close_complete(napi_env env, napi_status status, void *data) {
  (void)status;
  close_job_t *j = (close_job_t *)data;
  answer(env, j->callback, j->work, 0, NULL);
  free(j);
}

/* closeAsync(h, callback): stops polling now; libpcap's handle is freed on a worker. */
static napi_value close_async(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  capture_t *c = handle_call(env, info, &argc, argv);
  if (c == NULL) return NULL;
  close_job_t *j = (close_job_t *)calloc(1, sizeof(close_job_t));
  if (j == NULL) {
    close_capture(c, env);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  j->pcap = c->pcap;
  j->ring = c->ring;
  c->pcap = NULL;
  c->ring = NULL;
  detach(c, env);
  CHECK(napi_create_reference(env, argv[1], 1, &j->callback));
  if (j->pcap == NULL && j->ring == NULL) { /* already closed: answer at once */
    answer(env, j->callback, NULL, 0, NULL);
    free(j);
    return NULL;
  }
  CHECK(queue(env, "flowlog_capture_close", close_execute, close_complete, j, &j->work));
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, open_capture, NULL, NULL, NULL, napi_default, NULL},
      {"openAsync", NULL, open_async, NULL, NULL, NULL, napi_default, NULL},
      {"closeAsync", NULL, close_async, NULL, NULL, NULL, napi_default, NULL},
      {"describe", NULL, describe, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, start, NULL, NULL, NULL, napi_default, NULL},
      {"dispatch", NULL, dispatch, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, stats, NULL, NULL, NULL, napi_default, NULL},
      {"lastError", NULL, last_error, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, close_js, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  if (flowlog_link_events_init(env, exports) != napi_ok) return NULL; /* link-events.c */
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
