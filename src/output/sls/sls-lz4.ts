/**
 * LZ4 block-format compressor (the "lz4" x-log-compresstype of PutLogs: a raw LZ4 block, its
 * uncompressed size sent in x-log-bodyrawsize). Written here because no LZ4 package is allowed;
 * greedy single-probe matching like LZ4's fast mode, which is all a log body needs.
 *
 * Block rules (LZ4 block format description): the last 5 bytes are literals, and the last
 * match starts at least 12 bytes before the end.
 */

const MIN_MATCH = 4;
const LAST_LITERALS = 5;
const MF_LIMIT = 12;
const HASH_BITS = 16;
const MAX_OFFSET = 65535;

// Reused between calls (compression is synchronous): positions + 1, 0 meaning empty.
const table = new Int32Array(1 << HASH_BITS);
/**
 * Output scratch, reused between calls: a fresh worst-case buffer per call (3 MB for a full
 * batch) cost more than compressing, in page faults; the result is copied out at its size.
 */
let scratch = Buffer.allocUnsafe(0);

/** Worst-case compressed size of `n` bytes. */
export function lz4CompressBound(n: number): number {
  return n + Math.floor(n / 255) + 16;
}

/** Compresses `src` into a new buffer holding one LZ4 block. */
export function lz4CompressBlock(src: Uint8Array): Buffer {
  const n = src.length;
  if (scratch.length < lz4CompressBound(n)) scratch = Buffer.allocUnsafe(lz4CompressBound(n));
  const out = scratch;
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  let op = 0;
  let anchor = 0;
  if (n >= MF_LIMIT + 1) {
    table.fill(0);
    const matchStartLimit = n - MF_LIMIT;
    const matchEndLimit = n - LAST_LITERALS;
    let ip = 0;
    while (ip < matchStartLimit) {
      const seq = view.getInt32(ip, true);
      const h = Math.imul(seq, 2654435761) >>> (32 - HASH_BITS);
      const ref = table[h] - 1;
      table[h] = ip + 1;
      if (ref < 0 || ip - ref > MAX_OFFSET || view.getInt32(ref, true) !== seq) {
        // Skip faster through incompressible stretches, as LZ4 does.
        ip += 1 + ((ip - anchor) >>> 6);
        continue;
      }
      // Extend four bytes at a time (log bodies repeat keys and ids: long matches); the first
      // differing word's lowest set bit says how many of its bytes still match.
      let len = MIN_MATCH;
      while (ip + len + 4 <= matchEndLimit) {
        const diff = view.getInt32(ref + len, true) ^ view.getInt32(ip + len, true);
        if (diff !== 0) {
          len += (31 - Math.clz32(diff & -diff)) >>> 3;
          break;
        }
        len += 4;
      }
      while (ip + len < matchEndLimit && src[ref + len] === src[ip + len]) len++;
      op = writeSequence(out, op, src, anchor, ip - anchor, ip - ref, len);
      ip += len;
      anchor = ip;
    }
  }
  // Last literals: token with match part 0 and no offset.
  const litLen = n - anchor;
  op = writeLength(out, op, litLen, 0);
  out.set(src.subarray(anchor, n), op);
  op += litLen;
  return Buffer.from(out.subarray(0, op));
}

function writeSequence(
  out: Buffer,
  op: number,
  src: Uint8Array,
  litStart: number,
  litLen: number,
  offset: number,
  matchLen: number,
): number {
  const tokenAt = op;
  op = writeLength(out, op, litLen, 0);
  if (litLen > 32) out.set(src.subarray(litStart, litStart + litLen), op);
  else for (let i = 0; i < litLen; i++) out[op + i] = src[litStart + i];
  op += litLen;
  out[op++] = offset & 0xff;
  out[op++] = offset >>> 8;
  const m = matchLen - MIN_MATCH;
  if (m >= 15) {
    out[tokenAt] |= 15;
    op = writeExtension(out, op, m - 15);
  } else {
    out[tokenAt] |= m;
  }
  return op;
}

/** Writes a token whose literal part is `litLen` (match part `low`), plus the literal-length extension. */
function writeLength(out: Buffer, op: number, litLen: number, low: number): number {
  if (litLen >= 15) {
    out[op++] = (15 << 4) | low;
    return writeExtension(out, op, litLen - 15);
  }
  out[op++] = (litLen << 4) | low;
  return op;
}

function writeExtension(out: Buffer, op: number, rest: number): number {
  while (rest >= 255) {
    out[op++] = 255;
    rest -= 255;
  }
  out[op++] = rest;
  return op;
}
