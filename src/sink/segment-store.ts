import type { RecordBatch } from '../flow/record';

/** What the index knows of one committed segment, without reading its payload. */
export interface SegmentInfo {
  readonly seq: number;
  readonly recordCount: number;
  /** Raw size of the records (key + value bytes), for batching. */
  readonly rawBytes: number;
  /** Size of the segment (header + payload), what counts against the spool bound. */
  readonly fileBytes: number;
  readonly createdMs: number;
  readonly windowStartSec: number;
  readonly windowEndSec: number;
  /** False when the disk refused the write and the segment lives in memory only. */
  readonly durable: boolean;
}

export interface SpoolStats {
  segments: number;
  bytes: number;
  records: number;
  memorySegments: number;
  appendedSegments: number;
  /** Segments and records the spool dropped (its bounds); records: flowlog_spool_dropped_records_total. */
  evictedSegments: number;
  evictedRecords: number;
  /** Committed segments that failed a check and were moved to corrupt/. */
  corruptSegments: number;
  /** Uncommitted temp files found at open and moved to corrupt/. */
  tempFilesMovedAside: number;
  /** Appends the disk refused (kept in memory instead). */
  writeFailures: number;
  /** Why the last append was refused (an errno code such as ENOSPC); '' while writes succeed. */
  writeError: string;
  /** Records of segments held in memory that were dropped over the memory bound. */
  memoryDroppedRecords: number;
}

export function newSpoolStats(): SpoolStats {
  return {
    segments: 0,
    bytes: 0,
    records: 0,
    memorySegments: 0,
    appendedSegments: 0,
    evictedSegments: 0,
    evictedRecords: 0,
    corruptSegments: 0,
    tempFilesMovedAside: 0,
    writeFailures: 0,
    writeError: '',
    memoryDroppedRecords: 0,
  };
}

/**
 * The queue contract the delivery layer relies on (implemented by `Spool`; tests use an
 * in-memory double). Appends commit in call order and resolve once the segment is committed;
 * `append` may evict the oldest segments to stay within its bound, including ones a caller is
 * still delivering. `segments` is a live, oldest-first view owned by the store (callers must not
 * mutate it). `read` returns null for a segment that is gone (removed, evicted, or found corrupt
 * and quarantined). `remove` is idempotent. None of `append`, `read`, `remove` rejects; no call
 * follows `close`.
 */
export interface SegmentStore {
  readonly segments: readonly SegmentInfo[];
  readonly stats: SpoolStats;
  has(seq: number): boolean;
  append(batch: RecordBatch, rawBytes: number): Promise<SegmentInfo>;
  read(seq: number): Promise<RecordBatch | null>;
  remove(seq: number): Promise<void>;
  close(): Promise<void>;
}
