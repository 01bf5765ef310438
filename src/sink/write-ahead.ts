import type { RecordBatch } from '../flow/record';
import { splitBatch, type BatchLimits } from './batcher';
import { processPackIds, type PackIdSource } from './pack-id';
import type { SegmentStore } from './segment-store';

/**
 * The write-ahead stage of a delivery: batches queued in memory by `push` (no I/O on the
 * caller's turn) are split to the request limits and appended to the store by a single writer,
 * one at a time in push order, so spool order is submit order. `onAppended` runs after each
 * append (the dispatcher looks for work); `onLost` reports a batch the store refused, which
 * its contract rules out but which must not vanish silently.
 */
export class WriteAheadQueue {
  private readonly queued: RecordBatch[] = [];
  private writing: Promise<void> | null = null;
  private oldestQueuedSinceMs = 0;

  constructor(
    private readonly store: SegmentStore,
    private readonly limits: BatchLimits,
    private readonly onAppended: () => void,
    private readonly onLost: (batch: RecordBatch, err: unknown) => void,
    private readonly packIds: PackIdSource = processPackIds,
  ) {}

  push(batch: RecordBatch): void {
    if (!this.writing) this.oldestQueuedSinceMs = Date.now();
    this.queued.push(batch);
    this.writing ??= this.writeAll();
  }

  /** Unix ms since when something has been waiting to be appended; undefined when idle. */
  get oldestQueuedMs(): number | undefined {
    return this.writing ? this.oldestQueuedSinceMs : undefined;
  }

  /** Resolves once everything pushed so far (and during the wait) is appended. */
  async drained(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async writeAll(): Promise<void> {
    while (this.queued.length > 0) {
      const batch = this.queued.shift() as RecordBatch;
      try {
        for (const piece of splitBatch(batch, this.limits)) {
          // A piece of a split batch is a batch of its own: one id each.
          piece.batch.packId = piece.batch === batch && batch.packId !== undefined ? batch.packId : this.packIds.next();
          await this.store.append(piece.batch, piece.rawBytes);
          this.onAppended();
        }
      } catch (err) {
        this.onLost(batch, err);
      }
    }
    this.writing = null;
  }
}
