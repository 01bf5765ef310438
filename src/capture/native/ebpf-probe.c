/*
 * probe() -> { usable, reason, kernelRelease, tcx, batchOps, capabilities: { bpf, netAdmin,
 * perfmon, sysAdmin }, libbpf }: whether this process can run the flow program here, and if not,
 * why, in one sentence for the `capture started` line. It asks the kernel rather than comparing
 * version numbers (distribution kernels backport features): it creates a map, runs a batch
 * lookup on it, loads a two-instruction sched_cls program, builds a map-in-map, and asks
 * BPF_LINK_CREATE for a TCX link on ifindex 0 (ENODEV: the kernel knows TCX; EINVAL: it does not).
 * Nothing is attached and everything is closed before it returns.
 */
#include "ebpf-engine.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static int has_cap(const struct __user_cap_data_struct *data, int cap) {
  return (data[cap / 32].effective >> (cap % 32)) & 1;
}

static void set_bool(napi_env env, napi_value obj, const char *name, int value) {
  napi_value v;
  if (napi_get_boolean(env, value != 0, &v) == napi_ok) napi_set_named_property(env, obj, name, v);
}

static void set_str(napi_env env, napi_value obj, const char *name, const char *value) {
  napi_value v;
  if (napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v) == napi_ok) napi_set_named_property(env, obj, name, v);
}

static const char *missing_caps(int bpf, int net_admin, int sys_admin) {
  if (!net_admin && !sys_admin) return "CAP_NET_ADMIN";
  if (!bpf && !sys_admin) return "CAP_BPF";
  return NULL;
}

napi_value probe(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result, caps;
  NAPI_CALL(env, napi_create_object(env, &result));
  NAPI_CALL(env, napi_create_object(env, &caps));

  struct utsname u;
  char release[sizeof u.release] = "unknown";
  if (uname(&u) == 0) snprintf(release, sizeof release, "%s", u.release);
  set_str(env, result, "kernelRelease", release);
  char libbpf[32];
  snprintf(libbpf, sizeof libbpf, "%u.%u", libbpf_major_version(), libbpf_minor_version());
  set_str(env, result, "libbpf", libbpf);

  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  syscall(SYS_capget, &hdr, data);
  int bpf = has_cap(data, CAP_BPF), net_admin = has_cap(data, CAP_NET_ADMIN);
  int perfmon = has_cap(data, CAP_PERFMON), sys_admin = has_cap(data, CAP_SYS_ADMIN);
  set_bool(env, caps, "bpf", bpf);
  set_bool(env, caps, "netAdmin", net_admin);
  set_bool(env, caps, "perfmon", perfmon);
  set_bool(env, caps, "sysAdmin", sys_admin);
  napi_set_named_property(env, result, "capabilities", caps);

  char reason[400] = "";
  int tcx = 0, batch = 0;
  int map = bpf_map_create(BPF_MAP_TYPE_HASH, "flowlog_probe", 4, 4, 4, NULL);
  int prog = -1, outer = -1;
  if (map < 0) {
    const char *need = missing_caps(bpf, net_admin, sys_admin);
    snprintf(reason, sizeof reason, "bpf() refused to create a map: %s%s%s%s", strerror(errno), need ? " (the process lacks " : "",
             need ? need : "", need ? ")" : "");
    goto done;
  }
  uint32_t count = 4, keys[4], vals[4], out;
  if (bpf_map_lookup_batch(map, NULL, &out, keys, vals, &count, NULL) == 0 || errno == ENOENT) {
    batch = 1;
  } else {
    snprintf(reason, sizeof reason, "the kernel has no batch map reads (BPF_MAP_LOOKUP_BATCH: %s; needs 5.6 or later)", strerror(errno));
    goto done;
  }
  struct bpf_insn insns[2] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = -1}, /* r0 = TC_ACT_UNSPEC */
      {.code = BPF_JMP | BPF_EXIT},
  };
  prog = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "flowlog_probe", "Apache-2.0", insns, 2, NULL);
  if (prog < 0) {
    const char *need = missing_caps(bpf, net_admin, sys_admin);
    snprintf(reason, sizeof reason, "bpf() refused to load a sched_cls program: %s%s%s%s", strerror(errno), need ? " (the process lacks " : "",
             need ? need : "", need ? ")" : "");
    goto done;
  }
  DECLARE_LIBBPF_OPTS(bpf_map_create_opts, mopts, .inner_map_fd = (uint32_t)map);
  outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "flowlog_probe", 4, 4, 1, &mopts);
  if (outer < 0) {
    snprintf(reason, sizeof reason, "the kernel refused a map-in-map (ARRAY_OF_MAPS): %s", strerror(errno));
    goto done;
  }
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.link_create.prog_fd = (uint32_t)prog;
  attr.link_create.target_ifindex = 0;
  attr.link_create.attach_type = FLOWLOG_BPF_TCX_INGRESS;
  int link = (int)syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof attr);
  if (link >= 0) close(link); /* cannot happen for ifindex 0 */
  tcx = link >= 0 || errno == ENODEV;
done:
  if (outer >= 0) close(outer);
  if (prog >= 0) close(prog);
  if (map >= 0) close(map);
  set_bool(env, result, "usable", reason[0] == 0);
  set_str(env, result, "reason", reason);
  set_bool(env, result, "tcx", tcx);
  set_bool(env, result, "batchOps", batch);
  return result;
}
