import { pbkdf2 } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RECORD_FIELDS, type FlowRecord, type RecordBatch } from '../../../src/flow/record';
import type { SlsSinkConfig } from '../../../src/config/types';
import { EnvCredentialsProvider } from '../../../src/output/sls/sls-credentials';
import { SlsSink, type SlsSinkOptions } from '../../../src/output/sls/sls-sink';
import { startSlsServer } from '../../sls-server/server.js';

const PROJECT = 'test-project';
const LOGSTORE = 'flowlog';
const creds = new EnvCredentialsProvider({
  ALIBABA_CLOUD_ACCESS_KEY_ID: 'test-access-key-id',
  ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'test-access-key-secret',
});

type Server = Awaited<ReturnType<typeof startSlsServer>>;
let server: Server;
const sinks: SlsSink[] = [];

beforeAll(async () => {
  server = await startSlsServer({ projects: { [PROJECT]: [LOGSTORE, 'other'] } });
});
afterAll(async () => {
  for (const s of sinks) await s.close();
  await server.close();
});

function sinkConfig(over: Partial<SlsSinkConfig> = {}): SlsSinkConfig {
  return { type: 'sls', project: PROJECT, logstore: LOGSTORE, endpoint: server.url, ...over };
}
function newSink(over: Partial<SlsSinkOptions> = {}): SlsSink {
  const s = new SlsSink({
    sink: sinkConfig(),
    credentials: creds,
    hostname: 'test-host',
    agentVersion: '9.9.9',
    ...over,
  });
  sinks.push(s);
  return s;
}

/** An 18-field record; values are functions of i so expectations follow from the inputs. */
function record(i: number, startSec: number): FlowRecord {
  const values: Record<string, string> = {
    version: '1',
    'vswitch-id': 'vsw-test0001',
    'vm-id': 'i-test0001',
    'vpc-id': 'vpc-test0001',
    'account-id': '1234567890',
    'eni-id': 'eni-test0001',
    srcaddr: `10.0.${i >> 8}.${i & 255}`,
    srcport: String(1024 + i),
    dstaddr: '172.16.0.1',
    dstport: '443',
    protocol: '6',
    direction: i % 2 ? 'in' : 'out',
    packets: String(i + 1),
    bytes: String((i + 1) * 100),
    start: String(startSec),
    end: String(startSec + 30),
    'log-status': 'OK',
    action: 'ACCEPT',
  };
  const r: FlowRecord = {};
  for (const f of RECORD_FIELDS) r[f] = values[f];
  return r;
}
function batch(n: number, startSec: number, windowStartSec = startSec): RecordBatch {
  const records: FlowRecord[] = [];
  for (let i = 0; i < n; i++) records.push(record(i, startSec + (i % 30)));
  return { flowLogId: 'fl-test', windowStartSec, windowEndSec: windowStartSec + 60, records };
}
const nowSec = () => Math.floor(Date.now() / 1000);

describe('SlsSink delivery', () => {
  it.each(['deflate', 'lz4', 'none'] as const)(
    'stores one log per record, fields in order, time = start (%s)',
    async (compression) => {
      const ls = `other`;
      const sink = newSink({ sink: sinkConfig({ logstore: ls }), compression });
      const before = server.stored(PROJECT, ls).length;
      const start = nowSec() - 120;
      const b = batch(40, start, start - 10);
      expect(await sink.write(b)).toEqual({ kind: 'ok' });
      const stored = server.stored(PROJECT, ls).slice(before);
      expect(stored).toHaveLength(40);
      stored.forEach((log, i) => {
        expect(log.contents).toEqual(Object.entries(b.records[i]));
        expect(log.contents.map(([k]) => k)).toEqual([...RECORD_FIELDS]);
        expect(log.time).toBe(start + (i % 30));
        expect(log.topic).toBe('flow_log');
        expect(log.source).toBe('test-host');
        expect(log.tags).toEqual([
          ['hostname', 'test-host'],
          ['agent_version', '9.9.9'],
        ]);
      });
      const req = server.requests.at(-1)!;
      expect(req.host).toBe(`${PROJECT}.127.0.0.1:${server.port}`);
      expect(req.compressType).toBe(compression);
      expect(sink.counters).toMatchObject({ batches: 1, logs: 40, clampedLogTimes: 0 });
    },
  );

  it('uses the configured topic and tags, configured tags winning over built-in ones', async () => {
    const sink = newSink({ sink: sinkConfig({ topic: 'vpc-a', tags: { team: 'net', hostname: 'alias' } }) });
    const before = server.stored(PROJECT, LOGSTORE).length;
    expect(await sink.write(batch(1, nowSec() - 60))).toEqual({ kind: 'ok' });
    const [log] = server.stored(PROJECT, LOGSTORE).slice(before);
    expect(log.topic).toBe('vpc-a');
    expect(log.tags).toEqual([
      ['hostname', 'alias'],
      ['agent_version', '9.9.9'],
      ['team', 'net'],
    ]);
  });

  it('accepts an empty batch without a request', async () => {
    const sink = newSink();
    const n = server.requests.length;
    expect(await sink.write({ flowLogId: 'x', windowStartSec: 0, windowEndSec: 60, records: [] })).toEqual({
      kind: 'ok',
    });
    expect(server.requests.length).toBe(n);
  });
});

describe('SlsSink limits', () => {
  it('sends 4096 records, refuses 4097 without a request', async () => {
    const sink = newSink();
    const start = nowSec() - 60;
    expect(await sink.write(batch(4096, start))).toEqual({ kind: 'ok' });
    const n = server.requests.length;
    const r = await sink.write(batch(4097, start));
    expect(r.kind).toBe('permanent');
    expect(r.kind === 'permanent' && r.reason).toMatch(/4097 records.*at most 4096/);
    expect(server.requests.length).toBe(n);
    expect(sink.counters.refusedBatches).toBe(1);
  });

  it('refuses a batch encoding to more than 3 MiB without a request', async () => {
    const sink = newSink();
    const b = batch(1000, nowSec() - 60);
    // 1000 values of 3200 bytes alone are 3,200,000 > 3,145,728 bytes.
    for (const r of b.records) r['tcp-flags'] = 'x'.repeat(3200);
    const n = server.requests.length;
    const r = await sink.write(b);
    expect(r.kind === 'permanent' && r.reason).toMatch(/at most 3145728 bytes/);
    expect(server.requests.length).toBe(n);
  });
});

describe('SlsSink log time', () => {
  it('clamps log times of an old capture into the accepted range, keeping start/end', async () => {
    const sink = newSink();
    const before = server.stored(PROJECT, LOGSTORE).length;
    const t0 = nowSec();
    const old = t0 - 30 * 86400; // 30 days ago: the service keeps only 7 days back
    const b = batch(3, old);
    b.records.push(record(3, t0 + 3600)); // an hour ahead: beyond now + 15 min
    b.records.push(record(4, t0 - 3 * 86400)); // 3 days ago: accepted as it is
    expect(await sink.write(b)).toEqual({ kind: 'ok' });
    const stored = server.stored(PROJECT, LOGSTORE).slice(before);
    // Past: now - 7 days + 1 day margin; future: now + 15 min - 5 min margin.
    for (const i of [0, 1, 2]) expect(Math.abs(stored[i].time - (t0 - 6 * 86400))).toBeLessThanOrEqual(2);
    expect(Math.abs(stored[3].time - (t0 + 600))).toBeLessThanOrEqual(2);
    expect(stored[4].time).toBe(t0 - 3 * 86400);
    expect(Object.fromEntries(stored[0].contents).start).toBe(String(old));
    expect(sink.counters.clampedLogTimes).toBe(4);
  });
});

describe('SlsSink overlapping writes', () => {
  // Writes share encoders (a body may be a view on an encoder's buffer until deflated or sent),
  // so a write must not get an encoder whose body is still being compressed or sent. Every
  // record names its batch: a body overwritten by a later batch shows in what the server stored.
  it.each(['deflate', 'lz4', 'none'] as const)('sends every batch as it was (%s)', async (compression) => {
    const ls = 'other';
    const sink = newSink({ sink: sinkConfig({ logstore: ls }), compression });
    const before = server.stored(PROJECT, ls).length;
    const start = nowSec() - 120;
    const batches = [0, 1, 2].map((k) => {
      const b = batch(4000 + k, start);
      for (const r of b.records) r['vm-id'] = `i-batch${k}`;
      return b;
    });
    // 0 and 1 back to back, with libuv's pool busy so that 0's deflate runs after 1's encode;
    // 2 once 0 and 1 are sending (bodies of 4000 records take more than one socket write).
    const poolBusy = Array.from(
      { length: 8 },
      () => new Promise((resolve) => pbkdf2('p', 's', 20_000, 32, 'sha256', resolve)),
    );
    const writes = [sink.write(batches[0]), sink.write(batches[1])];
    await new Promise((resolve) => setImmediate(resolve));
    writes.push(sink.write(batches[2]));
    expect(await Promise.all(writes)).toEqual(batches.map(() => ({ kind: 'ok' })));
    await Promise.all(poolBusy);
    const stored = server.stored(PROJECT, ls).slice(before);
    batches.forEach((b, k) => {
      const mine = stored.filter((log) => log.contents[2][1] === `i-batch${k}`);
      expect(mine.map((log) => log.contents)).toEqual(b.records.map((r) => Object.entries(r)));
    });
  });
});
