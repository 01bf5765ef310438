/**
 * A spool on a full file system (a 256 KiB tmpfs): no crash; what the disk refuses is held in
 * memory up to spoolMemoryMaxBytes, then the oldest held segments are dropped, counted and
 * logged once; /healthz's judgement names the spool; when space returns the held segments are
 * written by the next append and delivery resumes by itself. Arithmetic: delivered + dropped =
 * submitted, and dropped = the records of the segments over the memory bound.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RecordBatch } from '../../../src/flow/record';
import { evaluateHealth } from '../../../src/metrics/health-report';
import { Delivery } from '../../../src/output/delivery/delivery';
import { sinkDeliveryStateOf } from '../../../src/output/delivery/delivery-metrics';
import type { Sink, SinkResult } from '../../../src/output/sink';
import { slsLogMeasure } from '../../../src/output/sls/sls-log-group';
import { captureLogger } from '../../helpers/capture-logger';
import { deliveryOptions } from '../../helpers/delivery-options';
import { sizedBatch } from '../../helpers/records';
import { tempDirForFile } from '../../helpers/temp-dir';

const root = tempDirForFile('spool-full-disk');
const mnt = join(root, 'mnt');
const canMount = (() => {
  if (process.getuid?.() !== 0) return false;
  try {
    mkdirSync(mnt, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
afterAll(() => {
  if (canMount) execFileSync('umount', ['-l', mnt], { stdio: 'ignore' });
});

/** A sink that is down until `up` is set, then stores everything. */
class OutageSink implements Sink {
  readonly name = 'outage';
  readonly measure = slsLogMeasure;
  up = false;
  delivered = 0;
  skipdata = 0;
  async write(batch: RecordBatch): Promise<SinkResult> {
    if (!this.up) return { kind: 'retryable', retryAfterMs: 0, reason: 'HTTP 503' };
    this.delivered += batch.records.length;
    this.skipdata += batch.records.filter((r) => r['log-status'] === 'SKIPDATA').length;
    return { kind: 'ok' };
  }
  async close(): Promise<void> {}
}

describe.skipIf(!canMount)('spool on a full disk', () => {
  it('holds, bounds, reports, and resumes when space returns', async () => {
    const { logger, lines } = captureLogger();
    const sink = new OutageSink();
    const memoryMaxBytes = 100 * 1024;
    const d = await Delivery.open(
      sink,
      join(mnt, 'fl'),
      deliveryOptions({ retryInitialMs: 20, retryMaxMs: 50, spoolMemoryMaxBytes: memoryMaxBytes }),
      { logger },
    );
    const BATCHES = 60;
    const PER = 10; // records of ~1 KiB: a segment of about 10.5 KiB
    for (let i = 0; i < BATCHES; i++) d.submit(sizedBatch(i * PER, PER, 1_700_000_000 + i * 60, 1000));
    await d.appended();
    const stats = d.spool;
    const onDisk = readdirSync(join(mnt, 'fl')).filter((n) => n.endsWith('.seg')).length;
    expect(stats.writeError).toBe('ENOSPC');
    expect(onDisk).toBeGreaterThan(5);
    // Held in memory: data segments within the memory bound, and the SKIPDATA of what was
    // dropped (the marks: never dropped, here one small segment per dropped one).
    expect(stats.memorySegments).toBeGreaterThan(0);
    expect(stats.markSegments).toBeGreaterThan(0);
    expect(stats.lossMarkRecords.spool_memory_full).toBe(stats.evictedSegments);
    expect(stats.memorySegments - stats.markSegments).toBeLessThanOrEqual(Math.ceil(memoryMaxBytes / (10 * 1024)));
    // Every submitted segment is on disk, held, or dropped and counted.
    expect(onDisk + stats.memorySegments - stats.markSegments + stats.evictedSegments).toBe(BATCHES);
    expect(stats.memoryDroppedRecords).toBe(stats.evictedSegments * PER);
    expect(stats.memoryDroppedRecords).toBeGreaterThan(0);
    expect(stats.lostRecords.spool_memory_full).toBe(stats.memoryDroppedRecords);
    expect(lines.filter((l) => l.msg.startsWith('hold spool segments of'))).toHaveLength(1);
    expect(lines.filter((l) => l.msg.startsWith('write spool segment to'))).toHaveLength(1);

    const health = evaluateHealth(
      { sinkDeliveries: () => [sinkDeliveryStateOf(d, 60)], captureDeviceStates: () => [] },
      Date.now(),
    );
    expect(health.status).toBe('unhealthy');
    expect(health.problems[0]).toMatchObject({ kind: 'spool', sink: 'outage' });
    expect(health.problems[0].message).toMatch(
      /^spool of sink outage cannot write \(ENOSPC\): \d+ segments held in memory, \d+ records dropped over the memory bound$/,
    );

    // Space returns: the next append writes the held segments too.
    execFileSync('mount', ['-o', 'remount,size=4m', mnt]);
    d.submit(sizedBatch(BATCHES * PER, PER, 1_700_000_000 + BATCHES * 60, 1000));
    await d.appended();
    expect([d.spool.writeError, d.spool.memorySegments]).toEqual(['', 0]);
    expect(readdirSync(join(mnt, 'fl')).filter((n) => n.endsWith('.seg')).length).toBe(
      BATCHES + 1 - stats.evictedSegments + stats.markSegments,
    );
    expect(
      evaluateHealth(
        { sinkDeliveries: () => [sinkDeliveryStateOf(d, 60)], captureDeviceStates: () => [] },
        Date.now(),
      ).problems.filter((p) => p.kind === 'spool'),
    ).toEqual([]);

    sink.up = true;
    const left = await d.flush(Date.now() + 10_000);
    await d.close();
    expect(left.remainingRecords).toBe(0);
    // Every record submitted arrived or was dropped; every dropped one is in a SKIPDATA that arrived.
    expect(sink.delivered - sink.skipdata + stats.memoryDroppedRecords).toBe((BATCHES + 1) * PER);
    expect(sink.skipdata).toBeGreaterThan(0);
    expect(sink.skipdata).toBe(stats.lossMarkRecords.spool_memory_full);
  });
});
