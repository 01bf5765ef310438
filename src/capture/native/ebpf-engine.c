/*
 * flowlog_ebpf: the project's own addon over libbpf for the TC flow program
 * (src/capture/ebpf/flow-tc.bpf.c). It loads the object, fills the configuration maps, attaches
 * the program to devices (ebpf-attach.c), swaps and drains the flow tables (ebpf-drain.c) and
 * probes the kernel (ebpf-probe.c). The TypeScript contract is src/capture/ebpf/ebpf-engine.ts.
 *
 * Exports: open(objectPath, flowCapacity, maxSlots, maxDevices, maxAddresses, fragCapacity) ->
 * handle (throws with libbpf's last lines), close(h, force), the configuration and counters of
 * ebpf-maps.c, the measurements of ebpf-measure.c, attach/detach/attached/hooks, drain, probe,
 * and the layout constants.
 */
#include "ebpf-engine.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Static_assert(sizeof(struct flow_key) == 40, "flow_key is 40 bytes");
_Static_assert(sizeof(struct flow_value) == 40, "flow_value is 40 bytes");
_Static_assert(sizeof(struct device_info) == 4, "device_info is 4 bytes");
_Static_assert(sizeof(struct slot_info) == 8, "slot_info is 8 bytes");
_Static_assert(sizeof(struct mac_key) == 8, "mac_key is 8 bytes");

/* libbpf's messages, the last few KiB, for the error of a failed load (the verifier's verdict). */
static char log_ring[4096];
static size_t log_len;
static uv_mutex_t log_lock;
static uv_once_t log_once = UV_ONCE_INIT;

static void log_init(void) { uv_mutex_init(&log_lock); }

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  /* The verifier's log comes as one message of many KiB, its verdict at the end: keep the tail. */
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(NULL, 0, fmt, copy);
  va_end(copy);
  if (n <= 0) return 0;
  char *line = (char *)malloc((size_t)n + 1);
  if (line == NULL) return 0;
  vsnprintf(line, (size_t)n + 1, fmt, args);
  const char *from = line;
  size_t len = (size_t)n;
  if (len > sizeof log_ring) {
    from += len - sizeof log_ring;
    len = sizeof log_ring;
  }
  uv_mutex_lock(&log_lock);
  if (log_len + len > sizeof log_ring) { /* drop the oldest */
    size_t keep = sizeof log_ring - len < log_len ? sizeof log_ring - len : log_len;
    memmove(log_ring, log_ring + log_len - keep, keep);
    log_len = keep;
  }
  memcpy(log_ring + log_len, from, len);
  log_len += len;
  uv_mutex_unlock(&log_lock);
  free(line);
  return n;
}

void libbpf_log_tail(char *out, size_t size) {
  uv_mutex_lock(&log_lock);
  size_t n = log_len < size - 1 ? log_len : size - 1;
  memcpy(out, log_ring + log_len - n, n);
  out[n] = 0;
  uv_mutex_unlock(&log_lock);
}

static void log_clear(void) {
  uv_mutex_lock(&log_lock);
  log_len = 0;
  uv_mutex_unlock(&log_lock);
}

napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[6144];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err < 0 ? -err : err));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static void engine_free_maps(engine_t *e) {
  if (e->obj != NULL) bpf_object__close(e->obj);
  e->obj = NULL;
}

static void cleanup_hook(void *arg) {
  /* The process exits with the engine open: clsact filters would outlive it. */
  engine_t *e = (engine_t *)arg;
  e->hook_ran = 1;
  if (e->closed) return;
  detach_all(e);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  engine_t *e = (engine_t *)data;
  if (!e->closed) {
    if (!e->hook_ran) napi_remove_env_cleanup_hook(env, cleanup_hook, e);
    detach_all(e);
    engine_free_maps(e);
  }
  free(e->att);
  uv_mutex_destroy(&e->lock);
  free(e);
}

engine_t *engine_unwrap(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "flowlog_ebpf: not an engine handle");
    return NULL;
  }
  engine_t *e = (engine_t *)data;
  if (e->closed) {
    napi_throw_error(env, NULL, "flowlog_ebpf: the engine is closed");
    return NULL;
  }
  return e;
}

static int map_fd(struct bpf_object *obj, const char *name) {
  struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
  return m == NULL ? -1 : bpf_map__fd(m);
}

static int set_entries(struct bpf_object *obj, const char *name, uint32_t n) {
  struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
  return m == NULL ? -ENOENT : bpf_map__set_max_entries(m, n);
}

static napi_value open_engine(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[4096];
  size_t len = 0;
  uint32_t flows = 0, max_slots = 0, max_devices = 0, max_addrs = 0, frag_cap = 0;
  if (argc < 6 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok || len >= sizeof path - 1 ||
      napi_get_value_uint32(env, argv[1], &flows) != napi_ok || napi_get_value_uint32(env, argv[2], &max_slots) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &max_devices) != napi_ok || napi_get_value_uint32(env, argv[4], &max_addrs) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &frag_cap) != napi_ok || flows == 0 || max_slots == 0 || max_slots > 65535 ||
      max_devices == 0 || max_addrs == 0 || frag_cap == 0) {
    napi_throw_type_error(env, NULL, "open(objectPath, flowCapacity, maxSlots (1..65535), maxDevices, maxAddresses, fragCapacity): bad arguments");
    return NULL;
  }
  uv_once(&log_once, log_init);
  libbpf_set_print(libbpf_print);
  log_clear();

  engine_t *e = (engine_t *)calloc(1, sizeof(engine_t));
  if (e == NULL) return throw_errno(env, "open eBPF engine", ENOMEM);
  uv_mutex_init(&e->lock);
  e->flow_capacity = flows;
  e->max_slots = max_slots;
  e->max_devices = max_devices;
  /* Every slot's reserved keys live in both tables from the start, so flows never take their room. */
  e->table_entries = flows + max_slots * LOSS_REASONS;
  e->ncpus = libbpf_num_possible_cpus();

  char what[5700];
  int err = 0;
  e->obj = bpf_object__open_file(path, NULL);
  if (e->obj == NULL) {
    err = errno;
    snprintf(what, sizeof what, "open BPF object %s", path);
    goto fail;
  }
  if ((err = -set_entries(e->obj, "flows_a", e->table_entries)) != 0 || (err = -set_entries(e->obj, "flows_b", e->table_entries)) != 0 ||
      (err = -set_entries(e->obj, "devices", max_devices)) != 0 || (err = -set_entries(e->obj, "slots", max_slots)) != 0 ||
      (err = -set_entries(e->obj, "eni_macs", max_slots)) != 0 || (err = -set_entries(e->obj, "eni_addrs", max_addrs)) != 0 ||
      (err = -set_entries(e->obj, "frags", frag_cap)) != 0) {
    snprintf(what, sizeof what, "size the maps of %s", path);
    goto fail;
  }
  err = bpf_object__load(e->obj);
  if (err != 0) {
    char tail[1500];
    libbpf_log_tail(tail, sizeof tail);
    snprintf(what, sizeof what, "load BPF object %s (%s)", path, tail);
    err = -err;
    goto fail;
  }
  struct bpf_program *prog = bpf_object__find_program_by_name(e->obj, FLOWLOG_PROG_NAME);
  e->prog_fd = prog == NULL ? -1 : bpf_program__fd(prog);
  e->outer_fd = map_fd(e->obj, "live_flows");
  e->table_fd[0] = map_fd(e->obj, "flows_a");
  e->table_fd[1] = map_fd(e->obj, "flows_b");
  e->devices_fd = map_fd(e->obj, "devices");
  e->slots_fd = map_fd(e->obj, "slots");
  e->macs_fd = map_fd(e->obj, "eni_macs");
  e->addrs_fd = map_fd(e->obj, "eni_addrs");
  e->frags_fd = map_fd(e->obj, "frags");
  e->stats_fd = map_fd(e->obj, "stats");
  e->wall_offset_fd = map_fd(e->obj, "wall_offset");
  if (e->wall_offset_fd < 0 || e->prog_fd < 0 || e->outer_fd < 0 || e->table_fd[0] < 0 || e->table_fd[1] < 0 || e->devices_fd < 0 || e->slots_fd < 0 ||
      e->macs_fd < 0 || e->addrs_fd < 0 || e->frags_fd < 0 || e->stats_fd < 0) {
    err = ENOENT;
    snprintf(what, sizeof what, "find the program and maps in %s (an object of another version?)", path);
    goto fail;
  }
  /* libbpf put flows_a into live_flows[0]; say so explicitly, whatever its version does. */
  uint32_t zero = 0;
  e->live = 0;
  if (bpf_map_update_elem(e->outer_fd, &zero, &e->table_fd[0], BPF_ANY) != 0) {
    err = errno;
    snprintf(what, sizeof what, "set the live table");
    goto fail;
  }
  {
    struct timespec real, mono;
    clock_gettime(CLOCK_REALTIME, &real);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    int64_t offset = ((int64_t)real.tv_sec - mono.tv_sec) * 1000000000LL + (real.tv_nsec - mono.tv_nsec);
    if (bpf_map_update_elem(e->wall_offset_fd, &zero, &offset, BPF_ANY) != 0) {
      err = errno;
      snprintf(what, sizeof what, "set the wall-clock offset");
      goto fail;
    }
  }
  for (int t = 0; t < 2; t++) {
    if ((err = -insert_reserved(e, e->table_fd[t])) != 0) {
      snprintf(what, sizeof what, "insert the reserved keys");
      goto fail;
    }
  }
  napi_value handle;
  if (napi_create_external(env, e, finalize, NULL, &handle) != napi_ok) {
    err = ENOMEM;
    snprintf(what, sizeof what, "wrap the engine");
    goto fail;
  }
  napi_add_env_cleanup_hook(env, cleanup_hook, e);
  return handle;

fail:
  engine_free_maps(e);
  uv_mutex_destroy(&e->lock);
  free(e);
  return throw_errno(env, what, err);
}

engine_t *call_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, NULL, "flowlog_ebpf: missing arguments");
    return NULL;
  }
  return engine_unwrap(env, argv[0]);
}

/* close(h, force): force skips the wait for pending work (process exit: it will never complete). */
static napi_value close_engine(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  engine_t *e = call_args(env, info, 2, argv);
  if (e == NULL) return NULL;
  bool force = false;
  napi_get_value_bool(env, argv[1], &force);
  uv_mutex_lock(&e->lock);
  int busy = e->pending;
  uv_mutex_unlock(&e->lock);
  if (busy && !force) {
    napi_throw_error(env, NULL, "close eBPF engine: attach, detach or drain still running");
    return NULL;
  }
  int failed = detach_all(e);
  engine_free_maps(e);
  e->closed = 1;
  napi_remove_env_cleanup_hook(env, cleanup_hook, e);
  napi_value v;
  NAPI_CALL(env, napi_create_uint32(env, (uint32_t)failed, &v));
  return v;
}

static void set_u32(napi_env env, napi_value obj, const char *name, uint32_t value) {
  napi_value v;
  if (napi_create_uint32(env, value, &v) == napi_ok) napi_set_named_property(env, obj, name, v);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"open", NULL, open_engine, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, close_engine, NULL, NULL, NULL, napi_default, NULL},
      {"setSlot", NULL, set_slot, NULL, NULL, NULL, napi_default, NULL},
      {"setMac", NULL, set_mac, NULL, NULL, NULL, napi_default, NULL},
      {"deleteMac", NULL, delete_mac, NULL, NULL, NULL, napi_default, NULL},
      {"setAddress", NULL, set_address, NULL, NULL, NULL, napi_default, NULL},
      {"deleteAddress", NULL, delete_address, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, read_stats, NULL, NULL, NULL, napi_default, NULL},
      {"info", NULL, engine_info, NULL, NULL, NULL, napi_default, NULL},
      {"attach", NULL, attach_async, NULL, NULL, NULL, napi_default, NULL},
      {"detach", NULL, detach_async, NULL, NULL, NULL, napi_default, NULL},
      {"attached", NULL, list_attached, NULL, NULL, NULL, napi_default, NULL},
      {"hooks", NULL, query_hooks, NULL, NULL, NULL, napi_default, NULL},
      {"drain", NULL, drain_async, NULL, NULL, NULL, napi_default, NULL},
      {"probe", NULL, probe, NULL, NULL, NULL, napi_default, NULL},
      {"programStats", NULL, program_stats, NULL, NULL, NULL, napi_default, NULL},
      {"runTimeStats", NULL, run_time_stats, NULL, NULL, NULL, napi_default, NULL},
      {"testRun", NULL, test_run, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) != napi_ok) return NULL;
  /* The layout the TypeScript side checks its own constants against at load. */
  set_u32(env, exports, "RECORD_BYTES", RECORD_BYTES);
  set_u32(env, exports, "LOSS_REASONS", LOSS_REASONS);
  set_u32(env, exports, "STAT_COUNT", STAT_COUNT);
  set_u32(env, exports, "TC_HANDLE", FLOWLOG_TC_HANDLE);
  set_u32(env, exports, "TC_PRIORITY", FLOWLOG_TC_PRIORITY);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
