import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { FlowRecord, RecordBatch } from '../../../src/flow/record';
import {
  acceptedLogTimeRange,
  encodedLogBytes,
  LogGroupEncoder,
  recordLogTimeSec,
} from '../../../src/output/sls/sls-log-group';
import { lz4CompressBlock } from '../../../src/output/sls/sls-lz4';
import { readLogGroup } from '../../sls-server/log-group-reader.js';
import { lz4DecompressBlock } from '../../sls-server/lz4-block-decoder.js';

// protobufjs (the SDK's own dependency) with the SDK's sls.proto: an independent decoder.
const require = createRequire(import.meta.url);
const protobuf = require('protobufjs');
const LogGroup = protobuf.loadSync(require.resolve('@alicloud/log/lib/sls.proto')).lookupType('sls.LogGroup');

interface PbLogGroup {
  Logs: Array<{ Time: number; Contents: Array<{ Key: string; Value: string }> }>;
  Topic?: string;
  Source?: string;
  LogTags: Array<{ Key: string; Value: string }>;
}
const decode = (body: Buffer) => LogGroup.toObject(LogGroup.decode(body), { defaults: true }) as PbLogGroup;
const meta = {
  topic: 'flow_log',
  source: 'host-1',
  tags: [
    ['hostname', 'host-1'],
    ['agent_version', '0.1.0'],
  ] as const,
};
const NOW = 1_800_000_000;
const batchOf = (records: FlowRecord[], windowStartSec = NOW - 300): RecordBatch => ({
  flowLogId: 'fl',
  windowStartSec,
  windowEndSec: windowStartSec + 60,
  records,
});

describe('LogGroupEncoder', () => {
  // Lengths around the varint boundaries of the value (127/128, 16383/16384) and of the log
  // itself (a one-field log under 128 bytes; a log over 16383 bytes, which must be shifted).
  it.each([
    ['empty value', ''],
    ['127 chars', 'a'.repeat(127)],
    ['128 chars', 'b'.repeat(128)],
    ['16383 chars', 'c'.repeat(16383)],
    ['16384 chars', 'd'.repeat(16384)],
    ['200000 chars', 'e'.repeat(200_000)],
    ['two-byte UTF-8', 'é'.repeat(70)],
    ['three-byte UTF-8', '中文'.repeat(30)],
    ['astral plane', '🙂x'],
    ['ASCII then non-ASCII', 'abc\u0080'],
  ])('round-trips a value: %s', (_name, value) => {
    const records: FlowRecord[] = [
      { version: '1', srcaddr: value, start: String(NOW - 250) },
      { [value === '' ? 'k' : 'key-é']: value },
      { only: 'x' },
    ];
    const out = new LogGroupEncoder().encode(batchOf(records), meta, NOW);
    const g = decode(out.body);
    expect(g.Logs.map((l) => l.Contents.map((c) => [c.Key, c.Value]))).toEqual(records.map((r) => Object.entries(r)));
    expect(g.Logs.map((l) => l.Time)).toEqual([NOW - 250, NOW - 300, NOW - 300]);
    expect([g.Topic, g.Source, g.LogTags.map((t) => [t.Key, t.Value])]).toEqual(['flow_log', 'host-1', meta.tags]);
    // The test server's hand-written reader agrees with protobufjs.
    expect(readLogGroup(out.body).logs.map((l: { contents: unknown }) => l.contents)).toEqual(
      records.map((r) => Object.entries(r)),
    );
  });

  it('encodes the same bytes again after growing its buffer (no stale state between batches)', () => {
    const enc = new LogGroupEncoder();
    const small = batchOf([{ a: '1' }]);
    const first = enc.encode(small, meta, NOW).body;
    enc.encode(batchOf([{ big: 'z'.repeat(3_000_000) }]), meta, NOW);
    expect(enc.encode(small, meta, NOW).body.equals(first)).toBe(true);
  });

  it('omits an empty topic and source', () => {
    const g = decode(
      new LogGroupEncoder().encode(batchOf([{ a: '1' }]), { topic: '', source: '', tags: [] }, NOW).body,
    );
    expect([g.Topic, g.Source, g.LogTags]).toEqual(['', '', []]);
  });

  it('clamps log times into the accepted range and counts them', () => {
    const { minSec, maxSec } = acceptedLogTimeRange(NOW);
    expect([minSec, maxSec]).toEqual([NOW - 6 * 86400, NOW + 600]);
    const records = [NOW - 8 * 86400, minSec - 1, minSec, NOW, maxSec, maxSec + 1].map((t) => ({ start: String(t) }));
    const out = new LogGroupEncoder().encode(batchOf(records), meta, NOW);
    expect(decode(out.body).Logs.map((l) => l.Time)).toEqual([minSec, minSec, minSec, NOW, maxSec, maxSec]);
    expect(out.clampedLogTimes).toBe(3);
  });
});

describe('encodedLogBytes', () => {
  it.each([
    ['a short record', { a: '1' }],
    [
      'a flow record',
      { version: '1', srcaddr: '2001:db8::1', srcport: '443', start: String(NOW - 10), 'log-status': 'OK' },
    ],
    ['a 200-byte value', { k: 'v'.repeat(200) }],
    ['a 20000-byte UTF-8 value', { k: '中'.repeat(6667) }],
  ])('is the encoded size of %s', (_name, record) => {
    const empty = new LogGroupEncoder().encode(batchOf([]), { topic: '', source: '', tags: [] }, NOW).body.length;
    const one =
      new LogGroupEncoder().encode(batchOf([record]), { topic: '', source: '', tags: [] }, NOW).body.length - empty;
    // Any time after 1978 (>= 2^28) takes the 5 varint bytes counted.
    expect(encodedLogBytes(record)).toBe(one);
  });
});

describe('recordLogTimeSec', () => {
  it.each([
    [{ start: '1700000030' }, 1700000030],
    [{ start: '' }, 1700000000],
    [{ start: '-' }, 1700000000],
    [{ start: '17000000.5' }, 1700000000],
    [{ start: '99999999999' }, 1700000000],
    [{}, 1700000000],
    // Digit strings take a fast parse; these must agree with Number() around its edges.
    [{ start: '4294967295' }, 4294967295],
    [{ start: '4294967296' }, 1700000000],
    [{ start: '0' }, 1700000000],
    [{ start: '0001700000' }, 1700000],
    [{ start: ' 1700000030' }, 1700000030],
    [{ start: '1e9' }, 1000000000],
    [{ start: '17x' }, 1700000000],
  ])('%j -> %d', (record, expected) => {
    expect(recordLogTimeSec(record as FlowRecord, 1700000000)).toBe(expected);
  });
});

describe('lz4CompressBlock', () => {
  const mixed = Buffer.concat([
    Buffer.alloc(20, 1),
    randomBytes(300),
    Buffer.alloc(70_000, 3),
    Buffer.from('tail of the block'),
  ]);
  it.each([
    ['empty', Buffer.alloc(0)],
    ['1 byte', Buffer.from('a')],
    ['12 bytes (below the match limit)', Buffer.from('abcabcabcabc')],
    ['13 bytes', Buffer.from('abcabcabcabca')],
    ['random 70 kB (incompressible, offsets beyond 64 kB)', randomBytes(70_000)],
    ['runs and random', mixed],
    [
      'a flow-log body',
      new LogGroupEncoder().encode(
        batchOf(Array.from({ length: 500 }, (_, i) => ({ srcaddr: `10.0.0.${i % 256}`, bytes: String(i * 7) }))),
        meta,
        NOW,
      ).body,
    ],
  ])('round-trips through the test server decoder: %s', (_name, src) => {
    const packed = lz4CompressBlock(src);
    expect(lz4DecompressBlock(packed, src.length).equals(src)).toBe(true);
  });

  // 64 distinct bytes, a copy of their first 4 + k, a differing byte, 32 more distinct bytes:
  // one sequence (token, 1 length byte, 64 literals, offset) and the last 33 literals (token, 1
  // length byte, 33 bytes) = 103 bytes, but only if the match is found to its full 4 + k bytes;
  // each byte missed would become a literal.
  it.each([0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 12])('finds the whole match of 4 + %i bytes', (k) => {
    const head = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff));
    const tail = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 73 + 200) & 0xff));
    const src = Buffer.concat([head, head.subarray(0, 4 + k), Buffer.from([head[4 + k] ^ 0xff]), tail]);
    const packed = lz4CompressBlock(src);
    expect(lz4DecompressBlock(packed, src.length).equals(src)).toBe(true);
    expect(packed.length).toBe(103);
  });

  it('returns a buffer of its own (later calls do not overwrite it)', () => {
    const a = Buffer.from('flow log body, flow log body, flow log body, end');
    const packed = lz4CompressBlock(a);
    const copy = Buffer.from(packed);
    lz4CompressBlock(Buffer.alloc(5000, 1));
    expect(packed.equals(copy)).toBe(true);
  });

  it('compresses 100,000 equal bytes to one sequence: under 1% of the input', () => {
    // One literal, then a match of 100,000 - 1 - 5 bytes: its length extension is about
    // (99,994 - 19) / 255 = 392 bytes, plus token, offset and 5 last literals.
    const packed = lz4CompressBlock(Buffer.alloc(100_000, 9));
    expect(packed.length).toBeGreaterThan(392);
    expect(packed.length).toBeLessThan(410);
  });
});
