/**
 * Duplicates a reader can recognise: a write the Log Service stored but answered after the
 * client's timeout is retried and stored twice; both copies carry one `__pack_id__` tag, in this
 * process and after a restart (a new process, another prefix) that delivers the spooled batch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RECORD_FIELDS, type FlowRecord, type RecordBatch } from '../../../src/flow/record';
import { Delivery } from '../../../src/output/delivery/delivery';
import { PackIdSource } from '../../../src/output/delivery/pack-id';
import { EnvCredentialsProvider } from '../../../src/output/sls/sls-credentials';
import { SlsSink } from '../../../src/output/sls/sls-sink';
import { captureLogger } from '../../helpers/capture-logger';
import { deliveryOptions } from '../../helpers/delivery-options';
import { tempDirForFile } from '../../helpers/temp-dir';
import { startSlsServer } from '../../sls-server/server.js';

const PROJECT = 'pack-project';
const LOGSTORE = 'flowlog';
const creds = new EnvCredentialsProvider({
  ALIBABA_CLOUD_ACCESS_KEY_ID: 'test-access-key-id',
  ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'test-access-key-secret',
});
type Server = Awaited<ReturnType<typeof startSlsServer>>;
let server: Server;

beforeAll(async () => {
  server = await startSlsServer({ projects: { [PROJECT]: [LOGSTORE] } });
});
afterAll(async () => {
  await server.close();
});

const nowSec = Math.floor(Date.now() / 1000);
function batch(n: number, port: number): RecordBatch {
  const records: FlowRecord[] = [];
  for (let i = 0; i < n; i++) {
    const r: FlowRecord = {};
    for (const f of RECORD_FIELDS) r[f] = '-';
    Object.assign(r, {
      version: '1',
      'eni-id': 'eni-pack',
      srcaddr: `10.1.0.${i + 1}`,
      srcport: String(port),
      packets: String(i + 1),
      start: String(nowSec),
      end: String(nowSec),
      'log-status': 'OK',
    });
    records.push(r);
  }
  return {
    flowLogId: 'fl-pack',
    windowStartSec: nowSec - (nowSec % 60),
    windowEndSec: nowSec - (nowSec % 60) + 60,
    records,
  };
}
const sink = () =>
  new SlsSink({
    sink: { type: 'sls', project: PROJECT, logstore: LOGSTORE, endpoint: server.url },
    credentials: creds,
    hostname: 'pack-host',
    agentVersion: '9.9.9',
  });
const packIdOf = (log: { tags: Array<[string, string]> }) => log.tags.find(([k]) => k === '__pack_id__')?.[1];
const storedFor = (port: number) =>
  server
    .stored(PROJECT, LOGSTORE)
    .filter((l) => l.contents.some(([k, v]: [string, string]) => k === 'srcport' && v === String(port)));

describe('__pack_id__', () => {
  it('tags both copies of a write stored but answered late with one id', async () => {
    const { logger } = captureLogger();
    const d = await Delivery.open(sink(), tempDirForFile('pack-id-late'), deliveryOptions({ requestTimeoutMs: 300 }), {
      logger,
      packIds: new PackIdSource('00000000000000AA'),
    });
    server.faults.next(1, { kind: 'late', delayMs: 1000 }, { method: 'POST' });
    d.submit(batch(3, 5001));
    d.submit(batch(2, 5002));
    const left = await d.flush(Date.now() + 10_000);
    await d.close();
    expect(left.remainingRecords).toBe(0);
    expect(d.stats.timeouts).toBe(1);
    const first = storedFor(5001);
    expect(first).toHaveLength(6); // stored late, then again by the retry
    expect(new Set(first.map(packIdOf))).toEqual(new Set(['00000000000000AA-0']));
    // The next batch, answered in time: its two records stored once, under the next id.
    expect(storedFor(5002).map(packIdOf)).toEqual(['00000000000000AA-1', '00000000000000AA-1']);
  });

  it('keeps the id in the spool segment across a restart', async () => {
    const dir = tempDirForFile('pack-id-restart');
    const { logger } = captureLogger();
    const before = await Delivery.open(sink(), dir, deliveryOptions({ requestTimeoutMs: 300, retryInitialMs: 5000 }), {
      logger,
      packIds: new PackIdSource('00000000000000BB'),
    });
    server.faults.next(1, { kind: 'late', delayMs: 1000 }, { method: 'POST' });
    before.submit(batch(4, 5003));
    await before.appended();
    await new Promise((r) => setTimeout(r, 1500)); // timed out, stored, waiting to retry
    expect((await before.close()).remainingRecords).toBe(4);
    const after = await Delivery.open(sink(), dir, deliveryOptions(), {
      logger,
      packIds: new PackIdSource('00000000000000CC'),
    });
    expect((await after.flush(Date.now() + 10_000)).remainingRecords).toBe(0);
    await after.close();
    const copies = storedFor(5003);
    expect(copies).toHaveLength(8);
    expect(new Set(copies.map(packIdOf))).toEqual(new Set(['00000000000000BB-0']));
  });
});
