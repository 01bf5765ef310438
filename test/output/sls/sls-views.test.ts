import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import yargs from 'yargs';
import { runSlsSetup, slsCommand } from '../../../src/cli/sls-command';
import { parseConfig } from '../../../src/config/load';
import type { AgentConfig } from '../../../src/config/types';
import { flowLogAlerts } from '../../../src/output/sls/sls-alert-rules';
import { EnvCredentialsProvider } from '../../../src/output/sls/sls-credentials';
import { firstDifference, ownedResources } from '../../../src/output/sls/sls-view-setup';
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

/** Two Logstores ("flows", in region cn-shanghai by its sink, and "audit"), one project. */
function configFor(url: string): AgentConfig {
  const text = `region: cn-hangzhou
accountId: "1234567890123456"
enis:
  - {id: eni-a, ips: [10.0.0.1], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-1}
flowLogs:
  - {id: fl-1, resourceType: eni, resourceId: eni-a, sink: {type: sls, project: test-project, logstore: flows, region: cn-shanghai, endpoint: "${url}"}}
  - {id: fl-2, resourceType: vswitch, resourceId: vsw-1, sink: {type: sls, project: test-project, logstore: audit, endpoint: "${url}"}}
`;
  return parseConfig(text, '/cfg/agent.yaml').config;
}

async function run(config: AgentConfig, o: { views?: boolean; alertActionPolicyId?: string } = {}) {
  let out = '';
  let err = '';
  const code = await runSlsSetup(
    config,
    { write: (s: string) => (out += s) },
    { write: (s: string) => (err += s) },
    { credentials, retryDelayMs: 10, ...o },
  );
  return { code, out, err };
}

const VIEW_NAMES = (ls: string) => ({
  dashboards: ['overview', 'policy', 'eni', 'inter-eni'].map((s) => `flowlog-${ls}-${s}`),
  alerts: [`flowlog-${ls}-skipdata`, `flowlog-${ls}-reject-spike`],
  savedsearches: [`flowlog-${ls}-losses`, `flowlog-${ls}-rejected`],
});
const writes = (s: Server) => s.requests.filter((r) => r.method !== 'GET');

describe('sls setup: dashboards, alert rules, saved searches', () => {
  it('creates them for each Logstore, then a second run finds every one up to date and writes nothing', async () => {
    server = await startSlsServer({ projects: { 'test-project': [] } });
    const config = configFor(server.url);
    const first = await run(config);
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    const views = server.views('test-project')!;
    for (const kind of ['dashboards', 'alerts', 'savedsearches'] as const) {
      expect([...views[kind].keys()].sort()).toEqual(
        [...VIEW_NAMES('flows')[kind], ...VIEW_NAMES('audit')[kind]].sort(),
      );
    }
    for (const ls of ['flows', 'audit']) {
      for (const name of VIEW_NAMES(ls).dashboards) {
        expect(first.out).toContain(`dashboard test-project/${name}: created\n`);
        const d = views.dashboards.get(name) as { charts: Array<{ search: { logstore: string } }> };
        expect(new Set(d.charts.map((c) => c.search.logstore))).toEqual(new Set([ls]));
      }
    }
    // Alert queries go to the sink's project, Logstore and region (the sink's own region first).
    const skip = views.alerts.get('flowlog-flows-skipdata') as {
      configuration: { queryList: Array<Record<string, string>> };
    };
    expect(skip.configuration.queryList[0]).toMatchObject({
      project: 'test-project',
      store: 'flows',
      region: 'cn-shanghai',
    });
    const auditSkip = views.alerts.get('flowlog-audit-skipdata') as {
      configuration: { queryList: Array<Record<string, string>> };
    };
    expect(auditSkip.configuration.queryList[0].region).toBe('cn-hangzhou');
    // 2 logstores x (4 dashboards + 2 alerts + 2 saved searches) creates, plus 2 logstores and 2 indexes.
    expect(writes(server).filter((r) => r.method === 'POST')).toHaveLength(2 * 8 + 4);

    const before = writes(server).length;
    const second = await run(config);
    expect(second).toMatchObject({ code: 0, err: '' });
    expect(second.out).not.toMatch(/created|updated/);
    expect(second.out.match(/: up to date\n/g)).toHaveLength(2 * 8 + 2);
    expect(writes(server)).toHaveLength(before);
  });

  it('brings views edited or deleted by hand back to ours, keeping what the service or a person added beside them', async () => {
    server = await startSlsServer({ projects: { 'test-project': ['flows', 'audit'] } });
    const config = configFor(server.url);
    expect((await run(config)).code).toBe(0);
    const views = server.views('test-project')!;
    // In the console: a query rewritten, a chart moved, a chart added, an alert's condition
    // changed and the alert disabled, a saved search rewritten, a dashboard deleted.
    const overview = views.dashboards.get('flowlog-flows-overview') as { charts: Array<Record<string, any>> };
    overview.charts[3].search.query = '* | SELECT 1';
    overview.charts[0].display.xPos = 16;
    overview.charts.push({ ...overview.charts[0], title: 'mine' });
    const alert = views.alerts.get('flowlog-flows-reject-spike') as Record<string, any>;
    alert.configuration.severityConfigurations[0].evalCondition.condition = 'recent_reject_packets > 1';
    alert.status = 'DISABLED';
    (views.savedsearches.get('flowlog-flows-rejected') as Record<string, string>).searchQuery = 'action: REJECT';
    views.dashboards.delete('flowlog-audit-eni');
    const postsBefore = server.requests.filter((r) => r.method === 'POST').length;

    const r = await run(config);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toContain('dashboard test-project/flowlog-flows-overview: updated (charts differed)\n');
    expect(r.out).toContain(
      'alert test-project/flowlog-flows-reject-spike: updated (configuration.severityConfigurations[0].evalCondition.condition differed)\n',
    );
    expect(r.out).toContain('saved search test-project/flowlog-flows-rejected: updated (searchQuery differed)\n');
    expect(r.out).toContain('dashboard test-project/flowlog-audit-eni: created\n');
    expect(r.out.match(/: updated/g)).toHaveLength(3);
    // The only create is the deleted dashboard.
    expect(server.requests.filter((q) => q.method === 'POST')).toHaveLength(postsBefore + 1);
    // Everything is ours again, field for field; the alert stays disabled (its status is not ours).
    const target = { project: 'test-project', logstore: 'flows', region: 'cn-shanghai', actionPolicyId: '' };
    for (const res of ownedResources(target)) {
      const kind = res.collection.slice(1) as 'dashboards' | 'alerts' | 'savedsearches';
      expect([res.name, firstDifference(res.update, views[kind].get(res.name), '')]).toEqual([res.name, undefined]);
    }
    expect((views.alerts.get('flowlog-flows-reject-spike') as Record<string, unknown>).status).toBe('DISABLED');
    expect((await run(config)).out).not.toMatch(/created|updated/);
  });

  it('names the action policy of the alerts when asked, and updates them when it changes', async () => {
    server = await startSlsServer({ projects: { 'test-project': ['flows', 'audit'] } });
    const config = configFor(server.url);
    await run(config);
    const r = await run(config, { alertActionPolicyId: 'ops-oncall' });
    expect(
      r.out.match(/^alert .*: updated \(configuration\.policyConfiguration\.actionPolicyId differed\)$/gm),
    ).toHaveLength(4);
    const a = server.views('test-project')!.alerts.get('flowlog-audit-skipdata') as Record<string, any>;
    expect(a.configuration.policyConfiguration).toEqual({
      alertPolicyId: 'sls.builtin.dynamic',
      actionPolicyId: 'ops-oncall',
      repeatInterval: '1h',
    });
  });

  it('reports each view the service refuses on one line and exits 1, setting up the others', async () => {
    server = await startSlsServer({ projects: { 'test-project': ['flows', 'audit'] } });
    server.faults.next(
      1,
      { kind: 'error', status: 403, errorCode: 'Unauthorized', errorMessage: 'denied by RAM policy' },
      { method: 'POST', path: /^\/alerts$/ },
    );
    const r = await run(configFor(server.url));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /^sls setup: create alert test-project\/flowlog-flows-skipdata: Unauthorized \(HTTP 403.*denied by RAM policy/,
    );
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(server.views('test-project')!.alerts.size).toBe(3);
    expect(server.views('test-project')!.dashboards.size).toBe(8);
  });

  it('skips them with --no-dashboards', async () => {
    server = await startSlsServer({ projects: { 'test-project': [] } });
    const dir = mkdtempSync(join(tmpdir(), 'sls-views-'));
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
      await yargs(['sls', 'setup', '--config', file, '--no-dashboards']).command(slsCommand).strict().parseAsync();
      expect(process.exitCode ?? 0).toBe(0);
      expect(server.logstores('test-project')).toEqual(['flows']);
      const views = server.views('test-project')!;
      expect(views.dashboards.size + views.alerts.size + views.savedsearches.size).toBe(0);
      await yargs(['sls', 'setup', '--config', file]).command(slsCommand).strict().parseAsync();
      expect(views.dashboards.size).toBe(4);
    } finally {
      process.exitCode = saved;
      out.mockRestore();
      vi.unstubAllEnvs();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps every name within the service limits for the longest Logstore name', () => {
    const logstore = `a${'b'.repeat(61)}c`;
    const resources = ownedResources({ project: 'p', logstore, region: 'cn-hangzhou', actionPolicyId: '' });
    for (const r of resources) {
      expect(r.name).toMatch(/^[0-9a-z][0-9a-z_-]*[0-9a-z]$/);
      expect(r.name.length).toBeLessThanOrEqual(r.kind === 'saved search' ? 63 : 128);
    }
    expect(new Set(resources.map((r) => r.name)).size).toBe(resources.length);
    for (const a of flowLogAlerts({ project: 'p', logstore, region: 'r', actionPolicyId: '' }))
      expect(a.displayName.length).toBeLessThanOrEqual(64);
  });
});
