/* The capture addon's own AF_PACKET TPACKET_V3 ring with the virtio_net_hdr (packet-ring.c). */
#ifndef FLOWLOG_PACKET_RING_H
#define FLOWLOG_PACKET_RING_H

#include <stddef.h>
#include <stdint.h>

typedef struct packet_ring packet_ring_t;

/*
 * Opens `device` (Ethernet only) with a ring of `buffer_bytes` in 256 KiB blocks handed over when
 * full or after `timeout_ms`, frames cut at `snaplen`, `filter` compiled by libpcap. NULL on
 * failure with `error` set; `*not_ethernet` 1 when the device is another kind (then nothing is
 * set: the caller opens it through libpcap). Touches no JavaScript: may run on a libuv worker.
 */
packet_ring_t *packet_ring_open(const char *device, uint32_t snaplen, uint32_t buffer_bytes, uint32_t timeout_ms, const char *filter, int promiscuous,
                                char *error, size_t error_size, int *not_ethernet);
/* The descriptor to poll (readable when a block is handed over; error when the device goes). */
int packet_ring_fd(const packet_ring_t *r);
/* The device's MTU at open, 0 when it could not be read. */
uint32_t packet_ring_mtu(const packet_ring_t *r);
/*
 * Copies the frames the ring holds, as many as fit in `room`, into `out` as records (16-byte
 * header, see packet-ring.c); returns the bytes written, or -1 with `error` set when the socket
 * failed (the device went down or away). Never blocks.
 */
long packet_ring_read(packet_ring_t *r, uint8_t *out, size_t room, char *error, size_t error_size);
/* Cumulative received (drops included, as libpcap's ps_recv), kernel drops, interface drops. */
int packet_ring_stats(packet_ring_t *r, uint32_t *received, uint32_t *dropped, uint32_t *if_dropped);
/* Unmaps the ring and closes the socket (waits for an RCU grace period: call it on a worker). */
void packet_ring_close(packet_ring_t *r);

#endif
