'use strict';

const { ApiError } = require('./api-errors');

/**
 * Dashboards, alert rules and saved searches of a project, as the Log Service API reference
 * describes them (CreateDashboard / UpdateDashboard / GetDashboard, CreateAlert / UpdateAlert /
 * GetAlert of API version 2020-12-30, CreateSavedSearch / UpdateSavedSearch / GetSavedSearch),
 * refusing what the reference says the service refuses, so a malformed request fails a test:
 *
 * - dashboards: dashboardName ^[0-9a-z][0-9a-z_-]{0,126}[0-9a-z]$; displayName at most 512
 *   characters; charts an array, each with title (^[0-9a-z][0-9a-z_-]{0,98}[0-9a-z]$, unique in
 *   the dashboard), type, search (an object: logstore, query, start, end) and display (an
 *   object); action, when present, an object.
 * - the chart layout: xPos, yPos integers >= 0, width, height integers >= 1, xPos + width within
 *   the 24 columns of the grid, and no two charts on the same cells. The API reference gives
 *   neither the grid's width (24 is a full-width row in SLS's own dashboard JSON, as a public
 *   dashboard-authoring guide shows it) nor whether the service refuses overlapping charts (its
 *   console would push one down, so the dashboard would not look as sent): both are refused
 *   here, stricter than what is documented.
 * - alerts: name (the dashboard-name rule: the reference gives none), displayName 1..64
 *   characters, configuration (version 2.0, type default; queryList of 1 to 3 queries, each with
 *   storeType log, project, store, region, query, timeSpanType, start and end, over at most 24
 *   hours; at least one severity configuration, severity 2/4/6/8/10, a condition of at most 128
 *   characters; groupConfiguration type no_group/custom/labels_auto, custom with fields;
 *   policyConfiguration with alertPolicyId), schedule (FixedRate with an interval, or Cron with
 *   a cronExpression).
 * - saved searches: savedsearchName 3..63 characters, searchQuery, logstore, displayName
 *   1..63 characters.
 *
 * Names not found answer 404 (DashboardNotExist, AlertNotExist, SavedSearchNotExist: the codes
 * are this server's; clients key on the status), a second create 400 (...AlreadyExist).
 */

const DASHBOARD_NAME = /^[0-9a-z][0-9a-z_-]{0,126}[0-9a-z]$/;
const CHART_TITLE = /^[0-9a-z][0-9a-z_-]{0,98}[0-9a-z]$/;
const GRID_COLUMNS = 24;
/** Chart types of the console: the classic ones and the "pro" ones. */
const CHART_TYPES = new Set([
  'table',
  'line',
  'bar',
  'pie',
  'area',
  'map',
  'number',
  'linepro',
  'barpro',
  'piepro',
  'tablepro',
  'statpro',
  'rawlog',
  'markdownpro',
]);
const SEVERITIES = new Set([2, 4, 6, 8, 10]);
const GROUP_TYPES = new Set(['no_group', 'custom', 'labels_auto']);
const TIME_SPAN_TYPES = new Set(['relative', 'truncated', 'custom']);

/** @param {string} message */
function invalid(message) {
  return new ApiError(400, 'ParameterInvalid', message);
}

/** @param {unknown} v */
const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
/** @param {unknown} v */
const isText = (v) => typeof v === 'string' && v !== '';
/** @param {unknown} v @param {number} min */
const isInt = (v, min) => Number.isInteger(v) && /** @type {number} */ (v) >= min;

/** @param {Record<string, unknown>} d */
function checkDashboard(d) {
  if (typeof d.dashboardName !== 'string' || !DASHBOARD_NAME.test(d.dashboardName))
    throw invalid(`dashboardName ${JSON.stringify(d.dashboardName)} is invalid`);
  if (d.displayName !== undefined && (typeof d.displayName !== 'string' || d.displayName.length > 512))
    throw invalid('displayName must be a string of at most 512 characters');
  if (d.attribute !== undefined && !isObject(d.attribute)) throw invalid('attribute must be an object');
  if (!Array.isArray(d.charts)) throw invalid('charts must be an array');
  const titles = new Set();
  /** @type {Array<{ title: string, x: number, y: number, w: number, h: number }>} */
  const placed = [];
  for (const c of d.charts) {
    if (!isObject(c)) throw invalid('a chart must be an object');
    if (typeof c.title !== 'string' || !CHART_TITLE.test(c.title))
      throw invalid(`chart title ${JSON.stringify(c.title)} is invalid`);
    if (titles.has(c.title)) throw invalid(`chart title ${c.title} is used twice`);
    titles.add(c.title);
    if (typeof c.type !== 'string' || !CHART_TYPES.has(c.type))
      throw invalid(`chart ${c.title}: type ${JSON.stringify(c.type)} is invalid`);
    if (c.action !== undefined && !isObject(c.action)) throw invalid(`chart ${c.title}: action must be an object`);
    const s = c.search;
    if (!isObject(s)) throw invalid(`chart ${c.title}: search must be an object`);
    for (const k of ['logstore', 'query', 'start', 'end'])
      if (!isText(s[k])) throw invalid(`chart ${c.title}: search.${k} is missing`);
    if (s.timeSpanType !== undefined && !TIME_SPAN_TYPES.has(String(s.timeSpanType).toLowerCase()))
      throw invalid(`chart ${c.title}: search.timeSpanType ${s.timeSpanType} is invalid`);
    const p = c.display;
    if (!isObject(p)) throw invalid(`chart ${c.title}: display must be an object`);
    if (p.displayName !== undefined && (typeof p.displayName !== 'string' || p.displayName.length > 512))
      throw invalid(`chart ${c.title}: display.displayName must be a string of at most 512 characters`);
    for (const k of ['xAxis', 'yAxis'])
      if (p[k] !== undefined && !(Array.isArray(p[k]) && p[k].every((a) => typeof a === 'string')))
        throw invalid(`chart ${c.title}: display.${k} must be a list of column names`);
    if (!isInt(p.xPos, 0) || !isInt(p.yPos, 0))
      throw invalid(`chart ${c.title}: display.xPos and yPos must be integers >= 0`);
    if (!isInt(p.width, 1) || !isInt(p.height, 1))
      throw invalid(`chart ${c.title}: display.width and height must be integers >= 1`);
    if (p.xPos + p.width > GRID_COLUMNS)
      throw invalid(
        `chart ${c.title}: xPos ${p.xPos} + width ${p.width} is past the ${GRID_COLUMNS} columns of the grid`,
      );
    const box = { title: c.title, x: p.xPos, y: p.yPos, w: p.width, h: p.height };
    const hit = placed.find(
      (o) => box.x < o.x + o.w && o.x < box.x + box.w && box.y < o.y + o.h && o.y < box.y + box.h,
    );
    if (hit !== undefined) throw invalid(`chart ${c.title} overlaps chart ${hit.title}`);
    placed.push(box);
  }
}

/** @param {string} span e.g. -1h, -900s, now */
function spanSeconds(span) {
  if (span === 'now' || span === 'absolute') return 0;
  const m = /^-(\d+)([smhd])$/.exec(span);
  if (m === null) return undefined;
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2]];
}

/** @param {Record<string, unknown>} a @param {boolean} withName */
function checkAlert(a, withName) {
  if (withName && (typeof a.name !== 'string' || !DASHBOARD_NAME.test(a.name)))
    throw invalid(`name ${JSON.stringify(a.name)} is invalid`);
  if (typeof a.displayName !== 'string' || a.displayName.length < 1 || a.displayName.length > 64)
    throw invalid('displayName must be 1 to 64 characters');
  const c = a.configuration;
  if (!isObject(c)) throw invalid('configuration is missing');
  if (c.version !== '2.0') throw invalid(`configuration.version ${JSON.stringify(c.version)}: set it to 2.0`);
  if (c.type !== 'default') throw invalid(`configuration.type ${JSON.stringify(c.type)}: set it to default`);
  if (!Array.isArray(c.queryList) || c.queryList.length < 1 || c.queryList.length > 3)
    throw invalid('configuration.queryList must hold 1 to 3 queries');
  for (const [i, q] of c.queryList.entries()) {
    if (!isObject(q)) throw invalid(`queryList[${i}] must be an object`);
    if (q.storeType !== 'log') throw invalid(`queryList[${i}].storeType ${JSON.stringify(q.storeType)} is not log`);
    for (const k of ['project', 'store', 'region', 'query', 'timeSpanType', 'start', 'end'])
      if (!isText(q[k])) throw invalid(`queryList[${i}].${k} is missing`);
    const from = spanSeconds(q.start);
    const to = spanSeconds(q.end);
    if (from === undefined || to === undefined)
      throw invalid(`queryList[${i}]: start ${q.start} or end ${q.end} is not a relative time`);
    if (from - to > 86400) throw invalid(`queryList[${i}]: the time range is longer than 24 hours`);
  }
  if (!Array.isArray(c.severityConfigurations) || c.severityConfigurations.length === 0)
    throw invalid('configuration.severityConfigurations: set at least one trigger condition');
  for (const s of c.severityConfigurations) {
    if (!isObject(s) || !SEVERITIES.has(s.severity))
      throw invalid(`severity ${JSON.stringify(s && s.severity)} is not one of 2, 4, 6, 8, 10`);
    const e = s.evalCondition;
    if (!isObject(e) || typeof e.condition !== 'string' || typeof e.countCondition !== 'string')
      throw invalid('evalCondition needs condition and countCondition');
    if (e.condition === '' && e.countCondition === '')
      throw invalid('evalCondition: condition and countCondition are both empty');
    if (e.condition.length > 128) throw invalid('evalCondition.condition is longer than 128 characters');
  }
  const g = c.groupConfiguration;
  if (!isObject(g) || !GROUP_TYPES.has(g.type))
    throw invalid('groupConfiguration.type must be no_group, custom or labels_auto');
  if (g.type === 'custom' && !(Array.isArray(g.fields) && g.fields.length > 0))
    throw invalid('groupConfiguration: custom grouping needs fields');
  if (!isObject(c.policyConfiguration) || !isText(c.policyConfiguration.alertPolicyId))
    throw invalid('policyConfiguration.alertPolicyId is missing');
  const sc = a.schedule;
  if (!isObject(sc)) throw invalid('schedule is missing');
  if (sc.type === 'FixedRate') {
    if (typeof sc.interval !== 'string' || !/^\d+[smhd]$/.test(sc.interval))
      throw invalid(`schedule.interval ${JSON.stringify(sc.interval)} is invalid`);
  } else if (sc.type === 'Cron') {
    if (!isText(sc.cronExpression)) throw invalid('schedule.cronExpression is missing');
  } else if (!['Hourly', 'Daily', 'Weekly'].includes(String(sc.type)))
    throw invalid(`schedule.type ${JSON.stringify(sc.type)} is invalid`);
}

/** @param {Record<string, unknown>} s */
function checkSavedSearch(s) {
  if (typeof s.savedsearchName !== 'string' || s.savedsearchName.length < 3 || s.savedsearchName.length > 63)
    throw invalid('savedsearchName must be 3 to 63 characters');
  for (const k of ['searchQuery', 'logstore']) if (!isText(s[k])) throw invalid(`${k} is missing`);
  if (typeof s.displayName !== 'string' || s.displayName.length < 1 || s.displayName.length > 63)
    throw invalid('displayName must be 1 to 63 characters');
}

/**
 * The three kinds: collection segment, the name field of a body, the error-code stem, the check.
 * @type {Record<string, { nameKey: string, stem: string, check: (body: Record<string, unknown>, withName: boolean) => void, nameInUpdate: boolean }>}
 */
const KINDS = {
  dashboards: { nameKey: 'dashboardName', stem: 'Dashboard', check: (b) => checkDashboard(b), nameInUpdate: true },
  alerts: { nameKey: 'name', stem: 'Alert', check: checkAlert, nameInUpdate: false },
  savedsearches: {
    nameKey: 'savedsearchName',
    stem: 'SavedSearch',
    check: (b) => checkSavedSearch(b),
    nameInUpdate: true,
  },
};

/**
 * @typedef {{ dashboards: Map<string, object>, alerts: Map<string, object>, savedsearches: Map<string, object> }} ProjectViews
 */

/** @returns {ProjectViews} */
function newProjectViews() {
  return { dashboards: new Map(), alerts: new Map(), savedsearches: new Map() };
}

/**
 * Handles /dashboards, /alerts and /savedsearches of a project.
 * @param {{ method: string, segments: string[], body: Buffer, views: ProjectViews, json: () => Record<string, unknown> }} c
 * @returns {{ status: number, json?: unknown }}
 */
function routeViews(c) {
  const [collection, name, extra] = c.segments;
  const kind = KINDS[collection];
  const store = c.views[/** @type {keyof ProjectViews} */ (collection)];
  if (kind === undefined || store === undefined || extra !== undefined)
    throw new ApiError(404, 'RequestURLNotFound', `no API at /${c.segments.join('/')}`);
  if (name === undefined || name === '') {
    if (c.method === 'GET')
      return { status: 200, json: { count: store.size, total: store.size, [collection]: [...store.keys()] } };
    if (c.method !== 'POST')
      throw new ApiError(405, 'MethodNotAllowed', `${c.method} is not supported on /${collection}`);
    const body = c.json();
    kind.check(body, true);
    const key = String(body[kind.nameKey]);
    if (store.has(key)) throw new ApiError(400, `${kind.stem}AlreadyExist`, `${kind.stem} ${key} already exists`);
    store.set(key, withTimes(body, undefined));
    return { status: 200 };
  }
  const existing = store.get(name);
  if (c.method === 'GET') {
    if (existing === undefined) throw new ApiError(404, `${kind.stem}NotExist`, `${kind.stem} ${name} does not exist`);
    return { status: 200, json: existing };
  }
  if (c.method !== 'PUT')
    throw new ApiError(405, 'MethodNotAllowed', `${c.method} is not supported on /${collection}/${name}`);
  if (existing === undefined) throw new ApiError(404, `${kind.stem}NotExist`, `${kind.stem} ${name} does not exist`);
  const body = c.json();
  if (kind.nameInUpdate && body[kind.nameKey] !== undefined && body[kind.nameKey] !== name) {
    throw invalid(`${kind.nameKey} ${JSON.stringify(body[kind.nameKey])} in the body is not ${name} of the URL`);
  }
  const full = { ...body, [kind.nameKey]: name };
  kind.check(full, false);
  store.set(name, withTimes(full, existing));
  return { status: 200 };
}

/**
 * The stored form: what was sent, with the fields the service adds (times; an alert's status).
 * @param {Record<string, unknown>} body @param {any} previous
 */
function withTimes(body, previous) {
  const now = Math.floor(Date.now() / 1000);
  const added = { createTime: previous?.createTime ?? now, lastModifiedTime: now };
  if ('configuration' in body && 'schedule' in body)
    return { status: previous?.status ?? 'ENABLED', ...body, ...added };
  return { ...body, ...added };
}

module.exports = { routeViews, newProjectViews, checkDashboard, GRID_COLUMNS };
