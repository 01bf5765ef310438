/*
 * flowlog_ebpf: internal declarations shared by the addon's files.
 *   ebpf-engine.c  N-API surface, load, close
 *   ebpf-maps.c    slots, MACs, addresses, counters
 *   ebpf-measure.c program statistics and test runs for the bench
 *   ebpf-attach.c  TCX / clsact attach and detach, stale filters, promiscuous holds
 *   ebpf-hooks.c   what a device's hooks hold; detaching everything at close
 *   ebpf-drain.c   swap the live table, read the retired one in batches, clear it
 *   ebpf-probe.c   kernel and capability probe
 */
#ifndef FLOWLOG_EBPF_ENGINE_H
#define FLOWLOG_EBPF_ENGINE_H

#include <node_api.h>
#include <stdint.h>
#include <uv.h>

#include "../ebpf/flow-tc.h"

/* uapi values newer than Debian 12's headers (6.1); the kernel numbers never change. */
#define FLOWLOG_BPF_TCX_INGRESS 46
#define FLOWLOG_BPF_TCX_EGRESS 47
#define FLOWLOG_BPF_F_BEFORE (1U << 3)

/* clsact filters of this handle and preference are ours (a stale one is replaced at attach). */
#define FLOWLOG_TC_HANDLE 0xf10c
#define FLOWLOG_TC_PRIORITY 0xf10c
#define FLOWLOG_PROG_NAME "flowlog_tc"

/* The drain's record: the layout src/capture/ebpf/drain-layout.ts documents. */
#define RECORD_BYTES 80

#define ATTACH_TCX 1
#define ATTACH_CLSACT 2

typedef struct {
  uint32_t ifindex;
  int mode;           /* ATTACH_TCX or ATTACH_CLSACT */
  int links[2];       /* TCX links (ingress, egress); -1 when none */
  int promisc_fd;     /* packet socket holding the device promiscuous; -1 when none */
} attachment_t;

typedef struct {
  struct bpf_object *obj;
  int prog_fd;
  int outer_fd;
  int table_fd[2];
  int live;           /* index into table_fd of the table live_flows holds */
  int devices_fd, slots_fd, macs_fd, addrs_fd, frags_fd, stats_fd;
  int wall_offset_fd; /* the program's CLOCK_REALTIME - CLOCK_MONOTONIC, refreshed at each drain */
  uint32_t table_entries; /* max_entries of each table: flows + reserved keys */
  uint32_t flow_capacity;
  uint32_t max_slots;
  uint32_t max_devices;
  int ncpus;
  uv_mutex_t lock;    /* attachments, busy */
  attachment_t *att;
  uint32_t natt, catt;
  int pending;        /* async works in flight: close waits for none */
  int draining;
  int closed;
  int hook_ran;       /* the environment's cleanup hook ran (process exit) */
} engine_t;

/* ebpf-engine.c */
engine_t *engine_unwrap(napi_env env, napi_value v);
/* The first argument as the engine and the others into argv; NULL (thrown) when short or closed. */
engine_t *call_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv);
/* A Uint8Array's bytes. */
int get_bytes(napi_env env, napi_value v, void **data, size_t *len);
napi_value throw_errno(napi_env env, const char *what, int err);
void libbpf_log_tail(char *out, size_t size);

/* ebpf-attach.c */
struct bpf_tc_hook;
struct bpf_tc_opts;
napi_value attach_async(napi_env env, napi_callback_info info);
napi_value detach_async(napi_env env, napi_callback_info info);
/* The clsact hook of a device, and the options naming our filter (handle, preference). */
void hook_of(struct bpf_tc_hook *h, uint32_t ifindex, int ingress);
void ours(struct bpf_tc_opts *o);
/* The engine's attachment of ifindex, or NULL; e->lock held. */
attachment_t *find_locked(engine_t *e, uint32_t ifindex);
/* Undoes one attachment (any thread). 0 or -errno of the first failure. */
int undo(engine_t *e, attachment_t *a);

/* ebpf-hooks.c */
napi_value list_attached(napi_env env, napi_callback_info info);
napi_value query_hooks(napi_env env, napi_callback_info info);
/* Detaches every device (engine close, process exit); returns how many failed. */
int detach_all(engine_t *e);

/* ebpf-maps.c */
napi_value set_slot(napi_env env, napi_callback_info info);
napi_value set_mac(napi_env env, napi_callback_info info);
napi_value delete_mac(napi_env env, napi_callback_info info);
napi_value set_address(napi_env env, napi_callback_info info);
napi_value delete_address(napi_env env, napi_callback_info info);
napi_value read_stats(napi_env env, napi_callback_info info);
napi_value engine_info(napi_env env, napi_callback_info info);

/* ebpf-measure.c */
napi_value program_stats(napi_env env, napi_callback_info info);
napi_value run_time_stats(napi_env env, napi_callback_info info);
napi_value test_run(napi_env env, napi_callback_info info);

/* ebpf-drain.c */
napi_value drain_async(napi_env env, napi_callback_info info);
/* Inserts the reserved keys of every slot into table `fd` (open). 0 or -errno. */
int insert_reserved(engine_t *e, int fd);

/* ebpf-probe.c */
napi_value probe(napi_env env, napi_callback_info info);

#define NAPI_CALL(env, call)                                                     \
  do {                                                                           \
    if ((call) != napi_ok) {                                                     \
      napi_throw_error((env), NULL, "flowlog_ebpf: N-API call failed: " #call); \
      return NULL;                                                               \
    }                                                                            \
  } while (0)

#endif
