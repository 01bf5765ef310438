import { describe, expect, it } from 'vitest';
import { flowLogAlerts, flowLogSavedSearches } from '../../../src/output/sls/sls-alert-rules';
import { flowLogDashboards, GRID_COLUMNS } from '../../../src/output/sls/sls-dashboards';
import { flowLogIndex } from '../../../src/output/sls/sls-index';
import { lintQuery, outputColumns } from '../../helpers/sls-sql-lint';

const INDEXED = Object.keys(flowLogIndex([]).keys ?? {});
const dashboards = flowLogDashboards('flows');
const alerts = flowLogAlerts({ project: 'p', logstore: 'flows', region: 'cn-hangzhou', actionPolicyId: '' });
const searches = flowLogSavedSearches('flows');

describe('flow-log view queries', () => {
  const charts = dashboards.flatMap((d) => d.charts.map((c) => [`${d.dashboardName}/${c.title}`, c] as const));

  it.each(charts)('chart %s: lint-clean SQL whose columns feed its axes', (_name, chart) => {
    expect(lintQuery(chart.search.query, INDEXED)).toEqual([]);
    const columns = outputColumns(chart.search.query);
    for (const axis of [...chart.display.xAxis, ...chart.display.yAxis]) expect(columns).toContain(axis);
  });

  it.each(alerts.map((a) => [a.name, a] as const))(
    'alert %s: lint-clean SQL; its groups, condition and annotations name its columns',
    (_name, alert) => {
      const q = alert.configuration.queryList[0].query;
      expect(lintQuery(q, INDEXED)).toEqual([]);
      const columns = outputColumns(q);
      for (const f of alert.configuration.groupConfiguration.fields) expect(columns).toContain(f);
      const condition = alert.configuration.severityConfigurations[0].evalCondition.condition;
      for (const word of condition.match(/[a-z_]+/g) ?? []) expect(columns).toContain(word);
      for (const a of alert.configuration.annotations)
        for (const m of a.value.matchAll(/\$\{(\w+)\}/g)) expect(columns).toContain(m[1]);
    },
  );

  it.each(searches.map((s) => [s.savedsearchName, s] as const))('saved search %s: lint-clean SQL', (_name, s) => {
    expect(lintQuery(s.searchQuery, INDEXED)).toEqual([]);
  });

  it('lays every dashboard out on the grid without overlap', () => {
    for (const d of dashboards) {
      const cells = new Set<string>();
      for (const c of d.charts) {
        expect(c.display.xPos + c.display.width).toBeLessThanOrEqual(GRID_COLUMNS);
        for (let x = c.display.xPos; x < c.display.xPos + c.display.width; x++) {
          for (let y = c.display.yPos; y < c.display.yPos + c.display.height; y++) {
            expect(cells.has(`${x},${y}`)).toBe(false);
            cells.add(`${x},${y}`);
          }
        }
      }
    }
  });

  // The linter must be able to fail: each row is a mistake it names.
  it.each([
    [
      'a dashed field unquoted',
      `* | SELECT count(1) FROM log WHERE log-status = 'OK'`,
      /log-status outside double quotes/,
    ],
    ['end unquoted', `* | SELECT "eni-id", from_unixtime(end) AS t FROM log`, /1 END for 0 CASE/],
    ['a field unquoted', `* | SELECT sum(packets) AS p FROM log`, /record field packets is not double-quoted/],
    ['a key that is not indexed', `* | SELECT sum("tcpflags") AS f FROM log`, /"tcpflags" is not an indexed key/],
    [
      'a log-status the record never has',
      `* | SELECT count(1) AS n FROM log WHERE "log-status" = 'ok'`,
      /"log-status" is never 'ok'/,
    ],
    [
      'an action the record never has',
      `* | SELECT count(1) AS n FROM log WHERE "action" = 'DROP'`,
      /"action" is never 'DROP'/,
    ],
    ['a search other than *', `"log-status": OK | SELECT count(1) AS n FROM log`, /not "\* \| <SQL>"/],
    ['an unknown function', `* | SELECT median("bytes") AS m FROM log`, /median\( is not a function/],
    ['an undefined alias', `* | SELECT count(1) AS n FROM log ORDER BY total`, /total is neither/],
    ['unbalanced parentheses', `* | SELECT sum("bytes" AS b FROM log`, /unbalanced parentheses/],
  ])('the linter catches %s', (_name, query, problem) => {
    expect(lintQuery(query, INDEXED).join('; ')).toMatch(problem);
  });
});
