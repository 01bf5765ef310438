/*
 * What a device's hooks hold, and detaching everything: hooks(ifindex) lists every TCX program
 * on the device and the program of our clsact filters (for status, and for finding what a killed
 * agent left: programs are global, so a device's hooks are where to look); attached(h) lists this
 * engine's attachments; detach_all undoes them at close or exit, in parallel.
 */
#include "ebpf-engine.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct {
  engine_t *e;
  attachment_t *list;
  uint32_t n;
  uint32_t next;
  int failed;
  uv_mutex_t lock;
} undo_all_t;

static void undo_worker(void *arg) {
  undo_all_t *u = (undo_all_t *)arg;
  for (;;) {
    uv_mutex_lock(&u->lock);
    uint32_t i = u->next++;
    uv_mutex_unlock(&u->lock);
    if (i >= u->n) return;
    if (undo(u->e, &u->list[i]) != 0) {
      uv_mutex_lock(&u->lock);
      u->failed++;
      uv_mutex_unlock(&u->lock);
    }
  }
}

int detach_all(engine_t *e) {
  uv_mutex_lock(&e->lock);
  undo_all_t u = {.e = e, .list = e->att, .n = e->natt, .next = 0, .failed = 0};
  e->att = NULL;
  e->natt = e->catt = 0;
  uv_mutex_unlock(&e->lock);
  if (u.n == 0) {
    free(u.list);
    return 0;
  }
  /* Each detach waits for a grace period: in parallel they share them. */
  uv_mutex_init(&u.lock);
  uv_thread_t threads[16];
  int started = 0;
  int want = u.n < 16 ? (int)u.n : 16;
  for (int i = 0; i < want; i++)
    if (uv_thread_create(&threads[started], undo_worker, &u) == 0) started++;
  if (started == 0) undo_worker(&u);
  for (int i = 0; i < started; i++) uv_thread_join(&threads[i]);
  uv_mutex_destroy(&u.lock);
  free(u.list);
  return u.failed;
}

/* attached(h) -> [ifindex, mode, ifindex, mode, ...] */
napi_value list_attached(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], arr, v;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  engine_t *e = argc == 1 ? engine_unwrap(env, argv[0]) : NULL;
  if (e == NULL) return NULL;
  uv_mutex_lock(&e->lock);
  uint32_t n = e->natt;
  uint32_t *pairs = (uint32_t *)malloc((size_t)(n ? n : 1) * 2 * sizeof(uint32_t));
  for (uint32_t i = 0; pairs != NULL && i < n; i++) {
    pairs[2 * i] = e->att[i].ifindex;
    pairs[2 * i + 1] = (uint32_t)e->att[i].mode;
  }
  uv_mutex_unlock(&e->lock);
  if (pairs == NULL) return throw_errno(env, "list attachments", ENOMEM);
  NAPI_CALL(env, napi_create_array_with_length(env, n * 2, &arr));
  for (uint32_t i = 0; i < n * 2; i++) {
    napi_create_uint32(env, pairs[i], &v);
    napi_set_element(env, arr, i, v);
  }
  free(pairs);
  return arr;
}

/* Program ids on one TCX hook (BPF_PROG_QUERY; 0 ids on kernels without TCX). */
static uint32_t tcx_ids(uint32_t ifindex, uint32_t type, uint32_t *ids, uint32_t room) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.query.target_fd = ifindex; /* target_ifindex in 6.6+, the same field */
  attr.query.attach_type = type;
  attr.query.prog_ids = (uint64_t)(uintptr_t)ids;
  attr.query.prog_cnt = room;
  if (syscall(__NR_bpf, BPF_PROG_QUERY, &attr, sizeof attr) != 0) return 0;
  return attr.query.prog_cnt < room ? attr.query.prog_cnt : room;
}

/*
 * hooks(ifindex) -> [tcxIngressIds[], tcxEgressIds[], clsactIngressId, clsactEgressId]: every TCX
 * program on the device's hooks, and the program of our clsact filters (0: none). For status and
 * for tests that look for orphans: programs are global, so a device's hooks are where to look.
 */
napi_value query_hooks(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out, arr, v;
  uint32_t ifindex = 0;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_uint32(env, argv[0], &ifindex) != napi_ok) {
    napi_throw_type_error(env, NULL, "hooks(ifindex): bad arguments");
    return NULL;
  }
  NAPI_CALL(env, napi_create_array_with_length(env, 4, &out));
  for (uint32_t dir = 0; dir < 2; dir++) {
    uint32_t ids[64];
    uint32_t n = tcx_ids(ifindex, dir == 0 ? FLOWLOG_BPF_TCX_INGRESS : FLOWLOG_BPF_TCX_EGRESS, ids, 64);
    NAPI_CALL(env, napi_create_array_with_length(env, n, &arr));
    for (uint32_t i = 0; i < n; i++) {
      napi_create_uint32(env, ids[i], &v);
      napi_set_element(env, arr, i, v);
    }
    napi_set_element(env, out, dir, arr);
  }
  for (int ingress = 1; ingress >= 0; ingress--) {
    struct bpf_tc_hook hook;
    struct bpf_tc_opts o;
    hook_of(&hook, ifindex, ingress);
    ours(&o);
    uint32_t id = bpf_tc_query(&hook, &o) == 0 ? o.prog_id : 0;
    napi_create_uint32(env, id, &v);
    napi_set_element(env, out, ingress ? 2 : 3, v);
  }
  return out;
}
