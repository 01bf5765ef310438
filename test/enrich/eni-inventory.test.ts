import { describe, expect, it } from 'vitest';
import type { EniConfig } from '../../src/config/types';
import { PacketView } from '../../src/packet/decode/packet-view';
import { EniInventory } from '../../src/enrich/eni-inventory';
import { parseMac } from '../../src/enrich/ip-address';
import { prng, setView } from '../helpers/views';

/** ENI i: MAC 00:16:3e:00:01:<i>, address 10.1.0.<i>, IPv6 2001:db8::<i>, and every third a /24 prefix 172.16.<i>.0/24. */
function enis(n: number): EniConfig[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `eni-${i}`,
    mac: `00:16:3e:00:01:${i.toString(16).padStart(2, '0')}`,
    ips: [`10.1.0.${i}`, `2001:db8::${(i + 1).toString(16)}`, ...(i % 3 === 0 ? [`172.16.${i}.0/24`] : [])],
    vpcId: 'vpc-1',
    vswitchId: 'vsw-1',
    vmId: `i-${i}`,
  }));
}

function macWords(mac: string): [number, number] {
  const m = parseMac(mac);
  if (!m) throw new Error(mac);
  return [m.hi, m.lo | 0];
}

const OTHER_MAC: [number, number] = macWords('ee:ff:ff:ff:ff:ff');

/**
 * Every lookup both ways, for inventories small enough to be scanned (1..4 ENIs) and large
 * enough to be hashed (5, 40): the answer must not depend on which.
 */
describe.each([1, 2, 4, 5, 40])('EniInventory with %i ENIs', (n) => {
  const config = enis(n);
  const inv = new EniInventory(config);
  const v = new PacketView();

  it('finds each ENI by MAC first, then by exact address, IPv6 address and prefix', () => {
    for (let i = 0; i < n; i++) {
      const mac = macWords(config[i].mac!);
      setView(v, { ts: 1, src: '198.51.100.1', dst: '198.51.100.2', bytes: 60, srcMac: mac, dstMac: OTHER_MAC });
      expect([inv.sourceEni(v), inv.destinationEni(v)]).toEqual([i, -1]);
      setView(v, { ts: 1, src: '198.51.100.1', dst: `10.1.0.${i}`, bytes: 60, srcMac: OTHER_MAC, dstMac: OTHER_MAC });
      expect([inv.sourceEni(v), inv.destinationEni(v)]).toEqual([-1, i]);
      setView(v, { ts: 1, src: `2001:db8::${(i + 1).toString(16)}`, dst: '2001:db8:ffff::1', bytes: 60 });
      expect([inv.sourceEni(v), inv.destinationEni(v)]).toEqual([i, -1]);
      if (i % 3 === 0) {
        setView(v, { ts: 1, src: `172.16.${i}.77`, dst: '198.51.100.2', bytes: 60 });
        expect(inv.sourceEni(v)).toBe(i);
      }
    }
  });

  it('finds nothing for addresses and MACs of no ENI', () => {
    for (const [src, dst] of [
      ['10.1.0.250', '10.2.0.1'],
      ['0.0.0.0', '255.255.255.255'],
      ['2001:db8::ffff', '::'],
      ['172.16.1.1', '172.16.2.1'],
    ]) {
      setView(v, { ts: 1, src, dst, bytes: 60, srcMac: OTHER_MAC, dstMac: [0, 0] });
      expect([inv.sourceEni(v), inv.destinationEni(v)]).toEqual([-1, -1]);
    }
  });
});

describe('EniInventory over many small address sets', () => {
  it('finds every address wherever its slot lands (scanned tables of 4 and 8 slots)', () => {
    const rnd = prng(7);
    const v = new PacketView();
    for (let trial = 0; trial < 50; trial++) {
      const n = 1 + (trial % 2);
      const config = Array.from({ length: n }, (_, i) => ({
        id: `eni-${i}`,
        ips: [
          `10.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}.${i}`,
          `fd00::${Math.floor(rnd() * 65535).toString(16)}:${i}`,
        ],
        vpcId: 'vpc-1',
        vswitchId: 'vsw-1',
        vmId: `i-${i}`,
      }));
      const inv = new EniInventory(config);
      config.forEach((e, i) => {
        for (const ip of e.ips) {
          setView(v, { ts: 1, src: ip, dst: ip.includes(':') ? 'fd00::ffff:ffff' : '192.0.2.1', bytes: 60 });
          expect(inv.sourceEni(v)).toBe(i);
        }
      });
    }
  });
});
