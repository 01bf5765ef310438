import type { FlowRecord } from '../../flow/record';
import type { PackIdSource } from './pack-id';
import type { DeliveryConfig } from '../../config/types';
import type { Logger } from '../../log';

/**
 * Delivery tuning of one sink: the `delivery` section of the configuration, as loaded. How the
 * delivery reads each field:
 * - `lingerMs`: how long the oldest spooled batch may wait for more of its window to join one request.
 * - `maxBatchRecords` / `maxBatchBytes`: most records / raw bytes per request (<= 4096 / 3 MiB);
 *   see batcher.ts for the margin kept below the byte limit.
 * - `concurrency`: most requests in flight to this sink at once.
 * - `requestTimeoutMs`: a write not settled after this long counts as a retryable failure.
 * - `spoolMaxBytes`: bound of the spool; the oldest batches are evicted beyond it.
 * - `spoolMemoryMaxBytes`: bound of what the spool holds in memory while its disk refuses writes.
 */
export type DeliveryOptions = DeliveryConfig;

/**
 * Counters of one delivery, monotonic except `lastSuccessMs`. Request latency is in
 * `Delivery.latency` (a histogram: sum and count included); spool counters in `Delivery.spool`.
 */
export interface DeliveryStats {
  batchesSubmitted: number;
  recordsSubmitted: number;
  /** Requests the sink acknowledged. */
  batchesSent: number;
  /** Request attempts that failed (retryable, timed out or permanent). */
  batchesFailed: number;
  /** Attempts that were retries of a failed request. */
  batchesRetried: number;
  timeouts: number;
  /** Attempts answered `permanent` (each slow probe counts). */
  permanentFailures: number;
  recordsDelivered: number;
  /** Records submitted after close, or that could not be queued at all. */
  recordsDropped: number;
  /** Unix ms of the last acknowledged request, 0 if none yet. */
  lastSuccessMs: number;
}

export function newDeliveryStats(): DeliveryStats {
  return {
    batchesSubmitted: 0,
    recordsSubmitted: 0,
    batchesSent: 0,
    batchesFailed: 0,
    batchesRetried: 0,
    timeouts: 0,
    permanentFailures: 0,
    recordsDelivered: 0,
    recordsDropped: 0,
    lastSuccessMs: 0,
  };
}

/** What `flush` or `close` left behind. */
export interface FlushResult {
  /** True when every submitted batch was delivered. */
  complete: boolean;
  /** Spooled segments still undelivered, and their records. */
  remainingBatches: number;
  remainingRecords: number;
  /** The last failure, when something remains and delivery was failing. */
  failure?: { kind: 'retryable' | 'permanent'; reason: string };
}

/** Injection points for tests; production uses the defaults. */
export interface DeliveryDeps {
  logger?: Logger;
  /** Random source for backoff jitter, [0, 1). */
  random?: () => number;
  /** Pack ids of appended batches (tests: a fixed prefix, a second process); default the process's. */
  packIds?: PackIdSource;
  /**
   * Records (any log-status) of every ENI the flow log covers, for the spool's SKIPDATA of a loss
   * whose ENIs nothing else tells (see SpoolOptions.lossFallback). Default: none.
   */
  lossFallback?: () => readonly FlowRecord[];
}
