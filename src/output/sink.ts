import type { FlowRecord, RecordBatch } from '../flow/record';

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
 * How a sink sizes its requests: the bytes one record adds to a request, as its destination
 * counts them (the Log Service: the record's protobuf `Log`; a file or a pipe: its JSON line).
 * The delivery layer cuts batches (batcher.ts) and groups spooled segments into requests
 * (request-picker.ts) by the sink's measure, within delivery.maxBatchBytes, without knowing the
 * destination's encoding. Off the packet path: called once per record a window delivers.
 */
export interface BatchMeasure {
  /** Bytes `record` adds to a request; depends on the record only. */
  recordBytes(record: FlowRecord): number;
}

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
  /** How this sink's requests are sized (fixed for the sink's life). */
  readonly measure: BatchMeasure;
  write(batch: RecordBatch): Promise<SinkResult>;
  close(): Promise<void>;
}
