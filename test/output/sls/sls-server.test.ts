import { createRequire } from 'node:module';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSlsAgent,
  probeRequestOptions,
  resolveSlsEndpoint,
  type SlsResponseProbe,
} from '../../../src/output/sls/sls-endpoint';
import { LogGroupEncoder } from '../../../src/output/sls/sls-log-group';
import { startSlsServer } from '../../sls-server/server.js';

// The real SDK signs every request here; the checks below tamper with one thing at a time
// (a header passed to the SDK is signed with the rest; beforeRequest edits after signing).
const require = createRequire(import.meta.url);
const Client = require('@alicloud/log');

type Server = Awaited<ReturnType<typeof startSlsServer>>;
let server: Server;
let client: { _request: (...a: unknown[]) => Promise<unknown> };
let agent: ReturnType<typeof createSlsAgent>;

beforeAll(async () => {
  server = await startSlsServer();
  const endpoint = resolveSlsEndpoint({ endpoint: server.url });
  agent = createSlsAgent(endpoint);
  client = new Client({
    endpoint: endpoint.sdkEndpoint,
    accessKeyId: 'test-access-key-id',
    accessKeySecret: 'test-access-key-secret',
  });
});
afterAll(async () => {
  agent.destroy();
  await server.close();
});

const now = () => Math.floor(Date.now() / 1000);
function logGroup(n: number): Buffer {
  const records = Array.from({ length: n }, (_, i) => ({ i: String(i) }));
  return new LogGroupEncoder().encode(
    { flowLogId: 'f', windowStartSec: now() - 60, windowEndSec: now(), records },
    { topic: '', source: '', tags: [] },
    now(),
  ).body;
}

interface Call {
  verb?: string;
  project?: string;
  path?: string;
  body?: Buffer;
  headers?: Record<string, unknown>;
  afterSigning?: (headers: Record<string, unknown>) => void;
}
async function call(c: Call): Promise<{ status?: number; code?: string }> {
  const probe: SlsResponseProbe = {};
  const opts = probeRequestOptions(agent, probe, { connectTimeoutMs: 2000, readTimeoutMs: 5000 });
  if (c.afterSigning) {
    const before = opts.beforeRequest as (o: Record<string, unknown>) => Record<string, unknown>;
    opts.beforeRequest = (o: Record<string, unknown>) => {
      c.afterSigning!(o.headers as Record<string, unknown>);
      return before(o);
    };
  }
  const body = c.body ?? logGroup(2);
  const headers = { 'content-type': 'application/x-protobuf', 'x-log-bodyrawsize': body.length, ...c.headers };
  try {
    await client._request(
      c.verb ?? 'POST',
      c.project === undefined ? 'test-project' : c.project || undefined,
      c.path ?? '/logstores/flowlog/shards/lb',
      {},
      body,
      headers,
      opts,
    );
    return { status: probe.statusCode };
  } catch (err) {
    return { status: probe.statusCode, code: (err as { code?: string }).code };
  }
}

describe('local Log Service server: protocol checks', () => {
  const deflated = deflateSync(logGroup(3));
  it.each<[string, Call, number, string | undefined]>([
    ['a valid PutLogs', {}, 200, undefined],
    [
      'a valid deflate PutLogs',
      { body: deflated, headers: { 'x-log-compresstype': 'deflate', 'x-log-bodyrawsize': logGroup(3).length } },
      200,
      undefined,
    ],
    [
      'Date 20 minutes old',
      { headers: { date: new Date(Date.now() - 20 * 60_000).toUTCString() } },
      400,
      'RequestTimeExpired',
    ],
    ['Date not RFC 822', { headers: { date: '2030-01-01T00:00:00Z' } }, 400, 'InvalidDateFormat'],
    ['x-log-apiversion 0.5.0', { headers: { 'x-log-apiversion': '0.5.0' } }, 400, 'InvalidAPIVersion'],
    ['no project in Host', { project: '' }, 404, 'ProjectNotExist'],
    [
      'Content-MD5 changed after signing',
      { afterSigning: (h) => (h['content-md5'] = '0'.repeat(32)) },
      400,
      'InvalidContentMD5',
    ],
    ['a header changed after signing', { afterSigning: (h) => (h['x-log-bodyrawsize'] = 1) }, 401, 'SignatureNotMatch'],
    ['x-log-compresstype zstd', { headers: { 'x-log-compresstype': 'zstd' } }, 400, 'InvalidCompressType'],
    [
      'deflate body that is not deflate',
      { headers: { 'x-log-compresstype': 'deflate' } },
      400,
      'PostBodyUncompressError',
    ],
    [
      'x-log-bodyrawsize off by one',
      { headers: { 'x-log-bodyrawsize': logGroup(2).length + 1 } },
      400,
      'InvalidBodyRawSize',
    ],
    [
      'x-log-bodyrawsize over 3 MiB',
      { headers: { 'x-log-bodyrawsize': 3 * 1024 * 1024 + 1 } },
      400,
      'PostBodyTooLarge',
    ],
    ['JSON content type', { headers: { 'content-type': 'application/json' } }, 415, 'InvalidContentType'],
    ['a body that is not a LogGroup', { body: Buffer.from([0x0a, 0x05, 0x08]) }, 400, 'PostBodyInvalid'],
    ['4097 logs', { body: logGroup(4097) }, 400, 'InvalidLogSize'],
    ['an unknown logstore', { path: '/logstores/nope/shards/lb' }, 404, 'LogStoreNotExist'],
  ])('%s -> %d %s', async (_name, c, status, code) => {
    expect(await call(c)).toEqual(code === undefined ? { status } : { status, code });
  });

  it('refuses a body over 10 MB before reading it', async () => {
    const body = Buffer.alloc(10 * 1024 * 1024 + 1);
    expect(await call({ body })).toEqual({ status: 413, code: 'PostBodyTooLarge' });
  });
});
