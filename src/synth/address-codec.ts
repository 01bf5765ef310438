import {
  formatIpv6 as formatConfigIpv6,
  parseIpv4 as parseConfigIpv4,
  parseIpv6 as parseConfigIpv6,
} from '../config/net-address';

/**
 * Text <-> bytes for the addresses the synthesiser writes into frames, on top of the config's
 * parsers (one definition of a valid address). IPv6 text output follows
 * RFC 5952 (lower case, longest zero run compressed), the form tshark and the records print.
 */

/** An address or MAC string could not be parsed. */
export class AddressParseError extends Error {
  constructor(kind: string, text: string) {
    super(`parse ${kind} "${text}": not a valid ${kind}`);
    this.name = 'AddressParseError';
  }
}

/** Dotted-quad text -> 4 bytes (the config's strict parser: no leading zeros, no octal). */
export function parseIpv4(text: string): Uint8Array {
  const bytes = parseConfigIpv4(text);
  if (!bytes) throw new AddressParseError('IPv4 address', text);
  return Uint8Array.from(bytes);
}

export function formatIpv4(bytes: Uint8Array): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/** IPv6 text (any RFC 4291 form, dotted tail allowed) -> 16 bytes. */
export function parseIpv6(text: string): Uint8Array {
  const bytes = parseConfigIpv6(text);
  if (!bytes) throw new AddressParseError('IPv6 address', text);
  return Uint8Array.from(bytes);
}

export function formatIpv6(bytes: Uint8Array): string {
  return formatConfigIpv6(Array.from(bytes));
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
