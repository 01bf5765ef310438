import type { RecordBatch } from '../../flow/record';
import { newLossCounts, type LossCounts } from './spool-loss';

/** What the index knows of one committed segment, without reading its payload. */
export interface SegmentInfo {
  readonly seq: number;
  readonly recordCount: number;
  /** Raw size of the records (key + value bytes), for batching. */
  readonly rawBytes: number;
  /** Size of the segment (header + coverage + payload), what counts against the spool bound. */
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
  /** Segments of SKIPDATA the spool wrote for its losses (never evicted), included in `segments`. */
  markSegments: number;
  appendedSegments: number;
  /**
   * Segments and records the spool dropped over its bounds (disk and memory); records are
   * flowlog_spool_dropped_records_total, kept beside the loss family below.
   */
  evictedSegments: number;
  evictedRecords: number;
  /** Committed segments that failed a check and were moved to corrupt/. */
  corruptSegments: number;
  /** Uncommitted temp files found at open and moved to corrupt/. */
  tempFilesMovedAside: number;
  /** Files the spool did not write (stray names, names above the sequence range), moved to corrupt/. */
  foreignFilesSetAside: number;
  /** Appends the disk refused (kept in memory instead). */
  writeFailures: number;
  /** Why the last append was refused (an errno code such as ENOSPC); '' while writes succeed. */
  writeError: string;
  /** Records of segments held in memory that were dropped over the memory bound. */
  memoryDroppedRecords: number;
  /** Records lost by reason (flowlog_output_lost_records_total); counts known from headers only. */
  lostRecords: LossCounts;
  /** SKIPDATA records written for those losses, by reason (flowlog_output_loss_skipdata_records_total). */
  lossMarkRecords: LossCounts;
  /** Unix ms since the spool has been evicting over its bound; 0 while it is not (health). */
  evictingSinceMs: number;
}

export function newSpoolStats(): SpoolStats {
  return {
    segments: 0,
    bytes: 0,
    records: 0,
    memorySegments: 0,
    markSegments: 0,
    appendedSegments: 0,
    evictedSegments: 0,
    evictedRecords: 0,
    corruptSegments: 0,
    tempFilesMovedAside: 0,
    foreignFilesSetAside: 0,
    writeFailures: 0,
    writeError: '',
    memoryDroppedRecords: 0,
    lostRecords: newLossCounts(),
    lossMarkRecords: newLossCounts(),
    evictingSinceMs: 0,
  };
}

/**
 * The queue contract the delivery layer relies on (implemented by `Spool`; tests use an
 * in-memory double). Appends commit in call order and resolve once the segment is committed;
 * `append` may evict the oldest segments to stay within its bound, but never one pinned: the
 * delivery pins the segments of a request from its read until its answer, so a segment it may
 * have delivered is never also reported lost. `segments` is a live, oldest-first view owned by
 * the store (callers must not mutate it); it may hold segments the store appended itself (the
 * SKIPDATA of a loss). `read` returns null for a segment that is gone (removed, evicted, or found
 * corrupt and quarantined). `remove` is idempotent. None of `append`, `read`, `remove` rejects;
 * no call follows `close`.
 */
export interface SegmentStore {
  readonly segments: readonly SegmentInfo[];
  readonly stats: SpoolStats;
  has(seq: number): boolean;
  append(batch: RecordBatch, rawBytes: number): Promise<SegmentInfo>;
  read(seq: number): Promise<RecordBatch | null>;
  remove(seq: number): Promise<void>;
  /** Keeps `seq` from eviction until `unpin` (calls nest). */
  pin(seq: number): void;
  unpin(seq: number): void;
  close(): Promise<void>;
}
