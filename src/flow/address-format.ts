/**
 * Address text for records, produced at drain time (never on the packet path). IPv6 follows the
 * BSD/glibc inet_ntop rules, which Wireshark and the Log Service console also use: lower-case hex,
 * the longest run of two or more zero groups compressed (the first on a tie), and IPv4-mapped or
 * IPv4-compatible addresses in mixed notation.
 */

export function formatIpv4(word: number): string {
  return `${word >>> 24}.${(word >>> 16) & 0xff}.${(word >>> 8) & 0xff}.${word & 0xff}`;
}

const groups = new Uint16Array(8);
const HEX = Buffer.from('0123456789abcdef', 'latin1');
const scratch = Buffer.allocUnsafe(64);

/** Formats the IPv6 address held as four big-endian 32-bit words at words[offset..offset+3]. */
export function formatIpv6(words: Uint32Array, offset: number): string {
  return scratch.toString('latin1', 0, writeIpv6(scratch, 0, words, offset));
}

/**
 * Writes the text of the IPv6 address at words[offset..offset+3] into `out` from `p` (at most 45
 * bytes) and returns the position after it. The record encoders write it straight into their
 * buffers; `formatIpv6` is the string form.
 */
export function writeIpv6(out: Uint8Array, p: number, words: Uint32Array, offset: number): number {
  for (let i = 0; i < 4; i++) {
    const w = words[offset + i];
    groups[i * 2] = w >>> 16;
    groups[i * 2 + 1] = w & 0xffff;
  }
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  let curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (groups[i] === 0) {
      if (curBase === -1) {
        curBase = i;
        curLen = 1;
      } else curLen++;
      if (curLen > bestLen) {
        bestBase = curBase;
        bestLen = curLen;
      }
    } else curBase = -1;
  }
  if (bestLen < 2) bestBase = -1;
  for (let i = 0; i < 8; i++) {
    if (bestBase !== -1 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out[p++] = 58; // ':'
      continue;
    }
    if (i !== 0) out[p++] = 58;
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && groups[5] === 0xffff))) {
      return writeIpv4(out, p, words[offset + 3]);
    }
    const g = groups[i];
    // lower-case hex without leading zeros, as toString(16)
    if (g >= 0x1000) out[p++] = HEX[g >>> 12];
    if (g >= 0x100) out[p++] = HEX[(g >>> 8) & 15];
    if (g >= 0x10) out[p++] = HEX[(g >>> 4) & 15];
    out[p++] = HEX[g & 15];
  }
  if (bestBase !== -1 && bestBase + bestLen === 8) out[p++] = 58;
  return p;
}

/** Writes the dotted quad of an IPv4 address held as one big-endian 32-bit word; returns the end. */
export function writeIpv4(out: Uint8Array, p: number, w: number): number {
  p = writeOctet(out, p, w >>> 24);
  out[p++] = 46; // '.'
  p = writeOctet(out, p, (w >>> 16) & 0xff);
  out[p++] = 46;
  p = writeOctet(out, p, (w >>> 8) & 0xff);
  out[p++] = 46;
  return writeOctet(out, p, w & 0xff);
}

/** Writes 0..255 in decimal. */
function writeOctet(out: Uint8Array, p: number, v: number): number {
  if (v >= 100) out[p++] = 48 + ((v / 100) | 0);
  if (v >= 10) out[p++] = 48 + (((v / 10) | 0) % 10);
  out[p++] = 48 + (v % 10);
  return p;
}

/** Formats an address of the given family (4 or 6) stored as four words at words[offset..]. */
export function formatAddress(family: number, words: Uint32Array, offset: number): string {
  return family === 6 ? formatIpv6(words, offset) : formatIpv4(words[offset]);
}
