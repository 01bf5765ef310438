/**
 * Text <-> bytes for the addresses the synthesiser writes into frames. IPv6 text output follows
 * RFC 5952 (lower case, longest zero run compressed), the form tshark and the records print.
 */

/** An address or MAC string could not be parsed. */
export class AddressParseError extends Error {
  constructor(kind: string, text: string) {
    super(`parse ${kind} "${text}": not a valid ${kind}`);
    this.name = 'AddressParseError';
  }
}

export function parseIpv4(text: string): Uint8Array {
  const parts = text.split('.');
  if (parts.length !== 4) throw new AddressParseError('IPv4 address', text);
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(parts[i])) throw new AddressParseError('IPv4 address', text);
    const v = Number(parts[i]);
    if (v > 255) throw new AddressParseError('IPv4 address', text);
    out[i] = v;
  }
  return out;
}

export function formatIpv4(bytes: Uint8Array): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

export function parseIpv6(text: string): Uint8Array {
  const fail = (): never => {
    throw new AddressParseError('IPv6 address', text);
  };
  let body = text;
  // An embedded dotted IPv4 tail (::ffff:10.0.0.1) stands for the last two groups.
  const lastColon = body.lastIndexOf(':');
  if (body.includes('.', lastColon)) {
    const v4 = parseIpv4(body.slice(lastColon + 1));
    const hi = ((v4[0] << 8) | v4[1]).toString(16);
    const lo = ((v4[2] << 8) | v4[3]).toString(16);
    body = `${body.slice(0, lastColon + 1)}${hi}:${lo}`;
  }
  const halves = body.split('::');
  if (halves.length > 2) fail();
  const groups = (s: string): number[] =>
    s === '' ? [] : s.split(':').map((g) => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : fail()));
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  const all = rest;
  const missing = 8 - head.length - all.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) fail();
  const words = head.concat(new Array<number>(halves.length === 2 ? missing : 0).fill(0), all);
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i] >> 8;
    out[2 * i + 1] = words[i] & 0xff;
  }
  return out;
}

export function formatIpv6(bytes: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((bytes[2 * i] << 8) | bytes[2 * i + 1]);
  // Longest run of at least two zero groups, the first one on ties (RFC 5952 section 4.2).
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (bestAt < 0) return hex(words);
  return `${hex(words.slice(0, bestAt))}::${hex(words.slice(bestAt + bestLen))}`;
}

/** "00:16:3e:00:00:05" (or with dashes) -> 6 bytes. */
export function parseMac(text: string): Uint8Array {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) {
    throw new AddressParseError('MAC address', text);
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':');
}
