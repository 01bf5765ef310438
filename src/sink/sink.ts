import type { RecordBatch } from '../flow/record';

/**
 * Outcome of one `Sink.write`. A sink only pushes and classifies; what happens next (retry,
 * spool, give up) is decided by the shared delivery layer.
 */
export type SinkResult =
  | { kind: 'ok' }
  /** Transient: throttling, 5xx, timeout, connection error. Retry after at least `retryAfterMs`. */
  | { kind: 'retryable'; retryAfterMs: number; reason: string }
  /** Will not succeed by retrying (bad credentials, missing Logstore, invalid request). */
  | { kind: 'permanent'; reason: string };

/**
 * A destination for record batches.
 *
 * Contract: `write` never throws and never rejects; every failure is returned as a
 * `SinkResult`. The batch is borrowed for the duration of the call and must not be mutated or
 * kept. `close` flushes anything the sink buffers itself and releases handles; no `write` follows it.
 */
export interface Sink {
  /** Human-readable name for logs and metrics, e.g. `file:/var/log/flowlog/fl-1.jsonl`. */
  readonly name: string;
  write(batch: RecordBatch): Promise<SinkResult>;
  close(): Promise<void>;
}
