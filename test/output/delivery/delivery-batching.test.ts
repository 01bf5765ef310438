import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { byteBudget, splitBatch } from '../../../src/output/delivery/batcher';
import { slsLogMeasure } from '../../../src/output/sls/sls-log-group';
import { Delivery, type DeliveryOptions } from '../../../src/output/delivery/delivery';
import { captureLogger } from '../../helpers/capture-logger';
import { deliveryOptions } from '../../helpers/delivery-options';
import { MemorySegmentStore } from '../../helpers/memory-segment-store';
import { numbers, sizedBatch, sizedRecord } from '../../helpers/records';
import { ScriptedSink } from '../../helpers/scripted-sink';

const MIB = 1024 * 1024;

describe('raw size', () => {
  it('counts the protobuf Log encoding the Log Service measures', () => {
    // pair "version"(7)/"2"(1): 1+1+7+1+1+1 = 12, framed 1+1+12 = 14; pair "eni-id"(6)/"eni-é"(6
    // UTF-8 bytes): 1+1+6+1+1+6 = 16, framed 18; Log = time 1+5 + 14 + 18 = 38, framed 1+1+38 = 40
    expect(slsLogMeasure.recordBytes({ version: '2', 'eni-id': 'eni-é' })).toBe(40);
    expect(slsLogMeasure.recordBytes(sizedRecord(7, 100))).toBe(100);
    expect(slsLogMeasure.recordBytes(sizedRecord(12345, 250))).toBe(250);
  });

  it.each([
    [1000, 900],
    [3 * MIB, 2_831_155], // floor(3145728 * 0.9)
    [10, 9],
  ])('budget of %i bytes is %i after the 10%% margin', (max, budget) => {
    expect(byteBudget(max)).toBe(budget);
  });
});

describe('splitBatch', () => {
  const cases: Array<{
    name: string;
    count: number;
    size: number;
    maxRecords: number;
    maxBytes: number;
    expected: number[];
  }> = [
    { name: 'record limit', count: 10, size: 100, maxRecords: 4, maxBytes: 1e9, expected: [4, 4, 2] },
    {
      name: 'byte limit (budget 900 = 9 records)',
      count: 10,
      size: 100,
      maxRecords: 4096,
      maxBytes: 1000,
      expected: [9, 1],
    },
    {
      name: 'record limit tighter than bytes',
      count: 10,
      size: 100,
      maxRecords: 3,
      maxBytes: 500,
      expected: [3, 3, 3, 1],
    },
    {
      name: 'bytes tighter than records (budget 315)',
      count: 10,
      size: 100,
      maxRecords: 5,
      maxBytes: 350,
      expected: [3, 3, 3, 1],
    },
    {
      name: 'Log Service 4096 cap',
      count: 10_000,
      size: 100,
      maxRecords: 4096,
      maxBytes: 3 * MIB,
      expected: [4096, 4096, 1808],
    },
    // floor(2831155 / 1000) = 2831 records of 1000 B per piece
    { name: '3 MiB cap', count: 5000, size: 1000, maxRecords: 4096, maxBytes: 3 * MIB, expected: [2831, 2169] },
    { name: 'empty batch', count: 0, size: 100, maxRecords: 10, maxBytes: 1000, expected: [] },
  ];
  it.each(cases)('$name', ({ count, size, maxRecords, maxBytes, expected }) => {
    const pieces = splitBatch(
      sizedBatch(1, count, 1_700_000_000, size),
      { maxBatchRecords: maxRecords, maxBatchBytes: maxBytes },
      slsLogMeasure,
    );
    expect(pieces.map((p) => p.batch.records.length)).toEqual(expected);
    expect(pieces.map((p) => p.rawBytes)).toEqual(expected.map((n) => n * size));
    expect(pieces.flatMap((p) => p.batch.records.map((r) => r.n))).toEqual(numbers(1, count));
    for (const p of pieces) expect(p.batch.windowStartSec).toBe(1_700_000_000);
  });

  it('sends a record larger than the budget alone', () => {
    const batch = sizedBatch(1, 3);
    batch.records[1] = sizedRecord(2, 2000);
    const pieces = splitBatch(batch, { maxBatchRecords: 100, maxBatchBytes: 1000 }, slsLogMeasure);
    expect(pieces.map((p) => p.rawBytes)).toEqual([100, 2000, 100]);
  });
});

describe('Delivery request sizing', () => {
  const options = deliveryOptions({ maxBatchRecords: 4, maxBatchBytes: 1e9 });
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  const open = (overrides: Partial<DeliveryOptions>, sink = new ScriptedSink()) => {
    const store = new MemorySegmentStore();
    const delivery = new Delivery(sink, store, { ...options, ...overrides }, { logger: captureLogger().logger });
    return { sink, store, delivery };
  };

  it('splits a submitted batch to the record limit, in order', async () => {
    const { sink, store, delivery } = open({});
    delivery.submit(sizedBatch(1, 10));
    await vi.advanceTimersByTimeAsync(0);
    expect(sink.sizes).toEqual([4, 4, 2]);
    expect(sink.delivered).toEqual(numbers(1, 10));
    expect(store.segments).toHaveLength(0);
    expect(delivery.stats).toMatchObject({ batchesSent: 3, recordsDelivered: 10, batchesSubmitted: 1 });
  });

  it('lingers to merge small batches of one window, up to the limits', async () => {
    const { sink, delivery } = open({ lingerMs: 1000, maxBatchRecords: 10 });
    const t0 = Date.now();
    delivery.submit(sizedBatch(1, 2));
    await vi.advanceTimersByTimeAsync(300);
    delivery.submit(sizedBatch(3, 2));
    await vi.advanceTimersByTimeAsync(300);
    delivery.submit(sizedBatch(5, 2));
    await vi.advanceTimersByTimeAsync(399); // t = 999: the oldest is 999 ms old
    expect(sink.calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(sink.sizes).toEqual([6]);
    expect(sink.calls[0].atMs - t0).toBe(1000);
    expect(sink.delivered).toEqual(numbers(1, 6));
  });

  it('does not linger once a request is full, nor merge across windows', async () => {
    const { sink, delivery } = open({ lingerMs: 1000, maxBatchRecords: 4 });
    const t0 = Date.now();
    delivery.submit(sizedBatch(1, 2, 1000));
    delivery.submit(sizedBatch(3, 2, 1000)); // fills 4 records: goes at once
    delivery.submit(sizedBatch(5, 1, 1060)); // next window: never merged with the first
    await vi.advanceTimersByTimeAsync(0);
    expect(sink.sizes).toEqual([4]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(sink.sizes).toEqual([4, 1]);
    expect(sink.calls.map((c) => [c.windowStartSec, c.atMs - t0])).toEqual([
      [1000, 0],
      [1060, 1000],
    ]);
  });

  it('flush sends at once without lingering', async () => {
    const { sink, delivery } = open({ lingerMs: 60_000 });
    delivery.submit(sizedBatch(1, 3));
    const result = await delivery.flush(Date.now() + 10_000);
    expect(result).toEqual({ complete: true, remainingBatches: 0, remainingRecords: 0 });
    expect(sink.sizes).toEqual([3]);
  });
});

describe('windows side by side (RequestPicker, write-ahead lanes)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('appends windows a piece each in turn and gives a free slot to the window with fewest requests in flight', async () => {
    // Window 1000: 16 records in 4 requests of 4; every write waits for the test to answer it.
    const sink = new ScriptedSink(Array.from({ length: 8 }, () => 'manual' as const));
    const store = new MemorySegmentStore();
    const delivery = new Delivery(sink, store, deliveryOptions({ maxBatchRecords: 4, concurrency: 2 }), {
      logger: captureLogger().logger,
    });
    delivery.submit(sizedBatch(1, 16, 1000));
    await vi.advanceTimersByTimeAsync(0);
    expect(sink.calls.map((c) => [c.windowStartSec, c.records[0].n])).toEqual([
      [1000, '1'],
      [1000, '5'],
    ]); // both slots busy
    // Window 1060 arrives; its single piece is appended; a slot frees: it goes to 1060 (nothing in
    // flight), not to 1000's third request (one in flight).
    delivery.submit(sizedBatch(17, 2, 1060));
    await vi.advanceTimersByTimeAsync(0);
    sink.settle(0);
    await vi.advanceTimersByTimeAsync(0);
    expect(sink.calls.map((c) => [c.windowStartSec, c.records[0].n])).toEqual([
      [1000, '1'],
      [1000, '5'],
      [1060, '17'],
    ]);
    sink.settle(1);
    sink.settle(2);
    await vi.advanceTimersByTimeAsync(0);
    sink.settle(3);
    sink.settle(4);
    await vi.advanceTimersByTimeAsync(0);
    // Within window 1000, order as appended: 1-4, 5-8, 9-12, 13-16.
    expect(sink.calls.filter((c) => c.windowStartSec === 1000).map((c) => c.records[0].n)).toEqual([
      '1',
      '5',
      '9',
      '13',
    ]);
    expect(store.segments).toHaveLength(0);
  });

  it('interleaves the appends of windows, a piece each, so a small window is not appended behind a huge one', async () => {
    const sink = new ScriptedSink(Array.from({ length: 20 }, () => 'hang' as const));
    const store = new MemorySegmentStore();
    const seen: number[] = [];
    const append = store.append.bind(store);
    store.append = async (b, raw) => {
      seen.push(b.windowStartSec);
      return append(b, raw);
    };
    const delivery = new Delivery(sink, store, deliveryOptions({ maxBatchRecords: 4, concurrency: 1 }), {
      logger: captureLogger().logger,
    });
    delivery.submit(sizedBatch(1, 12, 1000));
    delivery.submit(sizedBatch(13, 2, 1060));
    delivery.submit(sizedBatch(15, 8, 1000)); // same window as the first: its lane, after it
    await vi.advanceTimersByTimeAsync(0);
    expect(seen).toEqual([1000, 1060, 1000, 1000, 1000, 1000]);
    const order = store.segments.filter((x) => x.windowStartSec === 1000).map((x) => x.recordCount);
    expect(order).toEqual([4, 4, 4, 4, 4]);
  });
});
