import type { RecordBatch } from '../../flow/record';
import type { BatchMeasure } from '../sink';
import { FLAG_LOSS_MARK } from './segment-codec';
import type { SegmentCoverage } from './segment-coverage';
import type { SegmentInfo, SpoolStats } from './segment-store';
import type { ScannedSegment } from './spool-scan';

/** What the spool knows of one segment (see spool.ts). */
export interface SpoolEntry extends SegmentInfo {
  /** Becomes true when a segment held in memory is written after all. */
  durable: boolean;
  memory: Buffer | null;
  /**
   * The batch itself while this process still holds it (see RECENT_BATCH_BYTES): the spool's
   * `read` returns it instead of reading, checksumming and parsing the file it has just written.
   */
  batch: RecordBatch | null;
  /** What the segment covers (null: a version 1 segment, or unreadable). */
  coverage: SegmentCoverage | null;
  /** SKIPDATA written for a loss: never evicted or dropped. */
  mark: boolean;
  /** Requests in flight holding it (see SegmentStore.pin). */
  pins: number;
}

/**
 * Segment bytes whose batches are kept in memory after their append. Reading back what was just
 * written (file read, CRC, JSON.parse) was half of the delivery layer's CPU: with it the spool
 * passed about 100 k records/s. The file is still written and fsynced before the append
 * resolves; only the read is skipped, for segments appended while the kept ones stay within
 * this bound (during an outage, the first 32 MiB; later ones are read from their files).
 */
const RECENT_BATCH_BYTES = 32 * 1024 * 1024;

/**
 * The spool's segments, oldest first, and the sums the spool's bounds and stats are made of:
 * every entry goes in through `add` and out through `drop`, so the sums cannot drift. No I/O.
 */
export class SpoolIndex {
  readonly entries: SpoolEntry[] = [];
  private readonly bySeq = new Map<number, SpoolEntry>();
  /** fileBytes of the entries whose `batch` is kept (marks excluded: always kept). */
  private recentBytes = 0;
  /** fileBytes of the entries held in memory only. */
  memoryBytes = 0;
  /** fileBytes of the loss marks. */
  markBytes = 0;

  constructor(private readonly stats: SpoolStats) {}

  get(seq: number): SpoolEntry | undefined {
    return this.bySeq.get(seq);
  }

  /** Indexes `entry`; keeps its `batch` when it is a mark or within the recent-batch bound. */
  add(entry: SpoolEntry, batch: RecordBatch | null = null): void {
    if (batch !== null && entry.mark) entry.batch = batch;
    else if (batch !== null && this.recentBytes + entry.fileBytes <= RECENT_BATCH_BYTES) {
      entry.batch = batch;
      this.recentBytes += entry.fileBytes;
    }
    this.entries.push(entry);
    this.bySeq.set(entry.seq, entry);
    this.stats.segments++;
    this.stats.bytes += entry.fileBytes;
    this.stats.records += entry.recordCount;
    if (entry.mark) {
      this.markBytes += entry.fileBytes;
      this.stats.markSegments++;
    }
    if (!entry.durable) {
      this.stats.memorySegments++;
      this.memoryBytes += entry.fileBytes;
    }
  }

  /** A segment held in memory was written to disk. */
  persisted(entry: SpoolEntry): void {
    entry.durable = true;
    entry.memory = null;
    this.stats.memorySegments--;
    this.memoryBytes -= entry.fileBytes;
  }

  /** Forgets `entry` (idempotent). */
  drop(entry: SpoolEntry): void {
    if (this.bySeq.get(entry.seq) !== entry) return;
    this.bySeq.delete(entry.seq);
    // FIFO: the entry is nearly always at the head.
    const at = this.entries[0] === entry ? 0 : this.entries.indexOf(entry);
    this.entries.splice(at, 1);
    this.stats.segments--;
    this.stats.bytes -= entry.fileBytes;
    this.stats.records -= entry.recordCount;
    if (entry.mark) {
      this.markBytes -= entry.fileBytes;
      this.stats.markSegments--;
    }
    if (!entry.durable) {
      this.stats.memorySegments--;
      this.memoryBytes -= entry.fileBytes;
    }
    if (entry.batch !== null) {
      if (!entry.mark) this.recentBytes -= entry.fileBytes;
      entry.batch = null;
    }
  }
}

/** Raw size of a batch the spool makes itself (a loss mark), in its sink's measure, for the request limits. */
export function rawBytesOf(batch: RecordBatch, measure: BatchMeasure): number {
  return batch.records.reduce((n, r) => n + measure.recordBytes(r), 0);
}

/** The entry of a segment found valid at open. */
export function entryOf(s: ScannedSegment): SpoolEntry {
  return {
    seq: s.seq,
    recordCount: s.header.recordCount,
    rawBytes: s.header.rawBytes,
    fileBytes: s.fileBytes,
    createdMs: s.header.createdMs,
    windowStartSec: s.header.windowStartSec,
    windowEndSec: s.header.windowEndSec,
    durable: true,
    memory: null,
    batch: null,
    coverage: s.coverage,
    mark: (s.header.flags & FLAG_LOSS_MARK) !== 0,
    pins: 0,
  };
}
