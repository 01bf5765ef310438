import { isIPv4, isIPv6 } from 'node:net';
import { describe, expect, it } from 'vitest';
import { formatIpv6, parseIpOrCidr, parseIpv6, parseMac } from '../../src/config/net-address';
import { formatByteSize, parseByteSize, parseDurationSec } from '../../src/config/units';

describe('parseIpOrCidr', () => {
  it.each([
    ['10.0.0.1', '10.0.0.1/32', false],
    ['0.0.0.0/0', '0.0.0.0/0', false],
    ['255.255.255.255', '255.255.255.255/32', false],
    ['10.1.2.3/8', '10.0.0.0/8', true],
    ['192.168.7.200/30', '192.168.7.200/30', false],
    ['192.168.7.201/30', '192.168.7.200/30', true],
    ['2001:db8::1', '2001:db8::1/128', false],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1/128', false],
    ['::', '::/128', false],
    ['::1', '::1/128', false],
    ['::ffff:10.0.0.1', '::ffff:a00:1/128', false],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1/128', false],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1/128', false],
    ['fe80::1:2/64', 'fe80::/64', true],
    ['2001:db8:abcd:12ff::/56', '2001:db8:abcd:1200::/56', true],
  ])('%s -> %s (host bits set: %s)', (text, cidr, hostBitsSet) => {
    expect(parseIpOrCidr(text)).toEqual({ ok: true, value: { family: text.includes(':') ? 6 : 4, cidr, hostBitsSet } });
  });

  it.each([
    '10.0.0.256',
    '10.0.0',
    '10.0.0.1.1',
    '010.0.0.1',
    '10.0.0.0/33',
    '10.0.0.0/',
    '10.0.0.0/08',
    '10.0.0.0/-1',
    '::1/129',
    'fe80::zz',
    'fe80::1%eth0',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7::8',
    '1::2::3',
    '12345::1',
    '1.2.3.4::1',
    '',
    ' 10.0.0.1',
  ])('refuses %j', (text) => {
    expect(parseIpOrCidr(text).ok).toBe(false);
  });

  it('agrees with node:net on which addresses are valid (without prefixes)', () => {
    const samples = [
      '1.2.3.4',
      '01.2.3.4',
      '1.2.3',
      '::',
      '::ffff:1.2.3.4',
      '1:2:3:4:5:6:7:8',
      '1:2:3:4:5:6:7:8:9',
      'g::1',
      '1::2::3',
      ':1',
      '1:',
      '::1:2:3:4:5:6:7',
    ];
    for (const s of samples) {
      expect(parseIpOrCidr(s).ok, s).toBe(isIPv4(s) || isIPv6(s));
    }
  });
});

describe('formatIpv6', () => {
  it('matches the WHATWG URL serialiser (RFC 5952 compression) on random addresses', () => {
    // Groups drawn mostly from zero so runs of zeros of every length and position occur.
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let n = 0; n < 500; n++) {
      const groups = Array.from({ length: 8 }, () => (random() < 0.5 ? 0 : Math.floor(random() * 0x10000)));
      const full = groups.map((g) => g.toString(16)).join(':');
      const expected = new URL(`http://[${full}]/`).hostname.slice(1, -1);
      expect(formatIpv6(parseIpv6(full)!), full).toBe(expected);
    }
  });
});

describe('parseMac', () => {
  it.each([
    ['00:16:3e:aa:bb:cc', '00:16:3e:aa:bb:cc'],
    ['00:16:3E:AA:BB:CC', '00:16:3e:aa:bb:cc'],
    ['00-16-3e-aa-bb-cc', '00:16:3e:aa:bb:cc'],
    ['0016.3eaa.bbcc', '00:16:3e:aa:bb:cc'],
  ])('%s -> %s', (text, mac) => {
    expect(parseMac(text)).toEqual({ ok: true, value: mac });
  });

  it.each([
    '00:16:3e:aa:bb',
    '00:16:3e:aa:bb:cc:dd',
    '00:16-3e:aa:bb:cc',
    '0:16:3e:aa:bb:cc',
    '00:16:3e:aa:bb:cg',
    '00163eaabbcc',
    '',
  ])('refuses %j', (text) => {
    expect(parseMac(text).ok).toBe(false);
  });
});

describe('sizes and durations', () => {
  it.each([
    ['4096B', 4096],
    ['64MiB', 64 * 2 ** 20],
    ['64 MiB', 64 * 2 ** 20],
    ['1.5GiB', 1.5 * 2 ** 30],
    ['512KB', 512_000],
    ['2TB', 2e12],
    ['1KiB', 1024],
  ])('size %s = %i bytes', (text, bytes) => {
    expect(parseByteSize(text)).toEqual({ ok: true, value: bytes });
  });

  it.each(['64', '64 Mib', '64M', 'MiB', '-1MiB', '0.3B'])('refuses size %j', (text) => {
    expect(parseByteSize(text).ok).toBe(false);
  });

  it.each([
    [16 * 2 ** 20, '16 MiB'],
    [2 ** 30, '1 GiB'],
    [3 * 2 ** 20, '3 MiB'],
    [1000, '1000 B'],
    [1536, '1536 B'], // 1.5 KiB: no IEC unit divides it exactly
  ])('formats %i bytes as %s', (bytes, text) => {
    expect(formatByteSize(bytes)).toBe(text);
  });

  it.each([
    ['1s', 1],
    ['30s', 30],
    ['2m', 120],
    ['1h', 3600],
  ])('duration %s = %i s', (text, sec) => {
    expect(parseDurationSec(text)).toEqual({ ok: true, value: sec });
  });

  it.each(['0s', '1.5s', '500ms', '5', 's', '1d'])('refuses duration %j', (text) => {
    expect(parseDurationSec(text).ok).toBe(false);
  });
});
