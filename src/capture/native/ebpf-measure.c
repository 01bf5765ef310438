/*
 * Measurements for bench/ebpf-bench.js: programStats(h), runTimeStats(on), testRun(h, frame,
 * repeat). Not used on the capture path.
 */
#include "ebpf-engine.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

/* programStats(h) -> [program id, run count, run time ns]: counts only while run-time statistics
 * are on (runTimeStats / kernel.bpf_stats_enabled); for the bench's kernel time per packet. */
napi_value program_stats(napi_env env, napi_callback_info info) {
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
napi_value test_run(napi_env env, napi_callback_info info) {
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
napi_value run_time_stats(napi_env env, napi_callback_info info) {
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
