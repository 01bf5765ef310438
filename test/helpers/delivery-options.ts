import type { DeliveryOptions } from '../../src/output/delivery/delivery';

/**
 * Delivery options for tests, `overrides` applied: no linger, the Log Service request limits
 * (4096 records, 3 MiB), one request in flight, retries from 100 ms growing to at most 1000 ms,
 * a 5000 ms request timeout and a spool no test fills. Tests whose arithmetic uses these numbers
 * say so next to the call.
 */
export function deliveryOptions(overrides: Partial<DeliveryOptions> = {}): DeliveryOptions {
  return {
    lingerMs: 0,
    maxBatchRecords: 4096,
    maxBatchBytes: 3 * 1024 * 1024,
    concurrency: 1,
    retryInitialMs: 100,
    retryMaxMs: 1000,
    requestTimeoutMs: 5000,
    spoolMaxBytes: 1e9,
    ...overrides,
  };
}
