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

/** Ring bytes for one of `handles` devices: an equal share of `totalBytes`, at most `capBytes`. */
export function ringShareBytes(totalBytes: number, handles: number, capBytes?: number): number {
  const share = Math.floor(totalBytes / Math.max(1, handles) / RING_BLOCK_BYTES) * RING_BLOCK_BYTES;
  const capped = capBytes === undefined ? share : Math.min(share, capBytes);
  return Math.max(capped, Math.min(RING_FLOOR_BYTES, capBytes ?? RING_FLOOR_BYTES));
}
