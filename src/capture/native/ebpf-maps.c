/*
 * The configuration maps (slots, ENI MACs and addresses) and the counters, from JavaScript:
 * setSlot(h, slot, quota, flags), setMac(h, mac6, slot) / deleteMac(h, mac6),
 * setAddress(h, family, addr16, prefixLen, slot) / deleteAddress(h, family, addr16, prefixLen),
 * stats(h, Float64Array(STAT_COUNT)), info(h) -> [tableEntries, flowCapacity, maxSlots,
 * maxDevices, ncpus]. Each is one bpf() call on the JavaScript thread: the program reads these
 * maps on every packet and sees a change at once.
 */
#include "ebpf-engine.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int get_bytes(napi_env env, napi_value v, void **data, size_t *len) {
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  return napi_get_typedarray_info(env, v, &type, len, data, &ab, &off) == napi_ok && type == napi_uint8_array;
}

napi_value set_slot(napi_env env, napi_callback_info info) {
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

napi_value set_mac(napi_env env, napi_callback_info info) {
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

napi_value delete_mac(napi_env env, napi_callback_info info) {
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

napi_value set_address(napi_env env, napi_callback_info info) {
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

napi_value delete_address(napi_env env, napi_callback_info info) {
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
napi_value read_stats(napi_env env, napi_callback_info info) {
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

napi_value engine_info(napi_env env, napi_callback_info info) {
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
