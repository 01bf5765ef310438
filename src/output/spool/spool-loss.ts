import type { FlowRecord, RecordBatch } from '../../flow/record';
import type { Logger } from '../../log';
import {
  foldLossRecords,
  identityTemplate,
  lossRecords,
  type LostWindow,
  type SegmentCoverage,
} from './segment-coverage';

/**
 * Why the spool lost records:
 * - `spool_full`: evicted, oldest first, to stay within delivery.spoolMaxBytes;
 * - `spool_memory_full`: held in memory while the disk refused writes, dropped over
 *   delivery.spoolMemoryMaxBytes;
 * - `segment_corrupt`: a segment failed its checks (damaged, cut short) and was moved to corrupt/.
 */
export type SpoolLossReason = 'spool_full' | 'spool_memory_full' | 'segment_corrupt';
export const SPOOL_LOSS_REASONS: readonly SpoolLossReason[] = ['spool_full', 'spool_memory_full', 'segment_corrupt'];

export type LossCounts = Record<SpoolLossReason, number>;

export function newLossCounts(): LossCounts {
  return { spool_full: 0, spool_memory_full: 0, segment_corrupt: 0 };
}

/** ENIs remembered from coverages for a loss whose own coverage is unreadable (bounded: ENIs come and go). */
const MAX_KNOWN_ENIS = 10_000;

/**
 * The spool's account of what it lost and the SKIPDATA records it owes the Logstore for it.
 * Every loss is counted by reason (`lostRecords`, known counts only), queued as lost windows, and
 * turned by `takeMarks` into one batch of SKIPDATA records (one per ENI and window) that the
 * spool appends as a loss mark: a segment it never evicts, so the loss is delivered like any
 * record. Evictions are logged once per episode (the first eviction, then a summary when an
 * append fits again), not once per segment.
 *
 * Lifecycle: one per spool, driven from its serialised appends; no I/O, no timers.
 */
export class SpoolLossLedger {
  readonly lostRecords: LossCounts = newLossCounts();
  /** SKIPDATA records written for losses, by reason. */
  readonly markRecords: LossCounts = newLossCounts();
  /** Unix ms since the spool has been evicting (this episode), 0 while it is not. */
  evictingSinceMs = 0;
  private readonly pending: Array<{ reason: SpoolLossReason; window: LostWindow }> = [];
  /** Identity templates of ENIs seen in this flow log's coverages, by ENI id. */
  private readonly knownEnis = new Map<string, FlowRecord>();
  private flowLogId = '';
  private episode = { segments: 0, records: 0, windows: 0 };

  constructor(
    private readonly where: string,
    private readonly logger: Logger,
    /** ENIs the flow log covers now (identity templates), for losses no coverage tells: the owner's config. */
    private readonly fallback: () => readonly FlowRecord[] = () => [],
    defaultFlowLogId = '',
  ) {
    this.flowLogId = defaultFlowLogId;
  }

  /** Remembers the flow log and ENIs of a coverage (every segment appended or found). */
  learn(coverage: SegmentCoverage | null): void {
    if (coverage === null) return;
    this.flowLogId = coverage.flowLogId;
    for (const e of coverage.enis) {
      const id = e.template['eni-id'];
      if (id === undefined || id === '-' || this.knownEnis.has(id)) continue;
      if (this.knownEnis.size >= MAX_KNOWN_ENIS) this.knownEnis.delete(this.knownEnis.keys().next().value as string);
      this.knownEnis.set(id, e.template);
    }
  }

  /** Records of `window` are lost for `reason`; `records` when known. Queued for `takeMarks`. */
  lose(reason: SpoolLossReason, window: LostWindow): void {
    if (window.records !== null) this.lostRecords[reason] += window.records;
    this.pending.push({ reason, window });
  }

  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  /**
   * The SKIPDATA batch for every loss queued so far (null when none), counted in `markRecords`.
   * Its window spans the lost windows. ENIs of windows whose coverage is unknown: every ENI this
   * spool has seen, else the owner's fallback (see `lossRecords`).
   */
  takeMarks(): RecordBatch | null {
    if (this.pending.length === 0) return null;
    const pending = this.pending.splice(0);
    const fallback = this.fallbackTemplates();
    const records: FlowRecord[] = [];
    for (const { reason, window } of pending) {
      const made = lossRecords([window], fallback);
      this.markRecords[reason] += made.length;
      records.push(...made);
    }
    return {
      flowLogId: this.flowLogId,
      windowStartSec: Math.floor(Math.min(...pending.map((p) => p.window.startSec))),
      windowEndSec: Math.ceil(Math.max(...pending.map((p) => p.window.endSec))),
      records,
    };
  }

  /** The records of several mark batches as one record per ENI (see foldLossRecords). */
  fold(marks: readonly RecordBatch[]): RecordBatch {
    const records = foldLossRecords(marks.flatMap((m) => m.records));
    return {
      flowLogId: marks[0]?.flowLogId ?? this.flowLogId,
      windowStartSec: Math.min(...marks.map((m) => m.windowStartSec)),
      windowEndSec: Math.max(...marks.map((m) => m.windowEndSec)),
      records,
    };
  }

  /** An append had to evict `segments` oldest segments: logged when an episode starts. */
  evicted(segments: number, records: number, windows: number, maxBytes: number, nowMs: number): void {
    this.episode.segments += segments;
    this.episode.records += records;
    this.episode.windows += windows;
    if (this.evictingSinceMs !== 0) return;
    this.evictingSinceMs = nowMs;
    this.logger.error(
      { dir: this.where, segments, records, maxBytes },
      `evict spool segments from ${this.where}: spool full at ${maxBytes} bytes (delivery.spoolMaxBytes); ` +
        `dropping the oldest segments (first ${segments}, ${records} records) and writing SKIPDATA for their windows ` +
        '(counted in flowlog_output_lost_records_total{reason="spool_full"}; logged once until the spool has room again)',
    );
  }

  /** An append fitted without eviction: an eviction episode, if any, ends with a summary line. */
  roomAgain(): void {
    if (this.evictingSinceMs === 0) return;
    const e = this.episode;
    this.logger.warn(
      { dir: this.where, segments: e.segments, records: e.records, windows: e.windows },
      `spool ${this.where} has room again: ${e.records} records in ${e.segments} segments were evicted while it was full, ` +
        `SKIPDATA written for ${e.windows} windows`,
    );
    this.evictingSinceMs = 0;
    this.episode = { segments: 0, records: 0, windows: 0 };
  }

  private fallbackTemplates(): readonly FlowRecord[] {
    if (this.knownEnis.size > 0) {
      // Every ENI this flow log has shown, plus the owner's (ENIs configured but quiet so far).
      const all = new Map(this.knownEnis);
      for (const t of this.fallback()) {
        const id = t['eni-id'];
        if (id !== undefined && !all.has(id)) all.set(id, identityTemplate(t));
      }
      return [...all.values()];
    }
    return this.fallback().map(identityTemplate);
  }
}
