import type { RecordOutput } from './record-output';
import type { LogStatus, RecordBatch } from '../flow/record';
import type { RecordCount } from '../metrics/metrics-source';

const LOG_STATUSES: readonly LogStatus[] = ['OK', 'NODATA', 'SKIPDATA'];

/**
 * The daemon's output with records counted by flow log and log-status as they are handed over.
 * Counting here rather than in the record builders gives per-flow-log totals (a builder serves
 * every flow log of one interval) that survive pipeline rebuilds, since the output lives as long
 * as the daemon. Runs at drain time, off the packet path.
 *
 * Ownership: wraps `inner` and closes it in `close`.
 */
export class CountedOutput implements RecordOutput {
  /** flow log id -> records per log-status, in LOG_STATUSES order. */
  private readonly counts = new Map<string, Float64Array>();

  constructor(readonly inner: RecordOutput) {}

  submit(batch: RecordBatch): void {
    let c = this.counts.get(batch.flowLogId);
    if (c === undefined) {
      c = new Float64Array(LOG_STATUSES.length);
      this.counts.set(batch.flowLogId, c);
    }
    for (const r of batch.records) {
      const status = r['log-status'];
      c[status === 'NODATA' ? 1 : status === 'SKIPDATA' ? 2 : 0]++;
    }
    this.inner.submit(batch);
  }

  /** Records handed over since start, one entry per flow log and log-status seen. */
  recordCounts(): RecordCount[] {
    const out: RecordCount[] = [];
    for (const [flowLog, c] of this.counts)
      LOG_STATUSES.forEach((logStatus, i) => out.push({ flowLog, logStatus, records: c[i] }));
    return out;
  }

  async appended(): Promise<void> {
    await this.inner.appended?.();
  }

  close(): Promise<{ delivered: number; spooled: number }> {
    return this.inner.close();
  }
}
