import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseReportTime, runReport, type ReportArgs, type ReportDeps } from '../../src/cli/report-command';
import type { FlowRecord } from '../../src/flow/record';
import { EnvCredentialsProvider } from '../../src/output/sls/sls-credentials';
import { SlsSink } from '../../src/output/sls/sls-sink';
import { replayScenario } from '../helpers/report-scenario';
import { scratchDir } from '../helpers/replay-run';
import { startSlsServer } from '../sls-server/server.js';

const credentials = new EnvCredentialsProvider({
  ALIBABA_CLOUD_ACCESS_KEY_ID: 'test-access-key-id',
  ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'test-access-key-secret',
});

async function report(args: Partial<ReportArgs> & { out: string }, deps: ReportDeps = {}) {
  let out = '';
  let err = '';
  const code = await runReport(
    { files: [], ...args },
    { write: (s: string) => (out += s) },
    { write: (s: string) => (err += s) },
    { credentials, ...deps },
  );
  return { code, out, err };
}

/** The page without what names its source and time of writing. */
const body = (html: string) => html.replace(/<title>.*?<\/title>/, '').replace(/<header>.*?<\/header>/s, '');

type Server = Awaited<ReturnType<typeof startSlsServer>>;

describe('flowlog-agent report', () => {
  const dir = scratchDir('report-command');
  let records: string;
  let server: Server;
  /** What the file holds (the oracle for what the report says it read). */
  let held: { records: number; flows: number; skipdata: number };
  beforeAll(async () => {
    records = (await replayScenario(dir)).file;
    const statuses = readFileSync(records, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => (JSON.parse(l) as FlowRecord)['log-status']);
    held = {
      records: statuses.length,
      flows: statuses.filter((s) => s === 'OK').length,
      skipdata: statuses.filter((s) => s === 'SKIPDATA').length,
    };
    server = await startSlsServer({ projects: { 'test-project': ['flows', 'other'] } });
  }, 60_000);
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const slsConfig = (project = 'test-project', more = '') => {
    const p = join(dir, `sls-${project}.yaml`);
    writeFileSync(
      p,
      `region: cn-hangzhou
accountId: "1234567890123456"
enis:
  - {id: eni-a, ips: [10.0.0.1], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-1}
flowLogs:
  - {id: fl-sls, resourceType: eni, resourceId: eni-a, sink: {type: sls, project: ${project}, logstore: flows, endpoint: "${server.url}"}}
  - {id: fl-file, resourceType: eni, resourceId: eni-a, sink: {type: file, path: ${dir}/x.jsonl}}
${more}`,
    );
    return p;
  };

  it('writes one page from record files and says what it read', async () => {
    const out = join(dir, 'files.html');
    const r = await report({ files: [records], out });
    expect(r.code).toBe(0);
    // The scenario's port scan overflows web1's share of the table in one window: one SKIPDATA.
    expect(held.skipdata).toBe(1);
    expect(r.err).toMatch(
      new RegExp(
        `^flowlog-agent report: ${held.records} records \\(${held.flows} flows, 1 SKIPDATA \\(loss\\)\\) from .*records\\.jsonl -> .*files\\.html \\(\\d+ KiB\\)\\n$`,
      ),
    );
    const html = readFileSync(out, 'utf8');
    expect(html).toMatch(/^<!DOCTYPE html>/);
    // Self-contained: nothing to fetch, no script.
    expect(html).not.toMatch(/<script|<link|src=|@import|url\(/i);
  });

  it('reads a time range of the flow log Logstore through GetLogs, asking again while the answer is Incomplete, and shows the same views', async () => {
    const sink = new SlsSink({
      sink: { type: 'sls', project: 'test-project', logstore: 'flows', endpoint: server.url },
      credentials,
      hostname: 'test-host',
      agentVersion: '0',
    });
    const all = readFileSync(records, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as FlowRecord);
    for (let i = 0; i < all.length; i += 300)
      expect(
        await sink.write({ flowLogId: 'fl', windowStartSec: 0, windowEndSec: 60, records: all.slice(i, i + 300) }),
      ).toEqual({ kind: 'ok' });
    await sink.close();
    // Something that is not a flow-log record in the same Logstore.
    const other = new SlsSink({
      sink: { type: 'sls', project: 'test-project', logstore: 'flows', endpoint: server.url },
      credentials,
      hostname: 'test-host',
      agentVersion: '0',
    });
    expect(
      await other.write({ flowLogId: 'fl', windowStartSec: 0, windowEndSec: 60, records: [{ message: 'hello' }] }),
    ).toEqual({ kind: 'ok' });
    await other.close();

    server.incompleteGetLogs(2);
    const out = join(dir, 'logstore.html');
    const r = await report({ config: slsConfig(), from: 'now-7d', out });
    expect(r.code).toBe(0);
    expect(r.err).toContain('flowlog-agent report: skipped 1 logs that are not flow-log records (first: log ');
    expect(r.err).toContain(
      `${held.records} records (${held.flows} flows, 1 SKIPDATA (loss)) from Logstore test-project/flows`,
    );
    const gets = server.requests.filter((q) => q.method === 'GET' && q.url.startsWith('/logstores/flows?'));
    // The records and the one other log: pages of 100 (the last short), after two Incomplete answers.
    expect(gets).toHaveLength(2 + Math.ceil((held.records + 1) / 100));
    const fromFile = readFileSync(join(dir, 'files.html'), 'utf8');
    expect(body(readFileSync(out, 'utf8'))).toBe(body(fromFile));
  });

  it('fails with one line and exit 1 when the Logstore cannot be read', async () => {
    const r = await report({ config: slsConfig('no-such-project'), out: join(dir, 'x.html') });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /^flowlog-agent report: read logs of no-such-project\/flows: ProjectNotExist \(HTTP 404[^\n]*\n$/,
    );
  });

  it.each([
    ['nothing to read', {}, /^name record files, or --config FILE/],
    [
      'files and a config',
      { files: ['a.jsonl'], config: 'c.yaml' },
      /^name record files or --config FILE \(a Logstore\), not both$/,
    ],
    [
      'a file that does not exist',
      { files: ['/no/such/records.jsonl'] },
      /^read records \/no\/such\/records\.jsonl: no such file$/,
    ],
    ['a directory', { files: ['/tmp'] }, /^read records \/tmp: is a directory/],
    ['--top 0', { files: ['a.jsonl'], top: 0 }, /^--top: must be a whole number >= 1, got 0$/],
    [
      '--from without a Logstore',
      { files: ['a.jsonl'], from: '-1h' },
      /^--from, --to and --flow-log read a Logstore: add --config FILE$/,
    ],
  ])('refuses %s with one line and exit 2', async (_name, args, message) => {
    const r = await report({ out: join(dir, 'never.html'), ...args });
    expect(r.code).toBe(2);
    const lines = r.err.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0].replace(/^flowlog-agent report: /, '')).toMatch(message);
  });

  it.each([
    [
      'a capture',
      () => join(dir, 'scenario.pcap'),
      /^read records .*scenario\.pcap: not a record file \(JSON Lines of flow-log records\): .*scenario\.pcap:1: (not JSON|not a JSON object)$/,
    ],
    [
      'JSON that is not records',
      () => writeIn('config.json', '{"region": "cn-hangzhou"}\n'),
      /^read records .*config\.json: not a record file \(JSON Lines of flow-log records\): .*config\.json:1: missing field "version"$/,
    ],
    [
      'a log file',
      () => writeIn('agent.log', 'started\nstopped\n'),
      /^read records .*agent\.log: not a record file \(JSON Lines of flow-log records\): .*agent\.log:1: not JSON$/,
    ],
  ])('refuses %s: not JSON Lines records, exit 2', async (_name, file, message) => {
    const r = await report({ files: [records, file()], out: join(dir, 'never.html') });
    expect(r.code).toBe(2);
    expect(r.err.trimEnd().split('\n')).toHaveLength(1);
    expect(r.err.trimEnd().replace(/^flowlog-agent report: /, '')).toMatch(message);
  });

  const writeIn = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it.each([
    ['a bad --to', { to: 'yesterday' }, /^--to: "yesterday" is not a time/],
    ['--from after --to', { from: '2000', to: '1000' }, /^--from must be before --to \(2000 >= 1000\)$/],
    [
      'an unknown flow log',
      { flowLog: 'fl-x' },
      /^--flow-log: no flow log "fl-x" in the config \(flow logs: fl-sls, fl-file\)$/,
    ],
    [
      'a flow log with a file sink',
      { flowLog: 'fl-file' },
      /^--flow-log: flow log fl-file writes to a file sink, not a Logstore/,
    ],
  ])('refuses %s of a Logstore report with exit 2', async (_name, args, message) => {
    const r = await report({ config: slsConfig(), out: join(dir, 'never.html'), ...args });
    expect(r.code).toBe(2);
    expect(r.err.replace(/^flowlog-agent report: /, '').trimEnd()).toMatch(message);
  });

  it('asks which Logstore when the config names several', async () => {
    const more = `  - {id: fl-other, resourceType: eni, resourceId: eni-a, sink: {type: sls, project: test-project, logstore: other, endpoint: "${server.url}"}}\n`;
    const r = await report({ config: slsConfig('test-project', more), out: join(dir, 'never.html') });
    expect([r.code, r.err]).toEqual([
      2,
      'flowlog-agent report: the config names 2 Logstores: choose one with --flow-log ID\n',
    ]);
    expect(
      (await report({ config: slsConfig('test-project', more), flowLog: 'fl-other', out: join(dir, 'other.html') }))
        .code,
    ).toBe(0);
  });

  it('reports a few damaged lines among records on stderr and on the page, and an empty file as no traffic', async () => {
    const damaged = join(dir, 'damaged.jsonl');
    writeFileSync(damaged, readFileSync(records));
    appendFileSync(damaged, '{"version": "1", "srcaddr\n\nnot json\n');
    const r = await report({ files: [damaged], out: join(dir, 'damaged.html') });
    expect(r.code).toBe(0);
    expect(r.err).toContain('flowlog-agent report: skipped 2 lines that are not records (first: ');
    expect(readFileSync(join(dir, 'damaged.html'), 'utf8')).toContain('2 lines were not flow-log records and left out');
    const empty = writeIn('empty.jsonl', '');
    const e = await report({ files: [empty], out: '-' });
    expect(e.code).toBe(0);
    expect(e.out).toContain('No traffic.');
    expect(e.out).toContain('No loss: no SKIPDATA record');
  });

  it('fails with exit 1 when the page cannot be written, leaving no file', async () => {
    const r = await report({ files: [records], out: join(dir, 'no-dir', 'r.html') });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^flowlog-agent report: write report .*no-dir\/r\.html: ENOENT/);
    expect(existsSync(join(dir, 'no-dir'))).toBe(false);
  });

  it.each([
    ['1767225600', 1767225600],
    ['2026-01-01T00:00:00Z', 1767225600],
    ['now', 2_000_000_000],
    ['-30m', 2_000_000_000 - 1800],
    ['-2d', 2_000_000_000 - 2 * 86400],
    ['now-6h', 2_000_000_000 - 6 * 3600],
    ['yesterday', undefined],
    ['2026-13-45', undefined],
  ])('reads the time %s', (text, sec) => {
    expect(parseReportTime(text, 2_000_000_000)).toBe(sec);
  });
});
