/*
 * Attaching the flow program to a device's TC ingress and egress, and detaching it.
 *
 * TCX (kernel >= 6.6): one bpf_link per hook, made with the raw BPF_LINK_CREATE (Debian 12's
 * libbpf 1.1 has no bpf_program__attach_tcx). A link lives as long as its file descriptor, so a
 * killed agent leaves nothing behind. Ingress goes first among the hook's programs (it sees what
 * arrived, even if a later program drops it), egress last (it sees what leaves).
 *
 * clsact (older kernels, or on request): a cls_bpf filter in direct-action mode with a fixed
 * handle and preference (FLOWLOG_TC_HANDLE / FLOWLOG_TC_PRIORITY). Filters outlive the process,
 * so attach replaces one of ours left by a killed agent (BPF_TC_F_REPLACE: no gap), and in TCX
 * mode deletes it. The clsact qdisc itself stays: other tools may have filters on it.
 *
 * Both wait for RCU grace periods in the kernel (milliseconds each), so attach and detach run on
 * libuv workers and callers issue many at once.
 */
#include "ebpf-engine.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <net/if_arp.h>
#include <netpacket/packet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct {
  engine_t *e;
  uint32_t ifindex, slot, kind;
  uint32_t want;     /* 0 auto (TCX, else clsact), ATTACH_TCX, ATTACH_CLSACT */
  int promisc;
  attachment_t a;
  int replaced;      /* stale filters of ours replaced or removed */
  int err;
  char error[600];
  napi_async_work work;
  napi_ref callback;
} job_t;

static int tcx_link(int prog_fd, uint32_t ifindex, uint32_t type, uint32_t flags) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.link_create.prog_fd = (uint32_t)prog_fd;
  attr.link_create.target_ifindex = ifindex;
  attr.link_create.attach_type = type;
  attr.link_create.flags = flags;
  int fd = (int)syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof attr);
  return fd < 0 ? -errno : fd;
}

void hook_of(struct bpf_tc_hook *h, uint32_t ifindex, int ingress) {
  memset(h, 0, sizeof *h);
  h->sz = sizeof *h;
  h->ifindex = (int)ifindex;
  h->attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
}

void ours(struct bpf_tc_opts *o) {
  memset(o, 0, sizeof *o);
  o->sz = sizeof *o;
  o->handle = FLOWLOG_TC_HANDLE;
  o->priority = FLOWLOG_TC_PRIORITY;
}

/*
 * Our filter on one clsact hook, if any: 1 with its program id, 0 none, -errno. A filter at our
 * handle and preference whose program has another name is not ours (-EEXIST); without
 * CAP_SYS_ADMIN the name cannot be read and the handle and preference decide.
 */
static int find_ours(uint32_t ifindex, int ingress, char *error, size_t size) {
  struct bpf_tc_hook hook;
  struct bpf_tc_opts o;
  hook_of(&hook, ifindex, ingress);
  ours(&o);
  int r = bpf_tc_query(&hook, &o);
  if (r == -ENOENT || r == -EINVAL) return 0; /* no filter, or no clsact qdisc at all */
  if (r < 0) return r;
  int fd = bpf_prog_get_fd_by_id(o.prog_id);
  if (fd < 0) return 1;
  struct bpf_prog_info info;
  uint32_t len = sizeof info;
  memset(&info, 0, sizeof info);
  int named = bpf_obj_get_info_by_fd(fd, &info, &len) == 0;
  close(fd);
  if (named && strcmp(info.name, FLOWLOG_PROG_NAME) != 0) {
    snprintf(error, size, "the clsact %s filter at handle 0x%x preference 0x%x is program %u (%s), not ours; not replacing it",
             ingress ? "ingress" : "egress", FLOWLOG_TC_HANDLE, FLOWLOG_TC_PRIORITY, o.prog_id, info.name);
    return -EEXIST;
  }
  return 1;
}

static int clsact_detach(uint32_t ifindex, int ingress) {
  struct bpf_tc_hook hook;
  struct bpf_tc_opts o;
  hook_of(&hook, ifindex, ingress);
  ours(&o);
  int r = bpf_tc_detach(&hook, &o);
  /* no filter, no clsact qdisc, or no device any more (its filters went with it) */
  return r == -ENOENT || r == -EINVAL || r == -ENODEV ? 0 : r;
}

static int clsact_attach(job_t *j) {
  for (int ingress = 1; ingress >= 0; ingress--) {
    int found = find_ours(j->ifindex, ingress, j->error, sizeof j->error);
    if (found < 0) return found;
    j->replaced += found;
    struct bpf_tc_hook hook;
    hook_of(&hook, j->ifindex, ingress);
    int r = bpf_tc_hook_create(&hook);
    if (r < 0 && r != -EEXIST) {
      snprintf(j->error, sizeof j->error, "create the clsact qdisc: %s", strerror(-r));
      return r;
    }
    struct bpf_tc_opts o;
    ours(&o);
    o.prog_fd = j->e->prog_fd;
    o.flags = BPF_TC_F_REPLACE;
    r = bpf_tc_attach(&hook, &o);
    if (r < 0) {
      snprintf(j->error, sizeof j->error, "attach the clsact %s filter: %s", ingress ? "ingress" : "egress", strerror(-r));
      if (!ingress) clsact_detach(j->ifindex, 1);
      return r;
    }
  }
  return 0;
}

static int tcx_attach(job_t *j) {
  int in = tcx_link(j->e->prog_fd, j->ifindex, FLOWLOG_BPF_TCX_INGRESS, FLOWLOG_BPF_F_BEFORE);
  if (in < 0) {
    snprintf(j->error, sizeof j->error, "attach TCX ingress: %s", strerror(-in));
    return in;
  }
  int out = tcx_link(j->e->prog_fd, j->ifindex, FLOWLOG_BPF_TCX_EGRESS, 0);
  if (out < 0) {
    close(in);
    snprintf(j->error, sizeof j->error, "attach TCX egress: %s", strerror(-out));
    return out;
  }
  j->a.links[0] = in;
  j->a.links[1] = out;
  /* A killed agent's clsact filters (an older kernel's mode, or a forced fallback) go now. */
  for (int ingress = 1; ingress >= 0; ingress--) {
    char ignored[8];
    if (find_ours(j->ifindex, ingress, ignored, 0) == 1 && clsact_detach(j->ifindex, ingress) == 0) j->replaced++;
  }
  return 0;
}

/* A packet socket of protocol 0 receives nothing, so it costs no packet any time; its PROMISC
 * membership keeps the device promiscuous until the socket closes, even when the agent is killed. */
static int hold_promiscuous(uint32_t ifindex) {
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  struct packet_mreq mr;
  memset(&mr, 0, sizeof mr);
  mr.mr_ifindex = (int)ifindex;
  mr.mr_type = PACKET_MR_PROMISC;
  if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  return fd;
}

static int is_ethernet(uint32_t ifindex, char *error, size_t size) {
  char name[IF_NAMESIZE];
  if (if_indextoname(ifindex, name) == NULL) {
    snprintf(error, size, "no device with ifindex %u", ifindex);
    return -ENODEV;
  }
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
  int r = ioctl(s, SIOCGIFHWADDR, &ifr);
  int err = errno;
  close(s);
  if (r != 0) return -err;
  if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
    snprintf(error, size, "%s is not an Ethernet device (ARPHRD %u): the program reads Ethernet frames", name, ifr.ifr_hwaddr.sa_family);
    return -EPROTONOSUPPORT;
  }
  return 0;
}

attachment_t *find_locked(engine_t *e, uint32_t ifindex) {
  for (uint32_t i = 0; i < e->natt; i++)
    if (e->att[i].ifindex == ifindex) return &e->att[i];
  return NULL;
}

static void attach_execute(napi_env env, void *data) {
  (void)env;
  job_t *j = (job_t *)data;
  engine_t *e = j->e;
  j->a.ifindex = j->ifindex;
  j->a.links[0] = j->a.links[1] = j->a.promisc_fd = -1;
  uv_mutex_lock(&e->lock);
  int dup = find_locked(e, j->ifindex) != NULL;
  uv_mutex_unlock(&e->lock);
  if (dup) {
    j->err = -EEXIST;
    snprintf(j->error, sizeof j->error, "ifindex %u is attached already", j->ifindex);
    return;
  }
  if ((j->err = is_ethernet(j->ifindex, j->error, sizeof j->error)) != 0) return;
  /* The device entry first: the program's first packet on it must find its slot. */
  struct device_info di = {.slot = (uint16_t)j->slot, .kind = (uint8_t)j->kind};
  if (bpf_map_update_elem(e->devices_fd, &j->ifindex, &di, BPF_ANY) != 0) {
    j->err = -errno;
    snprintf(j->error, sizeof j->error, "add the device to the devices map: %s", strerror(errno));
    return;
  }
  int r = -EINVAL;
  if (j->want != ATTACH_CLSACT) {
    r = tcx_attach(j);
    if (r == 0) j->a.mode = ATTACH_TCX;
    else if (!(r == -EINVAL && j->want == 0)) goto fail; /* EINVAL: this kernel has no TCX */
  }
  if (r != 0) {
    j->error[0] = 0;
    if ((r = clsact_attach(j)) != 0) goto fail;
    j->a.mode = ATTACH_CLSACT;
  }
  if (j->promisc) {
    j->a.promisc_fd = hold_promiscuous(j->ifindex);
    if (j->a.promisc_fd < 0) {
      r = j->a.promisc_fd;
      snprintf(j->error, sizeof j->error, "make the device promiscuous: %s", strerror(-r));
      if (j->a.mode == ATTACH_TCX) {
        close(j->a.links[0]);
        close(j->a.links[1]);
      } else {
        clsact_detach(j->ifindex, 1);
        clsact_detach(j->ifindex, 0);
      }
      goto fail;
    }
  }
  uv_mutex_lock(&e->lock);
  if (e->natt == e->catt) {
    uint32_t cap = e->catt ? e->catt * 2 : 64;
    attachment_t *grown = (attachment_t *)realloc(e->att, cap * sizeof(attachment_t));
    if (grown != NULL) {
      e->att = grown;
      e->catt = cap;
    }
  }
  int stored = e->natt < e->catt;
  if (stored) e->att[e->natt++] = j->a;
  uv_mutex_unlock(&e->lock);
  if (!stored) {
    r = -ENOMEM;
    snprintf(j->error, sizeof j->error, "remember the attachment: out of memory");
    goto fail;
  }
  return;
fail:
  j->err = r;
  bpf_map_delete_elem(e->devices_fd, &j->ifindex);
}

/* Undoes one attachment (a worker, or any thread at close). 0 or -errno of the first failure. */
int undo(engine_t *e, attachment_t *a) {
  int err = 0;
  if (a->mode == ATTACH_TCX) {
    for (int i = 0; i < 2; i++)
      if (a->links[i] >= 0) close(a->links[i]); /* the link, and the program on the hook, go with it */
  } else {
    int r1 = clsact_detach(a->ifindex, 1), r2 = clsact_detach(a->ifindex, 0);
    err = r1 != 0 ? r1 : r2;
  }
  if (a->promisc_fd >= 0) close(a->promisc_fd);
  bpf_map_delete_elem(e->devices_fd, &a->ifindex);
  return err;
}

static void detach_execute(napi_env env, void *data) {
  (void)env;
  job_t *j = (job_t *)data;
  engine_t *e = j->e;
  attachment_t a;
  uv_mutex_lock(&e->lock);
  attachment_t *found = find_locked(e, j->ifindex);
  if (found != NULL) {
    a = *found;
    *found = e->att[--e->natt];
  }
  uv_mutex_unlock(&e->lock);
  if (found == NULL) {
    j->err = -ENOENT;
    snprintf(j->error, sizeof j->error, "ifindex %u is not attached", j->ifindex);
    return;
  }
  j->a = a;
  j->err = undo(e, &a);
  if (j->err != 0) snprintf(j->error, sizeof j->error, "delete the clsact filters: %s", strerror(-j->err));
}

static void job_complete(napi_env env, napi_status status, void *data) {
  job_t *j = (job_t *)data;
  uv_mutex_lock(&j->e->lock);
  j->e->pending--;
  uv_mutex_unlock(&j->e->lock);
  napi_value argv[3], fn, recv, result;
  if (status != napi_ok && j->err == 0) {
    j->err = -ECANCELED;
    snprintf(j->error, sizeof j->error, "cancelled");
  }
  if (j->err != 0) {
    char msg[700];
    snprintf(msg, sizeof msg, "%s", j->error[0] ? j->error : strerror(-j->err));
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &argv[0]);
    napi_get_undefined(env, &argv[1]);
  } else {
    napi_get_null(env, &argv[0]);
    napi_create_uint32(env, (uint32_t)j->a.mode, &argv[1]);
  }
  napi_create_uint32(env, (uint32_t)j->replaced, &argv[2]);
  if (napi_get_reference_value(env, j->callback, &fn) == napi_ok && napi_get_global(env, &recv) == napi_ok)
    napi_call_function(env, recv, fn, 3, argv, &result);
  napi_delete_reference(env, j->callback);
  napi_delete_async_work(env, j->work);
  free(j);
}

static napi_value queue_job(napi_env env, job_t *j, napi_value callback, napi_async_execute_callback execute, const char *name) {
  napi_value resource;
  if (napi_create_reference(env, callback, 1, &j->callback) != napi_ok || napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource) != napi_ok ||
      napi_create_async_work(env, NULL, resource, execute, job_complete, j, &j->work) != napi_ok) {
    free(j);
    napi_throw_error(env, NULL, "flowlog_ebpf: cannot queue the work");
    return NULL;
  }
  uv_mutex_lock(&j->e->lock);
  j->e->pending++;
  uv_mutex_unlock(&j->e->lock);
  if (napi_queue_async_work(env, j->work) != napi_ok) {
    napi_throw_error(env, NULL, "flowlog_ebpf: cannot queue the work");
    return NULL;
  }
  return NULL;
}

/* attach(h, ifindex, slot, kind, mode, promiscuous, callback(error|null, mode, replaced)) */
napi_value attach_async(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  engine_t *e = argc == 7 ? engine_unwrap(env, argv[0]) : NULL;
  if (e == NULL) {
    if (argc != 7) napi_throw_type_error(env, NULL, "attach(h, ifindex, slot, kind, mode, promiscuous, callback): bad arguments");
    return NULL;
  }
  job_t *j = (job_t *)calloc(1, sizeof(job_t));
  if (j == NULL) return throw_errno(env, "attach", ENOMEM);
  j->e = e;
  bool promisc = false;
  if (napi_get_value_uint32(env, argv[1], &j->ifindex) != napi_ok || napi_get_value_uint32(env, argv[2], &j->slot) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &j->kind) != napi_ok || napi_get_value_uint32(env, argv[4], &j->want) != napi_ok ||
      napi_get_value_bool(env, argv[5], &promisc) != napi_ok || j->slot >= e->max_slots || j->ifindex == 0 ||
      (j->kind != DEVICE_OWN && j->kind != DEVICE_SHARED) || j->want > ATTACH_CLSACT) {
    free(j);
    napi_throw_range_error(env, NULL, "attach(h, ifindex > 0, slot < maxSlots, kind 1|2, mode 0|1|2, promiscuous, callback): bad arguments");
    return NULL;
  }
  j->promisc = promisc;
  return queue_job(env, j, argv[6], attach_execute, "flowlog_ebpf.attach");
}

/* detach(h, ifindex, callback(error|null, mode)) */
napi_value detach_async(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  engine_t *e = argc == 3 ? engine_unwrap(env, argv[0]) : NULL;
  if (e == NULL) {
    if (argc != 3) napi_throw_type_error(env, NULL, "detach(h, ifindex, callback): bad arguments");
    return NULL;
  }
  job_t *j = (job_t *)calloc(1, sizeof(job_t));
  if (j == NULL) return throw_errno(env, "detach", ENOMEM);
  j->e = e;
  if (napi_get_value_uint32(env, argv[1], &j->ifindex) != napi_ok) {
    free(j);
    napi_throw_type_error(env, NULL, "detach(h, ifindex, callback): bad arguments");
    return NULL;
  }
  return queue_job(env, j, argv[2], detach_execute, "flowlog_ebpf.detach");
}
