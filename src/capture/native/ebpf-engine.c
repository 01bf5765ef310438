/*
 * flowlog_ebpf: the project's own addon over libbpf for the TC flow program
 * (src/capture/ebpf/flow-tc.bpf.c). It loads the object, fills the configuration maps, attaches
 * the program to devices (ebpf-attach.c), swaps and drains the flow tables (ebpf-drain.c) and
 * probes the kernel (ebpf-probe.c). The TypeScript contract is src/capture/ebpf/ebpf-engine.ts.
 *
 * Exports: open(objectPath, flowCapacity, maxSlots, maxDevices, maxAddresses, fragCapacity) ->
 * handle (throws with libbpf's last lines), close(h, force), setSlot(h, slot, quota, flags),
 * setMac(h, mac6, slot) / deleteMac(h, mac6), setAddress(h, family, addr16, prefixLen, slot) /
 * deleteAddress(h, family, addr16, prefixLen), stats(h, Float64Array(STAT_COUNT)),
 * info(h) -> [tableEntries, flowCapacity, maxSlots, maxDevices, ncpus], programStats(h),
 * runTimeStats(on), testRun(h, frame, repeat), attach/detach/attached/hooks,
 * drain, probe, and the layout constants.
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
  if (e->prog_fd < 0 || e->outer_fd < 0 || e->table_fd[0] < 0 || e->table_fd[1] < 0 || e->devices_fd < 0 || e->slots_fd < 0 ||
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

static engine_t *call_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
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

static int get_bytes(napi_env env, napi_value v, void **data, size_t *len) {
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  return napi_get_typedarray_info(env, v, &type, len, data, &ab, &off) == napi_ok && type == napi_uint8_array;
}

static napi_value set_slot(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  engine_t *e = call_args(env, info, 4, argv);
  if (e == NULL) return NULL;
  uint32_t slot, quota, flags;
  if (napi_get_value_uint32(env, argv[1], &slot) != napi_ok || napi_get_value_uint32(env, argv[2], &quota) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &flags) != napi_ok || slot >= e->max_slots) {
    napi_throw_range_error(env, NULL, "setSlot(h, slot < maxSlots, quota, flags): bad arguments");
    return NULL;
  }
  struct slot_info si = {.flow_quota = quota, .flags = (uint8_t)flags};
  if (bpf_map_update_elem(e->slots_fd, &slot, &si, BPF_ANY) != 0) return throw_errno(env, "set slot", errno);
  return NULL;
}

static int mac_arg(napi_env env, napi_value v, struct mac_key *k) {
  void *data;
  size_t len;
  if (!get_bytes(env, v, &data, &len) || len != 6) return 0;
  memset(k, 0, sizeof *k);
  memcpy(k->mac, data, 6);
  return 1;
}

static napi_value set_mac(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  engine_t *e = call_args(env, info, 3, argv);
  if (e == NULL) return NULL;
  struct mac_key k;
  uint32_t slot;
  if (!mac_arg(env, argv[1], &k) || napi_get_value_uint32(env, argv[2], &slot) != napi_ok || slot >= e->max_slots) {
    napi_throw_range_error(env, NULL, "setMac(h, Uint8Array(6), slot < maxSlots): bad arguments");
    return NULL;
  }
  if (bpf_map_update_elem(e->macs_fd, &k, &slot, BPF_ANY) != 0) return throw_errno(env, "set ENI MAC", errno);
  return NULL;
}

static napi_value delete_mac(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  engine_t *e = call_args(env, info, 2, argv);
  if (e == NULL) return NULL;
  struct mac_key k;
  if (!mac_arg(env, argv[1], &k)) {
    napi_throw_range_error(env, NULL, "deleteMac(h, Uint8Array(6)): bad arguments");
    return NULL;
  }
  if (bpf_map_delete_elem(e->macs_fd, &k) != 0 && errno != ENOENT) return throw_errno(env, "delete ENI MAC", errno);
  return NULL;
}

/* family 4 or 6, the address's 16 bytes (IPv4 in the first 4), prefix length in address bits. */
static int addr_arg(napi_env env, napi_value *argv, struct addr_key *k) {
  uint32_t family, plen;
  void *data;
  size_t len;
  if (napi_get_value_uint32(env, argv[0], &family) != napi_ok || !get_bytes(env, argv[1], &data, &len) || len != 16 ||
      napi_get_value_uint32(env, argv[2], &plen) != napi_ok || (family != 4 && family != 6) || plen > (family == 4 ? 32u : 128u))
    return 0;
  memset(k, 0, sizeof *k);
  k->prefixlen = 8 + plen;
  k->family = (uint8_t)family;
  memcpy(k->addr, data, 16);
  return 1;
}

static napi_value set_address(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  engine_t *e = call_args(env, info, 5, argv);
  if (e == NULL) return NULL;
  struct addr_key k;
  uint32_t slot;
  if (!addr_arg(env, argv + 1, &k) || napi_get_value_uint32(env, argv[4], &slot) != napi_ok || slot >= e->max_slots) {
    napi_throw_range_error(env, NULL, "setAddress(h, family, Uint8Array(16), prefixLen, slot): bad arguments");
    return NULL;
  }
  if (bpf_map_update_elem(e->addrs_fd, &k, &slot, BPF_ANY) != 0) return throw_errno(env, "set ENI address", errno);
  return NULL;
}

static napi_value delete_address(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  engine_t *e = call_args(env, info, 4, argv);
  if (e == NULL) return NULL;
  struct addr_key k;
  if (!addr_arg(env, argv + 1, &k)) {
    napi_throw_range_error(env, NULL, "deleteAddress(h, family, Uint8Array(16), prefixLen): bad arguments");
    return NULL;
  }
  if (bpf_map_delete_elem(e->addrs_fd, &k) != 0 && errno != ENOENT) return throw_errno(env, "delete ENI address", errno);
  return NULL;
}

/* The global counters summed over CPUs into a caller-owned Float64Array(STAT_COUNT). */
static napi_value read_stats(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  engine_t *e = call_args(env, info, 2, argv);
  if (e == NULL) return NULL;
  napi_typedarray_type type;
  size_t len, off;
  void *data;
  napi_value ab;
  if (napi_get_typedarray_info(env, argv[1], &type, &len, &data, &ab, &off) != napi_ok || type != napi_float64_array || len < STAT_COUNT) {
    napi_throw_type_error(env, NULL, "stats(h, Float64Array(STAT_COUNT)): bad arguments");
    return NULL;
  }
  /* A per-CPU value is rounded up to 8 bytes per CPU; this one is 8 x STAT_COUNT already. */
  uint64_t *percpu = (uint64_t *)calloc((size_t)e->ncpus, sizeof(uint64_t) * STAT_COUNT);
  if (percpu == NULL) return throw_errno(env, "read counters", ENOMEM);
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(e->stats_fd, &zero, percpu) != 0) {
    int err = errno;
    free(percpu);
    return throw_errno(env, "read counters", err);
  }
  double *out = (double *)data;
  for (int s = 0; s < STAT_COUNT; s++) {
    uint64_t sum = 0;
    for (int c = 0; c < e->ncpus; c++) sum += percpu[(size_t)c * STAT_COUNT + s];
    out[s] = (double)sum;
  }
  free(percpu);
  return NULL;
}

static napi_value engine_info(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  engine_t *e = call_args(env, info, 1, argv);
  if (e == NULL) return NULL;
  napi_value arr, v;
  double vals[5] = {e->table_entries, e->flow_capacity, e->max_slots, e->max_devices, e->ncpus};
  NAPI_CALL(env, napi_create_array_with_length(env, 5, &arr));
  for (uint32_t i = 0; i < 5; i++) {
    NAPI_CALL(env, napi_create_double(env, vals[i], &v));
    NAPI_CALL(env, napi_set_element(env, arr, i, v));
  }
  return arr;
}

/* programStats(h) -> [program id, run count, run time ns]: counts only while run-time statistics
 * are on (runTimeStats / kernel.bpf_stats_enabled); for the bench's kernel time per packet. */
static napi_value program_stats(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  engine_t *e = call_args(env, info, 1, argv);
  if (e == NULL) return NULL;
  struct bpf_prog_info pi;
  uint32_t len = sizeof pi;
  memset(&pi, 0, sizeof pi);
  if (bpf_obj_get_info_by_fd(e->prog_fd, &pi, &len) != 0) return throw_errno(env, "read program statistics", errno);
  napi_value arr, v;
  double vals[3] = {pi.id, (double)pi.run_cnt, (double)pi.run_time_ns};
  NAPI_CALL(env, napi_create_array_with_length(env, 3, &arr));
  for (uint32_t i = 0; i < 3; i++) {
    NAPI_CALL(env, napi_create_double(env, vals[i], &v));
    NAPI_CALL(env, napi_set_element(env, arr, i, v));
  }
  return arr;
}

/*
 * testRun(h, frame, repeat) -> [ns per run of the flow program, ns per run of a two-instruction
 * program, the flow program's return value]: BPF_PROG_TEST_RUN on the frame as if it arrived on
 * the loopback device (ifindex 1, registered as slot 0's own device for the run). The kernel
 * times `repeat` runs in a loop: the program's cost without softirq, hook or statistics
 * overhead, and the empty program's figure is that loop's own cost on this machine.
 */
static napi_value test_run(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  engine_t *e = call_args(env, info, 3, argv);
  if (e == NULL) return NULL;
  void *frame;
  size_t len;
  uint32_t repeat;
  if (!get_bytes(env, argv[1], &frame, &len) || napi_get_value_uint32(env, argv[2], &repeat) != napi_ok || len < 14) {
    napi_throw_type_error(env, NULL, "testRun(h, Uint8Array frame, repeat): bad arguments");
    return NULL;
  }
  uint32_t lo = 1;
  struct device_info di = {.slot = 0, .kind = DEVICE_OWN};
  if (bpf_map_update_elem(e->devices_fd, &lo, &di, BPF_ANY) != 0) return throw_errno(env, "test run", errno);
  double ns[2] = {0, 0};
  uint32_t retval = 0;
  struct bpf_insn insns[2] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = -1},
      {.code = BPF_JMP | BPF_EXIT},
  };
  int empty = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "flowlog_empty", "Apache-2.0", insns, 2, NULL);
  int err = empty < 0 ? errno : 0;
  for (int i = 0; i < 2 && err == 0; i++) {
    DECLARE_LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = (uint32_t)len, .repeat = (int)repeat);
    if (bpf_prog_test_run_opts(i == 0 ? e->prog_fd : empty, &o) != 0) err = errno;
    ns[i] = o.duration;
    if (i == 0) retval = o.retval;
  }
  if (empty >= 0) close(empty);
  bpf_map_delete_elem(e->devices_fd, &lo);
  if (err != 0) return throw_errno(env, "test run", err);
  napi_value arr, v;
  double vals[3] = {ns[0], ns[1], (double)(int32_t)retval};
  NAPI_CALL(env, napi_create_array_with_length(env, 3, &arr));
  for (uint32_t i = 0; i < 3; i++) {
    NAPI_CALL(env, napi_create_double(env, vals[i], &v));
    NAPI_CALL(env, napi_set_element(env, arr, i, v));
  }
  return arr;
}

/* runTimeStats(on) -> true: BPF_ENABLE_STATS holds run-time statistics on (for every program,
 * as the sysctl does) while its descriptor is open; off closes it. A killed process leaves them off. */
static int stats_fd = -1;
static napi_value run_time_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool on = false;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_bool(env, argv[0], &on) != napi_ok) {
    napi_throw_type_error(env, NULL, "runTimeStats(on): bad arguments");
    return NULL;
  }
  if (on && stats_fd < 0) {
    stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
    if (stats_fd < 0) return throw_errno(env, "enable BPF run-time statistics", errno);
  } else if (!on && stats_fd >= 0) {
    close(stats_fd);
    stats_fd = -1;
  }
  return NULL;
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
