import type { RecordBatch } from '../../flow/record';
import type { BatchMeasure } from '../sink';
import { splitBatch, type BatchLimits, type SizedBatch } from './batcher';
import { processPackIds, type PackIdSource } from './pack-id';
import type { SegmentStore } from '../spool/segment-store';

/** The batches of one window waiting to be appended, the current one already cut into pieces. */
interface Lane {
  key: string;
  batches: RecordBatch[];
  pieces: SizedBatch[];
  /** The batch `pieces` were cut from. */
  current: RecordBatch | null;
}

/**
 * The write-ahead stage of a delivery: batches queued in memory by `push` (no I/O on the
 * caller's turn) are split to the request limits and appended to the store by a single writer,
 * one piece at a time, so the pieces of a window are appended in push order. Windows take turns,
 * a piece each: the 147 pieces of a 600,000-flow window do not hold back the next window's
 * append (and so its delivery) until they are all written. `onAppended` runs after each append
 * (the dispatcher looks for work); `onLost` reports a batch the store refused, which its contract
 * rules out but which must not vanish silently.
 */
export class WriteAheadQueue {
  private readonly lanes: Lane[] = [];
  private turn = 0;
  private writing: Promise<void> | null = null;
  private oldestQueuedSinceMs = 0;

  constructor(
    private readonly store: SegmentStore,
    private readonly limits: BatchLimits,
    private readonly measure: BatchMeasure,
    private readonly onAppended: () => void,
    private readonly onLost: (batch: RecordBatch, err: unknown) => void,
    private readonly packIds: PackIdSource = processPackIds,
  ) {}

  push(batch: RecordBatch): void {
    if (!this.writing) this.oldestQueuedSinceMs = Date.now();
    const key = `${batch.windowStartSec}/${batch.windowEndSec}`;
    const lane = this.lanes.find((l) => l.key === key);
    if (lane !== undefined) lane.batches.push(batch);
    else this.lanes.push({ key, batches: [batch], pieces: [], current: null });
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
    while (this.lanes.length > 0) {
      this.turn %= this.lanes.length;
      const lane = this.lanes[this.turn];
      if (lane.pieces.length === 0) {
        const batch = lane.batches.shift();
        if (batch === undefined) {
          this.lanes.splice(this.turn, 1); // the window is all appended; the next lane has this turn
          continue;
        }
        lane.current = batch;
        lane.pieces = splitBatch(batch, this.limits, this.measure);
      }
      const piece = lane.pieces.shift() as SizedBatch;
      const batch = lane.current as RecordBatch;
      try {
        // A piece of a split batch is a batch of its own: one id each.
        piece.batch.packId = piece.batch === batch && batch.packId !== undefined ? batch.packId : this.packIds.next();
        await this.store.append(piece.batch, piece.rawBytes);
        this.onAppended();
      } catch (err) {
        // Its other pieces go with it: a batch is reported lost whole, once.
        lane.pieces = [];
        this.onLost(batch, err);
      }
      this.turn++;
    }
    this.writing = null;
  }
}
