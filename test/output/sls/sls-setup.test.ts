import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import yargs from 'yargs';
import { runSlsSetup, slsCommand } from '../../../src/cli/sls-command';
import { parseConfig } from '../../../src/config/load';
import type { AgentConfig } from '../../../src/config/types';
import { RECORD_FIELDS } from '../../../src/flow/record';
import { EnvCredentialsProvider } from '../../../src/output/sls/sls-credentials';
import { startSlsServer } from '../../sls-server/server.js';

type Server = Awaited<ReturnType<typeof startSlsServer>>;
let server: Server | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const credentials = new EnvCredentialsProvider({
  ALIBABA_CLOUD_ACCESS_KEY_ID: 'test-access-key-id',
  ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'test-access-key-secret',
});

/** Three flow logs: two to logstore "flows" (one with both extra fields), one to "audit", plus a file sink. */
function configFor(url: string, project = 'test-project'): AgentConfig {
  const sls = (logstore: string) => `{type: sls, project: ${project}, logstore: ${logstore}, endpoint: "${url}"}`;
  const text = `region: cn-hangzhou
accountId: "1234567890123456"
enis:
  - {id: eni-a, ips: [10.0.0.1], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-1}
flowLogs:
  - {id: fl-1, resourceType: eni, resourceId: eni-a, sink: ${sls('flows')}}
  - {id: fl-2, resourceType: vpc, resourceId: vpc-1, extraFields: [tcp-flags, region], sink: ${sls('flows')}}
  - {id: fl-3, resourceType: vswitch, resourceId: vsw-1, sink: ${sls('audit')}}
  - {id: fl-4, resourceType: eni, resourceId: eni-a, sink: {type: file, path: /tmp/x.jsonl}}
`;
  return parseConfig(text, '/cfg/agent.yaml').config;
}

async function run(config: AgentConfig) {
  let out = '';
  let err = '';
  // Logstores and indexes only: the views are test/output/sls/sls-views.test.ts's.
  const code = await runSlsSetup(
    config,
    { write: (s: string) => (out += s) },
    { write: (s: string) => (err += s) },
    { credentials, retryDelayMs: 10, views: false },
  );
  return { code, out, err };
}

const LONG = ['srcport', 'dstport', 'protocol', 'packets', 'bytes', 'start', 'end'];

describe('sls setup', () => {
  it('creates missing logstores and indexes, then finds everything in place on a second run', async () => {
    server = await startSlsServer({ projects: { 'test-project': [] } });
    const config = configFor(server.url);

    const first = await run(config);
    expect(first).toEqual({
      code: 0,
      err: '',
      out: [
        'logstore test-project/flows: created (30 days, 2 shards)',
        'index of test-project/flows: created',
        'logstore test-project/audit: created (30 days, 2 shards)',
        'index of test-project/audit: created',
        '',
      ].join('\n'),
    });
    expect(server.logstores('test-project').sort()).toEqual(['audit', 'flows']);
    const keys = (server.index('test-project', 'flows') as { keys: Record<string, { type: string }> }).keys;
    // 18 record fields plus the two extra fields of fl-2.
    expect(Object.keys(keys)).toEqual([...RECORD_FIELDS, 'tcp-flags', 'region']);
    for (const [k, v] of Object.entries(keys)) expect([k, v.type]).toEqual([k, LONG.includes(k) ? 'long' : 'text']);
    expect(Object.keys((server.index('test-project', 'audit') as { keys: object }).keys)).toHaveLength(18);

    const creates = () => server!.requests.filter((r) => r.method !== 'GET').length;
    const before = creates();
    const second = await run(config);
    expect(second.code).toBe(0);
    expect(second.out).toBe(
      [
        'logstore test-project/flows: exists',
        'index of test-project/flows: up to date',
        'logstore test-project/audit: exists',
        'index of test-project/audit: up to date',
        '',
      ].join('\n'),
    );
    expect(creates()).toBe(before);
  });

  it('adds the keys an existing index lacks and leaves keys of another type alone', async () => {
    server = await startSlsServer({ projects: { 'test-project': ['flows', 'audit'] } });
    const config = configFor(server.url);
    await run(config);
    // Someone edited the index of "flows": srcport became text and "bytes" was removed.
    const idx = server.index('test-project', 'flows') as { keys: Record<string, unknown> };
    idx.keys.srcport = { type: 'text', token: [' '] };
    delete idx.keys.bytes;

    const r = await run(config);
    expect(r.code).toBe(0);
    expect(r.out).toContain('index of test-project/flows: added keys bytes\n');
    expect(r.err).toBe(
      'sls setup: index of test-project/flows: key srcport is text, flow logs want long; left as it is (change it in the console to query it as long)\n',
    );
    const keys = (server.index('test-project', 'flows') as { keys: Record<string, { type: string }> }).keys;
    expect(keys.bytes.type).toBe('long');
    expect(keys.srcport.type).toBe('text');
  });

  it('fails with the service error and its fix for a project that does not exist', async () => {
    server = await startSlsServer({ projects: { 'test-project': [] } });
    const r = await run(configFor(server.url, 'no-such-project'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /^sls setup: get logstore no-such-project\/flows: ProjectNotExist \(HTTP 404.*check sink\.project/m,
    );
  });

  it('retries CreateIndex while a new logstore is not yet visible', async () => {
    server = await startSlsServer({ projects: { 'test-project': [] } });
    server.faults.next(
      2,
      { kind: 'error', status: 404, errorCode: 'LogStoreNotExist' },
      { method: 'POST', path: /\/index$/ },
    );
    const r = await run(configFor(server.url));
    expect(r.code).toBe(0);
    const indexPosts = server.requests.filter((q) => q.method === 'POST' && q.url.startsWith('/logstores/flows/index'));
    expect(indexPosts.map((q) => q.status)).toEqual([404, 404, 200]);
  });

  it('has nothing to do without sls sinks', async () => {
    const text = `region: cn-hangzhou
accountId: "1234567890123456"
enis:
  - {id: eni-a, ips: [10.0.0.1], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-1}
flowLogs:
  - {id: fl-1, resourceType: eni, resourceId: eni-a, sink: {type: stdout}}
`;
    const r = await run(parseConfig(text, '/cfg/a.yaml').config);
    expect(r).toEqual({ code: 0, out: 'sls setup: no flow log has an sls sink; nothing to do\n', err: '' });
  });

  it('runs as `sls setup --config FILE` with credentials from the environment', async () => {
    server = await startSlsServer({ projects: { 'test-project': [] } });
    const dir = mkdtempSync(join(tmpdir(), 'sls-setup-'));
    const file = join(dir, 'agent.yaml');
    writeFileSync(
      file,
      `region: cn-hangzhou
accountId: "1234567890123456"
enis:
  - {id: eni-a, ips: [10.0.0.1], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-1}
flowLogs:
  - {id: fl-1, resourceType: eni, resourceId: eni-a, sink: {type: sls, project: test-project, logstore: flows, endpoint: "${server.url}"}}
`,
    );
    vi.stubEnv('ALIBABA_CLOUD_ACCESS_KEY_ID', 'test-access-key-id');
    vi.stubEnv('ALIBABA_CLOUD_ACCESS_KEY_SECRET', 'test-access-key-secret');
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const saved = process.exitCode;
    try {
      await yargs(['sls', 'setup', '--config', file]).command(slsCommand).strict().parseAsync();
      expect(process.exitCode ?? 0).toBe(0);
      expect(out.mock.calls.map((c) => String(c[0])).join('')).toContain('logstore test-project/flows: created');
      expect(server.logstores('test-project')).toEqual(['flows']);
    } finally {
      process.exitCode = saved;
      out.mockRestore();
      vi.unstubAllEnvs();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
