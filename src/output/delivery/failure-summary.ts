import { log as processLog, type Logger } from '../../log';

/** Default spacing of "still failing" lines while a sink keeps failing transiently. */
export const FAILURE_SUMMARY_INTERVAL_MS = 60_000;

type Mode = 'ok' | 'retrying' | 'permanent';

/**
 * Turns a stream of delivery outcomes of one sink into few log lines: one when failures start,
 * a summary at most every `summaryIntervalMs` while transient failures go on, one (at error
 * level) per distinct permanent reason, and one on recovery. A retry storm therefore costs a
 * line a minute, not a line per attempt. Driven by outcomes only; it owns no timer.
 */
export class FailureSummary {
  private mode: Mode = 'ok';
  private reason = '';
  private firstFailureMs = 0;
  private lastLineMs = 0;
  private failuresSinceLine = 0;
  private failuresTotal = 0;

  constructor(
    private readonly sinkName: string,
    private readonly logger: Logger = processLog,
    private readonly summaryIntervalMs = FAILURE_SUMMARY_INTERVAL_MS,
  ) {}

  /** Current state, for status output. */
  get state(): { mode: Mode; reason: string; failures: number } {
    return { mode: this.mode, reason: this.reason, failures: this.failuresTotal };
  }

  retryable(reason: string, nowMs: number, retryInMs: number): void {
    this.count(nowMs);
    if (this.mode !== 'retrying') {
      this.enter('retrying', reason, nowMs);
      this.logger.warn(
        { sink: this.sinkName, reason, retryInMs },
        `deliver batch to ${this.sinkName}: ${reason} (retrying with backoff; further failures summarised)`,
      );
      return;
    }
    this.reason = reason;
    if (nowMs - this.lastLineMs >= this.summaryIntervalMs) {
      this.logger.warn(
        {
          sink: this.sinkName,
          reason,
          failedAttempts: this.failuresSinceLine,
          failingForMs: nowMs - this.firstFailureMs,
        },
        `deliver batches to ${this.sinkName}: still failing, ` +
          `${this.failuresSinceLine} failed attempts since last report: ${reason}`,
      );
      this.lastLineMs = nowMs;
      this.failuresSinceLine = 0;
    }
  }

  /**
   * A permanent failure (refused credentials, a missing Logstore): logged once per outage and
   * reason, whatever the request id in it (each answer carries its own); repeats are counted and
   * the count is logged on recovery or at stop.
   */
  permanent(reason: string, nowMs: number, probeEveryMs: number): void {
    this.count(nowMs);
    if (this.mode === 'permanent' && reasonKey(reason) === reasonKey(this.reason)) {
      this.reason = reason;
      return;
    }
    this.enter('permanent', reason, nowMs);
    this.logger.error(
      { sink: this.sinkName, reason, probeEveryMs },
      `deliver batches to ${this.sinkName}: ${reason}. This will not fix itself: check credentials, ` +
        `project and Logstore. Batches stay in the spool and delivery is re-tried every ${probeEveryMs} ms ` +
        '(logged once until it recovers; the failed attempts are counted then)',
    );
  }

  /** The delivery stops: a failure still going on is summed up with its count. */
  stopped(nowMs: number): void {
    if (this.mode === 'ok') return;
    this.logger.warn(
      {
        sink: this.sinkName,
        failedAttempts: this.failuresTotal,
        failingForMs: nowMs - this.firstFailureMs,
        lastReason: this.reason,
      },
      `deliver batches to ${this.sinkName}: still failing at stop after ${this.failuresTotal} failed attempts over ${Math.round((nowMs - this.firstFailureMs) / 1000)} s: ${this.reason}`,
    );
  }

  succeeded(nowMs: number): void {
    if (this.mode === 'ok') return;
    this.logger.info(
      {
        sink: this.sinkName,
        failedAttempts: this.failuresTotal,
        failingForMs: nowMs - this.firstFailureMs,
        lastReason: this.reason,
      },
      `deliver batches to ${this.sinkName}: recovered after ${this.failuresTotal} failed attempts`,
    );
    this.mode = 'ok';
    this.reason = '';
    this.failuresTotal = 0;
    this.failuresSinceLine = 0;
  }

  private count(nowMs: number): void {
    if (this.mode === 'ok') this.firstFailureMs = nowMs;
    this.failuresTotal++;
    this.failuresSinceLine++;
  }

  private enter(mode: Mode, reason: string, nowMs: number): void {
    this.mode = mode;
    this.reason = reason;
    this.lastLineMs = nowMs;
    this.failuresSinceLine = 0;
  }
}

/** A reason without what changes from answer to answer (the request id), to tell repeats. */
function reasonKey(reason: string): string {
  return reason.replace(/request id [^,)\s]+/g, 'request id *');
}
