import { describe, expect, it } from 'vitest';
import { PacketView } from '../../src/packet/decode/packet-view';
import { FlowTable } from '../../src/flow/flow-table';
import { FLAG_OUT, FLAG_REJECT } from '../../src/packet/flow-windows';
import { formatAddress } from '../../src/flow/address-format';
import { prng, setView } from '../helpers/views';

describe('FlowTable', () => {
  it('aggregates random packets exactly as a reference map predicts', () => {
    const rnd = prng(7);
    const t = new FlowTable(5000);
    const v = new PacketView();
    const expected = new Map<string, { packets: number; bytes: number; first: number; last: number; flags: number }>();
    for (let n = 0; n < 40000; n++) {
      const f = Math.floor(rnd() * 3000);
      const v6 = f % 5 === 0;
      const src = v6 ? `2001:db8::${((f % 97) + 1).toString(16)}` : `10.0.${f % 7}.${f % 251}`;
      const dst = v6 ? `2001:db8:1::${((f % 13) + 1).toString(16)}` : `192.168.${f % 3}.9`;
      const sport = 1024 + (f % 4000);
      const dport = f % 2 ? 443 : 53;
      const proto = f % 2 ? 6 : 17;
      const eni = f % 4;
      const flags = f % 3 === 0 ? FLAG_OUT : f % 3 === 1 ? 0 : FLAG_REJECT;
      const bytes = 40 + Math.floor(rnd() * 1460);
      const tcpFlags = proto === 6 ? 1 << Math.floor(rnd() * 6) : 0;
      const ts = 1_700_000_000 + Math.floor(rnd() * 60);
      setView(v, { ts, src, dst, proto, sport, dport, bytes, tcpFlags });
      expect(t.record(v, eni, flags)).toBe(true);
      const key = [eni, flags, src, dst, sport, dport, proto].join('|');
      const e = expected.get(key) ?? { packets: 0, bytes: 0, first: Infinity, last: -Infinity, flags: 0 };
      e.packets++;
      e.bytes += bytes;
      e.first = Math.min(e.first, ts);
      e.last = Math.max(e.last, ts);
      e.flags |= tcpFlags;
      expected.set(key, e);
    }
    expect(t.size).toBe(expected.size);
    for (let i = 0; i < t.size; i++) {
      const fam = t.flags(i) & 1 ? 6 : 4;
      const key = [
        t.eni(i),
        t.flags(i) & ~1,
        formatAddress(fam, t.addressWords(i), t.srcAddressAt(i)),
        formatAddress(fam, t.addressWords(i), t.dstAddressAt(i)),
        t.srcPort(i),
        t.dstPort(i),
        t.protocol(i),
      ].join('|');
      const e = expected.get(key);
      expect(e, key).toBeDefined();
      expect([t.packets(i), t.bytes(i), t.startSec(i), t.endSec(i), t.tcpFlags(i)]).toEqual([
        e!.packets,
        e!.bytes,
        e!.first,
        e!.last,
        e!.flags,
      ]);
    }
  });

  it('refuses new flows when full but keeps counting existing ones, and clear() empties it', () => {
    const t = new FlowTable(3);
    const v = new PacketView();
    for (let i = 0; i < 3; i++)
      expect(t.record(setView(v, { ts: 1, src: `10.0.0.${i}`, dst: '10.0.1.1', bytes: 100 }), 0, 0)).toBe(true);
    expect(t.record(setView(v, { ts: 1, src: '10.0.0.9', dst: '10.0.1.1', bytes: 100 }), 0, 0)).toBe(false);
    expect(t.record(setView(v, { ts: 2, src: '10.0.0.1', dst: '10.0.1.1', bytes: 60 }), 0, 0)).toBe(true);
    expect(t.size).toBe(3);
    expect([t.packets(1), t.bytes(1), t.endSec(1)]).toEqual([2, 160, 2]);
    t.clear();
    expect(t.size).toBe(0);
    expect(t.record(setView(v, { ts: 3, src: '10.0.0.9', dst: '10.0.1.1', bytes: 100 }), 0, 0)).toBe(true);
    expect(t.packets(0)).toBe(1);
  });

  it('keeps IPv4 and the IPv6 address with the same first word apart', () => {
    const t = new FlowTable(4);
    const v = new PacketView();
    setView(v, { ts: 1, src: '10.0.0.1', dst: '10.0.0.2', bytes: 1 });
    t.record(v, 0, 0);
    setView(v, { ts: 1, src: 'a00:1::', dst: 'a00:2::', bytes: 1 });
    t.record(v, 0, 0);
    expect(t.size).toBe(2);
  });
});

describe('FlowTable index growth', () => {
  it('finds every flow again after the index has doubled several times', () => {
    const t = new FlowTable(200_000);
    const v = new PacketView();
    for (let round = 0; round < 2; round++) {
      for (let f = 0; f < 150_000; f++) {
        setView(v, {
          ts: 10 + round,
          src: '10.0.0.5',
          dst: `10.${(f >> 16) & 255}.${(f >> 8) & 255}.${f & 255}`,
          proto: 6,
          sport: 1000 + (f % 5000),
          dport: 443,
          bytes: 40 + round,
        });
        expect(t.record(v, 0, FLAG_OUT)).toBe(true);
      }
    }
    expect(t.size).toBe(150_000);
    for (const i of [0, 43_690, 43_691, 87_381, 149_999])
      expect([t.packets(i), t.bytes(i), t.startSec(i), t.endSec(i)]).toEqual([2, 81, 10, 11]);
  });
});

describe('FlowTable counters and times', () => {
  it('counts bytes past 2^32 exactly (the carry into the high word)', () => {
    const t = new FlowTable(4);
    const v = new PacketView();
    // IPv6 jumbograms carry up to 2^32 - 1 bytes: five of them pass 2^32 four times.
    const jumbo = 2 ** 32 - 1;
    for (let n = 0; n < 5; n++) t.record(setView(v, { ts: 100, src: '10.0.0.1', dst: '10.0.0.2', bytes: jumbo }), 0, 0);
    for (let n = 0; n < 70_000; n++)
      t.record(setView(v, { ts: 100, src: '10.0.0.3', dst: '10.0.0.2', bytes: 65_535 }), 0, 0);
    expect([t.packets(0), t.bytes(0)]).toEqual([5, 5 * jumbo]);
    expect([t.packets(1), t.bytes(1)]).toEqual([70_000, 70_000 * 65_535]);
  });

  it('keeps first and last seconds of packets out of order, on both sides of the first packet', () => {
    const t = new FlowTable(4);
    const v = new PacketView();
    const times = [1_700_000_300, 1_700_000_100, 1_700_000_599, 1_700_000_000, 1_700_000_450];
    for (const ts of times) t.record(setView(v, { ts, src: '10.0.0.1', dst: '10.0.0.2', bytes: 1 }), 0, 0);
    t.record(setView(v, { ts: 1_700_000_200, src: '10.0.0.9', dst: '10.0.0.2', bytes: 1 }), 0, 0);
    expect([t.startSec(0), t.endSec(0), t.startSec(1), t.endSec(1)]).toEqual([
      1_700_000_000, 1_700_000_599, 1_700_000_200, 1_700_000_200,
    ]);
    // A table reused for the next window takes its times from that window's first packet.
    t.clear();
    t.record(setView(v, { ts: 1_800_000_000, src: '10.0.0.1', dst: '10.0.0.2', bytes: 1 }), 0, 0);
    expect([t.startSec(0), t.endSec(0)]).toEqual([1_800_000_000, 1_800_000_000]);
  });

  it('keeps IPv6 flows apart after clear() reuses the side array, and when it grows', () => {
    const t = new FlowTable(300); // full of IPv6 flows every round: the side array is reused, never outgrown
    const v = new PacketView();
    for (let round = 0; round < 3; round++) {
      t.clear();
      for (let f = 0; f < 300; f++) {
        const src = `2001:db8::${(f + 1 + round * 1000).toString(16)}`;
        t.record(setView(v, { ts: 5, src, dst: '2001:db8:1::1', proto: 6, sport: 1000, dport: 443, bytes: 100 }), 0, 0);
        t.record(setView(v, { ts: 6, src, dst: '2001:db8:1::1', proto: 6, sport: 1000, dport: 443, bytes: 50 }), 0, 0);
      }
      expect(t.size).toBe(300);
      for (let i = 0; i < 300; i++) {
        expect(formatAddress(6, t.addressWords(i), t.srcAddressAt(i))).toBe(
          `2001:db8::${(i + 1 + round * 1000).toString(16)}`,
        );
        expect(formatAddress(6, t.addressWords(i), t.dstAddressAt(i))).toBe('2001:db8:1::1');
        expect([t.packets(i), t.bytes(i)]).toEqual([2, 150]);
      }
    }
  });
});

describe('FlowTable shares (one ENI cannot take the table from the others)', () => {
  /** Records a new flow of `eni` (a fresh source port each call); returns whether it was taken. */
  let port = 1000;
  const newFlow = (t: FlowTable, v: PacketView, eni: number) =>
    t.record(
      setView(v, { ts: 1, src: '10.0.0.1', dst: '10.0.1.1', sport: port++, dport: 80, proto: 6, bytes: 60 }),
      eni,
      0,
    );

  it('guarantees each of N ENIs capacity / 2N flows and shares the rest first come, first served', () => {
    const t = new FlowTable(100, undefined, 3);
    t.setShare(3); // 16 guaranteed each (48 kept), a pool of 52
    expect(t.guaranteedFlows).toBe(16);
    const v = new PacketView();
    let taken = 0;
    while (newFlow(t, v, 0)) taken++;
    expect(taken).toBe(16 + 52); // its guarantee and the whole pool
    // The others still get their guarantee in full, and not one flow more.
    for (const eni of [1, 2]) {
      let n = 0;
      while (newFlow(t, v, eni)) n++;
      expect(n).toBe(16);
    }
    expect(t.size).toBe(100);
    // Known flows keep counting when the ENI is refused new ones.
    expect(
      t.record(
        setView(v, { ts: 2, src: '10.0.0.1', dst: '10.0.1.1', sport: 1000, dport: 80, proto: 6, bytes: 60 }),
        0,
        0,
      ),
    ).toBe(true);
    t.clear();
    expect(newFlow(t, v, 0)).toBe(true);
  });

  it('a quiet ENI leaves the pool to a busy one, and an ENI index it does not know draws from the pool', () => {
    const t = new FlowTable(10, undefined, 2);
    t.setShare(2); // 2 guaranteed each, a pool of 6
    const v = new PacketView();
    let n = 0;
    while (newFlow(t, v, 1)) n++;
    expect(n).toBe(2 + 6);
    expect(newFlow(t, v, 5)).toBe(false); // no guarantee of its own: the pool is full
    expect(newFlow(t, v, 0)).toBe(true);
    expect(newFlow(t, v, 0)).toBe(true);
    expect(newFlow(t, v, 0)).toBe(false);
  });

  it('follows a change of the ENI count inside a window without evicting a flow', () => {
    const t = new FlowTable(40, undefined, 4);
    t.setShare(2); // 10 guaranteed each, a pool of 20
    const v = new PacketView();
    let n = 0;
    while (newFlow(t, v, 0)) n++;
    expect(n).toBe(30);
    // Two ENIs more: 5 guaranteed each; ENI 0 keeps its 30 flows (25 of them now beyond its
    // guarantee, more than the new pool of 20), each newcomer gets its 5, ENI 1 its 5.
    t.setShare(4);
    expect(t.size).toBe(30);
    for (const eni of [1, 2]) {
      let k = 0;
      while (newFlow(t, v, eni)) k++;
      expect(k).toBe(5);
    }
    expect(newFlow(t, v, 0)).toBe(false);
    expect(t.size).toBe(40);
    expect(newFlow(t, v, 3)).toBe(false); // the table is full: a guarantee is never made by eviction
    // Back to one ENI: everything not yet used is its pool again (none left here).
    t.clear();
    t.setShare(1);
    n = 0;
    while (newFlow(t, v, 3)) n++;
    expect(n).toBe(40);
  });
});
