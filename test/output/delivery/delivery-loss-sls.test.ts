/**
 * Losses after capture reach the Logstore, against the local Log Service: segments damaged on
 * disk between two runs (cut short, a payload bit flipped, a header bit flipped) come back as
 * SKIPDATA for exactly the ENIs and windows they held (packets counted where the header tells),
 * and a stray file in the spool directory neither doubles records nor hides any. Asserted on what
 * the Logstore stored: every window present as OK or SKIPDATA, nothing doubled.
 */
import { readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSpoolDrain } from '../../../src/cli/spool-command';
import type { RecordBatch } from '../../../src/flow/record';
import { Delivery } from '../../../src/output/delivery/delivery';
import { outputLossesOf } from '../../../src/output/delivery/delivery-metrics';
import { EnvCredentialsProvider } from '../../../src/output/sls/sls-credentials';
import { SlsSink } from '../../../src/output/sls/sls-sink';
import { readSpoolStatuses } from '../../../src/output/spool/spool-status';
import { captureLogger } from '../../helpers/capture-logger';
import { deliveryOptions } from '../../helpers/delivery-options';
import { flowBatch } from '../../helpers/records';
import { tempDirForFile } from '../../helpers/temp-dir';
import { startSlsServer } from '../../sls-server/server.js';

const PROJECT = 'loss-project';
const creds = new EnvCredentialsProvider({
  ALIBABA_CLOUD_ACCESS_KEY_ID: 'test-access-key-id',
  ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'test-access-key-secret',
});
type Server = Awaited<ReturnType<typeof startSlsServer>>;
let server: Server;

beforeAll(async () => {
  server = await startSlsServer({ projects: { [PROJECT]: ['corrupt', 'stray'] } });
});
afterAll(async () => {
  await server.close();
});

const sink = (logstore: string) =>
  new SlsSink({
    sink: { type: 'sls', project: PROJECT, logstore, endpoint: server.url },
    credentials: creds,
    hostname: 'loss-host',
    agentVersion: '9.9.9',
  });
const options = deliveryOptions({ retryInitialMs: 20, retryMaxMs: 100, requestTimeoutMs: 2000 });
/** Windows of a minute, the newest ending a few minutes ago (the service takes a week back). */
const W0 = Math.floor(Date.now() / 60_000) * 60 - 20 * 60;
const seg = (dir: string) =>
  readdirSync(dir)
    .filter((n) => n.endsWith('.seg'))
    .sort();

interface Stored {
  c: Record<string, string>;
  pack: string | undefined;
}
function stored(logstore: string): Stored[] {
  return server.stored(PROJECT, logstore).map((l) => ({
    c: Object.fromEntries(l.contents),
    pack: l.tags.find(([k]: [string, string]) => k === '__pack_id__')?.[1],
  }));
}
/** Each distinct record once; throws when a record is stored twice under two pack ids. */
function unique(logs: Stored[]): Array<Record<string, string>> {
  const packs = new Map<string, Set<string | undefined>>();
  for (const s of logs) {
    const key = JSON.stringify(s.c);
    (packs.get(key) ?? packs.set(key, new Set()).get(key))?.add(s.pack);
  }
  for (const [key, p] of packs) expect([key, p.size]).toEqual([key, 1]);
  return [...packs.keys()].map((k) => JSON.parse(k) as Record<string, string>);
}

describe('segments damaged on disk between two runs', () => {
  it('become SKIPDATA for their ENIs and windows; the rest arrives exact', async () => {
    const dir = join(tempDirForFile('loss-corrupt'), 'fl-c');
    const windows: RecordBatch[] = [0, 1, 2, 3, 4, 5].map((i) =>
      flowBatch('fl-c', W0 + 60 * i, ['eni-a', 'eni-b'], 20, i + 1),
    );
    // Run 1: the endpoint is down; everything stays spooled.
    await server.down();
    const first = await Delivery.open(sink('corrupt'), dir, options, { logger: captureLogger().logger });
    for (const w of windows) first.submit(w);
    await first.flush(Date.now() + 300);
    await first.close();
    await server.up();
    const files = seg(dir);
    expect(files).toHaveLength(6);
    // Between the runs: window 1 cut short, window 2's payload and window 3's header bit-flipped.
    const cut = join(dir, files[1]);
    truncateSync(cut, Math.floor(readFileSync(cut).length / 2));
    const flip = (file: string, at: (len: number) => number) => {
      const b = readFileSync(join(dir, file));
      b[at(b.length)] ^= 0x10;
      writeFileSync(join(dir, file), b);
    };
    flip(files[2], (len) => len - 20);
    flip(files[3], () => 9);

    const { logger, lines } = captureLogger();
    const second = await Delivery.open(sink('corrupt'), dir, options, { logger });
    const left = await second.flush(Date.now() + 10_000);
    expect(left.remainingRecords).toBe(0);
    const losses = outputLossesOf('fl-c', second).find((l) => l.reason === 'segment_corrupt');
    await second.close();

    const records = unique(stored('corrupt'));
    const ok = (w: number) =>
      records.filter(
        (r) => r['log-status'] === 'OK' && Number(r.start) >= W0 + 60 * w && Number(r.start) < W0 + 60 * (w + 1),
      );
    const skip = records.filter((r) => r['log-status'] === 'SKIPDATA');
    // Windows 0, 4, 5: every flow exact.
    for (const w of [0, 4, 5]) {
      expect(ok(w)).toHaveLength(40);
      expect(ok(w).reduce((n, r) => n + Number(r.packets), 0)).toBe(40 * (w + 1));
    }
    // Windows 1 and 2: their header and coverage survived: per ENI, the window, the packets lost.
    for (const w of [1, 2]) {
      expect(ok(w)).toEqual([]);
      const marks = skip.filter((r) => r.start === String(W0 + 60 * w) && r.end === String(W0 + 60 * (w + 1)));
      expect(marks.map((r) => [r['eni-id'], r.packets, r.bytes, r['vpc-id']]).sort()).toEqual([
        ['eni-a', String(20 * (w + 1)), String(20 * (w + 1) * 100), 'vpc-1'],
        ['eni-b', String(20 * (w + 1)), String(20 * (w + 1) * 100), 'vpc-1'],
      ]);
    }
    // Window 3: nothing of it readable: both ENIs this flow log showed, counts unknown, bounds
    // at least from its earlier neighbour's start to its later neighbour's end.
    expect(ok(3)).toEqual([]);
    const wide = skip.filter((r) => r.packets === '-');
    expect(wide.map((r) => r['eni-id']).sort()).toEqual(['eni-a', 'eni-b']);
    for (const r of wide) {
      expect(Number(r.start)).toBeLessThanOrEqual(W0 + 60 * 2);
      expect(Number(r.end)).toBeGreaterThanOrEqual(W0 + 60 * 5);
    }
    expect(skip).toHaveLength(6);
    // Counted by reason (known counts only: windows 1 and 2), logged once per file: the cut one and
    // the bad header when the spool opens, the bad payload when it is read for delivery.
    expect(losses).toEqual({ flowLog: 'fl-c', reason: 'segment_corrupt', lostRecords: 80, skipdataRecords: 6 });
    expect(lines.filter((l) => String(l.msg).startsWith('open spool segment'))).toHaveLength(2);
    expect(lines.filter((l) => String(l.msg).startsWith('read spool segment'))).toHaveLength(1);
  });
});

describe('a stray file in the spool directory', () => {
  it('is set aside once; with the endpoint up each batch is stored once, and in an outage nothing is hidden', async () => {
    const root = tempDirForFile('loss-stray');
    const dir = join(root, 'spool', 'fl-s');
    const { logger } = captureLogger();
    const probe = await Delivery.open(sink('stray'), dir, options, { logger });
    await probe.close();
    writeFileSync(join(dir, '99999999999999999999.seg'), 'left here by something else');

    const d = await Delivery.open(sink('stray'), dir, options, { logger });
    for (let i = 0; i < 8; i++) d.submit(flowBatch('fl-s', W0 + 60 * i, ['eni-s'], 5));
    expect((await d.flush(Date.now() + 10_000)).remainingRecords).toBe(0);
    expect(d.spool.foreignFilesSetAside).toBe(1);
    // Each batch once: 40 records, 8 pack ids, no copy.
    let logs = stored('stray');
    expect(logs).toHaveLength(40);
    expect(unique(logs)).toHaveLength(40);
    expect(new Set(logs.map((l) => l.pack)).size).toBe(8);

    // An outage: 4 more windows spooled, and said so by `spool status`; `spool drain` delivers them.
    await server.down();
    for (let i = 8; i < 12; i++) d.submit(flowBatch('fl-s', W0 + 60 * i, ['eni-s'], 5));
    await d.flush(Date.now() + 300);
    await d.close();
    await server.up();
    const status = (await readSpoolStatuses(root)).find((s) => s.flowLogId === 'fl-s');
    expect(status).toMatchObject({ segments: 4, records: 20, strayFiles: 0 });
    const out: string[] = [];
    const code = await runSpoolDrain(
      { stateDir: root, sinkFactory: () => sink('stray'), options, logger },
      { write: (t: string) => out.push(t) },
    );
    expect([code, out.join('')]).toEqual([0, expect.stringContaining('spool empty')]);
    logs = stored('stray');
    expect(unique(logs)).toHaveLength(60);
    expect(logs).toHaveLength(60);
    expect(readdirSync(join(dir, 'corrupt')).map((n) => n.replace(/\.\d+$/, ''))).toEqual(['99999999999999999999.seg']);
  });
});
