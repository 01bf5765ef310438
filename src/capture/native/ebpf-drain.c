/*
 * Swap and drain: the program writes the table live_flows[0] holds; a drain points live_flows at
 * the other table, reads the one it retired and empties it for its next turn.
 *
 * Exact by construction: the update of an ARRAY_OF_MAPS returns only after synchronize_rcu(), so
 * when it returns no program still runs on the retired table (TC programs are not sleepable),
 * and nothing writes it until the next swap. Reading it whole with BPF_MAP_LOOKUP_BATCH and then
 * deleting its flows loses nothing, unlike deleting from a table programs still write (an update
 * between a lookup and a delete would be lost). The reserved keys (per-slot loss counters, quota
 * use) are never deleted: the drain adds them to the caller's loss array and sets those that are
 * not zero back to zero, so they swap with the flows and belong to the same interval.
 *
 * Runs on a libuv worker; the JavaScript thread never waits for a table. The caller must not
 * touch the record or loss arrays until the callback runs.
 */
#include "ebpf-engine.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK 4096

typedef struct {
  engine_t *e;
  uint8_t *records;
  size_t room;        /* records that fit */
  double *loss;       /* [slot][reason][packets, bytes] */
  size_t loss_len;
  napi_ref records_ref, loss_ref, callback;
  napi_async_work work;
  uint32_t flows;
  uint32_t cleared_reserved;
  int64_t offset_ns;  /* CLOCK_REALTIME - CLOCK_MONOTONIC at the swap */
  double swap_ns, read_ns, clear_ns;
  int err;
  char error[256];
} drain_t;

static int64_t now_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int insert_reserved(engine_t *e, int fd) {
  uint32_t n = e->max_slots * LOSS_REASONS;
  struct flow_key *keys = (struct flow_key *)calloc(n, sizeof(struct flow_key));
  struct flow_value *vals = (struct flow_value *)calloc(n, sizeof(struct flow_value));
  int err = 0;
  if (keys == NULL || vals == NULL) {
    err = -ENOMEM;
  } else {
    for (uint32_t s = 0; s < e->max_slots; s++) {
      for (uint32_t r = 0; r < LOSS_REASONS; r++) {
        struct flow_key *k = &keys[s * LOSS_REASONS + r];
        k->slot = (uint16_t)s;
        k->flags = FLOW_RESERVED;
        k->sport = (uint16_t)r;
      }
    }
    DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts); /* batch updates take no BPF_NOEXIST: the tables are empty here */
    uint32_t count = n;
    if (bpf_map_update_batch(fd, keys, vals, &count, &opts) != 0) err = -errno;
  }
  free(keys);
  free(vals);
  return err;
}

static void put_f64(uint8_t *p, double v) { memcpy(p, &v, 8); }

/* One flow as the record layout of src/capture/ebpf/drain-layout.ts (80 bytes, host order). */
static void write_record(uint8_t *r, const struct flow_key *k, const struct flow_value *v, int64_t offset_ns) {
  memcpy(r, k->src, 16);
  memcpy(r + 16, k->dst, 16);
  memcpy(r + 32, &k->slot, 2);
  r[34] = k->flags;
  r[35] = k->proto;
  uint16_t sport = ntohs(k->sport), dport = ntohs(k->dport);
  memcpy(r + 36, &sport, 2);
  memcpy(r + 38, &dport, 2);
  r[40] = v->tcp_flags;
  memset(r + 41, 0, 7);
  put_f64(r + 48, (double)v->packets);
  put_f64(r + 56, (double)v->bytes);
  /* whole microseconds of the wall clock: exact in a double until the year 2255 */
  put_f64(r + 64, (double)(((int64_t)v->first_ns + offset_ns) / 1000));
  put_f64(r + 72, (double)(((int64_t)v->last_ns + offset_ns) / 1000));
}

static void drain_execute(napi_env env, void *data) {
  (void)env;
  drain_t *d = (drain_t *)data;
  engine_t *e = d->e;
  memset(d->loss, 0, d->loss_len * sizeof(double));
  uint32_t zero = 0;
  int next = 1 - e->live;
  int64_t t0 = now_ns(CLOCK_MONOTONIC);
  if (bpf_map_update_elem(e->outer_fd, &zero, &e->table_fd[next], BPF_ANY) != 0) {
    d->err = -errno;
    snprintf(d->error, sizeof d->error, "swap the flow tables: %s", strerror(errno));
    return;
  }
  int64_t t1 = now_ns(CLOCK_MONOTONIC);
  int64_t real = now_ns(CLOCK_REALTIME);
  int64_t t2 = now_ns(CLOCK_MONOTONIC);
  d->offset_ns = real - (t1 + t2) / 2;
  /* The program's clock follows the wall clock's steps and slews from one drain to the next. */
  bpf_map_update_elem(e->wall_offset_fd, &zero, &d->offset_ns, BPF_ANY);
  d->swap_ns = (double)(t1 - t0);
  e->live = next;
  int fd = e->table_fd[1 - next];

  struct flow_key *keys = (struct flow_key *)malloc(CHUNK * sizeof(struct flow_key));
  struct flow_value *vals = (struct flow_value *)malloc(CHUNK * sizeof(struct flow_value));
  struct flow_key *reset = (struct flow_key *)malloc(CHUNK * sizeof(struct flow_key));
  struct flow_value *zeros = (struct flow_value *)calloc(CHUNK, sizeof(struct flow_value));
  struct flow_key *gone = (struct flow_key *)malloc(CHUNK * sizeof(struct flow_key));
  uint8_t batch[64];
  int first = 1;
  double read_ns = 0, clear_ns = 0;
  if (keys == NULL || vals == NULL || reset == NULL || zeros == NULL || gone == NULL) {
    d->err = -ENOMEM;
    snprintf(d->error, sizeof d->error, "drain: out of memory");
    goto done;
  }
  for (;;) {
    uint32_t count = CHUNK;
    DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int64_t r0 = now_ns(CLOCK_MONOTONIC);
    int r = bpf_map_lookup_batch(fd, first ? NULL : batch, batch, keys, vals, &count, &opts);
    int end = r != 0 && errno == ENOENT;
    if (r != 0 && !end) {
      d->err = -errno;
      snprintf(d->error, sizeof d->error, "read the retired flow table: %s", strerror(errno));
      goto done;
    }
    first = 0;
    uint32_t nreset = 0, ngone = 0;
    for (uint32_t i = 0; i < count; i++) {
      const struct flow_key *k = &keys[i];
      const struct flow_value *v = &vals[i];
      if (k->flags == FLOW_RESERVED) {
        if (v->packets == 0 && v->bytes == 0) continue;
        size_t at = ((size_t)k->slot * LOSS_REASONS + k->sport) * 2;
        if (k->sport < LOSS_REASONS && at + 1 < d->loss_len) {
          d->loss[at] += (double)v->packets;
          d->loss[at + 1] += (double)v->bytes;
        }
        reset[nreset++] = *k;
        continue;
      }
      if (d->flows >= d->room) { /* cannot happen: room >= table entries, checked at the call */
        d->err = -ENOSPC;
        snprintf(d->error, sizeof d->error, "drain: more flows than the record buffer holds");
        goto done;
      }
      write_record(d->records + (size_t)d->flows * RECORD_BYTES, k, v, d->offset_ns);
      d->flows++;
      gone[ngone++] = *k;
    }
    int64_t r1 = now_ns(CLOCK_MONOTONIC);
    read_ns += (double)(r1 - r0);
    /* Deleting what this chunk read leaves the batch cursor (a bucket index) valid. */
    if (ngone > 0) {
      uint32_t n = ngone;
      DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, dopts);
      if (bpf_map_delete_batch(fd, gone, &n, &dopts) != 0) {
        d->err = -errno;
        snprintf(d->error, sizeof d->error, "clear the retired flow table: %s", strerror(errno));
        goto done;
      }
    }
    if (nreset > 0) {
      uint32_t n = nreset;
      DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, uopts); /* the keys exist: nothing else writes this table */
      if (bpf_map_update_batch(fd, reset, zeros, &n, &uopts) != 0) {
        d->err = -errno;
        snprintf(d->error, sizeof d->error, "reset the loss counters: %s", strerror(errno));
        goto done;
      }
      d->cleared_reserved += nreset;
    }
    clear_ns += (double)(now_ns(CLOCK_MONOTONIC) - r1);
    if (end) break;
  }
done:
  d->read_ns = read_ns;
  d->clear_ns = clear_ns;
  free(keys);
  free(vals);
  free(reset);
  free(zeros);
  free(gone);
}

static void drain_complete(napi_env env, napi_status status, void *data) {
  drain_t *d = (drain_t *)data;
  uv_mutex_lock(&d->e->lock);
  d->e->pending--;
  d->e->draining = 0;
  uv_mutex_unlock(&d->e->lock);
  napi_value argv[3], fn, recv, result, timing, v;
  if (status != napi_ok && d->err == 0) {
    d->err = -ECANCELED;
    snprintf(d->error, sizeof d->error, "drain cancelled");
  }
  if (d->err != 0) napi_create_string_utf8(env, d->error, NAPI_AUTO_LENGTH, &argv[0]);
  else napi_get_null(env, &argv[0]);
  napi_create_uint32(env, d->flows, &argv[1]);
  /* [wall-clock offset ns, swap ns, read ns, clear ns, reserved keys reset] */
  double t[5] = {(double)d->offset_ns, d->swap_ns, d->read_ns, d->clear_ns, d->cleared_reserved};
  napi_create_array_with_length(env, 5, &timing);
  for (uint32_t i = 0; i < 5; i++) {
    napi_create_double(env, t[i], &v);
    napi_set_element(env, timing, i, v);
  }
  argv[2] = timing;
  if (napi_get_reference_value(env, d->callback, &fn) == napi_ok && napi_get_global(env, &recv) == napi_ok)
    napi_call_function(env, recv, fn, 3, argv, &result);
  napi_delete_reference(env, d->callback);
  napi_delete_reference(env, d->records_ref);
  napi_delete_reference(env, d->loss_ref);
  napi_delete_async_work(env, d->work);
  free(d);
}

/* drain(h, records Uint8Array (>= tableEntries x RECORD_BYTES), loss Float64Array (>= maxSlots x LOSS_REASONS x 2), callback) */
napi_value drain_async(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  engine_t *e = argc == 4 ? engine_unwrap(env, argv[0]) : NULL;
  if (e == NULL) {
    if (argc != 4) napi_throw_type_error(env, NULL, "drain(h, records, loss, callback): bad arguments");
    return NULL;
  }
  napi_typedarray_type rt, lt;
  size_t rlen, llen, off;
  void *rdata, *ldata;
  napi_value ab;
  if (napi_get_typedarray_info(env, argv[1], &rt, &rlen, &rdata, &ab, &off) != napi_ok || rt != napi_uint8_array ||
      napi_get_typedarray_info(env, argv[2], &lt, &llen, &ldata, &ab, &off) != napi_ok || lt != napi_float64_array) {
    napi_throw_type_error(env, NULL, "drain(h, Uint8Array, Float64Array, callback): bad arguments");
    return NULL;
  }
  if (rlen < (size_t)e->table_entries * RECORD_BYTES || llen < (size_t)e->max_slots * LOSS_REASONS * 2) {
    napi_throw_range_error(env, NULL, "drain: the record array must hold tableEntries records and the loss array maxSlots x LOSS_REASONS x 2 numbers");
    return NULL;
  }
  uv_mutex_lock(&e->lock);
  int busy = e->draining;
  if (!busy) {
    e->draining = 1;
    e->pending++;
  }
  uv_mutex_unlock(&e->lock);
  if (busy) {
    napi_throw_error(env, NULL, "drain: a drain is already running");
    return NULL;
  }
  drain_t *d = (drain_t *)calloc(1, sizeof(drain_t));
  napi_value resource;
  if (d != NULL) {
    d->e = e;
    d->records = (uint8_t *)rdata;
    d->room = rlen / RECORD_BYTES;
    d->loss = (double *)ldata;
    d->loss_len = llen;
  }
  if (d == NULL || napi_create_reference(env, argv[1], 1, &d->records_ref) != napi_ok || napi_create_reference(env, argv[2], 1, &d->loss_ref) != napi_ok ||
      napi_create_reference(env, argv[3], 1, &d->callback) != napi_ok ||
      napi_create_string_utf8(env, "flowlog_ebpf.drain", NAPI_AUTO_LENGTH, &resource) != napi_ok ||
      napi_create_async_work(env, NULL, resource, drain_execute, drain_complete, d, &d->work) != napi_ok ||
      napi_queue_async_work(env, d->work) != napi_ok) {
    uv_mutex_lock(&e->lock);
    e->draining = 0;
    e->pending--;
    uv_mutex_unlock(&e->lock);
    free(d);
    napi_throw_error(env, NULL, "flowlog_ebpf: cannot queue the drain");
    return NULL;
  }
  return NULL;
}
