/**
 * Strict parsing of the addresses a configuration may contain (ENI IPs/CIDRs and MACs).
 * Config-time only, so plain strings and arrays are fine. Every parser returns either the
 * canonical form or a reason, never throws: the validator turns reasons into problems.
 */

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/** A parsed address or CIDR: the network in canonical CIDR form, plus what was noticed. */
export interface ParsedCidr {
  family: 4 | 6;
  /** Canonical "addr/prefix" with host bits cleared. */
  cidr: string;
  /** True when the written address had bits set beyond the prefix (they were cleared). */
  hostBitsSet: boolean;
}

// Dotted quad, decimal only, no leading zeros: "010.0.0.1" is octal to some tools and
// decimal to others, so it is refused rather than guessed.
const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4_RE = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
const HEXTET_RE = /^[0-9a-fA-F]{1,4}$/;

/** IPv4 as 4 bytes, or undefined. */
export function parseIpv4(text: string): number[] | undefined {
  if (!IPV4_RE.test(text)) return undefined;
  return text.split('.').map(Number);
}

/** IPv6 (RFC 4291 text forms, including a trailing dotted quad) as 16 bytes, or undefined. Zone ids are refused. */
export function parseIpv6(text: string): number[] | undefined {
  if (text.length === 0 || text.includes('%')) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const toGroups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i];
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIpv4(piece);
        if (!v4) return undefined;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (HEXTET_RE.test(piece)) {
        out.push(parseInt(piece, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = toGroups(halves[0]);
  const tail = halves.length === 2 ? toGroups(halves[1]) : [];
  if (!head || !tail) return undefined;
  // An embedded IPv4 may only end the address.
  if (halves.length === 2 && halves[0].includes('.')) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    if (head.length !== 8) return undefined;
    groups = head;
  }
  const bytes: number[] = [];
  for (const g of groups) bytes.push(g >> 8, g & 0xff);
  return bytes;
}

/** RFC 5952 text of 16 bytes: lower-case, longest run (>= 2) of zero groups compressed, first on ties. */
export function formatIpv6(bytes: readonly number[]): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

function clearHostBits(bytes: number[], prefix: number): boolean {
  let changed = false;
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    const mask = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
    if ((bytes[i] & mask) !== bytes[i]) changed = true;
    bytes[i] &= mask;
  }
  return changed;
}

/** "10.0.0.5", "10.0.0.0/24", "2001:db8::1", "2001:db8::/32": canonical CIDR, or why not. */
export function parseIpOrCidr(text: string): Parsed<ParsedCidr> {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const prefixText = slash < 0 ? undefined : text.slice(slash + 1);
  const v4 = parseIpv4(addrText);
  const v6 = v4 ? undefined : parseIpv6(addrText);
  if (!v4 && !v6) {
    return { ok: false, reason: `not an IPv4 or IPv6 address: "${addrText}"` };
  }
  const maxPrefix = v4 ? 32 : 128;
  let prefix = maxPrefix;
  if (prefixText !== undefined) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > maxPrefix) {
      return { ok: false, reason: `prefix length must be 0..${maxPrefix}, got "${prefixText}"` };
    }
    prefix = Number(prefixText);
  }
  const bytes = (v4 ?? v6) as number[];
  const hostBitsSet = clearHostBits(bytes, prefix);
  const addr = v4 ? bytes.join('.') : formatIpv6(bytes);
  return { ok: true, value: { family: v4 ? 4 : 6, cidr: `${addr}/${prefix}`, hostBitsSet } };
}

const MAC_SEPARATED_RE =
  /^([0-9a-f]{2})([:-])([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})$/i;
const MAC_DOTTED_RE = /^([0-9a-f]{4})\.([0-9a-f]{4})\.([0-9a-f]{4})$/i;

/** "00:16:3E:AA:BB:CC", "00-16-3e-aa-bb-cc" or "0016.3eaa.bbcc" to "00:16:3e:aa:bb:cc". */
export function parseMac(text: string): Parsed<string> {
  const sep = MAC_SEPARATED_RE.exec(text);
  let hex: string | undefined;
  if (sep) hex = [sep[1], sep[3], sep[4], sep[5], sep[6], sep[7]].join('');
  const dotted = MAC_DOTTED_RE.exec(text);
  if (dotted) hex = dotted[1] + dotted[2] + dotted[3];
  if (hex === undefined) {
    return { ok: false, reason: `not a MAC address (expected 00:16:3e:aa:bb:cc): "${text}"` };
  }
  hex = hex.toLowerCase();
  return { ok: true, value: hex.match(/../g)!.join(':') };
}
