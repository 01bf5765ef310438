import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RecordBatch } from '../../../src/flow/record';
import { Delivery } from '../../../src/output/delivery/delivery';
import type { SinkResult } from '../../../src/output/sink';
import { Spool } from '../../../src/output/spool/spool';
import { SpoolLockedError } from '../../../src/output/spool/spool-lock';
import { captureLogger } from '../../helpers/capture-logger';
import { deliveryOptions } from '../../helpers/delivery-options';
import { numbers, sizedBatch } from '../../helpers/records';
import { retryable, ScriptedSink } from '../../helpers/scripted-sink';
import { tempDirForFile } from '../../helpers/temp-dir';
import { slsLogMeasure } from '../../../src/output/sls/sls-log-group';

// Real disk and real timers, short delays: these tests are about the spool, not the clock.
const options = deliveryOptions({ retryInitialMs: 10, retryMaxMs: 50, requestTimeoutMs: 2000 });
const root = tempDirForFile('delivery-spool');
let dirCount = 0;
const freshDir = () => join(root, `fl-${++dirCount}`);
const segFiles = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.seg'));
const quiet = () => ({ logger: captureLogger().logger });

describe('Delivery with a disk spool', () => {
  it('delivers what a previous process left before anything submitted now', async () => {
    const dir = freshDir();
    const previous = await Spool.open(dir, { measure: slsLogMeasure, maxBytes: 1e9 });
    await previous.append(sizedBatch(1, 2, 1000), 200);
    await previous.append(sizedBatch(3, 2, 1060), 200);
    await previous.append(sizedBatch(5, 1, 1120), 100);
    await previous.close(); // as if the process died with these undelivered

    const sink = new ScriptedSink();
    const delivery = await Delivery.open(sink, dir, options, quiet());
    delivery.submit(sizedBatch(6, 2, 1180));
    delivery.submit(sizedBatch(8, 1, 1240));
    const result = await delivery.flush(Date.now() + 5000);
    await delivery.close();
    expect(result).toEqual({ complete: true, remainingBatches: 0, remainingRecords: 0 });
    expect(sink.calls.map((c) => c.windowStartSec)).toEqual([1000, 1060, 1120, 1180, 1240]);
    expect(sink.delivered).toEqual(numbers(1, 8));
    expect(segFiles(dir)).toEqual([]);
  });

  it('writes each batch to the spool before the sink sees it', async () => {
    const dir = freshDir();
    const seenOnDisk: string[][] = [];
    const sink = {
      name: 'peek',
      measure: slsLogMeasure,
      write: async (_batch: RecordBatch): Promise<SinkResult> => {
        seenOnDisk.push(segFiles(dir));
        return { kind: 'ok' };
      },
      close: async () => undefined,
    };
    const delivery = await Delivery.open(sink, dir, options, quiet());
    delivery.submit(sizedBatch(1, 3));
    await delivery.flush(Date.now() + 5000);
    await delivery.close();
    expect(seenOnDisk).toEqual([[`${'0'.repeat(19)}1.seg`]]);
    expect(segFiles(dir)).toEqual([]);
  });

  it('keeps batches spooled when the sink is unreachable and reports them, then a later run delivers them', async () => {
    const dir = freshDir();
    const down = new ScriptedSink(Array.from({ length: 1000 }, () => retryable('connect ECONNREFUSED 127.0.0.1:1')));
    const first = await Delivery.open(down, dir, options, quiet());
    first.submit(sizedBatch(1, 3, 1000));
    first.submit(sizedBatch(4, 2, 1060));
    first.submit(sizedBatch(6, 4, 1120));
    const flushed = await first.flush(Date.now() + 200);
    const closed = await first.close();
    expect(flushed).toEqual({
      complete: false,
      remainingBatches: 3,
      remainingRecords: 9,
      failure: { kind: 'retryable', reason: 'connect ECONNREFUSED 127.0.0.1:1' },
    });
    expect(closed).toMatchObject({ remainingBatches: 3, remainingRecords: 9 });
    expect(down.calls.length).toBeGreaterThan(1);
    expect(segFiles(dir)).toHaveLength(3);

    const up = new ScriptedSink();
    const second = await Delivery.open(up, dir, options, quiet());
    expect(await second.flush(Date.now() + 5000)).toMatchObject({ complete: true });
    await second.close();
    expect(up.delivered).toEqual(numbers(1, 9));
    expect(second.stats.recordsDelivered).toBe(9);
  });

  it('refuses a spool directory another delivery holds', async () => {
    const dir = freshDir();
    const holder = await Delivery.open(new ScriptedSink(), dir, options, quiet());
    await expect(Delivery.open(new ScriptedSink(), dir, options, quiet())).rejects.toBeInstanceOf(SpoolLockedError);
    await holder.close();
  });

  it('falls back to a memory spool, loudly, when the directory cannot be created', async () => {
    const blocker = join(root, 'not-a-dir');
    writeFileSync(blocker, '');
    const logs = captureLogger();
    const sink = new ScriptedSink();
    const delivery = await Delivery.open(sink, join(blocker, 'fl-x'), options, { logger: logs.logger });
    delivery.submit(sizedBatch(1, 2));
    expect(await delivery.flush(Date.now() + 5000)).toMatchObject({ complete: true });
    await delivery.close();
    expect(sink.delivered).toEqual(['1', '2']);
    expect(logs.at('error').map((l) => l.msg)).toEqual([expect.stringContaining('kept in memory only')]);
  });
});
