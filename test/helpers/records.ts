import type { FlowRecord, RecordBatch } from '../../src/flow/record';

/**
 * A record of known raw size for batching arithmetic: key "n" (1 byte) with the record's number,
 * plus key "p" (1 byte) padded so that key+value bytes total `rawBytes` exactly.
 */
export function sizedRecord(n: number, rawBytes = 100): FlowRecord {
  const id = String(n);
  const padding = rawBytes - 1 - id.length - 1;
  if (padding < 0) throw new Error(`record ${n} cannot be ${rawBytes} bytes`);
  return { n: id, p: 'x'.repeat(padding) };
}

/** `count` sized records numbered from `firstN`, in one batch of window `windowStartSec`. */
export function sizedBatch(firstN: number, count: number, windowStartSec = 1_700_000_000, rawBytes = 100): RecordBatch {
  const records: FlowRecord[] = [];
  for (let i = 0; i < count; i++) records.push(sizedRecord(firstN + i, rawBytes));
  return { flowLogId: 'fl-test', windowStartSec, windowEndSec: windowStartSec + 60, records };
}

/** "1".."n" as strings, the expected `n` fields of records firstN..firstN+count-1. */
export function numbers(firstN: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => String(firstN + i));
}
