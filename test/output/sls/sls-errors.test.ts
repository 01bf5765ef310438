import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordBatch } from '../../../src/flow/record';
import { EnvCredentialsProvider } from '../../../src/output/sls/sls-credentials';
import type { SlsCredentials, SlsCredentialsProvider } from '../../../src/output/sls/sls-credentials-contract';
import type { SinkResult } from '../../../src/output/sink';
import { SlsSink, type SlsSinkOptions } from '../../../src/output/sls/sls-sink';
import { Delivery } from '../../../src/output/delivery/delivery';
import { captureLogger } from '../../helpers/capture-logger';
import { deliveryOptions } from '../../helpers/delivery-options';
import { MemorySegmentStore } from '../../helpers/memory-segment-store';
import { startSlsServer } from '../../sls-server/server.js';

const PROJECT = 'test-project';
const LOGSTORE = 'flowlog';

/** Counts invalidations, to see SecurityTokenExpired drop cached credentials. */
class CountingProvider implements SlsCredentialsProvider {
  readonly description = 'test';
  invalidations = 0;
  constructor(private readonly c: SlsCredentials) {}
  async getCredentials(): Promise<SlsCredentials> {
    return this.c;
  }
  invalidate(): void {
    this.invalidations++;
  }
}

type Server = Awaited<ReturnType<typeof startSlsServer>>;
let server: Server;
const sinks: SlsSink[] = [];
const good = new CountingProvider({ accessKeyId: 'test-access-key-id', accessKeySecret: 'test-access-key-secret' });

beforeAll(async () => {
  server = await startSlsServer();
});
afterAll(async () => {
  for (const s of sinks) await s.close();
  await server.close();
});

function newSink(over: Partial<SlsSinkOptions> = {}): SlsSink {
  const s = new SlsSink({
    sink: { type: 'sls', project: PROJECT, logstore: LOGSTORE, endpoint: server.url },
    credentials: good,
    hostname: 'h',
    agentVersion: '1',
    ...over,
  });
  sinks.push(s);
  return s;
}
function oneRecord(): RecordBatch {
  const t = Math.floor(Date.now() / 1000) - 60;
  return {
    flowLogId: 'fl',
    windowStartSec: t,
    windowEndSec: t + 60,
    records: [{ version: '1', start: String(t), end: String(t + 1) }],
  };
}
function expectKind(r: SinkResult, kind: SinkResult['kind']): void {
  expect(r.kind, JSON.stringify(r)).toBe(kind);
}

type Fault = Parameters<Server['faults']['next']>[1];
interface Row {
  name: string;
  fault: Fault;
  kind: 'retryable' | 'permanent';
  retryAfterMs?: number;
  reason: RegExp;
}
const err = (status: number, errorCode: string, retryAfterSec?: number): Fault => ({
  kind: 'error',
  status,
  errorCode,
  retryAfterSec,
});
const ROWS: Row[] = [
  {
    name: 'WriteQuotaExceed',
    fault: err(403, 'WriteQuotaExceed'),
    kind: 'retryable',
    retryAfterMs: 2000,
    reason: /WriteQuotaExceed/,
  },
  {
    name: 'ShardWriteQuotaExceed',
    fault: err(403, 'ShardWriteQuotaExceed'),
    kind: 'retryable',
    retryAfterMs: 2000,
    reason: /ShardWriteQuotaExceed/,
  },
  {
    name: 'ExceedQPSLimit + Retry-After 7',
    fault: err(403, 'ExceedQPSLimit', 7),
    kind: 'retryable',
    retryAfterMs: 7000,
    reason: /ExceedQPSLimit/,
  },
  {
    name: 'InternalServerError',
    fault: err(500, 'InternalServerError'),
    kind: 'retryable',
    retryAfterMs: 1000,
    reason: /InternalServerError \(HTTP 500/,
  },
  { name: 'ServerBusy', fault: err(503, 'ServerBusy'), kind: 'retryable', retryAfterMs: 1000, reason: /ServerBusy/ },
  {
    name: 'RequestTimeout',
    fault: err(500, 'RequestTimeout'),
    kind: 'retryable',
    retryAfterMs: 1000,
    reason: /RequestTimeout/,
  },
  {
    name: 'unknown code on 5xx',
    fault: err(502, 'SomethingNew'),
    kind: 'retryable',
    retryAfterMs: 1000,
    reason: /SomethingNew/,
  },
  {
    name: 'bare 503',
    fault: { kind: 'status', status: 503 },
    kind: 'retryable',
    retryAfterMs: 1000,
    reason: /without an error code \(HTTP 503/,
  },
  {
    name: 'bare 504 + Retry-After 3',
    fault: { kind: 'status', status: 504, retryAfterSec: 3 },
    kind: 'retryable',
    retryAfterMs: 3000,
    reason: /HTTP 504/,
  },
  {
    name: 'proxy HTML 502',
    fault: { kind: 'html502' },
    kind: 'retryable',
    retryAfterMs: 1000,
    reason: /non-JSON body.*502 Bad Gateway/,
  },
  {
    name: 'text on 200',
    fault: { kind: 'status', status: 200, body: 'OK', contentType: 'text/plain' },
    kind: 'retryable',
    reason: /non-JSON body/,
  },
  {
    name: 'JSON without errorCode on 200',
    fault: { kind: 'status', status: 200, body: '{"a":1}', contentType: 'application/json' },
    kind: 'retryable',
    reason: /unexpected answer/,
  },
  {
    name: 'broken JSON',
    fault: { kind: 'status', status: 500, body: '{"errorCode":', contentType: 'application/json' },
    kind: 'retryable',
    reason: /not JSON/,
  },
  {
    name: 'connection reset',
    fault: { kind: 'reset' },
    kind: 'retryable',
    retryAfterMs: 1000,
    reason: /ECONNRESET|socket hang up/,
  },
  {
    name: 'RequestTimeExpired',
    fault: err(400, 'RequestTimeExpired'),
    kind: 'retryable',
    retryAfterMs: 60_000,
    reason: /system clock/,
  },
  {
    name: 'Unauthorized',
    fault: err(401, 'Unauthorized'),
    kind: 'permanent',
    reason: /check ALIBABA_CLOUD_ACCESS_KEY_ID.*log:PostLogStoreLogs/,
  },
  {
    name: 'SignatureNotMatch',
    fault: err(401, 'SignatureNotMatch'),
    kind: 'permanent',
    reason: /ALIBABA_CLOUD_ACCESS_KEY_SECRET/,
  },
  {
    name: 'InvalidAccessKeyId',
    fault: err(401, 'InvalidAccessKeyId'),
    kind: 'permanent',
    reason: /ALIBABA_CLOUD_ACCESS_KEY_ID/,
  },
  { name: 'ProjectNotExist', fault: err(404, 'ProjectNotExist'), kind: 'permanent', reason: /sink\.project/ },
  {
    name: 'LogStoreNotExist',
    fault: err(404, 'LogStoreNotExist'),
    kind: 'permanent',
    reason: /run flowlog-agent sls setup/,
  },
  { name: 'PostBodyInvalid', fault: err(400, 'PostBodyInvalid'), kind: 'permanent', reason: /flowlog-agent bug/ },
  { name: 'InvalidParameter', fault: err(400, 'InvalidParameter'), kind: 'permanent', reason: /flowlog-agent bug/ },
  { name: 'ParameterInvalid', fault: err(400, 'ParameterInvalid'), kind: 'permanent', reason: /flowlog-agent bug/ },
  { name: 'PostBodyTooLarge', fault: err(413, 'PostBodyTooLarge'), kind: 'permanent', reason: /maxBatchBytes/ },
  {
    name: 'unknown code on 4xx',
    fault: err(403, 'SomethingNew'),
    kind: 'permanent',
    reason: /SomethingNew.*not an error the agent knows/,
  },
];

describe('SlsSink outcome classification', () => {
  it.each(ROWS)('$name -> $kind', async (row) => {
    const sink = newSink();
    server.faults.next(1, row.fault);
    const r = await sink.write(oneRecord());
    expectKind(r, row.kind);
    if (r.kind === 'ok') return;
    expect(r.reason).toMatch(row.reason);
    expect(r.reason).toMatch(/^put logs to test-project\/flowlog: /);
    if (row.retryAfterMs !== undefined && r.kind === 'retryable') expect(r.retryAfterMs).toBe(row.retryAfterMs);
    // The fault is spent: the next write goes through.
    expect(await sink.write(oneRecord())).toEqual({ kind: 'ok' });
  });

  it('an endpoint refusing deflate is retried at once, and gets lz4 from then on', async () => {
    const sink = newSink();
    server.faults.next(1, err(400, 'InvalidCompressType'));
    const r = await sink.write(oneRecord());
    expect(r).toEqual({
      kind: 'retryable',
      retryAfterMs: 0,
      reason: 'put logs to test-project/flowlog: the endpoint refuses deflate bodies; retrying with lz4',
    });
    const big = oneRecord();
    big.records[0].bytes = 'x'.repeat(500); // compressible, so the body is sent compressed
    expect(await sink.write(big)).toEqual({ kind: 'ok' });
    expect(server.requests.at(-1)!.compressType).toBe('lz4');
  });

  it('SecurityTokenExpired is retryable and drops cached credentials', async () => {
    const sink = newSink();
    const before = good.invalidations;
    server.faults.next(1, err(401, 'SecurityTokenExpired'));
    expectKind(await sink.write(oneRecord()), 'retryable');
    expect(good.invalidations).toBe(before + 1);
  });
});

describe('SlsSink against real refusals of the local server', () => {
  const key = (id: string, secret: string) =>
    new EnvCredentialsProvider({ ALIBABA_CLOUD_ACCESS_KEY_ID: id, ALIBABA_CLOUD_ACCESS_KEY_SECRET: secret });
  it.each([
    {
      name: 'wrong secret',
      creds: key('test-access-key-id', 'not-the-secret'),
      over: {},
      reason: /SignatureNotMatch \(HTTP 401.*the secret does not match/,
    },
    { name: 'unknown key id', creds: key('nobody', 'x'), over: {}, reason: /InvalidAccessKeyId \(HTTP 401/ },
    {
      name: 'unknown project',
      creds: good,
      over: { project: 'no-such-project' },
      reason: /ProjectNotExist \(HTTP 404/,
    },
    {
      name: 'unknown logstore',
      creds: good,
      over: { logstore: 'no-such-logstore' },
      reason: /LogStoreNotExist \(HTTP 404.*flowlog-agent sls setup/,
    },
  ])('$name -> permanent', async ({ creds, over, reason }) => {
    const sink = newSink({
      credentials: creds,
      sink: { type: 'sls', project: PROJECT, logstore: LOGSTORE, endpoint: server.url, ...over },
    });
    const r = await sink.write(oneRecord());
    expectKind(r, 'permanent');
    expect(r.kind === 'permanent' && r.reason).toMatch(reason);
    expect(r.kind === 'permanent' && r.reason).not.toContain('not-the-secret');
  });

  it('an answer slower than the request timeout is retryable', async () => {
    const sink = newSink({ requestTimeoutMs: 300 });
    server.faults.next(1, { kind: 'slow', delayMs: 1500 });
    const t0 = Date.now();
    const r = await sink.write(oneRecord());
    expectKind(r, 'retryable');
    expect(r.kind === 'retryable' && r.reason).toMatch(/no answer in time/);
    expect(Date.now() - t0).toBeLessThan(1400);
    expect(await sink.write(oneRecord())).toEqual({ kind: 'ok' });
  });

  it('a server that is down is retryable (ECONNREFUSED), and delivery resumes when it is back', async () => {
    const sink = newSink();
    expect(await sink.write(oneRecord())).toEqual({ kind: 'ok' });
    await server.down();
    try {
      const r = await sink.write(oneRecord());
      expectKind(r, 'retryable');
      expect(r.kind === 'retryable' && r.reason).toMatch(/ECONNREFUSED/);
    } finally {
      await server.up();
    }
    expect(await sink.write(oneRecord())).toEqual({ kind: 'ok' });
  });

  it('a closed sink refuses writes', async () => {
    const sink = newSink();
    await sink.close();
    expectKind(await sink.write(oneRecord()), 'permanent');
  });
});

describe('an authentication outage through the delivery layer', () => {
  it('is logged once with the fix, whatever the request ids, and its count is logged on recovery', async () => {
    const { logger, lines } = captureLogger();
    const sink = newSink();
    // 403s and 401s: each answer carries a fresh request id; the first is logged, the rest counted.
    server.faults.next(6, err(401, 'Unauthorized'));
    const delivery = new Delivery(
      sink,
      new MemorySegmentStore(),
      deliveryOptions({ retryInitialMs: 10, retryMaxMs: 30 }),
      { logger },
    );
    delivery.submit(oneRecord());
    const result = await delivery.flush(Date.now() + 5000);
    expect(result.complete).toBe(false); // flush stops at a permanent failure...
    const deadline = Date.now() + 5000;
    while (delivery.stats.recordsDelivered === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20)); // ...the probes go on
    expect(delivery.stats.recordsDelivered).toBe(1);
    const failures = lines.filter((l) => String(l.msg).includes('Unauthorized'));
    expect(failures).toHaveLength(1);
    expect(failures[0].level).toBe('error');
    expect(String(failures[0].msg)).toMatch(/request id .*check ALIBABA_CLOUD_ACCESS_KEY_ID/);
    const recovered = lines.filter((l) => String(l.msg).includes('recovered after'));
    expect(recovered.map((l) => l.msg)).toEqual([`deliver batches to ${sink.name}: recovered after 6 failed attempts`]);
    await delivery.close();
  });
});
