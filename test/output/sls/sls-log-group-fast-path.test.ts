import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { PLAIN_TEXT, RECORD_FIELDS, type FlowRecord, type RecordBatch } from '../../../src/flow/record';
import { FLOW_LOG_MAX_BYTES, flowLogBytes, writeFlowLog } from '../../../src/output/sls/sls-flow-log';
import {
  acceptedLogTimeRange,
  encodedLogBytes,
  LogGroupEncoder,
  type LogGroupMeta,
} from '../../../src/output/sls/sls-log-group';

// The flow-record fast path of the encoder (src/output/sls/sls-flow-log.ts) must write exactly the
// bytes of a plain protobuf encoding, whichever path a record takes. Expected bodies come from
// the small reference encoder below (Buffer.concat and Buffer.from, nothing shared with the
// encoder), and protobufjs with the SDK's sls.proto decodes them as a second opinion.

const require = createRequire(import.meta.url);
const protobuf = require('protobufjs');
const LogGroupType = protobuf.loadSync(require.resolve('@alicloud/log/lib/sls.proto')).lookupType('sls.LogGroup');

const NOW = 1_800_000_000;
const WINDOW = NOW - 300;
const meta: LogGroupMeta = { topic: 'flow_log', source: 'host-1', tags: [['hostname', 'host-1']] };

function varint(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}
function field(tag: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag, ...varint(payload.length)]), payload]);
}
function pair(tag: number, key: string, value: string): Buffer {
  return field(tag, Buffer.concat([field(0x0a, Buffer.from(key, 'utf8')), field(0x12, Buffer.from(value, 'utf8'))]));
}
/** Log message, tag included: Time = 1, then one Content per own key in key order. */
function refLog(record: FlowRecord, timeSec: number): Buffer {
  const contents = Object.keys(record).map((k) => pair(0x12, k, String(record[k])));
  return field(0x0a, Buffer.concat([Buffer.from([0x08, ...varint(timeSec)]), ...contents]));
}
function refLogGroup(records: FlowRecord[], times: number[]): Buffer {
  return Buffer.concat([
    ...records.map((r, i) => refLog(r, times[i])),
    field(0x1a, Buffer.from(meta.topic)),
    field(0x22, Buffer.from(meta.source)),
    ...meta.tags.map(([k, v]) => pair(0x32, k, v)),
  ]);
}
const batchOf = (records: FlowRecord[]): RecordBatch => ({
  flowLogId: 'fl',
  windowStartSec: WINDOW,
  windowEndSec: WINDOW + 60,
  records,
});

/** A flow record as the record builder makes it: the 18 fields in order, ids shared per ENI. */
function flowRecord(eni: number, i: number, over: Partial<Record<string, string>> = {}): FlowRecord {
  const r: FlowRecord = {
    version: '1',
    'vswitch-id': `vsw-${eni}bp1k2c4h7ee0f3qmp6x9`,
    'vm-id': `i-${eni}bp1d2kq0yx6zmcw9v7a`,
    'vpc-id': 'vpc-bp1qpo0kug3a20qqe3afs',
    'account-id': '1234567890123456',
    'eni-id': `eni-${eni}bp1g8ekexrf0xt9u7qy`,
    srcaddr: `10.0.${eni}.${i % 256}`,
    srcport: String(32768 + i),
    dstaddr: `172.16.${i % 7}.${(i * 13) % 256}`,
    dstport: '443',
    protocol: '6',
    direction: i % 2 === 0 ? 'out' : 'in',
    packets: String(1 + i),
    bytes: String(40 * (1 + i)),
    start: String(NOW - 200 + (i % 60)),
    end: String(NOW - 150 + (i % 60)),
    'log-status': 'OK',
    action: 'ACCEPT',
  };
  for (const [k, v] of Object.entries(over)) r[k] = v as string;
  return r;
}
const timeOf = (r: FlowRecord) => Number(r.start);

function expectEncodesLikeReference(records: FlowRecord[], times = records.map(timeOf)): void {
  const body = new LogGroupEncoder().encode(batchOf(records), meta, NOW).body;
  const expected = refLogGroup(records, times);
  expect(body.toString('hex')).toBe(expected.toString('hex'));
  const decoded = LogGroupType.toObject(LogGroupType.decode(body)) as {
    Logs: Array<{ Contents: Array<{ Key: string; Value: string }> }>;
  };
  expect(decoded.Logs.map((l) => l.Contents.map((c) => [c.Key, c.Value]))).toEqual(
    records.map((r) => Object.keys(r).map((k) => [k, utf8RoundTrip(String(r[k]))])),
  );
}
/** What a UTF-8 reader gets back (a lone surrogate becomes U+FFFD). */
function utf8RoundTrip(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}

// One case per way a record can leave the fast path, next to records that stay on it.
const cases: Array<[string, () => FlowRecord[]]> = [
  ['standard flow records of interleaved ENIs', () => [0, 1, 2, 1, 0, 3].map((e, i) => flowRecord(e, i))],
  [
    'records marked PLAIN_TEXT (the mark is not a field)',
    () => [0, 1].map((i) => Object.assign(flowRecord(0, i), { [PLAIN_TEXT]: true })),
  ],
  [
    'extra fields tcp-flags and region, in either order',
    () => [
      { ...flowRecord(0, 1), 'tcp-flags': '18', region: 'cn-hangzhou' },
      { ...flowRecord(0, 2), region: 'cn-hangzhou', 'tcp-flags': '2' },
      { ...flowRecord(1, 3), 'tcp-flags': '0' },
    ],
  ],
  ['an unknown extra field', () => [{ ...flowRecord(0, 1), note: 'x' }, flowRecord(0, 2)]],
  [
    'standard keys in another order',
    () => {
      const r = flowRecord(0, 1);
      const swapped: FlowRecord = {};
      for (const k of [...RECORD_FIELDS.slice(0, 6), 'srcport', 'srcaddr', ...RECORD_FIELDS.slice(8)])
        swapped[k] = r[k];
      return [swapped, flowRecord(0, 2)];
    },
  ],
  [
    'a missing standard field',
    () => {
      const r = flowRecord(0, 1);
      delete r['action'];
      return [r, flowRecord(0, 2)];
    },
  ],
  ['a non-string value', () => [{ ...flowRecord(0, 1), srcport: 443 as unknown as string }]],
  [
    'non-ASCII in an ENI id (prefix field)',
    () => [flowRecord(0, 1, { 'vpc-id': 'vpc-é' }), flowRecord(0, 2, { 'vpc-id': 'vpc-é' }), flowRecord(0, 3)],
  ],
  [
    'non-ASCII in a later field: Latin-1, CJK, astral, lone surrogate',
    () => [
      flowRecord(0, 1, { srcaddr: '10.0.0.1\u00ff' }),
      flowRecord(0, 2, { 'log-status': '中' }),
      flowRecord(0, 3, { action: '🙂' }),
      flowRecord(0, 4, { dstaddr: '\ud800' }),
      { ...flowRecord(0, 5), region: 'é' },
    ],
  ],
  // srcaddr: key 7 bytes, pair length = 11 + value length; 116 is the last one-byte length.
  [
    'values around the one-byte pair length (127/128 bytes)',
    () => [
      flowRecord(0, 1, { srcaddr: 'a'.repeat(116) }),
      flowRecord(0, 2, { srcaddr: 'b'.repeat(117) }),
      flowRecord(0, 3, { 'vswitch-id': 'c'.repeat(113) }), // key 10 bytes: pair 127
      flowRecord(0, 4, { 'vswitch-id': 'd'.repeat(114) }),
      flowRecord(0, 5, { action: 'e'.repeat(5000) }),
    ],
  ],
  [
    'one eni-id with other ids (cached ENI bytes must not be reused)',
    () => [
      flowRecord(0, 1),
      flowRecord(0, 2, { 'vpc-id': 'vpc-other' }),
      flowRecord(0, 3, { version: '2' }),
      flowRecord(0, 4, { 'account-id': '1' }),
      flowRecord(0, 5),
    ],
  ],
  [
    'equal ids as different string objects',
    () => [flowRecord(0, 1), flowRecord(0, 2, { 'eni-id': ['eni-0', 'bp1g8ekexrf0xt9u7qy'].join('') })],
  ],
  [
    'more ENIs than the cache keeps',
    () => [
      ...Array.from({ length: 300 }, (_, e) => flowRecord(e, e)),
      ...Array.from({ length: 300 }, (_, e) => flowRecord(e, e + 1)),
    ],
  ],
];

describe('LogGroupEncoder fast path for flow records', () => {
  it.each(cases)('writes the reference encoding: %s', (_name, make) => {
    expectEncodesLikeReference(make());
  });

  it('clamps times and falls back to the window start on the fast path', () => {
    const { minSec, maxSec } = acceptedLogTimeRange(NOW);
    const records = [
      flowRecord(0, 1, { start: String(NOW - 30 * 86400) }),
      flowRecord(0, 2, { start: String(NOW + 86400) }),
      flowRecord(0, 3, { start: '-', 'log-status': 'NODATA' }),
      flowRecord(0, 4),
    ];
    const out = new LogGroupEncoder().encode(batchOf(records), meta, NOW);
    expect(out.clampedLogTimes).toBe(2);
    expect(out.body.toString('hex')).toBe(
      refLogGroup(records, [minSec, maxSec, WINDOW, timeOf(records[3])]).toString('hex'),
    );
  });

  it('encode returns a body of its own; encodeShared a view that the next encode overwrites', () => {
    const enc = new LogGroupEncoder();
    const a = [flowRecord(0, 1)];
    const b = [flowRecord(1, 2, { srcaddr: '192.168.100.200' })];
    const owned = enc.encode(batchOf(a), meta, NOW).body;
    const shared = enc.encodeShared(batchOf(a), meta, NOW).body;
    expect(shared.equals(owned)).toBe(true);
    enc.encode(batchOf(b), meta, NOW);
    expect(owned.toString('hex')).toBe(refLogGroup(a, a.map(timeOf)).toString('hex'));
    expect(shared.equals(owned)).toBe(false);
  });
});

describe('writeFlowLog and flowLogBytes', () => {
  // The cases above would pass with the fast path never taken; these say which path a record takes.
  const fastPath = (r: FlowRecord): number => {
    const buf = Buffer.alloc(FLOW_LOG_MAX_BYTES + 10);
    const end = writeFlowLog(buf, new DataView(buf.buffer, buf.byteOffset, buf.length), 5, r, NOW);
    if (end >= 0) expect(buf.subarray(5, end).toString('hex')).toBe(refLog(r, NOW).toString('hex'));
    return end;
  };
  it.each([
    ['a standard record', flowRecord(0, 1)],
    ['a PLAIN_TEXT record', Object.assign(flowRecord(1, 1), { [PLAIN_TEXT]: true })],
    ['a record with both extras', { ...flowRecord(0, 1), region: 'cn-hangzhou', 'tcp-flags': '2' }],
    ['a 127-byte pair', flowRecord(0, 1, { srcaddr: 'a'.repeat(116) })],
  ])('take %s', (_name, r) => {
    expect(fastPath(r)).toBe(5 + refLog(r, NOW).length);
    expect(flowLogBytes(r)).toBe(refLog(r, NOW).length);
  });
  it.each([
    ['an unknown extra', { ...flowRecord(0, 1), note: 'x' }],
    ['a non-ASCII ENI id', flowRecord(0, 1, { 'vm-id': 'i-ü' })],
    ['a non-ASCII later value', flowRecord(0, 1, { direction: 'ü' })],
    ['a 128-byte pair', flowRecord(0, 1, { srcaddr: 'a'.repeat(117) })],
    ['a 128-byte ENI pair', flowRecord(0, 1, { 'vswitch-id': 'd'.repeat(114) })],
    ['a missing field', (({ action: _a, ...rest }) => rest)(flowRecord(0, 1))],
    ['a number value', { ...flowRecord(0, 1), bytes: 7 as unknown as string }],
  ])('leave %s to the general path', (_name, r) => {
    expect(fastPath(r)).toBe(-1);
    expect(flowLogBytes(r)).toBe(-1);
  });
});

describe('encodedLogBytes', () => {
  it('is the reference Log size of each record, fast path or not', () => {
    const records = cases.flatMap(([, make]) => make());
    // Any log time after 1978 takes the 5 varint bytes encodedLogBytes counts.
    for (const r of records) expect(encodedLogBytes(r), JSON.stringify(r).slice(0, 120)).toBe(refLog(r, NOW).length);
  });

  it('adds up to the encoded body, less topic, source and tags', () => {
    const records = [0, 1, 2, 3].map((e) => flowRecord(e, e));
    records.push({ ...flowRecord(0, 9), 'tcp-flags': '2' }, flowRecord(2, 7, { srcaddr: 'ü' }));
    const body = new LogGroupEncoder().encode(batchOf(records), meta, NOW).body;
    const metaBytes = refLogGroup([], []).length;
    expect(records.reduce((n, r) => n + encodedLogBytes(r), 0)).toBe(body.length - metaBytes);
  });
});
