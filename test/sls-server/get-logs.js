'use strict';

const { ApiError } = require('./api-errors');

/** GetLogs returns at most this many logs a call (API reference: line 0..100, default 100). */
const MAX_LINE = 100;

/**
 * GetLogs (`GET /logstores/{name}?type=log&from&to&line&offset&reverse&query&topic`) over the
 * logs this server keeps: those with `from <= time < to` (Unix seconds), oldest first (newest
 * first with reverse=true), `line` of them from `offset`, as the reference's JSON array of
 * objects (`__time__`, `__source__`, `__topic__`, the contents, `__tag__:<key>` per tag), with
 * the x-log-progress and x-log-count headers. The search part is not evaluated: only `*` (or
 * nothing) is answered; anything else is refused, so a client cannot believe it was filtered.
 * `opts.incompleteGetLogs` > 0 answers that many calls Incomplete with no logs (the service
 * does this while a query is still running), to test that clients ask again.
 *
 * @param {{ query: URLSearchParams, opts: { keepContents: boolean, incompleteGetLogs?: number } }} c
 * @param {string} name
 * @param {{ logs: Array<{ time: number, contents: Array<[string, string]>, topic: string, source: string, tags: Array<[string, string]> }> }} ls
 * @returns {{ status: number, json: unknown, headers: Record<string, string> }}
 */
function getLogs(c, name, ls) {
  const q = c.query;
  const num = (key, fallback) => {
    const v = q.get(key);
    if (v === null || v === '') {
      if (fallback === undefined) throw new ApiError(400, 'ParameterInvalid', `${key} is missing`);
      return fallback;
    }
    if (!/^\d+$/.test(v)) throw new ApiError(400, 'ParameterInvalid', `${key} ${v} is not a whole number`);
    return Number(v);
  };
  const from = num('from');
  const to = num('to');
  if (from > to) throw new ApiError(400, 'ParameterInvalid', `from ${from} is after to ${to}`);
  const line = num('line', MAX_LINE);
  if (line > MAX_LINE) throw new ApiError(400, 'ParameterInvalid', `line ${line} is more than ${MAX_LINE}`);
  const offset = num('offset', 0);
  const search = (q.get('query') ?? '').trim();
  if (search !== '' && search !== '*')
    throw new ApiError(
      400,
      'ParameterInvalid',
      `this test server answers only the query "*", not ${JSON.stringify(search)}`,
    );
  if (!c.opts.keepContents)
    throw new ApiError(400, 'ParameterInvalid', 'this test server keeps no contents (--count-only)');
  if ((c.opts.incompleteGetLogs ?? 0) > 0) {
    c.opts.incompleteGetLogs--;
    return { status: 200, json: [], headers: { 'x-log-progress': 'Incomplete', 'x-log-count': '0' } };
  }
  const topic = q.get('topic');
  const matched = ls.logs.filter(
    (l) => l.time >= from && l.time < to && (topic === null || topic === '' || l.topic === topic),
  );
  // Stable by time: logs of one time keep their arrival order.
  matched.sort((a, b) => a.time - b.time);
  if (q.get('reverse') === 'true') matched.reverse();
  const page = matched.slice(offset, offset + line).map((l) => {
    /** @type {Record<string, string | number>} */
    const o = { __time__: l.time, __source__: l.source, __topic__: l.topic };
    for (const [k, v] of l.contents) o[k] = v;
    for (const [k, v] of l.tags) o[`__tag__:${k}`] = v;
    return o;
  });
  return {
    status: 200,
    json: page,
    headers: {
      'x-log-progress': 'Complete',
      'x-log-count': String(page.length),
      'x-log-processed-rows': String(matched.length),
    },
  };
}

module.exports = { getLogs, MAX_LINE };
