/*
 * The capture addon's own AF_PACKET TPACKET_V3 ring, for Ethernet devices: libpcap's ring, plus
 * the kernel's virtio_net_hdr in front of each frame (PACKET_VNET_HDR), which says how a GSO/GRO
 * super-frame was (or will be) segmented on the wire: gso_type, gso_size, hdr_len.
 *
 * Why not libpcap's ring: PACKET_VNET_HDR must be set before the ring is made (the kernel answers
 * EBUSY afterwards), and pcap_activate makes socket and ring in one call; libpcap has no option
 * for it. libpcap still compiles the filter (attached with SO_ATTACH_FILTER), and the ring is
 * laid out as libpcap lays it out (256 KiB blocks, the read timeout as the block timeout), so
 * everything measured of the read pause holds. One difference: the filter always ends in
 * `ret #snaplen`, so the kernel copies only the snaplen of each frame into the ring (libpcap
 * without a filter copies whole frames, 64 KiB for a super-frame, and cuts them in user space).
 *
 * Records: as chunk-capture.c writes them (pcap record layout), with word 1 (microseconds in a
 * pcap file) carrying the segmentation instead: bit 31 set (the header was read), bits 24-30
 * hdr_len / 2 (0: not known or odd), bits 16-23 gso_type, bits 0-15 gso_size.
 *
 * Kernels: TPACKET_V3 delivers the header on 5.10 and 6.x (tpacket_rcv writes it just before the
 * frame). A super-frame of a GSO type virtio_net_hdr_from_skb cannot express (UDP_L4 before 6.2,
 * types added since) is dropped by the kernel and counted in tp_drops, so it shows as a capture
 * drop (SKIPDATA), never as a silent loss.
 */
#include "packet-ring.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define BLOCK_BYTES (1u << 18) /* libpcap's TPACKET_V3 block (MAXIMUM_SNAPLEN) */
#define VNET_HDR_BYTES 10      /* struct virtio_net_hdr, just before the frame */

struct packet_ring {
  int fd;
  int ifindex;
  uint8_t *map;
  uint32_t block_nr;
  uint32_t snaplen;
  uint32_t mtu;
  char device[IFNAMSIZ];
  /* The block being read: its index, and the next packet and how many are left in it. */
  uint32_t block;
  int in_block;
  uint32_t left;
  uint8_t *packet;
  /* Statistics since open (PACKET_STATISTICS clears on read; sysfs counters are since boot). */
  uint32_t received, dropped, if_dropped;
  long long if_drops_at;
};

static void set_error(char *error, size_t size, const char *what, int err) {
  snprintf(error, size, "%s: %s", what, strerror(err));
}

/* libpcap's interface drops: the device's rx_missed_errors + rx_fifo_errors (sysfs). */
static long long sysfs_stat(const char *device, const char *stat) {
  char path[128], text[32];
  snprintf(path, sizeof path, "/sys/class/net/%s/statistics/%s", device, stat);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return 0;
  text[n] = 0;
  return strtoll(text, NULL, 10);
}

static long long if_drops(const char *device) {
  return sysfs_stat(device, "rx_missed_errors") + sysfs_stat(device, "rx_fifo_errors");
}

/*
 * A libpcap handle to compile `filter` with. A filter is compiled on a live handle of the device
 * (opened, then closed at once) because libpcap compiles `vlan` for a live Linux handle to read
 * the tag the kernel took off the frame (BPF_SPECIAL_VLAN_HANDLING, which a dead handle has not):
 * compiled for a dead one it would look for the tag in the frame and never match. "" (the
 * default) needs no live handle: it compiles to `ret #snaplen` either way.
 */
static pcap_t *filter_compiler(const char *device, const char *filter, uint32_t snaplen) {
  if (filter[0] != 0) {
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_create(device, errbuf);
    if (p != NULL) {
      pcap_set_snaplen(p, (int)snaplen);
      pcap_set_buffer_size(p, 1 << 18);
      pcap_set_timeout(p, 1000);
      if (pcap_activate(p) >= 0) return p;
      pcap_close(p);
    }
  }
  return pcap_open_dead(DLT_EN10MB, (int)snaplen);
}

/* The filter, compiled by libpcap for an Ethernet handle of `snaplen`; "" keeps every frame. */
static int attach_filter(int fd, const char *device, const char *filter, uint32_t snaplen, char *error, size_t size) {
  pcap_t *compiler = filter_compiler(device, filter, snaplen);
  if (compiler == NULL) {
    snprintf(error, size, "filter: cannot make a libpcap handle to compile it");
    return -1;
  }
  struct bpf_program program;
  if (pcap_compile(compiler, &program, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
    snprintf(error, size, "filter: %s", pcap_geterr(compiler));
    pcap_close(compiler);
    return -1;
  }
  struct sock_fprog code = {.len = (unsigned short)program.bf_len, .filter = (struct sock_filter *)program.bf_insns};
  int rc = setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &code, sizeof code);
  if (rc != 0) set_error(error, size, "filter: SO_ATTACH_FILTER", errno);
  pcap_freecode(&program);
  pcap_close(compiler);
  return rc;
}

packet_ring_t *packet_ring_open(const char *device, uint32_t snaplen, uint32_t buffer_bytes, uint32_t timeout_ms, const char *filter, int promiscuous,
                                char *error, size_t error_size, int *not_ethernet) {
  *not_ethernet = 0;
  if (strlen(device) >= IFNAMSIZ) {
    snprintf(error, error_size, "No such device exists");
    return NULL;
  }
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0); /* protocol 0: nothing queued before bind */
  if (fd < 0) {
    set_error(error, error_size, "socket", errno);
    return NULL;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, device);
  if (ioctl(fd, SIOCGIFINDEX, &ifr) != 0) {
    if (errno == ENODEV) snprintf(error, error_size, "No such device exists");
    else set_error(error, error_size, "SIOCGIFINDEX", errno);
    close(fd);
    return NULL;
  }
  int ifindex = ifr.ifr_ifindex;
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0 || ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
    *not_ethernet = 1; /* loopback, tun, GRE, ...: libpcap's own mapping to a link type */
    close(fd);
    return NULL;
  }
  uint32_t mtu = ioctl(fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0 ? (uint32_t)ifr.ifr_mtu : 0;
  int version = TPACKET_V3, one = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0) {
    set_error(error, error_size, "TPACKET_V3", errno);
    close(fd);
    return NULL;
  }
  if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) != 0) {
    set_error(error, error_size, "PACKET_VNET_HDR", errno);
    close(fd);
    return NULL;
  }
  struct tpacket_req3 req;
  memset(&req, 0, sizeof req);
  req.tp_block_size = BLOCK_BYTES;
  req.tp_block_nr = (buffer_bytes + BLOCK_BYTES - 1) / BLOCK_BYTES;
  if (req.tp_block_nr < 2) req.tp_block_nr = 2;
  req.tp_frame_size = BLOCK_BYTES;
  req.tp_frame_nr = req.tp_block_nr;
  req.tp_retire_blk_tov = timeout_ms;
  if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0) {
    set_error(error, error_size, "PACKET_RX_RING", errno);
    close(fd);
    return NULL;
  }
  size_t bytes = (size_t)req.tp_block_size * req.tp_block_nr;
  uint8_t *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    set_error(error, error_size, "mmap of the ring", errno);
    close(fd);
    return NULL;
  }
  /* The filter before bind: no frame reaches the ring unfiltered or longer than the snaplen. */
  if (attach_filter(fd, device, filter, snaplen, error, error_size) != 0) {
    munmap(map, bytes);
    close(fd);
    return NULL;
  }
  if (promiscuous) {
    struct packet_mreq mr;
    memset(&mr, 0, sizeof mr);
    mr.mr_ifindex = ifindex;
    mr.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0) {
      set_error(error, error_size, "promiscuous mode", errno);
      munmap(map, bytes);
      close(fd);
      return NULL;
    }
  }
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = ifindex;
  int err = 0;
  socklen_t err_len = sizeof err;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) != 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0 || err != 0) {
    int e = err != 0 ? err : errno;
    /* A device that is down binds, with ENETDOWN pending (libpcap: PCAP_ERROR_IFACE_NOT_UP). */
    if (e == ENETDOWN) snprintf(error, error_size, "That device is not up");
    else if (e == ENODEV) snprintf(error, error_size, "No such device exists");
    else set_error(error, error_size, "bind", e);
    munmap(map, bytes);
    close(fd);
    return NULL;
  }
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
    set_error(error, error_size, "non-blocking", errno);
    munmap(map, bytes);
    close(fd);
    return NULL;
  }
  packet_ring_t *r = (packet_ring_t *)calloc(1, sizeof *r);
  if (r == NULL) {
    snprintf(error, error_size, "out of memory");
    munmap(map, bytes);
    close(fd);
    return NULL;
  }
  r->fd = fd;
  r->ifindex = ifindex;
  r->map = map;
  r->block_nr = req.tp_block_nr;
  r->snaplen = snaplen;
  r->mtu = mtu;
  strcpy(r->device, device);
  r->if_drops_at = if_drops(device);
  return r;
}

int packet_ring_fd(const packet_ring_t *r) { return r->fd; }
uint32_t packet_ring_mtu(const packet_ring_t *r) { return r->mtu; }

static struct tpacket_block_desc *block_at(const packet_ring_t *r, uint32_t i) {
  return (struct tpacket_block_desc *)(r->map + (size_t)i * BLOCK_BYTES);
}

/* Copies one frame as a record at `at`; returns the record's bytes (at most 16 + snaplen). */
static size_t copy_frame(const packet_ring_t *r, const struct tpacket3_hdr *h, uint8_t *at) {
  const uint8_t *frame = (const uint8_t *)h + h->tp_mac;
  /* struct virtio_net_hdr: 0 flags, 1 gso_type, 2 hdr_len, 4 gso_size (host order, little-endian
   * here: the kernel writes it in the host's order for a packet socket) */
  const uint8_t *vnet = frame - VNET_HDR_BYTES;
  uint32_t gso_type = vnet[1];
  uint32_t hdr_len = (uint32_t)vnet[2] | (uint32_t)vnet[3] << 8;
  uint32_t gso_size = (uint32_t)vnet[4] | (uint32_t)vnet[5] << 8;
  uint32_t caplen = h->tp_snaplen, len = h->tp_len;
  uint8_t *out = at + 16;
  /* A VLAN tag the device took off (offload) goes back into the frame, as libpcap does. */
  int tagged = (h->tp_status & TP_STATUS_VLAN_VALID) != 0 || h->hv1.tp_vlan_tci != 0;
  if (tagged && caplen >= 12) {
    uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) != 0 && h->hv1.tp_vlan_tpid != 0 ? h->hv1.tp_vlan_tpid : ETH_P_8021Q;
    uint8_t tag[4] = {(uint8_t)(tpid >> 8), (uint8_t)tpid, (uint8_t)(h->hv1.tp_vlan_tci >> 8), (uint8_t)h->hv1.tp_vlan_tci};
    uint32_t kept = caplen + 4 > r->snaplen ? r->snaplen : caplen + 4; /* >= 16: caplen >= 12, snaplen >= 64 */
    memcpy(out, frame, 12);
    memcpy(out + 12, tag, 4);
    memcpy(out + 16, frame + 12, kept - 16);
    caplen = kept;
    len += 4;
    if (hdr_len > 0) hdr_len += 4;
  } else {
    if (caplen > r->snaplen) caplen = r->snaplen; /* the filter's snaplen; never more */
    memcpy(out, frame, caplen);
  }
  uint32_t half = (hdr_len & 1) == 0 && hdr_len <= 254 ? hdr_len >> 1 : 0;
  uint32_t words[4] = {h->tp_sec, 0x80000000u | half << 24 | (gso_type & 0xff) << 16 | (gso_size & 0xffff), caplen, len};
  memcpy(at, words, 16); /* x86-64 and arm64 are little-endian: the pcap record layout as is */
  return 16 + (size_t)caplen;
}

/*
 * Whether the socket failed for good (its device deleted), checked when no block waits. A device
 * set down leaves ENETDOWN pending on the socket and stops it; set up again, the kernel resumes
 * it (the socket stays bound): so a pending ENETDOWN is cleared (else every poll would wake on
 * it) and the ring kept while the device exists, as libpcap keeps its handle. A deleted device
 * never comes back to this socket: the caller closes it and opens the device anew.
 */
static int socket_failed(packet_ring_t *r, char *error, size_t error_size) {
  struct pollfd p = {.fd = r->fd, .events = POLLIN, .revents = 0};
  if (poll(&p, 1, 0) <= 0 || (p.revents & (POLLERR | POLLHUP | POLLNVAL)) == 0) return 0;
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno; /* reading clears it */
  char name[IF_NAMESIZE];
  if (err == ENETDOWN && if_indextoname((unsigned)r->ifindex, name) != NULL) return 0; /* down, not gone */
  if (err == ENETDOWN) snprintf(error, error_size, "The interface disappeared");
  else if (err != 0) snprintf(error, error_size, "%s", strerror(err));
  else snprintf(error, error_size, "poll: error on the packet socket");
  return 1;
}

long packet_ring_read(packet_ring_t *r, uint8_t *out, size_t room, char *error, size_t error_size) {
  const size_t record_max = 16 + (size_t)r->snaplen;
  size_t used = 0;
  int any_block = r->in_block;
  while (room - used >= record_max) {
    struct tpacket_block_desc *b = block_at(r, r->block);
    if (!r->in_block) {
      /* The kernel hands a block over by its status (acquire: its packets are written first). */
      if ((__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0) break;
      r->in_block = 1;
      any_block = 1;
      r->left = b->hdr.bh1.num_pkts;
      r->packet = (uint8_t *)b + b->hdr.bh1.offset_to_first_pkt;
    }
    if (r->left > 0) {
      const struct tpacket3_hdr *h = (const struct tpacket3_hdr *)r->packet;
      used += copy_frame(r, h, out + used);
      r->left--;
      r->packet += h->tp_next_offset;
    }
    if (r->left == 0) { /* read out: back to the kernel at once */
      __atomic_store_n(&b->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
      r->in_block = 0;
      r->block = (r->block + 1) % r->block_nr;
    }
  }
  if (used == 0 && !any_block && socket_failed(r, error, error_size)) return -1;
  return (long)used;
}

int packet_ring_stats(packet_ring_t *r, uint32_t *received, uint32_t *dropped, uint32_t *if_dropped) {
  struct tpacket_stats_v3 s;
  socklen_t len = sizeof s;
  if (getsockopt(r->fd, SOL_PACKET, PACKET_STATISTICS, &s, &len) != 0) return -1;
  r->received += s.tp_packets; /* the kernel adds the drops in, as libpcap's ps_recv has them */
  r->dropped += s.tp_drops;
  long long now = if_drops(r->device);
  r->if_dropped += (uint32_t)(now - r->if_drops_at);
  r->if_drops_at = now;
  *received = r->received;
  *dropped = r->dropped;
  *if_dropped = r->if_dropped;
  return 0;
}

void packet_ring_close(packet_ring_t *r) {
  if (r == NULL) return;
  munmap(r->map, (size_t)BLOCK_BYTES * r->block_nr);
  close(r->fd); /* releasing a packet socket waits for an RCU grace period (close on a worker) */
  free(r);
}
