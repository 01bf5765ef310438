/**
 * Windows delivered side by side, against the local Log Service: a window of 600,000 flows (147
 * requests) is handed over, then, a second later, the next window of the same flow log. The next
 * window is stored long before the huge one is done (it waits for one of the huge window's
 * requests, not for all of them); each window's requests go out in spool order; every record is
 * stored exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordBatch } from '../../../src/flow/record';
import { Delivery } from '../../../src/output/delivery/delivery';
import type { Sink, SinkResult } from '../../../src/output/sink';
import { EnvCredentialsProvider } from '../../../src/output/sls/sls-credentials';
import { SlsSink } from '../../../src/output/sls/sls-sink';
import { captureLogger } from '../../helpers/capture-logger';
import { deliveryOptions } from '../../helpers/delivery-options';
import { flowBatch } from '../../helpers/records';
import { tempDirForFile } from '../../helpers/temp-dir';
import { startSlsServer } from '../../sls-server/server.js';

const PROJECT = 'wide-project';
const LOGSTORE = 'flowlog';
const HUGE = 600_000;
type Server = Awaited<ReturnType<typeof startSlsServer>>;
let server: Server;

beforeAll(async () => {
  server = await startSlsServer({ projects: { [PROJECT]: [LOGSTORE] }, keepContents: false });
});
afterAll(async () => {
  await server.close();
});

/** The sink as the delivery sees it, noting when each write of each window started and ended. */
class TimedSink implements Sink {
  readonly writes: Array<{
    windowStartSec: number;
    records: number;
    firstPort: string;
    startMs: number;
    endMs: number;
    ok: boolean;
  }> = [];
  constructor(private readonly inner: Sink) {}
  get name(): string {
    return this.inner.name;
  }
  get measure(): Sink['measure'] {
    return this.inner.measure;
  }
  async write(batch: RecordBatch): Promise<SinkResult> {
    const startMs = Date.now();
    const r = await this.inner.write(batch);
    this.writes.push({
      windowStartSec: batch.windowStartSec,
      records: batch.records.length,
      firstPort: batch.records[0].srcport,
      startMs,
      endMs: Date.now(),
      ok: r.kind === 'ok',
    });
    return r;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('a huge window and the next one', () => {
  it(`delivers the next window while the ${HUGE.toLocaleString('en')}-flow one is still going out`, async () => {
    const creds = new EnvCredentialsProvider({
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'test-access-key-id',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'test-access-key-secret',
    });
    const sink = new TimedSink(
      new SlsSink({
        sink: { type: 'sls', project: PROJECT, logstore: LOGSTORE, endpoint: server.url },
        credentials: creds,
        hostname: 'wide-host',
        agentVersion: '9.9.9',
      }),
    );
    const w1 = Math.floor(Date.now() / 300_000) * 300 - 600;
    const huge = flowBatch('fl-wide', w1, ['eni-w'], HUGE, 1, 300);
    huge.records.forEach((r, i) => (r.srcport = String(i))); // distinct flows, numbered in window order
    const next = flowBatch('fl-wide', w1 + 300, ['eni-w'], 50, 1, 300);
    // The production defaults: 4 requests in flight, 1 s linger, 4096 records a request.
    const d = await Delivery.open(
      sink,
      tempDirForFile('side-by-side'),
      deliveryOptions({ concurrency: 4, lingerMs: 1000, requestTimeoutMs: 30_000 }),
      { logger: captureLogger().logger },
    );
    const t0 = Date.now();
    d.submit(huge);
    await new Promise((r) => setTimeout(r, 1000));
    const nextAtMs = Date.now();
    d.submit(next);
    const left = await d.flush(Date.now() + 240_000);
    await d.close();
    expect(left.remainingRecords).toBe(0);

    const hugeWrites = sink.writes.filter((w) => w.windowStartSec === w1);
    const nextWrites = sink.writes.filter((w) => w.windowStartSec === w1 + 300);
    expect(sink.writes.every((w) => w.ok)).toBe(true);
    expect(hugeWrites.reduce((n, w) => n + w.records, 0)).toBe(HUGE);
    expect(nextWrites.reduce((n, w) => n + w.records, 0)).toBe(50);
    // Exactly once: as many logs stored as records handed over (no retries, no copies).
    expect(server.count(PROJECT, LOGSTORE)).toBe(HUGE + 50);
    // Within the huge window, requests went out in spool order (record 0 first).
    const starts = [...hugeWrites].sort((a, b) => a.startMs - b.startMs).map((w) => Number(w.firstPort));
    expect(starts[0]).toBe(0);
    expect(starts.filter((p, i) => i > 0 && p < starts[i - 1]).length).toBeLessThanOrEqual(3); // at most the 3 others in flight finish out of order
    const hugeDoneMs = Math.max(...hugeWrites.map((w) => w.endMs));
    const nextDoneMs = Math.max(...nextWrites.map((w) => w.endMs));
    const waitedMs = nextDoneMs - nextAtMs;
    const hugeMs = hugeDoneMs - t0;
    console.log(
      `side by side: the ${HUGE}-flow window took ${hugeMs} ms in ${hugeWrites.length} requests; the next window was stored ${waitedMs} ms after its hand-over`,
    );
    // The next window does not wait for the huge one: it is done well before it.
    expect(nextDoneMs).toBeLessThan(hugeDoneMs);
    expect(waitedMs).toBeLessThan(hugeMs / 2);
  }, 300_000);
});
