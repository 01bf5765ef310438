import { parseIpv4, parseIpv6 } from '../config/net-address';

/**
 * Address and prefix parsing into packet-path form (never on the packet path). The text forms are
 * parsed by the config's strict parsers; addresses become the same four big-endian words the decoder writes into a PacketView: IPv4 in word 0, the rest zero.
 */
export interface ParsedPrefix {
  family: 4 | 6;
  words: Uint32Array;
  prefixLength: number;
}

export function parseIpWords(text: string): { family: 4 | 6; words: Uint32Array } | null {
  const words = new Uint32Array(4);
  const v4 = parseIpv4(text);
  if (v4) {
    words[0] = ((v4[0] << 24) | (v4[1] << 16) | (v4[2] << 8) | v4[3]) >>> 0;
    return { family: 4, words };
  }
  const v6 = parseIpv6(text);
  if (!v6) return null;
  for (let i = 0; i < 4; i++) {
    words[i] = ((v6[i * 4] << 24) | (v6[i * 4 + 1] << 16) | (v6[i * 4 + 2] << 8) | v6[i * 4 + 3]) >>> 0;
  }
  return { family: 6, words };
}

/** Parses "10.0.0.5", "10.0.0.0/24", "2001:db8::/64"; a bare address is a full-length prefix. */
export function parsePrefix(text: string): ParsedPrefix | null {
  const slash = text.indexOf('/');
  const addr = parseIpWords(slash === -1 ? text : text.slice(0, slash));
  if (!addr) return null;
  const max = addr.family === 4 ? 32 : 128;
  let prefixLength = max;
  if (slash !== -1) {
    const lenText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lenText)) return null;
    prefixLength = Number(lenText);
    if (prefixLength > max) return null;
  }
  const words = addr.words;
  const masks = prefixMasks(addr.family, prefixLength);
  for (let i = 0; i < 4; i++) words[i] = (words[i] & masks[i]) >>> 0;
  return { family: addr.family, words, prefixLength };
}

/** The four mask words of a prefix length, in the same word layout as the addresses. */
export function prefixMasks(family: 4 | 6, prefixLength: number): Uint32Array {
  const masks = new Uint32Array(4);
  let bits = prefixLength;
  const wordsUsed = family === 4 ? 1 : 4;
  for (let i = 0; i < wordsUsed; i++) {
    const take = Math.min(32, Math.max(0, bits));
    masks[i] = take === 0 ? 0 : (0xffffffff << (32 - take)) >>> 0;
    bits -= take;
  }
  return masks;
}

/** Parses "00:16:3e:aa:bb:cc" (or with dashes) into the high 16 and low 32 bits. */
export function parseMac(text: string): { hi: number; lo: number } | null {
  const m =
    /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(text);
  if (!m) return null;
  const b = m.slice(1).map((x) => parseInt(x, 16));
  return { hi: (b[0] << 8) | b[1], lo: ((b[2] << 24) | (b[3] << 16) | (b[4] << 8) | b[5]) >>> 0 };
}
