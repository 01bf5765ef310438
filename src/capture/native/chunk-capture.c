/*
 * flowlog_capture: live libpcap capture that hands over a whole read at once.
 *
 * node-pcap's binding calls pcap_dispatch(handle, 1, ...) and crosses into JavaScript once per
 * packet; with the packet path itself in WebAssembly that crossing is most of the cost. Here one
 * call of `dispatch` copies every frame libpcap holds (as many as fit) into a caller-owned buffer,
 * laid out as pcap file records, which is what the replay kernel reads:
 *
 *   offset 0  u32 LE seconds
 *          4  u32 LE microseconds
 *          8  u32 LE captured length (<= snaplen)
 *         12  u32 LE wire length
 *         16  captured bytes, then the next record
 *
 * The handle is non-blocking on TPACKET_V3 (a read timeout above 0): the kernel hands a block over
 * when it fills or the timeout passes, libuv polls the descriptor, `dispatch` never waits.
 *
 * Exports: open(device, snaplen, bufferBytes, timeoutMs, filter, promiscuous) -> handle (throws),
 * linkType(h), snaplen(h), start(h, onReadable), dispatch(h, buffer, offset, length) -> bytes
 * written (-1 read error: see lastError(h); -2 closed), stats(h) -> [recv, drop, ifdrop],
 * lastError(h), close(h). Nothing here allocates JavaScript values per packet or per dispatch.
 */
#include <node_api.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct {
  pcap_t *pcap;
  uv_poll_t poll;
  int poll_inited;   /* uv_poll_init succeeded: the poll handle must be uv_close()d */
  int poll_closed;   /* uv_close callback ran */
  int finalized;     /* the JavaScript handle was collected */
  napi_env env;
  napi_ref on_readable;
  napi_async_context async;
  int link_type;
  uint32_t snaplen;
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
  if (c->finalized && (!c->poll_inited || c->poll_closed)) free(c);
}

static void on_poll_closed(uv_handle_t *handle) {
  capture_t *c = (capture_t *)handle->data;
  c->poll_closed = 1;
  free_if_done(c);
}

/* Stops polling and frees libpcap's handle; the struct lives until the poll handle is closed. */
static void close_capture(capture_t *c, napi_env env) {
  if (c->pcap == NULL) return;
  if (c->poll_inited && !c->poll_closed && !uv_is_closing((uv_handle_t *)&c->poll)) {
    uv_poll_stop(&c->poll);
    uv_close((uv_handle_t *)&c->poll, on_poll_closed);
  }
  pcap_close(c->pcap);
  c->pcap = NULL;
  if (env != NULL && c->on_readable != NULL) {
    napi_delete_reference(env, c->on_readable);
    c->on_readable = NULL;
  }
  if (env != NULL && c->async != NULL) {
    napi_async_destroy(env, c->async);
    c->async = NULL;
  }
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

static int get_string(napi_env env, napi_value v, char *buf, size_t size) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok) return 0;
  return len < size - 1;
}

static napi_value open_capture(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) {
    napi_throw_type_error(env, NULL, "open(device, snaplen, bufferBytes, timeoutMs, filter, promiscuous)");
    return NULL;
  }
  char device[256];
  char filter[4096];
  uint32_t snaplen = 0, buffer_bytes = 0, timeout_ms = 0;
  bool promiscuous = false;
  if (!get_string(env, argv[0], device, sizeof device) || !get_string(env, argv[4], filter, sizeof filter) ||
      napi_get_value_uint32(env, argv[1], &snaplen) != napi_ok || napi_get_value_uint32(env, argv[2], &buffer_bytes) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &timeout_ms) != napi_ok || napi_get_value_bool(env, argv[5], &promiscuous) != napi_ok) {
    napi_throw_type_error(env, NULL, "open: bad arguments");
    return NULL;
  }
  char errbuf[PCAP_ERRBUF_SIZE];
  errbuf[0] = 0;
  pcap_t *p = pcap_create(device, errbuf);
  if (p == NULL) {
    napi_throw_error(env, NULL, errbuf);
    return NULL;
  }
  pcap_set_snaplen(p, (int)snaplen);
  pcap_set_promisc(p, promiscuous ? 1 : 0);
  pcap_set_buffer_size(p, (int)buffer_bytes);
  if (timeout_ms == 0) pcap_set_immediate_mode(p, 1);
  else pcap_set_timeout(p, (int)timeout_ms);
  int rc = pcap_activate(p);
  if (rc < 0) {
    char message[PCAP_ERRBUF_SIZE + 64];
    const char *detail = pcap_geterr(p);
    snprintf(message, sizeof message, "%s%s%s", pcap_statustostr(rc), detail[0] ? ": " : "", detail);
    pcap_close(p);
    napi_throw_error(env, NULL, message);
    return NULL;
  }
  if (filter[0] != 0) {
    struct bpf_program program;
    if (pcap_compile(p, &program, filter, 1, PCAP_NETMASK_UNKNOWN) != 0 || pcap_setfilter(p, &program) != 0) {
      char message[PCAP_ERRBUF_SIZE + 64];
      snprintf(message, sizeof message, "filter: %s", pcap_geterr(p));
      pcap_close(p);
      napi_throw_error(env, NULL, message);
      return NULL;
    }
    pcap_freecode(&program);
  }
  if (pcap_setnonblock(p, 1, errbuf) != 0 || pcap_get_selectable_fd(p) < 0) {
    pcap_close(p);
    napi_throw_error(env, NULL, errbuf[0] ? errbuf : "no selectable descriptor");
    return NULL;
  }
  capture_t *c = (capture_t *)calloc(1, sizeof(capture_t));
  if (c == NULL) {
    pcap_close(p);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  c->pcap = p;
  c->env = env;
  c->link_type = pcap_datalink(p);
  c->snaplen = (uint32_t)pcap_snapshot(p);
  napi_value handle;
  if (napi_create_external(env, c, finalize, NULL, &handle) != napi_ok) {
    pcap_close(p);
    free(c);
    napi_throw_error(env, NULL, "open: cannot wrap the handle");
    return NULL;
  }
  return handle;
}

static napi_value link_type(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  capture_t *c = unwrap(env, argv[0]);
  if (c == NULL) return NULL;
  CHECK(napi_create_int32(env, c->link_type, &result));
  return result;
}

static napi_value snaplen_of(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  capture_t *c = unwrap(env, argv[0]);
  if (c == NULL) return NULL;
  CHECK(napi_create_uint32(env, c->snaplen, &result));
  return result;
}

static void on_poll(uv_poll_t *poll, int status, int events) {
  (void)status;
  (void)events;
  capture_t *c = (capture_t *)poll->data;
  if (c->pcap == NULL || c->on_readable == NULL) return;
  napi_env env = c->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, result;
  if (napi_get_reference_value(env, c->on_readable, &fn) == napi_ok && fn != NULL && napi_get_global(env, &recv) == napi_ok) {
    /* make_callback runs the microtask queue and reports a throw as an uncaught exception */
    napi_make_callback(env, c->async, recv, fn, 0, NULL, &result);
  }
  napi_close_handle_scope(env, scope);
}

static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  capture_t *c = unwrap(env, argv[0]);
  if (c == NULL) return NULL;
  if (c->pcap == NULL || c->poll_inited) {
    napi_throw_error(env, NULL, c->pcap == NULL ? "start: closed" : "start: already started");
    return NULL;
  }
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  CHECK(napi_create_reference(env, argv[1], 1, &c->on_readable));
  napi_value name;
  CHECK(napi_create_string_utf8(env, "flowlog_capture", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, NULL, name, &c->async));
  if (uv_poll_init(loop, &c->poll, pcap_get_selectable_fd(c->pcap)) != 0) {
    napi_throw_error(env, NULL, "start: cannot poll the descriptor");
    return NULL;
  }
  c->poll_inited = 1;
  c->poll.data = c;
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
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  capture_t *c = unwrap(env, argv[0]);
  if (c == NULL) return NULL;
  if (c->pcap == NULL) {
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
  int32_t answer = (int32_t)c->used;
  if (rc == PCAP_ERROR && c->used == 0) {
    snprintf(c->error, sizeof c->error, "%s", pcap_geterr(c->pcap));
    answer = -1;
  }
  c->out = NULL;
  CHECK(napi_create_int32(env, answer, &result));
  return result;
}

static napi_value stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result, v;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  capture_t *c = unwrap(env, argv[0]);
  if (c == NULL) return NULL;
  struct pcap_stat s;
  if (c->pcap == NULL || pcap_stats(c->pcap, &s) != 0) {
    CHECK(napi_get_null(env, &result));
    return result;
  }
  CHECK(napi_create_array_with_length(env, 3, &result));
  CHECK(napi_create_uint32(env, s.ps_recv, &v));
  CHECK(napi_set_element(env, result, 0, v));
  CHECK(napi_create_uint32(env, s.ps_drop, &v));
  CHECK(napi_set_element(env, result, 1, v));
  CHECK(napi_create_uint32(env, s.ps_ifdrop, &v));
  CHECK(napi_set_element(env, result, 2, v));
  return result;
}

static napi_value last_error(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  capture_t *c = unwrap(env, argv[0]);
  if (c == NULL) return NULL;
  CHECK(napi_create_string_utf8(env, c->error, NAPI_AUTO_LENGTH, &result));
  return result;
}

static napi_value close_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  capture_t *c = unwrap(env, argv[0]);
  if (c == NULL) return NULL;
  close_capture(c, env);
  return NULL;
}

static napi_value lib_version(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  CHECK(napi_create_string_utf8(env, pcap_lib_version(), NAPI_AUTO_LENGTH, &result));
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, open_capture, NULL, NULL, NULL, napi_default, NULL},
      {"linkType", NULL, link_type, NULL, NULL, NULL, napi_default, NULL},
      {"snaplen", NULL, snaplen_of, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, start, NULL, NULL, NULL, napi_default, NULL},
      {"dispatch", NULL, dispatch, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, stats, NULL, NULL, NULL, napi_default, NULL},
      {"lastError", NULL, last_error, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, close_js, NULL, NULL, NULL, napi_default, NULL},
      {"libVersion", NULL, lib_version, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
