import type { RecordBatch } from '../../flow/record';
import type { BatchMeasure } from '../sink';

/** Upper bounds of one request to a sink. */
export interface BatchLimits {
  /** Most records per request (the Log Service accepts at most 4096 logs per PutLogs). */
  maxBatchRecords: number;
  /** Most raw bytes per request, in the sink's BatchMeasure. */
  maxBatchBytes: number;
}

/**
 * Share of `maxBatchBytes` kept free for what a request adds beyond its logs: the log group's
 * topic, source and tags.
 */
export const RAW_SIZE_MARGIN = 0.1;

/** The raw-size budget one request may fill: `maxBatchBytes` minus the margin. */
export function byteBudget(maxBatchBytes: number): number {
  return Math.max(1, Math.floor(maxBatchBytes * (1 - RAW_SIZE_MARGIN)));
}

/** A batch together with its measured raw size. */
export interface SizedBatch {
  batch: RecordBatch;
  rawBytes: number;
}

/**
 * Cuts `batch` into consecutive pieces of at most `maxBatchRecords` records and at most
 * `byteBudget(maxBatchBytes)` raw bytes as the sink measures them, keeping record order. A single record larger than the
 * budget travels alone (it cannot be cut; the sink will classify it). An empty batch yields
 * no pieces. The records are shared with the input, not copied.
 */
export function splitBatch(batch: RecordBatch, limits: BatchLimits, measure: BatchMeasure): SizedBatch[] {
  const budget = byteBudget(limits.maxBatchBytes);
  const maxRecords = Math.max(1, Math.floor(limits.maxBatchRecords));
  const pieces: SizedBatch[] = [];
  let start = 0;
  let pieceBytes = 0;
  const records = batch.records;
  for (let i = 0; i < records.length; i++) {
    const size = measure.recordBytes(records[i]);
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

/** The segment fields request grouping looks at (a subset of `SegmentInfo`). */
export interface GroupableSegment {
  readonly seq: number;
  readonly recordCount: number;
  readonly rawBytes: number;
  readonly windowStartSec: number;
  readonly windowEndSec: number;
}

/** One request's worth of batches of the same window, as one batch. */
export function mergeBatches(batches: RecordBatch[]): RecordBatch {
  if (batches.length === 1) return batches[0];
  const first = batches[0];
  return {
    flowLogId: first.flowLogId,
    windowStartSec: first.windowStartSec,
    windowEndSec: first.windowEndSec,
    records: batches.flatMap((b) => b.records),
    // The first segment's id: a retry after a restart starts its request with the same segment.
    ...(first.packId === undefined ? {} : { packId: first.packId }),
  };
}
