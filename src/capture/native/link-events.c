/*
 * Link events for the daemon: an rtnetlink socket (NETLINK_ROUTE, groups RTNLGRP_LINK and the
 * IPv4/IPv6 address groups) read on the event loop, so a device that appears, goes up, gets an
 * address or is deleted is known within milliseconds instead of at the next poll of sysfs.
 *
 * Exports (added to the flowlog_capture addon by chunk-capture.c's init):
 *   linkWatchOpen(onEvents) -> handle (throws): onEvents(events, overflowed) is called once per
 *     wake-up with every message read, each event an array
 *       [kind (1 RTM_NEWLINK, 2 RTM_DELLINK, 3 address added or removed), ifindex, name, flags (IFF_*), packets]
 *     where packets is rx_packets + tx_packets of IFLA_STATS64 (else IFLA_STATS), -1 when the
 *     message carries neither (address messages carry only the ifindex). `overflowed` is true when the kernel dropped messages (ENOBUFS):
 *     the caller must look at the devices afresh.
 *   linkWatchClose(handle): stops polling and closes the socket.
 * Events allocate JavaScript values; there are a handful per device change, never per packet.
 */
#include <errno.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "link-events.h"

/* Enough for a burst of hundreds of link messages (each about 1-2 KiB with stats). */
#define LINK_RCVBUF_BYTES (4 * 1024 * 1024)
#define LINK_READ_BYTES (64 * 1024)

typedef struct {
  int fd;
  uv_poll_t poll;
  int poll_inited;
  int poll_closed;
  int finalized;
  napi_env env;
  napi_ref on_events;
  napi_async_context async;
  uint8_t buf[LINK_READ_BYTES];
} link_watch_t;

static void free_if_done(link_watch_t *w) {
  if (w->finalized && (!w->poll_inited || w->poll_closed)) free(w);
}

static void on_poll_closed(uv_handle_t *handle) {
  link_watch_t *w = (link_watch_t *)handle->data;
  w->poll_closed = 1;
  if (w->fd >= 0) close(w->fd);
  w->fd = -1;
  free_if_done(w);
}

/* Stops polling, closes the socket (once the poll handle is closed) and drops the references. */
static void stop_watch(link_watch_t *w, napi_env env) {
  if (w->poll_inited && !w->poll_closed && !uv_is_closing((uv_handle_t *)&w->poll)) {
    uv_poll_stop(&w->poll);
    uv_close((uv_handle_t *)&w->poll, on_poll_closed);
  } else if (!w->poll_inited && w->fd >= 0) {
    close(w->fd);
    w->fd = -1;
  }
  if (env != NULL && w->on_events != NULL) {
    napi_delete_reference(env, w->on_events);
    w->on_events = NULL;
  }
  if (env != NULL && w->async != NULL) {
    napi_async_destroy(env, w->async);
    w->async = NULL;
  }
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  link_watch_t *w = (link_watch_t *)data;
  stop_watch(w, env);
  w->finalized = 1;
  free_if_done(w);
}

/* [kind, ifindex, name, flags, packets] of one RTM_NEWLINK / RTM_DELLINK message. */
static napi_value link_event(napi_env env, const struct nlmsghdr *nh) {
  const struct ifinfomsg *ifi = (const struct ifinfomsg *)NLMSG_DATA(nh);
  char name[IFNAMSIZ + 1] = "";
  double packets = -1;
  int len = (int)IFLA_PAYLOAD(nh);
  for (const struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    size_t n = RTA_PAYLOAD(a);
    if (a->rta_type == IFLA_IFNAME) {
      if (n > IFNAMSIZ) n = IFNAMSIZ;
      memcpy(name, RTA_DATA(a), n);
      name[n] = 0;
    } else if (a->rta_type == IFLA_STATS64 && n >= 2 * sizeof(uint64_t)) {
      uint64_t s[2]; /* rtnl_link_stats64: rx_packets, tx_packets first (may be unaligned) */
      memcpy(s, RTA_DATA(a), sizeof s);
      packets = (double)s[0] + (double)s[1];
    } else if (a->rta_type == IFLA_STATS && n >= 2 * sizeof(uint32_t) && packets < 0) {
      uint32_t s[2];
      memcpy(s, RTA_DATA(a), sizeof s);
      packets = (double)s[0] + (double)s[1];
    }
  }
  napi_value ev, v;
  if (napi_create_array_with_length(env, 5, &ev) != napi_ok) return NULL;
  napi_create_int32(env, nh->nlmsg_type == RTM_DELLINK ? 2 : 1, &v);
  napi_set_element(env, ev, 0, v);
  napi_create_int32(env, ifi->ifi_index, &v);
  napi_set_element(env, ev, 1, v);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v);
  napi_set_element(env, ev, 2, v);
  napi_create_uint32(env, ifi->ifi_flags, &v);
  napi_set_element(env, ev, 3, v);
  napi_create_double(env, packets, &v);
  napi_set_element(env, ev, 4, v);
  return ev;
}

/* [3, ifindex, "", 0, -1] of one RTM_NEWADDR / RTM_DELADDR message. */
static napi_value address_event(napi_env env, const struct nlmsghdr *nh) {
  const struct ifaddrmsg *ifa = (const struct ifaddrmsg *)NLMSG_DATA(nh);
  napi_value ev, v;
  if (napi_create_array_with_length(env, 5, &ev) != napi_ok) return NULL;
  napi_create_int32(env, 3, &v);
  napi_set_element(env, ev, 0, v);
  napi_create_int32(env, (int32_t)ifa->ifa_index, &v);
  napi_set_element(env, ev, 1, v);
  napi_create_string_utf8(env, "", 0, &v);
  napi_set_element(env, ev, 2, v);
  napi_create_uint32(env, 0, &v);
  napi_set_element(env, ev, 3, v);
  napi_create_double(env, -1, &v);
  napi_set_element(env, ev, 4, v);
  return ev;
}

/* Reads every queued message, then calls onEvents once (when there was anything to say). */
static void on_poll(uv_poll_t *poll, int status, int events) {
  (void)status;
  (void)events;
  link_watch_t *w = (link_watch_t *)poll->data;
  if (w->fd < 0 || w->on_events == NULL) return;
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value list;
  uint32_t count = 0;
  int overflowed = 0;
  if (napi_create_array(env, &list) != napi_ok) {
    napi_close_handle_scope(env, scope);
    return;
  }
  for (;;) {
    ssize_t n = recv(w->fd, w->buf, sizeof w->buf, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) { /* the kernel dropped messages: the caller resynchronises */
        overflowed = 1;
        continue;
      }
      break; /* EAGAIN: read empty */
    }
    if (n == 0) break;
    int len = (int)n;
    for (const struct nlmsghdr *nh = (const struct nlmsghdr *)w->buf; NLMSG_OK(nh, (unsigned)len); nh = NLMSG_NEXT(nh, len)) {
      napi_value ev = NULL;
      if ((nh->nlmsg_type == RTM_NEWLINK || nh->nlmsg_type == RTM_DELLINK) && nh->nlmsg_len >= NLMSG_LENGTH(sizeof(struct ifinfomsg))) ev = link_event(env, nh);
      else if ((nh->nlmsg_type == RTM_NEWADDR || nh->nlmsg_type == RTM_DELADDR) && nh->nlmsg_len >= NLMSG_LENGTH(sizeof(struct ifaddrmsg))) ev = address_event(env, nh);
      if (ev != NULL) napi_set_element(env, list, count++, ev);
    }
  }
  if (count > 0 || overflowed) {
    napi_value fn, recv_this, result, argv[2];
    argv[0] = list;
    napi_get_boolean(env, overflowed != 0, &argv[1]);
    if (napi_get_reference_value(env, w->on_events, &fn) == napi_ok && fn != NULL && napi_get_global(env, &recv_this) == napi_ok) {
      napi_make_callback(env, w->async, recv_this, fn, 2, argv, &result);
    }
  }
  napi_close_handle_scope(env, scope);
}

static napi_value link_watch_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], handle, name;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) {
    napi_throw_type_error(env, NULL, "linkWatchOpen(onEvents): bad arguments");
    return NULL;
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  int size = LINK_RCVBUF_BYTES;
  /* FORCE passes rmem_max with CAP_NET_ADMIN (the daemon has it); else the capped size. */
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  struct sockaddr_nl local;
  memset(&local, 0, sizeof local);
  local.nl_family = AF_NETLINK;
  local.nl_groups = (1u << (RTNLGRP_LINK - 1)) | (1u << (RTNLGRP_IPV4_IFADDR - 1)) | (1u << (RTNLGRP_IPV6_IFADDR - 1));
  if (bind(fd, (struct sockaddr *)&local, sizeof local) != 0) {
    int err = errno;
    close(fd);
    napi_throw_error(env, NULL, strerror(err));
    return NULL;
  }
  link_watch_t *w = (link_watch_t *)calloc(1, sizeof(link_watch_t));
  if (w == NULL) {
    close(fd);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  w->fd = fd;
  w->env = env;
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || napi_create_reference(env, argv[0], 1, &w->on_events) != napi_ok ||
      napi_create_string_utf8(env, "flowlog_link_watch", NAPI_AUTO_LENGTH, &name) != napi_ok || napi_async_init(env, NULL, name, &w->async) != napi_ok ||
      uv_poll_init(loop, &w->poll, fd) != 0) {
    stop_watch(w, env);
    free(w);
    napi_throw_error(env, NULL, "cannot poll the netlink socket");
    return NULL;
  }
  w->poll_inited = 1;
  w->poll.data = w;
  uv_poll_start(&w->poll, UV_READABLE, on_poll);
  if (napi_create_external(env, w, finalize, NULL, &handle) != napi_ok) {
    stop_watch(w, env);
    w->finalized = 1; /* freed when the poll handle has closed */
    napi_throw_error(env, NULL, "cannot wrap the link watch");
    return NULL;
  }
  return handle;
}

static napi_value link_watch_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_external(env, argv[0], &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "linkWatchClose(handle): not a link watch");
    return NULL;
  }
  stop_watch((link_watch_t *)data, env);
  return NULL;
}

napi_status flowlog_link_events_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"linkWatchOpen", NULL, link_watch_open, NULL, NULL, NULL, napi_default, NULL},
      {"linkWatchClose", NULL, link_watch_close, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
