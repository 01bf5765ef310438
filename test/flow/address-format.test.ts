import { describe, expect, it } from 'vitest';
import { formatAddress } from '../../src/flow/address-format';

/** Words of an IPv6 address written out in full, so the expected text is independent of any parser. */
function words(full: string): Uint32Array {
  const g = full.split(':').map((x) => parseInt(x, 16));
  return Uint32Array.from([0, 2, 4, 6].map((i) => ((g[i] << 16) | g[i + 1]) >>> 0));
}

describe('formatAddress', () => {
  it.each([
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['2001:db8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is not compressed
    ['fe80:0:0:0:2aa:ff:fe28:9c5a', 'fe80::2aa:ff:fe28:9c5a'],
    ['2001:db8:0:0:0:0:2:0', '2001:db8::2:0'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['0:0:0:0:0:ffff:c000:280', '::ffff:192.0.2.128'], // IPv4-mapped
    ['0:0:0:0:0:0:c000:280', '::192.0.2.128'], // IPv4-compatible
    ['0:0:0:0:0:ffff:9:a63', '::ffff:0.9.10.99'], // one-, two- and three-digit octets
    ['0:0:0:0:0:0:6400:ff', '::100.0.0.255'],
    ['f:f0:f00:f000:0:0:0:0', 'f:f0:f00:f000::'], // one to four hex digits
    ['ABCD:EF01:2345:6789:ABCD:EF01:2345:6789', 'abcd:ef01:2345:6789:abcd:ef01:2345:6789'],
  ])('IPv6 %s -> %s', (full, text) => {
    expect(formatAddress(6, words(full), 0)).toBe(text);
  });

  it('IPv4 from word 0', () => {
    expect(formatAddress(4, Uint32Array.from([0xc0a80a01, 0, 0, 0]), 0)).toBe('192.168.10.1');
    expect(formatAddress(4, Uint32Array.from([9, 0xffffffff, 0, 0, 0]), 1)).toBe('255.255.255.255');
  });
});
