import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { retryDelayMs } from '../../../src/output/delivery/backoff';
import { Delivery, type DeliveryOptions } from '../../../src/output/delivery/delivery';
import { captureLogger } from '../../helpers/capture-logger';
import { deliveryOptions } from '../../helpers/delivery-options';
import { MemorySegmentStore } from '../../helpers/memory-segment-store';
import { sizedBatch } from '../../helpers/records';
import { ok, permanent, retryable, ScriptedSink, type ScriptStep } from '../../helpers/scripted-sink';

// The delays predicted below follow from retryInitialMs 100 and retryMaxMs 1000.
const options = deliveryOptions({ retryInitialMs: 100, retryMaxMs: 1000 });

describe('retryDelayMs', () => {
  const policy = { retryInitialMs: 100, retryMaxMs: 1000 };
  it.each([
    // attempt, random, retryAfterMs, expected = max(100 + r * (min(1000, 100 * 2^a) - 100), retryAfter)
    [1, 0, 0, 100],
    [1, 0.5, 0, 150],
    [1, 0.999, 0, 200], // 199.9 rounded
    [2, 0.5, 0, 250],
    [3, 0.5, 0, 450],
    [4, 0.5, 0, 550], // ceiling capped at 1000
    [30, 0.999, 0, 999], // 100 + 0.999 * 900 = 999.1
    [1, 0, 5000, 5000], // the server asked for more
    [3, 0.5, 50, 450], // the server asked for less
    [1, 0, 1e9, 300_000], // capped at max(retryMaxMs, 300 s)
  ])('attempt %i, random %f, retryAfter %i -> %i ms', (attempt, r, after, expected) => {
    expect(retryDelayMs(attempt, policy, after, () => r)).toBe(expected);
  });
});

describe('Delivery failures', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function open(script: ScriptStep[], overrides: Partial<DeliveryOptions> = {}, random = 0.5) {
    const sink = new ScriptedSink(script);
    const store = new MemorySegmentStore(overrides.spoolMaxBytes);
    const logs = captureLogger();
    const delivery = new Delivery(
      sink,
      store,
      { ...options, ...overrides },
      { logger: logs.logger, random: () => random },
    );
    return { sink, store, logs, delivery, t0: Date.now() };
  }
  const callTimes = (sink: ScriptedSink, t0: number) => sink.calls.map((c) => c.atMs - t0);

  it('retries retryable failures with backoff, then deletes the segment on success', async () => {
    const { sink, store, logs, delivery, t0 } = open([retryable(), retryable(), ok]);
    delivery.submit(sizedBatch(1, 3));
    await vi.advanceTimersByTimeAsync(149);
    expect(sink.calls).toHaveLength(1);
    expect(store.segments).toHaveLength(1); // kept while failing
    await vi.advanceTimersByTimeAsync(1);
    expect(sink.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(250);
    expect(callTimes(sink, t0)).toEqual([0, 150, 400]); // delays 150, then 250 (random 0.5)
    expect(store.segments).toHaveLength(0);
    expect(delivery.stats).toMatchObject({ batchesSent: 1, batchesFailed: 2, batchesRetried: 2, recordsDelivered: 3 });
    expect(delivery.stats.lastSuccessMs).toBe(t0 + 400);
    expect(logs.at('warn')).toHaveLength(1);
    expect(logs.at('info').map((l) => l.msg)).toEqual([expect.stringContaining('recovered after 2 failed attempts')]);
  });

  it('honours retryAfterMs', async () => {
    const { sink, delivery, t0 } = open([retryable('Throttled', 3000), ok]);
    delivery.submit(sizedBatch(1, 1));
    await vi.advanceTimersByTimeAsync(5000);
    expect(callTimes(sink, t0)).toEqual([0, 3000]);
  });

  it('logs a permanent failure once per reason, keeps the batch and probes every retryMaxMs', async () => {
    const bad = permanent('Unauthorized: AccessKeyId not found');
    const { sink, store, logs, delivery, t0 } = open([bad, bad, bad, permanent('LogStoreNotExist'), ok]);
    delivery.submit(sizedBatch(1, 2, 1000));
    await vi.advanceTimersByTimeAsync(500);
    delivery.submit(sizedBatch(3, 1, 1060)); // waits behind the failing request
    await vi.advanceTimersByTimeAsync(2000); // t = 2500
    expect(callTimes(sink, t0)).toEqual([0, 1000, 2000]);
    expect(store.segments.map((s) => s.recordCount)).toEqual([2, 1]);
    expect(logs.at('error')).toHaveLength(1);
    expect(logs.at('error')[0].msg).toContain('Unauthorized: AccessKeyId not found');
    await vi.advanceTimersByTimeAsync(500); // t = 3000: the reason changes
    expect(logs.at('error')).toHaveLength(2);
    expect(logs.at('error')[1].msg).toContain('LogStoreNotExist');
    await vi.advanceTimersByTimeAsync(1000); // t = 4000: fixed by the operator
    expect(callTimes(sink, t0)).toEqual([0, 1000, 2000, 3000, 4000, 4000]);
    expect(sink.calls.map((c) => c.windowStartSec)).toEqual([1000, 1000, 1000, 1000, 1000, 1060]);
    expect(store.segments).toHaveLength(0);
    expect(delivery.stats.permanentFailures).toBe(4);
    expect(logs.at('error')).toHaveLength(2);
    expect(logs.at('info')).toHaveLength(1);
  });

  it('flush reports what stays spooled when the sink fails permanently, without waiting', async () => {
    const { delivery } = open([permanent('ProjectNotExist')]);
    delivery.submit(sizedBatch(1, 5));
    const flushed = delivery.flush(Date.now() + 60_000);
    await vi.advanceTimersByTimeAsync(0);
    await expect(flushed).resolves.toEqual({
      complete: false,
      remainingBatches: 1,
      remainingRecords: 5,
      failure: { kind: 'permanent', reason: 'ProjectNotExist' },
    });
  });

  it('flush gives up at the deadline while retryable failures go on', async () => {
    const { delivery } = open(Array.from({ length: 1000 }, () => retryable('connect ECONNREFUSED')));
    delivery.submit(sizedBatch(1, 3));
    delivery.submit(sizedBatch(4, 2, 1_700_000_060));
    let result: unknown;
    void delivery.flush(Date.now() + 5000).then((r) => (result = r));
    await vi.advanceTimersByTimeAsync(4999);
    expect(result).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(result).toEqual({
      complete: false,
      remainingBatches: 2,
      remainingRecords: 5,
      failure: { kind: 'retryable', reason: 'connect ECONNREFUSED' },
    });
  });

  it('counts a write that does not settle within requestTimeoutMs as retryable', async () => {
    const { sink, store, delivery, t0 } = open(['hang', ok], { requestTimeoutMs: 2000 }, 0);
    delivery.submit(sizedBatch(1, 1));
    await vi.advanceTimersByTimeAsync(1999);
    expect(delivery.stats.timeouts).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(delivery.stats.timeouts).toBe(1);
    await vi.advanceTimersByTimeAsync(100); // backoff with random 0 = retryInitialMs
    expect(callTimes(sink, t0)).toEqual([0, 2100]);
    expect(store.segments).toHaveLength(0);
  });

  it('summarises a retry storm instead of logging every attempt', async () => {
    const { logs, delivery } = open(
      Array.from({ length: 10_000 }, () => retryable('HTTP 502')),
      {},
      0.999,
    );
    delivery.submit(sizedBatch(1, 1));
    await vi.advanceTimersByTimeAsync(180_000);
    // Each wait is at most ~1000 ms, so at least 180 attempts; lines: the first, then one a minute.
    expect(delivery.stats.batchesFailed).toBeGreaterThanOrEqual(180);
    expect(logs.at('warn').length).toBeGreaterThanOrEqual(3);
    expect(logs.at('warn').length).toBeLessThanOrEqual(4);
    expect(logs.lines).toHaveLength(logs.at('warn').length);
  });

  it('keeps at most `concurrency` writes in flight and deletes acknowledged segments out of order', async () => {
    const { sink, store, delivery } = open(['manual', 'manual', 'manual'], { concurrency: 2 });
    delivery.submit(sizedBatch(1, 1, 1000));
    delivery.submit(sizedBatch(2, 1, 1060));
    delivery.submit(sizedBatch(3, 1, 1120));
    await vi.advanceTimersByTimeAsync(0);
    expect(sink.calls.map((c) => c.windowStartSec)).toEqual([1000, 1060]);
    sink.settle(1); // the second finishes first
    await vi.advanceTimersByTimeAsync(0);
    expect(store.removed).toEqual([2]);
    expect(sink.calls.map((c) => c.windowStartSec)).toEqual([1000, 1060, 1120]);
    sink.settle(0);
    sink.settle(2);
    await vi.advanceTimersByTimeAsync(0);
    expect(store.removed).toEqual([2, 1, 3]);
  });

  it('starts nothing new while a request is failing, so at most concurrency-1 overtake it', async () => {
    const { sink, delivery, t0 } = open(['manual', 'manual', ok, ok], { concurrency: 2 }, 0);
    delivery.submit(sizedBatch(1, 1, 1000));
    delivery.submit(sizedBatch(2, 1, 1060));
    delivery.submit(sizedBatch(3, 1, 1120));
    await vi.advanceTimersByTimeAsync(0);
    sink.settle(0, retryable());
    sink.settle(1, ok);
    await vi.advanceTimersByTimeAsync(99);
    expect(sink.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(sink.calls.map((c) => [c.windowStartSec, c.atMs - t0])).toEqual([
      [1000, 0],
      [1060, 0],
      [1000, 100],
      [1120, 100],
    ]);
  });

  it('never evicts a batch while its request is in flight or retrying: the bound evicts the next one instead', async () => {
    // 100 B records, bound 250 B: the failing 200 B batch is pinned (its write may have been
    // stored), so the 100 B batch appended next finds nothing to evict and the bound is exceeded;
    // the batch after that evicts it instead.
    const { sink, store, delivery } = open([retryable(), ok, ok], { spoolMaxBytes: 250 });
    delivery.submit(sizedBatch(1, 2, 1000));
    await vi.advanceTimersByTimeAsync(0);
    expect(store.pins.size).toBe(1);
    delivery.submit(sizedBatch(3, 1, 1060));
    await vi.advanceTimersByTimeAsync(0);
    expect(store.stats).toMatchObject({ evictedSegments: 0, segments: 2, bytes: 300 });
    delivery.submit(sizedBatch(4, 1, 1120));
    await vi.advanceTimersByTimeAsync(1000);
    expect(sink.calls.map((c) => c.records.map((r) => r.n))).toEqual([['1', '2'], ['1', '2'], ['4']]);
    expect(store.stats).toMatchObject({ evictedSegments: 1, evictedRecords: 1, segments: 0 });
    expect(store.pins.size).toBe(0);
    expect(delivery.stats.recordsDelivered).toBe(3);
  });

  it('close keeps undelivered batches spooled, closes sink and store, and drops later submits once-logged', async () => {
    const { sink, store, logs, delivery } = open([retryable(), retryable()]);
    delivery.submit(sizedBatch(1, 4));
    await vi.advanceTimersByTimeAsync(0);
    const left = await delivery.close();
    expect(left).toMatchObject({ complete: false, remainingBatches: 1, remainingRecords: 4 });
    expect(sink.closed).toBe(true);
    expect(store.closed).toBe(true);
    expect(store.segments).toHaveLength(1);
    delivery.submit(sizedBatch(5, 2));
    delivery.submit(sizedBatch(7, 3));
    expect(delivery.stats.recordsDropped).toBe(5);
    expect(logs.at('error')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(sink.calls).toHaveLength(1); // no retry after close
  });
});
