/**
 * How the capture rings of many devices share one memory budget (`capture.totalBufferBytes`).
 *
 * libpcap on Linux builds a TPACKET_V3 ring of blocks sized for its largest frame (256 KiB) and
 * rounds the buffer up to whole blocks, so shares are whole blocks too (a share of 600 KiB would
 * become 768 KiB and overrun the budget). Two blocks is the floor: with one, the kernel has
 * nowhere to write while the agent reads the block it handed over, and drops.
 */
export const RING_BLOCK_BYTES = 256 * 1024;
export const RING_FLOOR_BYTES = 2 * RING_BLOCK_BYTES;

/**
 * Ring bytes for one of `handles` devices: an equal share of `totalBytes` in whole blocks, at
 * most `capBytes`, at least the floor (or `capBytes` when that is set below it).
 */
export function ringShareBytes(totalBytes: number, handles: number, capBytes: number): number {
  const share = Math.floor(totalBytes / Math.max(1, handles) / RING_BLOCK_BYTES) * RING_BLOCK_BYTES;
  return Math.max(Math.min(share, capBytes), Math.min(RING_FLOOR_BYTES, capBytes));
}
