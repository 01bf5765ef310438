import { describe, expect, it } from 'vitest';
import { formatIpv4, formatIpv6, formatMac, parseIpv4, parseIpv6, parseMac } from '../../src/synth/address-codec';

/** Node's WHATWG URL serialiser compresses IPv6 per RFC 5952: an independent formatter. */
const viaUrl = (text: string): string => new URL(`http://[${text}]/`).hostname.slice(1, -1);

describe('address codec', () => {
  it.each([
    ['2001:db8::1', [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]],
    ['::', new Array(16).fill(0)],
    ['::1', [...new Array(15).fill(0), 1]],
    ['fd00::a00:5', [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0, 0, 5]],
    ['::ffff:10.0.0.1', [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1]],
    ['1:2:3:4:5:6:7:8', [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]],
  ])('parses %s', (text, bytes) => {
    expect(Array.from(parseIpv6(text))).toEqual(bytes);
  });

  it.each([
    '2001:DB8:0:0:1:0:0:1',
    '2001:db8::0:1',
    '1:0:0:2:0:0:0:3',
    '0:0:0:0:0:0:0:0',
    '2001:db8:0:0:0:0:2:1',
    'fe80::1:0:0:0',
    '1:0:2:0:3:0:4:0',
    '::ffff:10.0.0.1',
  ])('formats %s as the URL serialiser does', (text) => {
    expect(formatIpv6(parseIpv6(text))).toBe(viaUrl(text));
  });

  it.each(['1::2::3', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '12345::', 'g::', '1:2:3:4:5:6:7::8'])(
    'rejects IPv6 %s',
    (text) => {
      expect(() => parseIpv6(text)).toThrow(`parse IPv6 address "${text}"`);
    },
  );

  it('round-trips IPv4 and MAC, rejecting malformed ones', () => {
    expect(formatIpv4(parseIpv4('198.19.255.0'))).toBe('198.19.255.0');
    expect(formatMac(parseMac('00-16-3E-0A-0B-0C'))).toBe('00:16:3e:0a:0b:0c');
    for (const bad of ['1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', ''])
      expect(() => parseIpv4(bad)).toThrow('parse IPv4 address');
    for (const bad of ['00:16:3e:00:00', '00:16:3e:00:00:0g']) expect(() => parseMac(bad)).toThrow('parse MAC address');
  });
});
