'use strict';

/**
 * LZ4 block decoder, written from the LZ4 block format description (independent of the
 * agent's compressor in src/output/sls/sls-lz4.ts, so a test round-trip checks both).
 *
 * A block is a series of sequences: token (high nibble literal length, low nibble match
 * length - 4, 15 meaning "more bytes follow, each added, until one < 255"), literals, 2-byte
 * little-endian offset, match-length extension. The last sequence has literals only.
 *
 * @param {Buffer} src compressed block
 * @param {number} rawSize expected decompressed size (x-log-bodyrawsize)
 * @returns {Buffer}
 * @throws {Error} when the block is malformed or does not decompress to exactly rawSize bytes
 */
function lz4DecompressBlock(src, rawSize) {
  const out = Buffer.alloc(rawSize);
  let ip = 0;
  let op = 0;
  const end = src.length;
  while (ip < end) {
    const token = src[ip++];
    let litLen = token >>> 4;
    if (litLen === 15) {
      let b;
      do {
        if (ip >= end) throw new Error('literal length runs past the block');
        b = src[ip++];
        litLen += b;
      } while (b === 255);
    }
    if (ip + litLen > end) throw new Error('literals run past the block');
    if (op + litLen > rawSize) throw new Error('output larger than x-log-bodyrawsize');
    src.copy(out, op, ip, ip + litLen);
    ip += litLen;
    op += litLen;
    if (ip === end) break; // last sequence: literals only
    if (ip + 2 > end) throw new Error('offset runs past the block');
    const offset = src[ip] | (src[ip + 1] << 8);
    ip += 2;
    if (offset === 0 || offset > op) throw new Error(`bad match offset ${offset} at output ${op}`);
    let matchLen = (token & 15) + 4;
    if ((token & 15) === 15) {
      let b;
      do {
        if (ip >= end) throw new Error('match length runs past the block');
        b = src[ip++];
        matchLen += b;
      } while (b === 255);
    }
    if (op + matchLen > rawSize) throw new Error('output larger than x-log-bodyrawsize');
    // Byte by byte: a match may overlap its own output (offset < length).
    let from = op - offset;
    for (let i = 0; i < matchLen; i++) out[op++] = out[from++];
  }
  if (op !== rawSize) throw new Error(`decompressed ${op} bytes, x-log-bodyrawsize says ${rawSize}`);
  return out;
}

module.exports = { lz4DecompressBlock };
