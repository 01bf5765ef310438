/**
 * CIDR membership for `query --where srcaddr in 10.0.0.0/8`. Compares bytes, not text, so
 * "2001:DB8::1" in a filter matches "2001:db8::1" in a record and a bare address is a /32 (/128).
 */
import { parseIpOrCidr, parseIpv4, parseIpv6 } from '../config/net-address';

/** A network to test record addresses against. Immutable once built. */
export interface AddressRange {
  family: 4 | 6;
  /** Network bytes (host bits cleared). */
  bytes: readonly number[];
  prefixBits: number;
  /** Canonical "addr/prefix", for messages. */
  cidr: string;
}

/** Parses "10.0.0.5", "10.0.0.0/8" or an IPv6 form; undefined when the text is not one. */
export function parseAddressRange(text: string): AddressRange | undefined {
  const parsed = parseIpOrCidr(text);
  if (!parsed.ok) return undefined;
  const { cidr, family } = parsed.value;
  const slash = cidr.lastIndexOf('/');
  const addr = cidr.slice(0, slash);
  const bytes = family === 4 ? parseIpv4(addr) : parseIpv6(addr);
  if (!bytes) return undefined;
  return { family, bytes, prefixBits: Number(cidr.slice(slash + 1)), cidr };
}

/** Record address text ("10.0.0.5", "2001:db8::1") as bytes, or undefined ('-', garbage). */
export function addressBytes(text: string): { family: 4 | 6; bytes: number[] } | undefined {
  const v4 = parseIpv4(text);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = parseIpv6(text);
  return v6 ? { family: 6, bytes: v6 } : undefined;
}

/** True when `address` (parsed record address) lies inside `range`; families never cross. */
export function rangeContains(range: AddressRange, address: { family: 4 | 6; bytes: readonly number[] }): boolean {
  if (range.family !== address.family) return false;
  let bits = range.prefixBits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((address.bytes[i] & mask) !== range.bytes[i]) return false;
  }
  return true;
}
