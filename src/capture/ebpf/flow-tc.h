/*
 * Layout shared by the TC flow program (flow-tc.bpf.c) and the addon that reads its maps
 * (src/capture/native/ebpf-*.c). Only fixed-width types: the BPF target and x86-64 must agree on
 * every offset, so each struct states its size and the addon checks them with static asserts.
 * The design (maps, swap, reasons) is in docs/ebpf-engine.md.
 */
#ifndef FLOWLOG_FLOW_TC_H
#define FLOWLOG_FLOW_TC_H

#include <linux/types.h>

/*
 * A flow of one ENI slot in one direction. IPv4 addresses take the first 4 bytes of `src`/`dst`
 * (the rest stays 0) and bit FLOW_IPV6 of `flags` tells the families apart. Ports are stored as
 * the packet carries them (network order); the addon hands them over in host order.
 * 40 bytes, no padding.
 */
struct flow_key {
  __u8 src[16];
  __u8 dst[16];
  __u16 slot;   /* ENI slot (or a shared device's slot for its reserved keys) */
  __u8 flags;   /* FLOW_OUT | FLOW_IPV6, or FLOW_RESERVED */
  __u8 proto;   /* IP protocol; 0 in reserved keys */
  __u16 sport;  /* reserved keys: the reason (host order), see enum loss_reason */
  __u16 dport;
};

#define FLOW_OUT 0x01      /* the ENI sent it; else it received it */
#define FLOW_IPV6 0x02
/* The packet's wall-clock second is odd: a flow's packets of two consecutive seconds are two
 * entries, so a drain (every second) never mixes the seconds of a window boundary. */
#define FLOW_ODD_SECOND 0x04
#define FLOW_RESERVED 0xff /* not a flow: a per-slot counter (loss reason, quota use) */

/* 40 bytes. Reserved keys use packets/bytes only (QUOTA_USED: packets = flows inserted). */
struct flow_value {
  __u64 packets;   /* wire segments: max(1, gso_segs) per skb */
  __u64 bytes;     /* L3 bytes of those segments */
  __u64 first_ns;  /* bpf_ktime_get_ns (CLOCK_MONOTONIC) of the first packet */
  __u64 last_ns;   /* ... and of the last one */
  __u8 tcp_flags;  /* OR of the TCP flags byte (offset 13) */
  __u8 pad[7];
};

/*
 * Why a packet was not recorded as a flow (reserved key sport = reason). Which of them are loss
 * (SKIPDATA) and which are traffic that is no ENI's flow by definition is the flow layer's call;
 * docs/ebpf-engine.md lists each with its libpcap-path counterpart.
 */
enum loss_reason {
  LOSS_QUOTA_USED = 0,    /* not a loss: packets = flows this slot inserted into this table */
  LOSS_MAP_FULL = 1,      /* insert failed with E2BIG: the table is full */
  LOSS_MAP_BUSY = 2,      /* insert failed with EBUSY (bucket lock taken re-entrantly) */
  LOSS_MAP_ERROR = 3,     /* insert failed otherwise (ENOMEM, ...) */
  LOSS_QUOTA = 4,         /* the slot's flow quota for this table is used up */
  LOSS_UNSUPPORTED = 5,   /* a header the program does not decode (MPLS, PPPoE, a third VLAN tag,
                             more than 4 IPv6 extension headers, ...): libpcap would have counted it */
  LOSS_MALFORMED = 6,     /* truncated or impossible IP header (the libpcap path's "malformed") */
  LOSS_NOT_IP = 7,        /* ARP, LLDP, ...: not flow traffic */
  LOSS_UNATTRIBUTED = 8,  /* an IP packet no ENI's MAC or address names (counted, as libpcap does) */
  LOSS_REASONS = 9,
};

/* Global per-CPU counters (stats map), monotonic, never reset. */
enum flow_stat {
  STAT_PACKETS_SEEN = 0,    /* segments the program ran on */
  STAT_SKBS_SEEN = 1,       /* skbs (a GSO skb counts once) */
  STAT_DUAL_PACKETS = 2,    /* segments recorded for two ENIs (source and destination) */
  STAT_NO_DEVICE = 3,       /* segments on an ifindex the devices map does not know */
  STAT_NO_TABLE = 4,        /* segments when the outer map held no table (never expected) */
  STAT_NO_RESERVED = 5,     /* segments whose slot has no reserved keys in the table */
  STAT_FRAGMENTS_JOINED = 6,     /* later fragments that got ports from their first fragment */
  STAT_FRAGMENTS_UNJOINED = 7,   /* later fragments recorded with ports 0 (no first fragment seen) */
  STAT_GSO_SKBS = 8,        /* skbs with gso_segs > 1 */
  STAT_COUNT = 9,
};

/* devices map: ifindex -> what the device is. */
struct device_info {
  __u16 slot;  /* DEVICE_OWN: the ENI's slot; DEVICE_SHARED: the device's own slot (its losses) */
  __u8 kind;   /* DEVICE_OWN or DEVICE_SHARED */
  __u8 pad;
};
#define DEVICE_OWN 1
#define DEVICE_SHARED 2

/* slots map (array, one entry per slot). */
struct slot_info {
  __u32 flow_quota;  /* most flows this slot inserts per table; 0: no quota */
  __u8 flags;        /* SLOT_ON_SHARED */
  __u8 pad[3];
};
#define SLOT_ON_SHARED 0x01  /* an ENI counted on shared devices (it has no device of its own) */

/* eni_macs map key: the MAC in bytes 0..5. */
struct mac_key {
  __u8 mac[6];
  __u16 pad;
};

/* eni_addrs LPM trie key: family byte (4 or 6) then the address; prefixlen counts the family byte's 8 bits. */
struct addr_key {
  __u32 prefixlen;
  __u8 family;
  __u8 addr[16];
};

/* frags LRU key: a datagram as RFC 791 (v4: id 16 bits, with proto) / RFC 8200 (v6: id 32 bits) name it. */
struct frag_key {
  __u8 src[16];
  __u8 dst[16];
  __u32 id;
  __u8 family;
  __u8 proto;  /* IPv4 only; 0 for IPv6 */
  __u16 pad;
};

struct frag_value {
  __u64 stored_ns;
  __u16 sport;
  __u16 dport;
  __u8 proto;  /* upper-layer protocol the first fragment named */
  __u8 pad[3];
};

/* Fragments join their first fragment for this long (RFC 8200 section 4.5; as the decoder's cache). */
#define FRAG_TIMEOUT_NS (60ull * 1000000000ull)

#endif
