import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlsApi } from '../../../src/output/sls/sls-api';
import { EnvCredentialsProvider } from '../../../src/output/sls/sls-credentials';
import { resolveSlsEndpoint } from '../../../src/output/sls/sls-endpoint';
import type { SlsCallOutcome } from '../../../src/output/sls/sls-outcome';
import { ownedResources } from '../../../src/output/sls/sls-view-setup';
import { startSlsServer } from '../../sls-server/server.js';

/**
 * The local Log Service server refuses malformed dashboards, alert rules, saved searches and
 * GetLogs calls as the API reference says the service does (test/sls-server/view-handlers.js),
 * so a malformed request of `sls setup` or `report` fails a test. Each row mutates one of the
 * agent's own (valid) bodies and names the refusal.
 */

type Body = Record<string, any>;
type Server = Awaited<ReturnType<typeof startSlsServer>>;
let server: Server;
let api: SlsApi;
beforeAll(async () => {
  server = await startSlsServer({ projects: { p1: ['flows'] } });
  api = new SlsApi({
    endpoint: resolveSlsEndpoint({ endpoint: server.url }, 'cn-hangzhou'),
    credentials: new EnvCredentialsProvider({
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'test-access-key-id',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'test-access-key-secret',
    }),
    connectTimeoutMs: 2000,
    readTimeoutMs: 5000,
    userAgent: 'test',
  });
});
afterAll(async () => {
  api.close();
  await server.close();
});

const resources = ownedResources({ project: 'p1', logstore: 'flows', region: 'cn-hangzhou', actionPolicyId: '' });
const bodyOf = (kind: string): Body => structuredClone(resources.find((r) => r.kind === kind)!.create);

function refusal(o: SlsCallOutcome): string {
  const e = o.error as { code?: string; message?: string } | undefined;
  return `${o.probe.statusCode} ${e?.code} ${e?.message}`;
}

const DASHBOARD_ROWS: Array<[string, (d: Body) => void, RegExp]> = [
  [
    'an upper-case name',
    (d) => (d.dashboardName = 'Flowlog-x'),
    /^400 ParameterInvalid dashboardName "Flowlog-x" is invalid/,
  ],
  ['a one-character name', (d) => (d.dashboardName = 'a'), /dashboardName "a" is invalid/],
  ['a name ending in -', (d) => (d.dashboardName = 'flowlog-'), /dashboardName "flowlog-" is invalid/],
  ['a name of 129 characters', (d) => (d.dashboardName = 'a'.repeat(129)), /dashboardName "a+" is invalid/],
  ['no name', (d) => delete d.dashboardName, /dashboardName undefined is invalid/],
  [
    'a display name of 513 characters',
    (d) => (d.displayName = 'x'.repeat(513)),
    /displayName must be a string of at most 512/,
  ],
  ['charts not a list', (d) => (d.charts = {}), /charts must be an array/],
  ['a chart title with a space', (d) => (d.charts[0].title = 'my chart'), /chart title "my chart" is invalid/],
  ['a chart title used twice', (d) => (d.charts[1].title = d.charts[0].title), /chart title totals is used twice/],
  ['an unknown chart type', (d) => (d.charts[0].type = 'sparkline'), /type "sparkline" is invalid/],
  ['a chart without search', (d) => (d.charts[0].search = null), /search must be an object/],
  ['a chart without a query', (d) => (d.charts[0].search.query = ''), /search\.query is missing/],
  ['a chart without a Logstore', (d) => delete d.charts[0].search.logstore, /search\.logstore is missing/],
  ['a bad time span type', (d) => (d.charts[0].search.timeSpanType = 'sometimes'), /timeSpanType sometimes is invalid/],
  ['a chart without display', (d) => delete d.charts[0].display, /display must be an object/],
  [
    'a display name that is not text',
    (d) => (d.charts[0].display.displayName = 7),
    /display\.displayName must be a string/,
  ],
  ['axes that are not column names', (d) => (d.charts[0].display.yAxis = [1]), /display\.yAxis must be a list/],
  ['a negative position', (d) => (d.charts[0].display.xPos = -1), /xPos and yPos must be integers >= 0/],
  ['a fractional position', (d) => (d.charts[0].display.yPos = 0.5), /xPos and yPos must be integers >= 0/],
  ['a zero width', (d) => (d.charts[0].display.width = 0), /width and height must be integers >= 1/],
  [
    'a chart past the grid',
    (d) => Object.assign(d.charts[2].display, { xPos: 20, width: 8 }),
    /xPos 20 \+ width 8 is past the 24 columns/,
  ],
  [
    'overlapping charts',
    (d) => Object.assign(d.charts[1].display, { xPos: 4, yPos: 2 }),
    /chart log-status overlaps chart totals/,
  ],
  ['an action that is not an object', (d) => (d.charts[0].action = 'drill'), /action must be an object/],
];

const ALERT_ROWS: Array<[string, (a: Body) => void, RegExp]> = [
  ['an invalid name', (a) => (a.name = 'Loss Alert'), /name "Loss Alert" is invalid/],
  ['an empty display name', (a) => (a.displayName = ''), /displayName must be 1 to 64/],
  ['a display name of 65 characters', (a) => (a.displayName = 'x'.repeat(65)), /displayName must be 1 to 64/],
  ['no configuration', (a) => delete a.configuration, /configuration is missing/],
  ['configuration version 1.0', (a) => (a.configuration.version = '1.0'), /version "1\.0": set it to 2\.0/],
  ['no queries', (a) => (a.configuration.queryList = []), /queryList must hold 1 to 3 queries/],
  [
    'four queries',
    (a) => (a.configuration.queryList = Array(4).fill(a.configuration.queryList[0])),
    /queryList must hold 1 to 3 queries/,
  ],
  ['a query without region', (a) => delete a.configuration.queryList[0].region, /queryList\[0\]\.region is missing/],
  ['a metric store', (a) => (a.configuration.queryList[0].storeType = 'metric'), /storeType "metric" is not log/],
  ['a range of two days', (a) => (a.configuration.queryList[0].start = '-2d'), /longer than 24 hours/],
  ['no trigger condition', (a) => (a.configuration.severityConfigurations = []), /set at least one trigger condition/],
  ['severity 5', (a) => (a.configuration.severityConfigurations[0].severity = 5), /severity 5 is not one of/],
  [
    'a condition of 129 characters',
    (a) => (a.configuration.severityConfigurations[0].evalCondition.condition = 'x'.repeat(129)),
    /longer than 128/,
  ],
  [
    'both conditions empty',
    (a) => (a.configuration.severityConfigurations[0].evalCondition.condition = ''),
    /both empty/,
  ],
  [
    'custom grouping without fields',
    (a) => (a.configuration.groupConfiguration.fields = []),
    /custom grouping needs fields/,
  ],
  ['no alert policy', (a) => (a.configuration.policyConfiguration.alertPolicyId = ''), /alertPolicyId is missing/],
  ['no schedule', (a) => delete a.schedule, /schedule is missing/],
  ['an interval in words', (a) => (a.schedule.interval = '5 minutes'), /schedule\.interval "5 minutes" is invalid/],
];

const SEARCH_ROWS: Array<[string, (s: Body) => void, RegExp]> = [
  ['a name of 2 characters', (s) => (s.savedsearchName = 'ab'), /savedsearchName must be 3 to 63/],
  ['a name of 64 characters', (s) => (s.savedsearchName = 'a'.repeat(64)), /savedsearchName must be 3 to 63/],
  ['no query', (s) => delete s.searchQuery, /searchQuery is missing/],
  ['no Logstore', (s) => (s.logstore = ''), /logstore is missing/],
  ['a display name of 64 characters', (s) => (s.displayName = 'x'.repeat(64)), /displayName must be 1 to 63/],
];

describe('local Log Service server: views', () => {
  it.each(DASHBOARD_ROWS)('refuses a dashboard with %s', async (_name, mutate, expected) => {
    const d = bodyOf('dashboard');
    mutate(d);
    expect(refusal(await api.requestJson('POST', 'p1', '/dashboards', d))).toMatch(expected);
  });

  it.each(ALERT_ROWS)('refuses an alert rule with %s', async (_name, mutate, expected) => {
    const a = bodyOf('alert');
    mutate(a);
    expect(refusal(await api.requestJson('POST', 'p1', '/alerts', a))).toMatch(expected);
  });

  it.each(SEARCH_ROWS)('refuses a saved search with %s', async (_name, mutate, expected) => {
    const s = bodyOf('saved search');
    mutate(s);
    expect(refusal(await api.requestJson('POST', 'p1', '/savedsearches', s))).toMatch(expected);
  });

  it('accepts the agent own bodies, then refuses a second create, an update of a missing one and a renaming update', async () => {
    for (const r of resources) {
      const o = await api.requestJson('POST', 'p1', r.collection, r.create);
      expect([r.name, o.probe.statusCode, o.error]).toEqual([r.name, 200, undefined]);
    }
    const d = bodyOf('dashboard');
    expect(refusal(await api.requestJson('POST', 'p1', '/dashboards', d))).toMatch(/^400 DashboardAlreadyExist/);
    expect(refusal(await api.requestJson('GET', 'p1', '/dashboards/nope'))).toMatch(/^404 DashboardNotExist/);
    expect(refusal(await api.requestJson('PUT', 'p1', '/dashboards/nope', { ...d, dashboardName: 'nope' }))).toMatch(
      /^404 DashboardNotExist/,
    );
    expect(
      refusal(await api.requestJson('PUT', 'p1', `/dashboards/${d.dashboardName}`, { ...d, dashboardName: 'other' })),
    ).toMatch(/^400 ParameterInvalid dashboardName "other" in the body/);
    expect(refusal(await api.requestJson('GET', 'p1', '/alerts/nope'))).toMatch(/^404 AlertNotExist/);
    expect(refusal(await api.requestJson('GET', 'p1', '/savedsearches/nope'))).toMatch(/^404 SavedSearchNotExist/);
    // An update is checked like a create: a bad one leaves the stored view as it was.
    const bad = bodyOf('dashboard');
    bad.charts[0].display.width = 30;
    expect(refusal(await api.requestJson('PUT', 'p1', `/dashboards/${d.dashboardName}`, bad))).toMatch(
      /past the 24 columns/,
    );
    expect((server.views('p1')!.dashboards.get(d.dashboardName) as Body).charts[0].display.width).toBe(
      d.charts[0].display.width,
    );
  });

  it.each([
    [
      'more than 100 lines',
      { query: '*', line: 101, offset: 0 },
      0,
      10,
      /^400 ParameterInvalid line 101 is more than 100/,
    ],
    ['from after to', { query: '*', line: 10, offset: 0 }, 20, 10, /^400 ParameterInvalid from 20 is after to 10/],
    [
      'a search it cannot evaluate',
      { query: 'action: REJECT', line: 10, offset: 0 },
      0,
      10,
      /^400 ParameterInvalid this test server answers only the query "\*"/,
    ],
  ])('refuses GetLogs with %s', async (_name, page, from, to, expected) => {
    expect(refusal(await api.getLogs('p1', 'flows', from, to, page))).toMatch(expected);
  });
});
