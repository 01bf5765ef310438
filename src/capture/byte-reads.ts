/**
 * Big-endian and little-endian reads by index. Callers check bounds first; small enough for
 * V8 to inline, so the packet path keeps reading bytes without DataView or subarray objects.
 */

/** Unsigned 16-bit big-endian (network order) value at `off`. */
export function readU16(frame: Uint8Array, off: number): number {
  return (frame[off] << 8) | frame[off + 1];
}

/** Unsigned 32-bit big-endian (network order) value at `off`. */
export function readU32(frame: Uint8Array, off: number): number {
  return ((frame[off] << 24) | (frame[off + 1] << 16) | (frame[off + 2] << 8) | frame[off + 3]) >>> 0;
}

/**
 * The same 32 bits as a signed int32. For values that are only stored into a Uint32Array or
 * compared with other int32s (addresses, MAC low words): node runs V8 without pointer
 * compression, where int32 values are small integers, while a uint32 of 2^31 or more is a heap
 * number, allocated whenever it crosses a call V8 did not inline.
 */
export function readI32(frame: Uint8Array, off: number): number {
  return (frame[off] << 24) | (frame[off + 1] << 16) | (frame[off + 2] << 8) | frame[off + 3];
}

/** Unsigned 16-bit little-endian value at `off` (NFLOG TLV headers, in host order). */
export function readU16Le(frame: Uint8Array, off: number): number {
  return frame[off] | (frame[off + 1] << 8);
}

/** The same 32 bits read little-endian, as an int32 (pcap record headers in host order). */
export function readI32Le(frame: Uint8Array, off: number): number {
  return frame[off] | (frame[off + 1] << 8) | (frame[off + 2] << 16) | (frame[off + 3] << 24);
}
