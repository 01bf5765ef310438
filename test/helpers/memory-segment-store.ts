import type { RecordBatch } from '../../src/flow/record';
import {
  newSpoolStats,
  type SegmentInfo,
  type SegmentStore,
  type SpoolStats,
} from '../../src/output/spool/segment-store';

/**
 * An in-memory `SegmentStore` for delivery tests under fake timers: every call settles in a
 * microtask (no real I/O to wait for), so `vi.advanceTimersByTimeAsync` drives everything.
 * Segment size is taken as the raw size; eviction drops the oldest beyond `maxBytes`.
 */
export class MemorySegmentStore implements SegmentStore {
  readonly segments: SegmentInfo[] = [];
  readonly stats: SpoolStats = newSpoolStats();
  readonly removed: number[] = [];
  closed = false;
  private readonly batches = new Map<number, RecordBatch>();
  private nextSeq = 1;

  constructor(private readonly maxBytes = Number.POSITIVE_INFINITY) {}

  has(seq: number): boolean {
    return this.batches.has(seq);
  }

  async append(batch: RecordBatch, rawBytes: number): Promise<SegmentInfo> {
    for (;;) {
      if (this.stats.bytes + rawBytes <= this.maxBytes) break;
      const oldest = this.segments.find((s) => !this.pins.has(s.seq));
      if (oldest === undefined) break;
      this.stats.evictedSegments++;
      this.stats.evictedRecords += oldest.recordCount;
      this.drop(oldest.seq);
    }
    const info: SegmentInfo = {
      seq: this.nextSeq++,
      recordCount: batch.records.length,
      rawBytes,
      fileBytes: rawBytes,
      createdMs: Date.now(),
      windowStartSec: batch.windowStartSec,
      windowEndSec: batch.windowEndSec,
      durable: true,
    };
    this.segments.push(info);
    this.batches.set(info.seq, batch);
    this.stats.segments++;
    this.stats.bytes += rawBytes;
    this.stats.records += info.recordCount;
    this.stats.appendedSegments++;
    return info;
  }

  /** Seqs pinned now (requests in flight), with their nesting count. */
  readonly pins = new Map<number, number>();

  pin(seq: number): void {
    this.pins.set(seq, (this.pins.get(seq) ?? 0) + 1);
  }

  unpin(seq: number): void {
    const n = (this.pins.get(seq) ?? 0) - 1;
    if (n <= 0) this.pins.delete(seq);
    else this.pins.set(seq, n);
  }

  async read(seq: number): Promise<RecordBatch | null> {
    return this.batches.get(seq) ?? null;
  }

  async remove(seq: number): Promise<void> {
    if (this.drop(seq)) this.removed.push(seq);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private drop(seq: number): boolean {
    const at = this.segments.findIndex((s) => s.seq === seq);
    if (at < 0) return false;
    const [info] = this.segments.splice(at, 1);
    this.batches.delete(seq);
    this.stats.segments--;
    this.stats.bytes -= info.fileBytes;
    this.stats.records -= info.recordCount;
    return true;
  }
}
