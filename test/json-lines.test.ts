import { describe, expect, it } from 'vitest';
import { PLAIN_TEXT, RECORD_FIELDS, type FlowRecord } from '../src/flow/record';
import { JsonLinesEncoder, formatBatchLines } from '../src/sink/json-lines';

function record(over: Partial<Record<string, string>> = {}, plainMark = false): FlowRecord {
  const r: FlowRecord = {};
  RECORD_FIELDS.forEach((f, i) => (r[f] = String(i)));
  Object.assign(r, over);
  if (plainMark) (r as unknown as Record<symbol, boolean>)[PLAIN_TEXT] = true;
  return r;
}

describe('JsonLinesEncoder', () => {
  const cases: Array<[string, FlowRecord]> = [
    ['plain, marked', record({ srcaddr: '10.0.0.1' }, true)],
    ['plain, unmarked', record({ dstaddr: '2001:db8::1' })],
    ['quote and backslash', record({ 'vm-id': 'i-"x"\\y' })],
    ['control character', record({ 'eni-id': 'eni\u0001a' })],
    ['non-ASCII', record({ 'vpc-id': 'vpc-é中' })],
    ['extra fields', record({ 'tcp-flags': '18', region: 'cn-hangzhou' }, true)],
  ];
  it.each(cases)('%s: same bytes as formatBatchLines, and JSON that parses back', (_name, r) => {
    const batch = { flowLogId: 'fl', windowStartSec: 0, windowEndSec: 60, records: [r, r] };
    const bytes = new JsonLinesEncoder().encode(batch);
    const text = formatBatchLines(batch);
    expect(bytes.toString('utf8')).toBe(text);
    const back = JSON.parse(text.split('\n')[0]) as FlowRecord;
    expect(back).toEqual(Object.fromEntries(Object.entries(r)));
    expect(Object.keys(back).slice(0, 18)).toEqual([...RECORD_FIELDS]);
  });
});
