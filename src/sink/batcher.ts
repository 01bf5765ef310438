import type { FlowRecord, RecordBatch } from '../flow/record';

/** Upper bounds of one request to a sink. */
export interface BatchLimits {
  /** Most records per request (the Log Service accepts at most 4096 logs per PutLogs). */
  maxBatchRecords: number;
  /** Most raw bytes per request, measured by `recordRawBytes`. */
  maxBatchBytes: number;
}

/**
 * Share of `maxBatchBytes` kept free. The raw size below counts keys and values only, while the
 * Log Service measures the serialized log group, which adds field tags, lengths and a time per
 * log; the head room absorbs that difference so a batch under our budget is not refused.
 */
export const RAW_SIZE_MARGIN = 0.1;

/** The raw-size budget one request may fill: `maxBatchBytes` minus the margin. */
export function byteBudget(maxBatchBytes: number): number {
  return Math.max(1, Math.floor(maxBatchBytes * (1 - RAW_SIZE_MARGIN)));
}

/**
 * Raw size of one record: the sum of the UTF-8 byte lengths of every key and value, which is
 * approximately how the Log Service counts `x-log-bodyrawsize`.
 */
export function recordRawBytes(record: FlowRecord): number {
  let total = 0;
  for (const key in record) total += Buffer.byteLength(key, 'utf8') + Buffer.byteLength(record[key], 'utf8');
  return total;
}

/** A batch together with its measured raw size. */
export interface SizedBatch {
  batch: RecordBatch;
  rawBytes: number;
}

/**
 * Cuts `batch` into consecutive pieces of at most `maxBatchRecords` records and at most
 * `byteBudget(maxBatchBytes)` raw bytes, keeping record order. A single record larger than the
 * budget travels alone (it cannot be cut; the sink will classify it). An empty batch yields
 * no pieces. The records are shared with the input, not copied.
 */
export function splitBatch(batch: RecordBatch, limits: BatchLimits): SizedBatch[] {
  const budget = byteBudget(limits.maxBatchBytes);
  const maxRecords = Math.max(1, Math.floor(limits.maxBatchRecords));
  const pieces: SizedBatch[] = [];
  let start = 0;
  let pieceBytes = 0;
  const records = batch.records;
  for (let i = 0; i < records.length; i++) {
    const size = recordRawBytes(records[i]);
    const count = i - start;
    if (count > 0 && (count >= maxRecords || pieceBytes + size > budget)) {
      pieces.push(piece(batch, start, i, pieceBytes));
      start = i;
      pieceBytes = 0;
    }
    pieceBytes += size;
  }
  if (records.length > start) pieces.push(piece(batch, start, records.length, pieceBytes));
  return pieces;
}

function piece(batch: RecordBatch, start: number, end: number, rawBytes: number): SizedBatch {
  const records = start === 0 && end === batch.records.length ? batch.records : batch.records.slice(start, end);
  return {
    batch: {
      flowLogId: batch.flowLogId,
      windowStartSec: batch.windowStartSec,
      windowEndSec: batch.windowEndSec,
      records,
    },
    rawBytes,
  };
}
