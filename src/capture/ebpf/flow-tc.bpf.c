/*
 * flowlog_tc: counts every packet of the devices it is attached to (TC ingress and egress, TCX or
 * clsact) into per-(ENI slot, direction, 5-tuple) flows, in a table user space swaps out and
 * reads (docs/ebpf-engine.md). Built by tools/build-bpf.js: clang -target bpf -O2 -g.
 *
 * Only uapi structures (struct __sk_buff, packet bytes through bpf_skb_load_bytes), no CO-RE and
 * no helper newer than 5.1, so the object loads on Alibaba Cloud Linux 3's 5.10 as on 6.x.
 * bpf_skb_load_bytes copies into small stack buffers at constant sizes: it works on non-linear
 * skbs (GSO super-packets, headers split across fragments), where direct packet access fails.
 * Loops are unrolled with fixed bounds (2 VLAN tags, 4 IPv6 extension headers).
 *
 * The program never changes a packet's fate: it returns TC_ACT_UNSPEC, which is also TCX_NEXT,
 * so the next filter or program runs as if this one were not there.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "flow-tc.h"

#define E2BIG 7
#define EBUSY 16
#define EEXIST 17

struct flow_table {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1); /* set by the addon before load: flows + slots x reasons */
  __type(key, struct flow_key);
  __type(value, struct flow_value);
};

/* The two tables take turns: the program writes the one live_flows[0] holds. */
struct flow_table flows_a SEC(".maps");
struct flow_table flows_b SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
  __uint(max_entries, 1);
  __type(key, __u32);
  __array(values, struct flow_table);
} live_flows SEC(".maps") = {.values = {[0] = &flows_a}};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1); /* set by the addon: devices it may attach */
  __type(key, __u32);     /* ifindex */
  __type(value, struct device_info);
} devices SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1); /* set by the addon: slots */
  __type(key, __u32);
  __type(value, struct slot_info);
} slots SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1); /* set by the addon: slots */
  __type(key, struct mac_key);
  __type(value, __u32); /* slot */
} eni_macs SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, 1); /* set by the addon */
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct addr_key);
  __type(value, __u32); /* slot */
} eni_addrs SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 1); /* set by the addon */
  __type(key, struct frag_key);
  __type(value, struct frag_value);
} frags SEC(".maps");

struct stats_value {
  __u64 v[STAT_COUNT];
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct stats_value);
} stats SEC(".maps");

/* CLOCK_REALTIME - CLOCK_MONOTONIC (ns), written by user space at load and at every drain; 0: unknown. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __s64);
} wall_offset SEC(".maps");

/* What the parser found; the key's slot and direction are filled per attribution. */
struct packet {
  struct flow_key key;
  __u8 smac[6];
  __u8 dmac[6];
  __u32 l3_off;   /* where the IP header starts */
  __u32 l3_len;   /* L3 length the IP header announces (the wire length for GSO skbs) */
  __u32 hdr_len;  /* L3 + L4 header bytes each GSO segment repeats */
  __u8 tcp_flags;
  __u8 family;    /* 4 or 6 */
};

/* Parse outcomes other than PARSE_OK are loss reasons. */
#define PARSE_OK 0xffff

static __always_inline int is_vlan(__u16 type) {
  /* 802.1Q, 802.1ad, and the pre-standard QinQ types the decoder also reads */
  return type == 0x8100 || type == 0x88a8 || type == 0x9100 || type == 0x9200 || type == 0x9300;
}

static __always_inline int has_ports(__u8 proto) {
  return proto == 6 || proto == 17 || proto == 132 || proto == 136; /* TCP, UDP, SCTP, UDP-Lite */
}

/*
 * Ports and TCP flags of the transport header at `l4` when the packet holds them (it ends at
 * `end`); else they stay 0 and the packet still counts, as the decoder does with a cut header.
 */
static __always_inline void read_transport(struct __sk_buff *skb, struct packet *p, __u32 l4, __u32 end) {
  __u8 l4h[4];
  if (l4 + 4 > end || bpf_skb_load_bytes(skb, l4, l4h, 4) < 0) return;
  __builtin_memcpy(&p->key.sport, &l4h[0], 2); /* 0: source port */
  __builtin_memcpy(&p->key.dport, &l4h[2], 2); /* 2: destination port */
  if (p->key.proto == 6) {
    __u8 tcp[2];
    if (l4 + 14 <= end && bpf_skb_load_bytes(skb, l4 + 12, tcp, 2) == 0) {
      p->tcp_flags = tcp[1];                       /* 13: flags */
      p->hdr_len = l4 - p->l3_off + (tcp[0] >> 4) * 4; /* 12: data offset in 32-bit words */
    }
  } else if (p->key.proto == 17 || p->key.proto == 136) {
    p->hdr_len = l4 - p->l3_off + 8;
  }
}

static __always_inline void frag_key_of(struct frag_key *fk, struct packet *p, __u32 id, __u8 proto) {
  __builtin_memset(fk, 0, sizeof(*fk));
  __builtin_memcpy(fk->src, p->key.src, 16);
  __builtin_memcpy(fk->dst, p->key.dst, 16);
  fk->id = id;
  fk->family = p->family;
  fk->proto = proto;
}

/* A first fragment (offset 0, more to come): its ports for the later ones. */
static __always_inline void remember_fragment(struct packet *p, __u32 id, __u8 key_proto, __u64 now) {
  struct frag_key fk;
  struct frag_value fv = {};
  frag_key_of(&fk, p, id, key_proto);
  fv.stored_ns = now;
  fv.sport = p->key.sport;
  fv.dport = p->key.dport;
  fv.proto = p->key.proto;
  bpf_map_update_elem(&frags, &fk, &fv, BPF_ANY);
}

/* A later fragment: ports (and for IPv6 the upper protocol) of its first fragment, else ports 0. */
static __always_inline void join_fragment(struct packet *p, __u32 id, __u8 key_proto, __u64 now, struct stats_value *st) {
  struct frag_key fk;
  frag_key_of(&fk, p, id, key_proto);
  struct frag_value *fv = bpf_map_lookup_elem(&frags, &fk);
  __u64 joined = fv && now - fv->stored_ns <= FRAG_TIMEOUT_NS;
  if (joined) {
    p->key.sport = fv->sport;
    p->key.dport = fv->dport;
    p->key.proto = fv->proto;
  }
  /* Both counters written, by value: incrementing one or the other lets the compiler pick the
   * counter's address by branch, pointer arithmetic the verifier refuses without CAP_PERFMON. */
  st->v[STAT_FRAGMENTS_JOINED] += joined;
  st->v[STAT_FRAGMENTS_UNJOINED] += 1 - joined;
}

static __always_inline int parse_ipv4(struct __sk_buff *skb, struct packet *p, __u32 off, __u64 now, struct stats_value *st) {
  __u8 ip[20];
  if (bpf_skb_load_bytes(skb, off, ip, 20) < 0) return LOSS_MALFORMED;
  if ((ip[0] >> 4) != 4) return LOSS_MALFORMED;
  __u32 ihl = (ip[0] & 0x0f) * 4; /* 0: version << 4 | IHL */
  if (ihl < 20) return LOSS_MALFORMED;
  __u32 total = ((__u32)ip[2] << 8) | ip[3]; /* 2: total length */
  if (total == 0)
    total = skb->len - off; /* a TSO super-packet before the stack filled the length in */
  else if (total < ihl)
    return LOSS_MALFORMED;
  p->family = 4;
  p->l3_off = off;
  p->l3_len = total;
  p->hdr_len = ihl;
  p->key.proto = ip[9];                       /* 9: protocol */
  __builtin_memcpy(p->key.src, &ip[12], 4);   /* 12: source */
  __builtin_memcpy(p->key.dst, &ip[16], 4);   /* 16: destination */
  if (!has_ports(p->key.proto)) return PARSE_OK;
  __u32 id = ((__u32)ip[4] << 8) | ip[5];     /* 4: identification */
  __u32 frag = ((__u32)ip[6] << 8) | ip[7];   /* 6: flags (MF 0x2000) | offset / 8 */
  if ((frag & 0x1fff) != 0) {
    join_fragment(p, id, p->key.proto, now, st);
    return PARSE_OK;
  }
  __u32 end = off + total < skb->len ? off + total : skb->len; /* past it: link padding */
  read_transport(skb, p, off + ihl, end);
  if (frag & 0x2000) remember_fragment(p, id, p->key.proto, now);
  return PARSE_OK;
}

static __always_inline int parse_ipv6(struct __sk_buff *skb, struct packet *p, __u32 off, __u64 now, struct stats_value *st) {
  __u8 ip6[40];
  if (bpf_skb_load_bytes(skb, off, ip6, 40) < 0) return LOSS_MALFORMED;
  if ((ip6[0] >> 4) != 6) return LOSS_MALFORMED;
  __u32 payload = ((__u32)ip6[4] << 8) | ip6[5]; /* 4: payload length */
  __u8 nh = ip6[6];                               /* 6: next header */
  p->family = 6;
  p->key.flags = FLOW_IPV6;
  p->l3_off = off;
  __builtin_memcpy(p->key.src, &ip6[8], 16);  /* 8: source */
  __builtin_memcpy(p->key.dst, &ip6[24], 16); /* 24: destination */
  __u32 total = 40 + payload;
  if (payload == 0 && nh != 59) total = skb->len - off; /* jumbogram or GSO/BIG TCP super-packet */
  p->l3_len = total;
  __u32 end = off + total < skb->len ? off + total : skb->len;
  __u32 pos = off + 40;
  int fragmented = 0, later = 0, more = 0, cut = 0, upper = 0;
  __u32 id = 0;
#pragma unroll
  for (int i = 0; i < 4; i++) {
    if (nh == 44) { /* fragment header: 8 bytes */
      __u8 fh[8];
      if (pos + 8 > end || bpf_skb_load_bytes(skb, pos, fh, 8) < 0) {
        cut = 1;
        break;
      }
      __u32 field = ((__u32)fh[2] << 8) | fh[3]; /* 2: offset / 8 << 3 | M */
      id = ((__u32)fh[4] << 24) | ((__u32)fh[5] << 16) | ((__u32)fh[6] << 8) | fh[7]; /* 4: identification */
      fragmented = 1;
      more = field & 1;
      nh = fh[0]; /* 0: next header */
      pos += 8;
      if ((field >> 3) != 0) { /* a later fragment carries data, not headers */
        later = 1;
        break;
      }
      continue;
    }
    if (nh != 0 && nh != 43 && nh != 60 && nh != 51) { /* hop-by-hop, routing, destination options, AH */
      upper = 1;
      break;
    }
    __u8 eh[2];
    if (pos + 2 > end || bpf_skb_load_bytes(skb, pos, eh, 2) < 0) {
      cut = 1;
      break;
    }
    __u32 len = nh == 51 ? ((__u32)eh[1] + 2) * 4 : ((__u32)eh[1] + 1) * 8; /* 1: length */
    nh = eh[0];                                                              /* 0: next header */
    if (pos + len > end) {
      cut = 1;
      break;
    }
    pos += len;
  }
  if (!upper && !cut && !later) {
    /* four headers walked: is the fifth the upper layer? */
    if (nh == 0 || nh == 43 || nh == 60 || nh == 51 || nh == 44) return LOSS_UNSUPPORTED;
  }
  p->key.proto = nh;
  p->hdr_len = pos - off;
  if (cut) return PARSE_OK; /* counted under the last next-header byte read, without ports */
  if (later) {
    join_fragment(p, id, 0, now, st);
    return PARSE_OK;
  }
  if (has_ports(nh)) read_transport(skb, p, pos, end);
  if (fragmented && more) remember_fragment(p, id, 0, now);
  return PARSE_OK;
}

/* Ethernet, up to two in-band VLAN tags (an offloaded tag is in skb->vlan_tci, not in the bytes), IP. */
static __always_inline int parse(struct __sk_buff *skb, struct packet *p, __u64 now, struct stats_value *st, __u32 *link_end) {
  __u8 eth[14];
  *link_end = 0;
  if (bpf_skb_load_bytes(skb, 0, eth, 14) < 0) return LOSS_MALFORMED;
  __builtin_memcpy(p->dmac, &eth[0], 6); /* 0: destination MAC */
  __builtin_memcpy(p->smac, &eth[6], 6); /* 6: source MAC */
  __u16 type = ((__u16)eth[12] << 8) | eth[13]; /* 12: ethertype */
  __u32 off = 14;
#pragma unroll
  for (int i = 0; i < 2; i++) {
    if (!is_vlan(type)) break;
    __u8 tag[4];
    if (bpf_skb_load_bytes(skb, off, tag, 4) < 0) return LOSS_MALFORMED;
    type = ((__u16)tag[2] << 8) | tag[3]; /* 2: the next ethertype after the TCI */
    off += 4;
  }
  *link_end = off;
  if (type == 0x0800) return parse_ipv4(skb, p, off, now, st);
  if (type == 0x86dd) return parse_ipv6(skb, p, off, now, st);
  /* a third tag, MPLS, PPPoE session, VN-Tag, E-Tag, FabricPath, NSH: the decoder reads them */
  if (is_vlan(type) || type == 0x8847 || type == 0x8848 || type == 0x8864 || type == 0x8926 || type == 0x893f ||
      type == 0x8903 || type == 0x894f)
    return LOSS_UNSUPPORTED;
  return LOSS_NOT_IP;
}

/* The slot of the ENI a MAC, else an address, names; -1 for none (EniInventory's rule). */
static __always_inline int eni_of(const __u8 *mac, const __u8 *addr, __u8 family) {
  struct mac_key mk = {};
  __builtin_memcpy(mk.mac, mac, 6);
  __u32 *slot = bpf_map_lookup_elem(&eni_macs, &mk);
  if (slot) return *slot;
  struct addr_key ak = {};
  ak.prefixlen = family == 4 ? 8 + 32 : 8 + 128;
  ak.family = family;
  __builtin_memcpy(ak.addr, addr, 16);
  slot = bpf_map_lookup_elem(&eni_addrs, &ak);
  return slot ? (int)*slot : -1;
}

static __always_inline void add_reserved(void *table, __u16 slot, __u16 reason, __u64 packets, __u64 bytes, struct stats_value *st) {
  struct flow_key rk = {};
  rk.slot = slot;
  rk.flags = FLOW_RESERVED;
  rk.sport = reason;
  struct flow_value *v = bpf_map_lookup_elem(table, &rk);
  if (!v) {
    st->v[STAT_NO_RESERVED] += packets;
    return;
  }
  __sync_fetch_and_add(&v->packets, packets);
  __sync_fetch_and_add(&v->bytes, bytes);
}

static __always_inline void add_to(struct flow_value *v, __u64 segs, __u64 bytes, __u64 now, __u8 tcp_flags) {
  __sync_fetch_and_add(&v->packets, segs);
  __sync_fetch_and_add(&v->bytes, bytes);
  if (v->last_ns < now) v->last_ns = now;
  /* A plain OR (5.10 has no atomic OR): a bit is lost only if two CPUs add different flags to
   * one flow at the same instant, and the next packet with that flag sets it again. */
  if ((v->tcp_flags | tcp_flags) != v->tcp_flags) v->tcp_flags |= tcp_flags;
}

/* One packet for one ENI: into its flow, a new flow within the slot's quota, or its loss key. */
static __always_inline void record(void *table, struct flow_key *key, __u64 segs, __u64 bytes, __u64 now,
                                   __u8 tcp_flags, struct stats_value *st) {
  struct flow_value *v = bpf_map_lookup_elem(table, key);
  if (v) {
    add_to(v, segs, bytes, now, tcp_flags);
    return;
  }
  __u32 slot = key->slot;
  struct flow_key rk = {};
  rk.slot = key->slot;
  rk.flags = FLOW_RESERVED;
  rk.sport = LOSS_QUOTA_USED;
  struct flow_value *used = bpf_map_lookup_elem(table, &rk);
  if (!used) {
    st->v[STAT_NO_RESERVED] += segs;
    return;
  }
  struct slot_info *si = bpf_map_lookup_elem(&slots, &slot);
  if (si && si->flow_quota != 0 && used->packets >= si->flow_quota) {
    add_reserved(table, key->slot, LOSS_QUOTA, segs, bytes, st);
    return;
  }
  struct flow_value nv = {};
  nv.packets = segs;
  nv.bytes = bytes;
  nv.first_ns = now;
  nv.last_ns = now;
  nv.tcp_flags = tcp_flags;
  long err = bpf_map_update_elem(table, key, &nv, BPF_NOEXIST);
  if (err == 0) {
    __sync_fetch_and_add(&used->packets, 1);
    return;
  }
  if (err == -EEXIST) { /* another CPU inserted it first */
    v = bpf_map_lookup_elem(table, key);
    if (v) {
      add_to(v, segs, bytes, now, tcp_flags);
      return;
    }
  }
  add_reserved(table, key->slot, err == -E2BIG ? LOSS_MAP_FULL : err == -EBUSY ? LOSS_MAP_BUSY : LOSS_MAP_ERROR, segs,
               bytes, st);
}

SEC("tc")
int flowlog_tc(struct __sk_buff *skb) {
  __u32 zero = 0;
  struct stats_value *st = bpf_map_lookup_elem(&stats, &zero);
  if (!st) return TC_ACT_UNSPEC;
  __u64 segs = skb->gso_segs > 1 ? skb->gso_segs : 1;
  st->v[STAT_PACKETS_SEEN] += segs;
  st->v[STAT_SKBS_SEEN]++;
  if (segs > 1) st->v[STAT_GSO_SKBS]++;
#ifdef FLOWLOG_BENCH_EMPTY
  /* bench/ebpf-bench.js: the hook's and the run-time statistics' own cost, with the same maps */
  return TC_ACT_UNSPEC;
#endif

  __u32 ifindex = skb->ifindex;
  struct device_info *dev = bpf_map_lookup_elem(&devices, &ifindex);
  if (!dev) {
    st->v[STAT_NO_DEVICE] += segs;
    return TC_ACT_UNSPEC;
  }
  void *table = bpf_map_lookup_elem(&live_flows, &zero);
  if (!table) {
    st->v[STAT_NO_TABLE] += segs;
    return TC_ACT_UNSPEC;
  }

  __u64 now = bpf_ktime_get_ns();
  struct packet p;
  __builtin_memset(&p, 0, sizeof(p));
  __u32 link_end = 0;
  int status = parse(skb, &p, now, st, &link_end);
  if (status != PARSE_OK) {
    /* bytes after the link headers: the IP header could not say */
    __u64 rest = skb->len > link_end ? skb->len - link_end : 0;
    add_reserved(table, dev->slot, status, segs, rest, st);
    return TC_ACT_UNSPEC;
  }

  /* Each segment carries the L3 and L4 headers again: the super-packet's L3 bytes plus the
   * headers of the other segments are the segments' L3 lengths. */
  __u64 bytes = segs > 1 ? (__u64)(skb->len - p.l3_off) + (segs - 1) * p.hdr_len : p.l3_len;

  int src = eni_of(p.smac, p.key.src, p.family);
  int dst = eni_of(p.dmac, p.key.dst, p.family);
  int out, in;
  if (dev->kind == DEVICE_OWN) {
    /* the ENI's own device: only that ENI, by its MAC or address on either side */
    out = src == dev->slot;
    in = dst == dev->slot;
  } else {
    /* a shared device: every ENI without a device of its own that the frame names */
    __u32 s = src, d = dst;
    struct slot_info *si = src >= 0 ? bpf_map_lookup_elem(&slots, &s) : 0;
    struct slot_info *di = dst >= 0 ? bpf_map_lookup_elem(&slots, &d) : 0;
    out = si && (si->flags & SLOT_ON_SHARED);
    in = di && (di->flags & SLOT_ON_SHARED);
  }
  if (!out && !in) {
    add_reserved(table, dev->slot, LOSS_UNATTRIBUTED, segs, bytes, st);
    return TC_ACT_UNSPEC;
  }
  if (out && in) st->v[STAT_DUAL_PACKETS] += segs;
  /* The wall-clock second's parity splits a flow at every second (and so at every window
   * boundary): u64 division by a constant, cheap next to the map update. */
  __u8 family_flag = p.key.flags;
  __s64 *offset = bpf_map_lookup_elem(&wall_offset, &zero);
  if (offset && *offset != 0 && (((__u64)((__s64)now + *offset) / 1000000000ULL) & 1)) family_flag |= FLOW_ODD_SECOND;
  if (out) {
    p.key.slot = src;
    p.key.flags = family_flag | FLOW_OUT;
    record(table, &p.key, segs, bytes, now, p.tcp_flags, st);
  }
  if (in) {
    p.key.slot = dst;
    p.key.flags = family_flag;
    record(table, &p.key, segs, bytes, now, p.tcp_flags, st);
  }
  return TC_ACT_UNSPEC;
}

/* The project's licence; the program calls no GPL-only helper. */
char LICENSE[] SEC("license") = "Apache-2.0";
