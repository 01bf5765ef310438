import type { RecordBatch } from '../../flow/record';
import { log as processLog, type Logger } from '../../log';
import { DurationHistogram } from '../../metrics/duration-histogram';
import { retryDelayMs } from './backoff';
import { mergeBatches } from './batcher';
import {
  newDeliveryStats,
  type DeliveryDeps,
  type DeliveryOptions,
  type DeliveryStats,
  type FlushResult,
} from './delivery-types';
import { FailureSummary } from './failure-summary';
import { ProgressSignal } from './progress-signal';
import { RequestPicker } from './request-picker';
import type { SegmentInfo, SegmentStore } from '../spool/segment-store';
import type { Sink } from '../sink';
import { Spool } from '../spool/spool';
import { SpoolLockedError } from '../spool/spool-lock';
import { writeWithTimeout } from './timed-write';
import { WriteAheadQueue } from './write-ahead';

export type { DeliveryDeps, DeliveryOptions, DeliveryStats, FlushResult } from './delivery-types';

/** One request: segments of one window in spool order, read into memory. */
interface Run {
  /** The first segment as picked (its window keys the picker's count even if it is gone since). */
  first: SegmentInfo;
  /** Segments pinned in the store until the run ends. */
  pinned: SegmentInfo[];
  segments: SegmentInfo[];
  batches: RecordBatch[];
  attempt: number;
  failing: boolean;
  retryTimer: NodeJS.Timeout | null;
}

/**
 * The shared queue + retry + timeout helper in front of one sink (after the OpenTelemetry
 * Collector's exporterhelper with a persistent queue).
 *
 * Path of a batch: `submit` only queues it in memory and returns. A single writer splits it to
 * the request limits and appends each piece to the spool (write-ahead: once appended, a kill -9
 * loses nothing; only batches submitted in the last few milliseconds before a crash, not yet
 * appended, can be lost). The dispatcher takes segments in spool order, merges consecutive ones
 * of one window into a request (after waiting up to `lingerMs` for the oldest to gain company),
 * writes it with a timeout and deletes its segments only when the sink answers ok.
 *
 * Ordering: segments left by a previous process have lower sequence numbers, so they go first.
 * Within a window, segments are sent in spool order. Between windows (RequestPicker) a free
 * slot goes to the waiting window with the fewest requests in flight, so a huge window does not
 * hold the next ones back; with `concurrency` 1 and one window at a time this is strictly FIFO.
 * Each request's segments are independent, so they are deleted as each is acknowledged (out of
 * order). When any request fails, no new request starts until it succeeds, so at most N-1 later
 * requests can overtake a failing one. Records carry their own window times; order between
 * requests matters only for fairness, not for correctness. A request's segments are pinned in
 * the store while it is in flight: the store never evicts one that may have been delivered.
 *
 * Failures: retryable results back off exponentially with jitter (honouring `retryAfterMs`);
 * permanent results are logged once per reason, keep their segments and are probed every
 * `retryMaxMs`. A request that times out may still land later: delivery is at-least-once.
 *
 * Ownership: the delivery owns the sink and the store and closes both in `close`. Submitted
 * batches become the delivery's; the caller must not mutate them afterwards.
 */
export class Delivery {
  readonly stats: DeliveryStats = newDeliveryStats();
  /** Seconds from hand-over to the sink to its answer (or the timeout), per attempt. */
  readonly latency = new DurationHistogram();
  private readonly writeAhead: WriteAheadQueue;
  private readonly active = new Set<Run>();
  private readonly attempts = new Set<Promise<void>>();
  private failingRuns = 0;
  private readonly picker: RequestPicker<SegmentInfo>;
  private lingerTimer: NodeJS.Timeout | null = null;
  private flushing = 0;
  private closed = false;
  private loggedDropAfterClose = false;
  private readonly progress = new ProgressSignal();
  private readonly failures: FailureSummary;
  private readonly logger: Logger;
  private readonly random: () => number;
  private lastFailure: FlushResult['failure'];

  constructor(
    private readonly sink: Sink,
    private readonly store: SegmentStore,
    private readonly options: DeliveryOptions,
    deps: DeliveryDeps = {},
  ) {
    this.logger = deps.logger ?? processLog;
    this.random = deps.random ?? Math.random;
    this.failures = new FailureSummary(sink.name, this.logger);
    this.picker = new RequestPicker(options);
    this.writeAhead = new WriteAheadQueue(
      store,
      options,
      sink.measure,
      () => this.pump(),
      (batch, err) => {
        this.stats.recordsDropped += batch.records.length;
        const message = (err as Error).message;
        this.logger.error({ err, sink: sink.name }, `spool batch for ${sink.name}: ${message}`);
      },
      deps.packIds,
    );
    this.pump();
  }

  /**
   * Opens the spool at `spoolDir` (the lead passes `<stateDir>/spool/<flowLogId>`) and starts
   * delivering what it holds. When the directory cannot be used the delivery runs on a
   * memory-only spool and says so loudly; a directory locked by another live process is an
   * error (`SpoolLockedError`), since two deliveries would send everything twice.
   */
  static async open(
    sink: Sink,
    spoolDir: string,
    options: DeliveryOptions,
    deps: DeliveryDeps = {},
  ): Promise<Delivery> {
    const logger = deps.logger ?? processLog;
    let store: SegmentStore;
    try {
      store = await Spool.open(spoolDir, {
        measure: sink.measure,
        maxBytes: options.spoolMaxBytes,
        memoryMaxBytes: options.spoolMemoryMaxBytes,
        logger,
        lossFallback: deps.lossFallback,
      });
    } catch (err) {
      if (err instanceof SpoolLockedError) throw err;
      logger.error(
        { err, sink: sink.name },
        `open spool ${spoolDir}: ${(err as Error).message} (batches for ${sink.name} are kept in memory only)`,
      );
      store = Spool.memoryOnly({
        measure: sink.measure,
        maxBytes: options.spoolMaxBytes,
        memoryMaxBytes: options.spoolMemoryMaxBytes,
        logger,
        lossFallback: deps.lossFallback,
      });
    }
    return new Delivery(sink, store, options, deps);
  }

  get sinkName(): string {
    return this.sink.name;
  }

  /** delivery.unhealthyAfterSec (health: how long records may wait undelivered). */
  get unhealthyAfterSec(): number | undefined {
    return this.options.unhealthyAfterSec;
  }

  /** The spool's counters (segments, bytes, evictions, corrupt segments). */
  get spool(): SegmentStore['stats'] {
    return this.store.stats;
  }

  /**
   * Unix ms when the oldest batch not yet acknowledged was handed over (spooled, or submitted
   * and about to be); undefined when nothing waits. Spooled batches keep their original time
   * across restarts.
   */
  get oldestPendingMs(): number | undefined {
    const head = this.store.segments[0];
    return head ? head.createdMs : this.writeAhead.oldestQueuedMs;
  }

  /** Queues `batch` for delivery. Never throws, never waits for I/O. */
  submit(batch: RecordBatch): void {
    const count = batch.records.length;
    if (this.closed) {
      this.stats.recordsDropped += count;
      if (!this.loggedDropAfterClose) {
        this.loggedDropAfterClose = true;
        this.logger.error(
          { sink: this.sink.name, records: count },
          `submit batch to ${this.sink.name}: delivery is closed (records dropped and counted)`,
        );
      }
      return;
    }
    if (count === 0) return;
    this.stats.batchesSubmitted++;
    this.stats.recordsSubmitted += count;
    this.writeAhead.push(batch);
  }

  /**
   * Delivers everything submitted so far, without the linger. Resolves when nothing is left, when
   * the sink fails permanently (retrying will not help before the deadline), or at `deadlineMs`
   * (absolute, Unix ms on the `Date.now()` clock, e.g. `Date.now() + 30_000`). Whatever is left
   * stays spooled for the next run; the result says how much. Never rejects.
   */
  async flush(deadlineMs: number): Promise<FlushResult> {
    this.flushing++;
    try {
      await this.writeAhead.drained();
      this.pump();
      while (!this.closed && (this.store.segments.length > 0 || this.active.size > 0)) {
        if (this.lastFailure?.kind === 'permanent' || Date.now() >= deadlineMs) break;
        await this.progress.nextOrDeadline(deadlineMs);
      }
    } finally {
      this.flushing--;
    }
    return this.remaining();
  }

  /** Resolves once every batch submitted so far is appended to the spool (see CaptureJournal). */
  appended(): Promise<void> {
    return this.writeAhead.drained();
  }

  /**
   * Stops dispatching, spools what is still queued, lets in-flight requests settle (each is
   * bounded by `requestTimeoutMs`), then closes the sink and the spool. Undelivered segments
   * stay on disk for the next start. Idempotent.
   */
  async close(): Promise<FlushResult> {
    if (this.closed) return this.remaining();
    await this.writeAhead.drained();
    this.closed = true;
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    for (const run of [...this.active]) {
      if (run.retryTimer) {
        clearTimeout(run.retryTimer);
        this.finish(run);
      }
    }
    while (this.attempts.size > 0) await Promise.allSettled([...this.attempts]);
    const left = this.remaining();
    this.failures.stopped(Date.now());
    await this.sink.close().catch((err: Error) => {
      this.logger.warn({ err, sink: this.sink.name }, `close sink ${this.sink.name}: ${err.message}`);
    });
    await this.store.close();
    if (left.remainingBatches > 0) {
      this.logger.info(
        { sink: this.sink.name, batches: left.remainingBatches, records: left.remainingRecords },
        `close delivery to ${this.sink.name}: ${left.remainingRecords} records stay spooled for the next start`,
      );
    }
    this.progress.notify();
    return left;
  }

  private remaining(): FlushResult {
    let records = 0;
    for (const s of this.store.segments) records += s.recordCount;
    const remainingBatches = this.store.segments.length;
    const result: FlushResult = {
      complete: remainingBatches === 0,
      remainingBatches,
      remainingRecords: records,
    };
    if (remainingBatches > 0 && this.lastFailure) result.failure = this.lastFailure;
    return result;
  }

  /** Starts requests while slots are free, nothing is failing and segments are waiting. */
  private pump(): void {
    const slots = Math.max(1, this.options.concurrency);
    while (!this.closed && this.active.size < slots && this.failingRuns === 0) {
      const candidates = this.picker.candidates(this.store.segments, slots);
      if (candidates.length === 0) return;
      const nowMs = Date.now();
      // The best-placed request that need not linger (full, flushing, or old enough).
      const ready = candidates.find(
        (c) => c.full || this.flushing > 0 || c.segments[0].createdMs + this.options.lingerMs <= nowMs,
      );
      if (ready === undefined) {
        const lingerUntilMs = Math.min(...candidates.map((c) => c.segments[0].createdMs + this.options.lingerMs));
        this.lingerTimer ??= setTimeout(() => {
          this.lingerTimer = null;
          this.pump();
        }, lingerUntilMs - nowMs);
        return;
      }
      this.picker.take(ready, this.store.segments);
      for (const s of ready.segments) this.store.pin(s.seq);
      this.start({
        first: ready.segments[0],
        pinned: [...ready.segments],
        segments: ready.segments,
        batches: [],
        attempt: 0,
        failing: false,
        retryTimer: null,
      });
    }
  }

  private start(run: Run): void {
    this.active.add(run);
    this.track(
      (async () => {
        for (const segment of run.segments) {
          const batch = await this.store.read(segment.seq);
          if (batch) run.batches.push(batch);
          else run.segments = run.segments.filter((s) => s !== segment);
        }
        await this.attempt(run);
      })(),
    );
  }

  private track(work: Promise<void>): void {
    this.attempts.add(work);
    void work.finally(() => this.attempts.delete(work));
  }

  private async attempt(run: Run): Promise<void> {
    // Segments evicted while the request waited are gone; send what is left.
    for (let i = run.segments.length - 1; i >= 0; i--) {
      if (!this.store.has(run.segments[i].seq)) {
        run.segments.splice(i, 1);
        run.batches.splice(i, 1);
      }
    }
    if (run.segments.length === 0) return this.finish(run);
    const request = mergeBatches(run.batches);
    const startedMs = Date.now();
    const result = await writeWithTimeout(this.sink, request, this.options.requestTimeoutMs, () => {
      this.stats.timeouts++;
    });
    const nowMs = Date.now();
    this.latency.observe((nowMs - startedMs) / 1000);
    if (result.kind === 'ok') {
      this.stats.batchesSent++;
      this.stats.recordsDelivered += request.records.length;
      this.stats.lastSuccessMs = nowMs;
      for (const segment of run.segments) await this.store.remove(segment.seq);
      this.lastFailure = undefined;
      this.failures.succeeded(nowMs);
      return this.finish(run);
    }
    this.stats.batchesFailed++;
    this.lastFailure = { kind: result.kind, reason: result.reason };
    if (!run.failing) {
      run.failing = true;
      this.failingRuns++;
    }
    if (this.closed) return this.finish(run);
    let delayMs: number;
    if (result.kind === 'permanent') {
      this.stats.permanentFailures++;
      delayMs = this.options.retryMaxMs;
      this.failures.permanent(result.reason, nowMs, delayMs);
    } else {
      run.attempt++;
      delayMs = retryDelayMs(run.attempt, this.options, result.retryAfterMs, this.random);
      this.failures.retryable(result.reason, nowMs, delayMs);
    }
    this.progress.notify();
    run.retryTimer = setTimeout(() => {
      run.retryTimer = null;
      this.stats.batchesRetried++;
      this.track(this.attempt(run));
    }, delayMs);
  }

  private finish(run: Run): void {
    if (!this.active.delete(run)) return;
    for (const s of run.pinned) this.store.unpin(s.seq);
    this.picker.release(run.first, this.store.segments);
    if (run.failing) this.failingRuns--;
    this.progress.notify();
    this.pump();
  }
}
