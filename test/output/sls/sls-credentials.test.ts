import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  EnvCredentialsProvider,
  FileCredentialsProvider,
  RamRoleCredentialsProvider,
  resolveSlsCredentials,
  SlsCredentialsError,
  type SlsCredentialsProvider,
} from '../../../src/output/sls/sls-credentials';
import { SlsSink } from '../../../src/output/sls/sls-sink';
import { startEcsMetadataServer } from '../../sls-server/ecs-metadata-server.js';
import { startSlsServer } from '../../sls-server/server.js';

const ID = 'test-access-key-id';
const SECRET = 'test-access-key-secret';
const STS_ID = 'STS.role-key-id';
const STS_SECRET = 'role-secret-1';
const STS_TOKEN = 'role-token-1';

type Server = Awaited<ReturnType<typeof startSlsServer>>;
let sls: Server;
let dir: string;

beforeAll(async () => {
  sls = await startSlsServer({
    accessKeys: [
      { accessKeyId: ID, accessKeySecret: SECRET },
      { accessKeyId: STS_ID, accessKeySecret: STS_SECRET, securityToken: STS_TOKEN },
    ],
  });
  dir = mkdtempSync(join(tmpdir(), 'sls-creds-'));
});
afterAll(async () => {
  await sls.close();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  vi.useRealTimers();
});

/** Writes one record through a sink using `credentials`; the local server checks the signature. */
async function writeWith(credentials: SlsCredentialsProvider) {
  const sink = new SlsSink({
    sink: { type: 'sls', project: 'test-project', logstore: 'flowlog', endpoint: sls.url },
    credentials,
    hostname: 'h',
    agentVersion: '1',
  });
  try {
    const t = Math.floor(Date.now() / 1000) - 60;
    return await sink.write({
      flowLogId: 'fl',
      windowStartSec: t,
      windowEndSec: t + 60,
      records: [{ version: '1', start: String(t) }],
    });
  } finally {
    await sink.close();
  }
}
function credentialsFile(name: string, content: string, mode: number): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  chmodSync(path, mode);
  return path;
}

describe('environment credentials', () => {
  it('signs with ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET', async () => {
    const p = new EnvCredentialsProvider({ ALIBABA_CLOUD_ACCESS_KEY_ID: ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET: SECRET });
    expect(await writeWith(p)).toEqual({ kind: 'ok' });
  });

  it('sends ALIBABA_CLOUD_SECURITY_TOKEN for temporary keys, which fail without it', async () => {
    const env = { ALIBABA_CLOUD_ACCESS_KEY_ID: STS_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET: STS_SECRET };
    expect(await writeWith(new EnvCredentialsProvider({ ...env, ALIBABA_CLOUD_SECURITY_TOKEN: STS_TOKEN }))).toEqual({
      kind: 'ok',
    });
    expect(sls.requests.at(-1)!.headers['x-acs-security-token']).toBe(STS_TOKEN);
    expect((await writeWith(new EnvCredentialsProvider(env))).kind).toBe('permanent');
  });

  it('names the variables when they are missing', () => {
    expect(() => new EnvCredentialsProvider({ ALIBABA_CLOUD_ACCESS_KEY_ID: ID })).toThrow(
      /ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET/,
    );
  });

  it('never shows the secret in JSON or inspect output', () => {
    const p = new EnvCredentialsProvider({ ALIBABA_CLOUD_ACCESS_KEY_ID: ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET: SECRET });
    expect(JSON.stringify({ p })).not.toContain(SECRET);
    expect(inspect(p, { showHidden: true, depth: 5 })).not.toContain(SECRET);
  });
});

describe('credentials file', () => {
  const json = (secret: string) => JSON.stringify({ accessKeyId: ID, accessKeySecret: secret });

  it.each([0o644, 0o640, 0o604, 0o660])('refuses mode %s like ssh does', (mode) => {
    const path = credentialsFile(`open-${mode.toString(8)}.json`, json(SECRET), mode);
    const e = (() => {
      try {
        new FileCredentialsProvider(path);
      } catch (err) {
        return err as SlsCredentialsError;
      }
      throw new Error('accepted');
    })();
    expect(e).toBeInstanceOf(SlsCredentialsError);
    expect(e.message).toBe(
      `refuse credentials file ${path}: its mode 0${mode.toString(8)} lets group or others access it; run chmod 600 ${path}`,
    );
  });

  it('signs with a 0600 file and re-reads it when it changes', async () => {
    const path = credentialsFile('creds.json', json(SECRET), 0o600);
    const p = new FileCredentialsProvider(path);
    expect(await writeWith(p)).toEqual({ kind: 'ok' });
    // A rotated (here: wrong) secret is picked up without a restart.
    writeFileSync(path, json('rotated-secret-that-is-wrong'));
    const r = await writeWith(p);
    expect(r.kind === 'permanent' && r.reason).toMatch(/SignatureNotMatch/);
  });

  it('reports malformed JSON without quoting the content', () => {
    const path = credentialsFile('bad.json', '{"accessKeyId": "x", "accessKeySecret": "sek', 0o600);
    expect(() => new FileCredentialsProvider(path)).toThrow(`parse credentials file ${path}: not valid JSON`);
  });

  it('a file becoming too open makes writes permanent failures with the fix', async () => {
    const path = credentialsFile('later-open.json', json(SECRET), 0o600);
    const p = new FileCredentialsProvider(path);
    chmodSync(path, 0o644);
    const r = await writeWith(p);
    expect(r.kind === 'permanent' && r.reason).toMatch(/run chmod 600/);
  });
});

describe('resolveSlsCredentials', () => {
  const env = { ALIBABA_CLOUD_ACCESS_KEY_ID: ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET: SECRET };

  it('takes the file, else the RAM role, else the environment', () => {
    const path = credentialsFile('resolve.json', JSON.stringify({ accessKeyId: ID, accessKeySecret: SECRET }), 0o600);
    expect(resolveSlsCredentials({ env }).description).toBe('environment');
    expect(resolveSlsCredentials({ env, credentials: { file: path } }).description).toBe(`file ${path}`);
    expect(resolveSlsCredentials({ env, credentials: { ramRole: 'flowlog' } }).description).toBe('RAM role flowlog');
  });

  it('refuses a file and a role together', () => {
    expect(() => resolveSlsCredentials({ credentials: { file: '/x', ramRole: 'r' } })).toThrow(/not both/);
  });
});

describe('RAM role credentials from the metadata service', () => {
  const role = (secret: string, token: string, expiresAtMs: number) => ({
    accessKeyId: STS_ID,
    accessKeySecret: secret,
    securityToken: token,
    expiration: new Date(expiresAtMs).toISOString().replace(/\.\d+Z$/, 'Z'),
  });

  it('uses the hardened token flow and signs with the STS token', async () => {
    const md = await startEcsMetadataServer({
      requireToken: true,
      roles: { flowlog: role(STS_SECRET, STS_TOKEN, Date.now() + 3600_000) },
    });
    try {
      const p = new RamRoleCredentialsProvider({ role: 'flowlog', metadataUrl: md.url });
      expect(await writeWith(p)).toEqual({ kind: 'ok' });
      expect(md.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
        'PUT /latest/api/token',
        'GET /latest/meta-data/ram/security-credentials/flowlog',
      ]);
      expect(md.requests[0].headers['x-aliyun-ecs-metadata-token-ttl-seconds']).toBe('21600');
      expect(md.requests[1].headers['x-aliyun-ecs-metadata-token']).toBeTruthy();
      expect(sls.requests.at(-1)!.headers['x-acs-security-token']).toBe(STS_TOKEN);
      expect(inspect(p)).not.toContain(STS_SECRET);
    } finally {
      await md.close();
    }
  });

  it('refreshes 10 minutes before Expiration, and keeps valid credentials when a refresh fails', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const t0 = Date.parse('2030-01-01T00:00:00Z');
    vi.setSystemTime(t0);
    const md = await startEcsMetadataServer({
      requireToken: true,
      roles: { flowlog: role('s1', 't1', t0 + 60 * 60_000) },
    });
    const gets = () => md.requests.filter((r) => r.method === 'GET').length;
    const p = new RamRoleCredentialsProvider({ role: 'flowlog', metadataUrl: md.url });
    try {
      expect((await p.getCredentials()).securityToken).toBe('t1');
      vi.setSystemTime(t0 + 49 * 60_000); // 11 minutes left: still served from the cache
      expect((await p.getCredentials()).securityToken).toBe('t1');
      expect(gets()).toBe(1);
      md.roles.flowlog = role('s2', 't2', t0 + 120 * 60_000);
      vi.setSystemTime(t0 + 51 * 60_000); // 9 minutes left: refreshed
      expect((await p.getCredentials()).securityToken).toBe('t2');
      expect(gets()).toBe(2);
      await md.close();
      vi.setSystemTime(t0 + 115 * 60_000); // in the refresh margin, service gone: old pair still valid
      expect((await p.getCredentials()).securityToken).toBe('t2');
      vi.setSystemTime(t0 + 121 * 60_000); // expired and no service: retryable failure
      await expect(p.getCredentials()).rejects.toMatchObject({ name: 'SlsCredentialsError', retryable: true });
    } finally {
      await md.close();
    }
  });

  it('falls back to normal mode when the service has no token API, unless that is not allowed', async () => {
    const md = await startEcsMetadataServer({
      tokenApi: false,
      roles: { flowlog: role(STS_SECRET, STS_TOKEN, Date.now() + 3600_000) },
    });
    try {
      const normal = new RamRoleCredentialsProvider({ role: 'flowlog', metadataUrl: md.url });
      expect((await normal.getCredentials()).securityToken).toBe(STS_TOKEN);
      expect(md.requests.at(-1)!.headers['x-aliyun-ecs-metadata-token']).toBeUndefined();
      const strict = new RamRoleCredentialsProvider({ role: 'flowlog', metadataUrl: md.url, allowNormalMode: false });
      await expect(strict.getCredentials()).rejects.toMatchObject({
        retryable: true,
        message: expect.stringMatching(/normal mode not allowed/),
      });
    } finally {
      await md.close();
    }
  });

  it('a role the instance does not have is a permanent failure with the fix', async () => {
    const md = await startEcsMetadataServer({ requireToken: true, roles: {} });
    try {
      const r = await writeWith(new RamRoleCredentialsProvider({ role: 'missing', metadataUrl: md.url }));
      expect(r.kind).toBe('permanent');
      expect(r.kind === 'permanent' && r.reason).toMatch(/RAM role missing.*attach it to the instance/);
    } finally {
      await md.close();
    }
  });

  it('an unreachable metadata service is retryable', async () => {
    const md = await startEcsMetadataServer({ roles: {} });
    await md.close();
    const r = await writeWith(new RamRoleCredentialsProvider({ role: 'flowlog', metadataUrl: md.url }));
    expect(r.kind).toBe('retryable');
  });
});
