import { describe, expect, it } from 'vitest';
import { PacketView } from '../../src/packet/decode/packet-view';
import { FlowAggregator, type ClosedWindow } from '../../src/flow/flow-aggregator';
import { FLAG_OUT } from '../../src/packet/flow-windows';
import { RecordBuilder } from '../../src/flow/record-builder';
import { RECORD_FIELDS } from '../../src/flow/record';
import type { AgentConfig, EniConfig } from '../../src/config/types';
import { flowLogConfig } from '../helpers/records';
import { setView } from '../helpers/views';

function collect(intervalSec: number, maxGapWindows = 100, capacity = 100) {
  const closed: Array<{ start: number; end: number; flows: number; packets: number[]; lost: number[] }> = [];
  const agg: FlowAggregator = new FlowAggregator({
    intervalSec,
    tableCapacity: capacity,
    eniCount: 2,
    maxGapWindows,
    onWindowClosed: (w: ClosedWindow) => {
      closed.push({
        start: w.startSec,
        end: w.endSec,
        flows: w.table.size,
        packets: [...w.eniPackets],
        lost: [...w.eniLostPackets],
      });
      agg.release(w.table);
    },
  });
  return { agg, closed };
}

describe('FlowAggregator windows', () => {
  const v = new PacketView();
  const pkt = (ts: number, src = '10.0.0.1') => setView(v, { ts, src, dst: '10.0.0.2', bytes: 100 });

  it('aligns windows to multiples of the interval since the epoch', () => {
    const { agg, closed } = collect(60);
    agg.record(pkt(1_700_000_030), 0, FLAG_OUT); // window [1699999980, 1700000040)
    agg.record(pkt(1_700_000_041), 0, FLAG_OUT);
    agg.finish();
    expect(closed.map((c) => [c.start, c.end])).toEqual([
      [1_699_999_980, 1_700_000_040],
      [1_700_000_040, 1_700_000_100],
    ]);
    expect(1_699_999_980 % 60).toBe(0);
  });

  it('closes empty windows between packets (NODATA), up to maxGapWindows', () => {
    const { agg, closed } = collect(60, 3);
    agg.record(pkt(600), 0, 0);
    agg.record(pkt(600 + 60 * 3 + 5), 0, 0); // windows 660 and 720 are empty
    agg.record(pkt(10_000), 0, 0); // gap of many windows: new timeline, no NODATA for them
    agg.finish();
    expect(closed.map((c) => [c.start, c.flows])).toEqual([
      [600, 1],
      [660, 0],
      [720, 0],
      [780, 1],
      [9960, 1],
    ]);
    expect(agg.gapWindowsSkipped).toBe((9960 - 840) / 60);
  });

  it('counts a late packet (within one interval) in the current window at its start', () => {
    const { agg, closed } = collect(60);
    agg.record(pkt(61), 0, 0);
    agg.record(pkt(125), 0, 0); // window 120 opens, 60 closes
    agg.record(pkt(119, '10.0.0.3'), 0, 0); // late by 1 s
    agg.finish();
    expect(agg.latePackets).toBe(1);
    expect(closed[1]).toMatchObject({ start: 120, flows: 2, packets: [2, 0] });
  });

  it('restarts the timeline when time goes back by more than an interval', () => {
    const { agg, closed } = collect(60);
    agg.record(pkt(6000), 0, 0);
    agg.record(pkt(100), 0, 0);
    agg.finish();
    expect(closed.map((c) => c.start)).toEqual([6000, 60]);
    expect(agg.timelineRestarts).toBe(1);
  });

  it('counts packets of new flows that do not fit as lost for their ENI', () => {
    const { agg, closed } = collect(60, 10, 2);
    for (let i = 0; i < 5; i++) agg.record(pkt(10, `10.0.0.${i + 1}`), i % 2, 0);
    agg.finish();
    expect(closed[0]).toMatchObject({ flows: 2, packets: [1, 1], lost: [2, 1] });
    expect(agg.tableFullPackets).toBe(3);
  });

  it('writes a partial window at shutdown with end = the given time', () => {
    const { agg, closed } = collect(600);
    agg.record(pkt(1210), 0, 0);
    agg.finish(1500);
    expect(closed).toMatchObject([{ start: 1200, end: 1500 }]);
  });
});

describe('RecordBuilder', () => {
  const enis: EniConfig[] = [
    { id: 'eni-a', ips: ['10.0.0.1'], vpcId: 'vpc-1', vswitchId: 'vsw-1', vmId: 'i-a' },
    { id: 'eni-b', ips: ['10.0.0.2'], vpcId: 'vpc-1', vswitchId: 'vsw-2', vmId: 'i-b' },
  ];
  const fl = flowLogConfig;
  const config = { accountId: '1234567890123456', region: 'cn-hangzhou' } as AgentConfig;

  function windowWith(
    packets: Array<{ eni: number; flags: number; proto?: number; tcpFlags?: number }>,
    lost = [0, 0],
  ) {
    let w: ClosedWindow | undefined;
    const agg = new FlowAggregator({
      intervalSec: 60,
      tableCapacity: 10,
      eniCount: 2,
      maxGapWindows: 1,
      onWindowClosed: (x) => (w = x),
    });
    const v = new PacketView();
    for (const p of packets)
      agg.record(
        setView(v, {
          ts: 125,
          src: '10.0.0.1',
          dst: '10.0.0.2',
          proto: p.proto ?? 6,
          sport: 1000,
          dport: 22,
          bytes: 52,
          tcpFlags: p.tcpFlags,
        }),
        p.eni,
        p.flags,
      );
    lost.forEach((n, eni) => agg.addLoss(eni, n));
    agg.finish();
    return w!;
  }

  it('writes the 18 fields in order, as strings, and NODATA for covered ENIs without traffic', () => {
    const b = new RecordBuilder(config, enis, [fl('fl-1', {})]);
    const [batch] = b.build(
      windowWith([
        { eni: 0, flags: FLAG_OUT },
        { eni: 0, flags: FLAG_OUT },
      ]),
    );
    expect(batch.records).toHaveLength(2);
    const [ok, nodata] = batch.records;
    expect(Object.keys(ok)).toEqual([...RECORD_FIELDS]);
    expect(ok).toMatchObject({
      version: '1',
      'eni-id': 'eni-a',
      'vswitch-id': 'vsw-1',
      srcaddr: '10.0.0.1',
      dstport: '22',
      protocol: '6',
      direction: 'out',
      packets: '2',
      bytes: '104',
      start: '125',
      end: '125',
      'log-status': 'OK',
      action: 'ACCEPT',
    });
    expect(nodata).toMatchObject({
      'eni-id': 'eni-b',
      srcaddr: '-',
      srcport: '-',
      'log-status': 'NODATA',
      start: '120',
      end: '180',
    });
    expect(Object.values(ok).every((x) => typeof x === 'string')).toBe(true);
  });

  it('writes SKIPDATA with the lost count next to the OK records of the window', () => {
    const b = new RecordBuilder(config, enis, [fl('fl-1', { resourceType: 'eni', resourceId: 'eni-a' })]);
    const [batch] = b.build(windowWith([{ eni: 0, flags: 0 }], [7, 0]));
    expect(batch.records.map((r) => [r['log-status'], r.packets])).toEqual([
      ['OK', '1'],
      ['SKIPDATA', '7'],
    ]);
  });

  it('filters by trafficType, covers by vswitch, and appends extra fields after the 18', () => {
    const b = new RecordBuilder(config, enis, [
      fl('acc', {
        trafficType: 'accept',
        resourceType: 'vswitch',
        resourceId: 'vsw-1',
        extraFields: ['tcp-flags', 'region'],
      }),
      fl('rej', { trafficType: 'reject', resourceType: 'vswitch', resourceId: 'vsw-1' }),
    ]);
    const [acc, rej] = b.build(
      windowWith([
        { eni: 0, flags: 0, tcpFlags: 2 },
        { eni: 0, flags: 0, tcpFlags: 16 },
        { eni: 0, flags: 4 },
      ]),
    );
    expect(acc.records.map((r) => [r.action, r['tcp-flags'], r.region])).toEqual([['ACCEPT', '18', 'cn-hangzhou']]);
    expect(Object.keys(acc.records[0]).slice(18)).toEqual(['tcp-flags', 'region']);
    expect(rej.records.map((r) => r.action)).toEqual(['REJECT']);
    expect(b.counters.filtered).toBe(2);
  });
});

describe('FlowAggregator in wall-clock mode (the daemon)', () => {
  const v = new PacketView();
  const pkt = (ts: number, src = '10.0.0.1') => setView(v, { ts, src, dst: '10.0.0.2', bytes: 100 });
  function wallClock() {
    const closed: Array<{ start: number; end: number; flows: number; packets: number[] }> = [];
    const agg: FlowAggregator = new FlowAggregator({
      intervalSec: 60,
      tableCapacity: 100,
      eniCount: 2,
      maxGapWindows: 1,
      wallClock: true,
      onWindowClosed: (w: ClosedWindow) => {
        closed.push({ start: w.startSec, end: w.endSec, flows: w.table.size, packets: [...w.eniPackets] });
        agg.release(w.table);
      },
    });
    return { agg, closed };
  }

  it('keeps the window open for stragglers after a packet of the next window, until the clock moves', () => {
    const { agg, closed } = wallClock();
    agg.advanceTo(600);
    agg.record(pkt(659), 0, 0);
    agg.record(pkt(660, '10.0.0.7'), 1, 0); // next window, delivered first by another handle
    agg.record(pkt(659, '10.0.0.3'), 0, 0); // straggler of the first window: still counted there
    expect(closed).toHaveLength(0);
    expect(agg.latePackets).toBe(0);
    agg.advanceTo(662); // the clock, 2 s after the boundary
    expect(closed).toEqual([{ start: 600, end: 660, flows: 2, packets: [2, 0] }]);
    agg.record(pkt(661, '10.0.0.7'), 1, 0);
    agg.finish(700);
    expect(closed[1]).toEqual({ start: 660, end: 700, flows: 1, packets: [0, 2] });
  });

  it('writes both windows at shutdown when the next one had started', () => {
    const { agg, closed } = wallClock();
    agg.advanceTo(600);
    agg.record(pkt(650), 0, 0);
    agg.record(pkt(661), 1, 0);
    agg.finish(661);
    expect(closed).toEqual([
      { start: 600, end: 660, flows: 1, packets: [1, 0] },
      { start: 660, end: 661, flows: 1, packets: [0, 1] },
    ]);
  });
});
