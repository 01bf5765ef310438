/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, init and final XOR 0xFFFFFFFF): the
 * checksum of zlib, gzip and PNG, so a segment can be checked with any standard tool.
 * Written here because `zlib.crc32` only exists from Node 22.2.
 *
 * Slicing-by-8 (eight tables, eight bytes per step): every spool segment is checksummed when it
 * is written, and the byte-at-a-time loop ran at about 270 MB/s, a quarter of the spool's CPU.
 */

/** TABLES[k * 256 + n]: the CRC of byte n followed by k zero bytes. */
const TABLES = buildTables();

function buildTables(): Int32Array {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++) {
      const prev = t[(k - 1) * 256 + n];
      t[k * 256 + n] = t[prev & 0xff] ^ (prev >>> 8);
    }
  }
  return t;
}

/**
 * CRC-32 of `bytes[start, end)`. `previous` continues a running checksum (pass the result of
 * the earlier call), so a payload can be checksummed in pieces.
 */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length, previous = 0): number {
  const t = TABLES;
  let c = ~previous; // int32 throughout: no heap numbers in the loop
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const lo = c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    c =
      t[1792 + (lo & 0xff)] ^
      t[1536 + ((lo >>> 8) & 0xff)] ^
      t[1280 + ((lo >>> 16) & 0xff)] ^
      t[1024 + (lo >>> 24)] ^
      t[768 + bytes[i + 4]] ^
      t[512 + bytes[i + 5]] ^
      t[256 + bytes[i + 6]] ^
      t[bytes[i + 7]];
  }
  for (; i < end; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
