import { describe, expect, it } from 'vitest';
import type { AgentConfig, EniConfig, FlowLogConfig } from '../../../src/config/types';
import { PacketView } from '../../../src/packet/decode/packet-view';
import { FlowAggregator, type ClosedWindow } from '../../../src/flow/flow-aggregator';
import { FLAG_OUT, FLAG_REJECT } from '../../../src/packet/flow-windows';
import type { FlowSlice, RecordBatch } from '../../../src/flow/record';
import { RecordBuilder } from '../../../src/flow/record-builder';
import { formatRecordLine } from '../../../src/output/format/json-lines';
import { SliceJsonLinesEncoder } from '../../../src/output/format/json-lines-slice';
import { flowLogConfig } from '../../helpers/records';
import { prng, setView } from '../../helpers/views';

/**
 * The direct path (FlowSlice -> bytes) must write exactly what the object path (RecordBatch ->
 * formatRecordLine) writes, record for record and in the same order, for the same window.
 */
const enis: EniConfig[] = [
  { id: 'eni-a', ips: ['10.0.0.1'], vpcId: 'vpc-1', vswitchId: 'vsw-1', vmId: 'i-a' },
  { id: 'eni-b', ips: ['2001:db8::2'], vpcId: 'vpc-1', vswitchId: 'vsw-2', vmId: 'i-b' },
  { id: 'eni-c', ips: ['10.0.0.3'], vpcId: 'vpc-2', vswitchId: 'vsw-3', vmId: 'i-c' },
];
const config = { accountId: '1234567890123456', region: 'cn-hangzhou' } as AgentConfig;
const fl = flowLogConfig;

const ADDRESSES = [
  '10.0.0.1',
  '0.0.0.0',
  '255.255.255.255',
  '172.16.9.200',
  '2001:db8::2',
  '::ffff:10.1.2.3',
  '::1',
  'fe80::1:0:0:1',
  '1:2:3:4:5:6:7:8',
];

/** A window of `flows` random flows over the three ENIs (IPv4 and IPv6, both directions, some REJECT, some huge). */
function randomWindow(seed: number, flows: number): ClosedWindow {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  let w: ClosedWindow | undefined;
  const agg = new FlowAggregator({
    intervalSec: 60,
    tableCapacity: flows * 2,
    eniCount: 3,
    maxGapWindows: 1,
    onWindowClosed: (x) => (w = x),
  });
  const v = new PacketView();
  for (let i = 0; i < flows; i++) {
    const v6 = rnd() < 0.3;
    const peer = v6 ? pick(ADDRESSES.filter((a) => a.includes(':'))) : pick(ADDRESSES.filter((a) => !a.includes(':')));
    const local = v6 ? '2001:db8::2' : '10.0.0.1';
    const out = rnd() < 0.5;
    const huge = rnd() < 0.05;
    const packets = 1 + Math.floor(rnd() * 5);
    for (let p = 0; p < packets; p++) {
      setView(v, {
        ts: 1_700_000_040 + Math.floor(rnd() * 60) - 40,
        src: out ? local : peer,
        dst: out ? peer : local,
        proto: pick([6, 17, 1, 58, 132]),
        sport: Math.floor(rnd() * 65536),
        dport: pick([0, 9, 10, 99, 443, 65535]),
        bytes: huge ? 10_000_000_000 + Math.floor(rnd() * 1e6) : Math.floor(rnd() * 1500), // past 2^32: the slow digit path
      });
      agg.record(v, Math.floor(rnd() * 3), (out ? FLAG_OUT : 0) | (rnd() < 0.2 ? FLAG_REJECT : 0));
    }
  }
  agg.addLoss(2, 5);
  agg.finish();
  return w!;
}

function bothPaths(flowLogs: FlowLogConfig[], w: ClosedWindow, sliceFlows = 64) {
  const viaObjects = new RecordBuilder(config, enis, flowLogs);
  const objectLines: string[] = [];
  viaObjects.buildSlices(w, sliceFlows, (b: RecordBatch) =>
    objectLines.push(`${b.flowLogId}:${b.records.map(formatRecordLine).join('')}`),
  );
  const viaSlices = new RecordBuilder(config, enis, flowLogs);
  const encoder = new SliceJsonLinesEncoder();
  const sliceLines: string[] = [];
  let slices = 0;
  viaSlices.buildSlices(
    w,
    sliceFlows,
    (b: RecordBatch) => sliceLines.push(`${b.flowLogId}:${b.records.map(formatRecordLine).join('')}`),
    (s: FlowSlice) => {
      slices++;
      sliceLines.push(`${s.flowLogId}:${encoder.encode(s).toString('utf8')}`);
    },
  );
  return { objectLines, sliceLines, slices, objectCounters: viaObjects.counters, sliceCounters: viaSlices.counters };
}

describe('SliceJsonLinesEncoder', () => {
  it.each([1, 2, 3])('writes the same bytes, order and counters as the record objects (seed %i)', (seed) => {
    const w = randomWindow(seed, 500);
    const r = bothPaths(
      [
        fl('all', {}),
        fl('acc', { trafficType: 'accept' }),
        fl('rej', { trafficType: 'reject', resourceType: 'eni', resourceId: 'eni-c' }),
      ],
      w,
    );
    expect(r.slices).toBeGreaterThan(10);
    expect(r.sliceLines.join('')).toBe(r.objectLines.join(''));
    expect(r.sliceCounters).toEqual(r.objectCounters);
    // The window holds what the test set out to cover.
    const text = r.sliceLines.join('');
    for (const s of ['"action":"REJECT"', '"srcaddr":"::ffff:10.1.2.3"', '"direction":"in"', '"log-status":"SKIPDATA"'])
      expect(text).toContain(s);
    expect(text).toMatch(/"bytes":"\d{11,}"/);
  });

  it('is not used when a flow log has extra fields (the object path writes them)', () => {
    const w = randomWindow(4, 50);
    const r = bothPaths([fl('x', { extraFields: ['tcp-flags'] })], w);
    expect(r.slices).toBe(0);
    expect(r.sliceLines).toEqual(r.objectLines);
  });

  it('is not used for an ENI whose ids would need escaping', () => {
    const odd: EniConfig[] = [{ ...enis[0], vmId: 'i-"quoted"' }, enis[1], enis[2]];
    const w = randomWindow(5, 50);
    const b = new RecordBuilder(config, odd, [fl('all', {})]);
    let slices = 0;
    const lines: string[] = [];
    b.buildSlices(
      w,
      64,
      (batch) => lines.push(...batch.records.map(formatRecordLine)),
      () => slices++,
    );
    expect(slices).toBe(0);
    expect(lines.some((l) => l.includes('"vm-id":"i-\\"quoted\\""'))).toBe(true);
  });

  it('grows its buffer for a slice bigger than it', () => {
    const w = randomWindow(6, 6000); // about 2.5 MB of lines in one slice; the buffer starts at 1 MiB
    const r = bothPaths([fl('all', {})], w, 1_000_000);
    expect(r.slices).toBe(1);
    expect(r.sliceLines.join('')).toBe(r.objectLines.join(''));
  });
});
