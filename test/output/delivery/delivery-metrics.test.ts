import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Delivery } from '../../../src/output/delivery/delivery';
import { sinkCountersOf, sinkDeliveryStateOf, spoolUsageOf } from '../../../src/output/delivery/delivery-metrics';
import { captureLogger } from '../../helpers/capture-logger';
import { deliveryOptions } from '../../helpers/delivery-options';
import { MemorySegmentStore } from '../../helpers/memory-segment-store';
import { sizedBatch } from '../../helpers/records';
import { ok, permanent, retryable, ScriptedSink } from '../../helpers/scripted-sink';

const options = deliveryOptions();

describe('delivery metrics adapters', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reports counters, latency, spool usage and the oldest waiting batch', async () => {
    const t0 = Date.now();
    const sink = new ScriptedSink([retryable(), permanent(), ok], 'sls:proj/store');
    const store = new MemorySegmentStore();
    const delivery = new Delivery(sink, store, options, { logger: captureLogger().logger, random: () => 0 });
    expect(sinkDeliveryStateOf(delivery, 60)).toEqual({ sink: 'sls:proj/store', windowSec: 60 });

    delivery.submit(sizedBatch(1, 3, 1000)); // 300 raw bytes, handed over at t0
    await vi.advanceTimersByTimeAsync(50);
    delivery.submit(sizedBatch(4, 1, 1060)); // waits behind the failing first batch
    await vi.advanceTimersByTimeAsync(0);
    expect(spoolUsageOf('fl-1', delivery)).toEqual({
      flowLog: 'fl-1',
      segments: 2,
      bytes: 400,
      memorySegments: 0,
      droppedRecords: 0,
    });
    expect(sinkDeliveryStateOf(delivery, 60)).toEqual({
      sink: 'sls:proj/store',
      windowSec: 60,
      oldestPendingUnixMs: t0,
    });

    // Retry after 100 ms (random 0) answers permanent; the probe 1000 ms later succeeds.
    await vi.advanceTimersByTimeAsync(50 + 1000);
    const counters = sinkCountersOf(delivery);
    expect(counters).toMatchObject({
      sink: 'sls:proj/store',
      batchesSent: 2,
      batchesFailed: 1, // the permanent answer
      batchesRetried: 2,
      lastSuccessUnixMs: t0 + 1100,
    });
    expect(counters.latency.count).toBe(4); // every attempt, failed or not
    expect(sinkDeliveryStateOf(delivery, 60)).toEqual({
      sink: 'sls:proj/store',
      windowSec: 60,
      lastSuccessUnixMs: t0 + 1100,
    });
  });
});
