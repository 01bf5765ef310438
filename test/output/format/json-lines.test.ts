import { describe, expect, it } from 'vitest';
import { PLAIN_TEXT, RECORD_FIELDS, type FlowRecord, type RecordBatch } from '../../../src/flow/record';
import {
  JsonLinesEncoder,
  formatBatchLines,
  formatRecordLine,
  jsonLineMeasure,
} from '../../../src/output/format/json-lines';

/** A full 18-field record with builder-like values, `over` applied on top. */
function record(over: Record<string, unknown> = {}, plainMark = false): FlowRecord {
  const r: Record<string, unknown> = {
    version: '1',
    'vswitch-id': 'vsw-bp1a',
    'vm-id': 'i-bp1b',
    'vpc-id': 'vpc-bp1c',
    'account-id': '1234567890123456',
    'eni-id': 'eni-bp1d',
    srcaddr: '10.0.0.1',
    srcport: '443',
    dstaddr: '192.168.100.200',
    dstport: '51234',
    protocol: '6',
    direction: 'out',
    packets: '10',
    bytes: '1500',
    start: '1700000000',
    end: '1700000060',
    'log-status': 'OK',
    action: 'ACCEPT',
  };
  Object.assign(r, over);
  if (plainMark) (r as Record<symbol, boolean>)[PLAIN_TEXT] = true;
  return r as FlowRecord;
}

function without(r: FlowRecord, field: string): FlowRecord {
  const copy = { ...r };
  delete copy[field];
  return copy;
}

function batchOf(records: FlowRecord[]): RecordBatch {
  return { flowLogId: 'fl', windowStartSec: 0, windowEndSec: 60, records };
}

/**
 * The expected line, computed without the module under test: the standard fields present, in the
 * format's order, then the extras in key order, serialised by JSON.stringify (same escapes as the
 * writer's for text without lone surrogates).
 */
function expectedLine(r: FlowRecord): string {
  const ordered: Array<[string, string]> = [];
  for (const f of RECORD_FIELDS) if (r[f] !== undefined) ordered.push([f, String(r[f])]);
  for (const k of Object.keys(r))
    if (!(RECORD_FIELDS as readonly string[]).includes(k)) ordered.push([k, String(r[k])]);
  return `${JSON.stringify(Object.fromEntries(ordered))}\n`;
}

function expectSameBytes(records: FlowRecord[], encoder = new JsonLinesEncoder()): void {
  const got = Buffer.from(encoder.encode(batchOf(records)));
  const expected = Buffer.from(records.map(expectedLine).join(''), 'utf8');
  expect(got.toString('utf8')).toBe(expected.toString('utf8')); // readable diff first
  expect(got.equals(expected)).toBe(true);
  expect(got.equals(Buffer.from(formatBatchLines(batchOf(records)), 'utf8'))).toBe(true);
}

describe('JsonLinesEncoder', () => {
  const scrambled: FlowRecord = Object.fromEntries([...Object.entries(record())].reverse());
  const replaced = without(record({ 'tcp-flags': '18' }), 'bytes'); // 18 keys, one not standard
  const cases: Array<[string, FlowRecord[]]> = [
    ['plain, unmarked', [record(), record({ srcaddr: '2001:db8::1', dstaddr: '::ffff:10.0.0.1' })]],
    ['plain, PLAIN_TEXT-marked', [record({}, true), record({ direction: 'in', action: 'REJECT' }, true)]],
    [
      'value lengths 0..9 (word and byte tails)',
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => record({ srcport: 'x'.repeat(n), packets: '7'.repeat(n) }, true)),
    ],
    ['quote in a per-flow value', [record({ srcaddr: 'a"b' })]],
    ['backslash in a per-flow value', [record({ 'log-status': 'O\\K' })]],
    ['control characters in per-flow values', [record({ dstaddr: 'x\ny', action: '\u0001', end: '\t' })]],
    ['quote and backslash in ENI ids, marked', [record({ 'vm-id': 'i-"x"\\y', 'eni-id': 'eni\u0001a' }, true)]],
    ['non-ASCII in ENI ids', [record({ 'vpc-id': 'vpc-é中', 'account-id': '😀' }, true)]],
    ['non-ASCII per-flow value, marked', [record({ action: 'ACCEPTé' }, true), record({ srcaddr: '10.0.0.😀' }, true)]],
    ['non-ASCII per-flow value in a word', [record({ start: 'é234567' }), record({ bytes: '12é4' })]],
    ['extra fields', [record({ 'tcp-flags': '18', region: 'cn-hangzhou' }, true)]],
    ['extra field replacing a standard one', [replaced]],
    ['missing per-flow field', [without(record({}, true), 'bytes'), without(record(), 'action')]],
    ['missing ENI field', [without(record({}, true), 'eni-id'), without(record(), 'version')]],
    ['numbers instead of strings', [record({ srcport: 443, 'vm-id': 7 })]],
    ['standard fields in another key order', [scrambled]],
    [
      'fast, general, fast (scratch bytes overwritten)',
      [record({}, true), record({ action: 'é' }, true), record({ packets: '3' }, true)],
    ],
    ['empty batch', []],
  ];
  it.each(cases)('%s: the expected bytes', (_name, records) => expectSameBytes(records));

  it('lines parse back to the records, standard fields first', () => {
    const r = record({ 'vm-id': 'i-"x"', region: 'cn-hangzhou' }, true);
    const line = new JsonLinesEncoder().encode(batchOf([r])).toString('utf8');
    expect(JSON.parse(line)).toEqual(Object.fromEntries(Object.entries(r)));
    expect(Object.keys(JSON.parse(line)).slice(0, 18)).toEqual([...RECORD_FIELDS]);
  });

  it('interleaved ENIs: each line carries its own ENI ids', () => {
    const enis = [0, 1, 2].map((i) => ({
      'vswitch-id': `vsw-${i}`,
      'vm-id': `i-${i}`,
      'vpc-id': `vpc-${i}`,
      'eni-id': `eni-${i}`,
    }));
    const records: FlowRecord[] = [];
    for (let i = 0; i < 30; i++) records.push(record({ ...enis[(i * 7) % 3], srcport: String(i) }, true));
    // Same eni-id with each other per-ENI value changed in turn; equal ids in new string objects.
    for (const f of ['version', 'vswitch-id', 'vm-id', 'vpc-id', 'account-id']) {
      records.push(record({ ...enis[1], [f]: 'changed' }, true));
      records.push(record({ ...enis[1] }, true));
    }
    records.push(record({ ...enis[2], 'eni-id': ['eni', '2'].join('-') }, true));
    // A second ENI of the same instance: only the eni-id differs.
    for (let i = 0; i < 4; i++) records.push(record({ ...enis[0], 'eni-id': i % 2 === 0 ? 'eni-0' : 'eni-0b' }, true));
    const encoder = new JsonLinesEncoder();
    expectSameBytes(records, encoder);
    expectSameBytes(records.slice().reverse(), encoder); // the cache carries over between batches
  });

  it('a batch larger than the initial buffer, and the next batch after it', () => {
    const records: FlowRecord[] = [];
    for (let i = 0; i < 6000; i++) {
      const n = i * 2654435761;
      records.push(
        record(
          {
            srcaddr: `10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`,
            srcport: String(i),
            bytes: String(n >>> 0),
          },
          i % 3 !== 0,
        ),
      );
    }
    const encoder = new JsonLinesEncoder();
    const bytes = encoder.encode(batchOf(records));
    expect(bytes.length).toBeGreaterThan(2 << 20);
    expectSameBytes(records, encoder);
    expectSameBytes(records.slice(0, 2), encoder);
  });

  it('lines ending at or near the end of the buffer (word writes stay inside it)', () => {
    // The encoder starts with a 1 MiB buffer: end the batch's last line a few bytes either side.
    const base = expectedLine(record({}, true)).length;
    for (let gap = -6; gap <= 6; gap++) {
      const target = (1 << 20) + gap;
      const count = Math.floor(target / base) - 1;
      const records = Array.from({ length: count }, () => record({}, true));
      const last = target - count * base; // between base and 2 * base - 1 bytes
      records.push(record({ srcport: `${'4'.repeat(last - base)}443` }, true));
      expect(expectedLine(records[count]).length).toBe(last);
      expectSameBytes(records);
    }
  });

  it('formatRecordLine keeps its line format', () => {
    expect(formatRecordLine({ version: '1', action: 'A"', x: 'y' })).toBe('{"version":"1","action":"A\\"","x":"y"}\n');
  });
});

describe('jsonLineMeasure (the file and stdout sinks size requests by it)', () => {
  it.each([
    ['a plain record', record({}, true)],
    ['a plain record with non-ASCII ids', record({ 'vm-id': 'i-é中' }, true)],
    ['a plain record with an extra field', record({ team: 'net' }, true)],
    ['a record to escape', record({ 'vm-id': 'i-"q"\\\n' })],
    ['a record without some fields', without(record(), 'action')],
  ])('%s: the bytes of its JSON line', (_name, r) => {
    expect(jsonLineMeasure.recordBytes(r)).toBe(Buffer.byteLength(formatRecordLine(r), 'utf8'));
  });
});
