'use strict';

const zlib = require('node:zlib');
const { lz4DecompressBlock } = require('./lz4-block-decoder');
const { readLogGroup } = require('./log-group-reader');
const { ApiError } = require('./api-errors');
const { getLogs } = require('./get-logs');
const { routeViews } = require('./view-handlers');

/** PutLogs limits (API reference "PutLogs" and common request headers). */
const MAX_LOGS = 4096;
const MAX_RAW_BYTES = 3 * 1024 * 1024;
const LOG_MAX_AGE_SEC = 7 * 24 * 3600;
const LOG_MAX_FUTURE_SEC = 15 * 60;

/**
 * @typedef {object} StoredLog
 * @property {number} time
 * @property {number} [timeNs]
 * @property {Array<[string, string]>} contents
 * @property {string} topic
 * @property {string} source
 * @property {Array<[string, string]>} tags
 *
 * @typedef {object} LogstoreState
 * @property {number} ttl
 * @property {number} shardCount
 * @property {StoredLog[]} logs
 * @property {number} count
 * @property {object | undefined} index
 *
 * @typedef {object} Call
 * @property {string} method
 * @property {string[]} segments path segments after the first "/"
 * @property {import('node:http').IncomingHttpHeaders} headers
 * @property {Buffer} body
 * @property {Map<string, LogstoreState>} logstores of the project
 * @property {import('./view-handlers').ProjectViews} views dashboards, alerts, saved searches of the project
 * @property {URLSearchParams} query the request's query parameters
 * @property {{ keepContents: boolean, outOfRangeLogTime: 'reject' | 'accept', incompleteGetLogs?: number }} opts
 * @property {Record<string, unknown>} note details for the request log
 *
 * @typedef {{ status: number, json?: unknown, headers?: Record<string, string> }} Answer
 */

/** @param {Map<string, LogstoreState>} logstores @param {string} name @returns {LogstoreState} */
function logstoreOf(logstores, name) {
  const ls = logstores.get(name);
  if (ls === undefined) throw new ApiError(404, 'LogStoreNotExist', `logstore ${name} does not exist`);
  return ls;
}

/** @param {Call} c @returns {Record<string, unknown>} */
function jsonBody(c) {
  if (!String(c.headers['content-type'] ?? '').startsWith('application/json')) {
    throw new ApiError(415, 'InvalidContentType', `Content-Type ${c.headers['content-type']} is unsupported`);
  }
  try {
    const o = JSON.parse(c.body.toString('utf8'));
    if (typeof o !== 'object' || o === null) throw new Error('not an object');
    return o;
  } catch (err) {
    throw new ApiError(400, 'PostBodyInvalid', `body is not a JSON object: ${err.message}`);
  }
}

/** @param {Call} c @param {string} logstoreName @returns {Answer} */
function putLogs(c, logstoreName) {
  const ls = logstoreOf(c.logstores, logstoreName);
  if (c.headers['content-type'] !== 'application/x-protobuf') {
    throw new ApiError(415, 'InvalidContentType', `Content-Type ${c.headers['content-type']} is unsupported`);
  }
  const rawHeader = c.headers['x-log-bodyrawsize'];
  if (rawHeader === undefined)
    throw new ApiError(400, 'MissingBodyRawSize', 'x-log-bodyrawsize does not exist in header when it is necessary.');
  if (!/^\d+$/.test(String(rawHeader))) throw new ApiError(400, 'InvalidBodyRawSize', 'x-log-bodyrawsize is invalid.');
  const rawSize = Number(rawHeader);
  if (rawSize > MAX_RAW_BYTES)
    throw new ApiError(400, 'PostBodyTooLarge', `body raw size ${rawSize} is larger than ${MAX_RAW_BYTES}`);
  const compressType = c.headers['x-log-compresstype'];
  c.note.compressType = compressType ?? 'none';
  c.note.rawSize = rawSize;
  let raw;
  try {
    if (compressType === undefined) raw = c.body;
    else if (compressType === 'lz4') raw = lz4DecompressBlock(c.body, rawSize);
    else if (compressType === 'deflate') raw = zlib.inflateSync(c.body);
    else throw new ApiError(400, 'InvalidCompressType', `x-log-compresstype ${compressType} is unsupported.`);
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError(400, 'PostBodyUncompressError', `decompress ${compressType} body: ${err.message}`);
  }
  if (raw.length !== rawSize)
    throw new ApiError(400, 'InvalidBodyRawSize', `body is ${raw.length} bytes, x-log-bodyrawsize says ${rawSize}`);
  let group;
  try {
    group = readLogGroup(raw, c.opts.keepContents);
  } catch (err) {
    throw new ApiError(400, 'PostBodyInvalid', `decode LogGroup: ${err.message}`);
  }
  if (group.logs.length === 0) throw new ApiError(400, 'PostBodyInvalid', 'the LogGroup has no logs');
  if (group.logs.length > MAX_LOGS)
    throw new ApiError(400, 'InvalidLogSize', `logs count ${group.logs.length} is larger than ${MAX_LOGS}`);
  if (c.opts.outOfRangeLogTime === 'reject') {
    const now = Math.floor(Date.now() / 1000);
    for (const l of group.logs) {
      if (l.time < now - LOG_MAX_AGE_SEC || l.time > now + LOG_MAX_FUTURE_SEC) {
        throw new ApiError(
          400,
          'PostBodyInvalid',
          `log time ${l.time} is outside [now - 7 days, now + 15 minutes] (now ${now})`,
        );
      }
    }
  }
  ls.count += group.logs.length;
  c.note.logs = group.logs.length;
  const packId = group.tags.find(([k]) => k === '__pack_id__');
  if (packId !== undefined) c.note.packId = packId[1];
  if (c.opts.keepContents) {
    for (const l of group.logs) ls.logs.push({ ...l, topic: group.topic, source: group.source, tags: group.tags });
  }
  return { status: 200 };
}

/** @param {Call} c @returns {Answer} */
function createLogstore(c) {
  const o = jsonBody(c);
  const name = o.logstoreName;
  if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$/.test(name)) {
    throw new ApiError(400, 'ParameterInvalid', `logstoreName ${JSON.stringify(name)} is invalid`);
  }
  if (!(Number.isInteger(o.ttl) && o.ttl > 0) || !(Number.isInteger(o.shardCount) && o.shardCount > 0)) {
    throw new ApiError(400, 'ParameterInvalid', 'ttl and shardCount must be positive integers');
  }
  if (c.logstores.has(name)) throw new ApiError(400, 'LogStoreAlreadyExist', `logstore ${name} already exists`);
  c.logstores.set(name, { ttl: o.ttl, shardCount: o.shardCount, logs: [], count: 0, index: undefined });
  return { status: 200 };
}

/** @param {object} index */
function checkIndex(index) {
  if (index.keys === undefined && index.line === undefined)
    throw new ApiError(400, 'ParameterInvalid', 'specify keys, line or both');
  for (const [k, v] of Object.entries(index.keys ?? {})) {
    if (!['text', 'long', 'double', 'json'].includes(v?.type))
      throw new ApiError(400, 'ParameterInvalid', `key ${k}: type ${v?.type} is invalid`);
    if (v.type === 'text' && !Array.isArray(v.token))
      throw new ApiError(400, 'ParameterInvalid', `key ${k}: a text key needs token`);
  }
}

/**
 * Routes a request of a project to its handler.
 * @param {Call} c
 * @returns {Answer}
 */
function route(c) {
  const [a, name, sub, d] = c.segments;
  const m = c.method;
  if (a === 'dashboards' || a === 'alerts' || a === 'savedsearches') {
    return routeViews({ method: m, segments: c.segments, body: c.body, views: c.views, json: () => jsonBody(c) });
  }
  if (a !== 'logstores') throw new ApiError(404, 'RequestURLNotFound', `no API at /${c.segments.join('/')}`);
  if (name === undefined || name === '') {
    if (m === 'POST') return createLogstore(c);
    if (m === 'GET')
      return {
        status: 200,
        json: { count: c.logstores.size, total: c.logstores.size, logstores: [...c.logstores.keys()] },
      };
  } else if (sub === undefined) {
    if (m === 'GET') {
      const ls = logstoreOf(c.logstores, name);
      if (c.query.get('type') === 'log') return getLogs(c, name, ls);
      return { status: 200, json: { logstoreName: name, ttl: ls.ttl, shardCount: ls.shardCount } };
    }
  } else if (sub === 'shards' && d !== undefined && m === 'POST') {
    return putLogs(c, name);
  } else if (sub === 'index') {
    const ls = logstoreOf(c.logstores, name);
    if (m === 'GET') {
      if (ls.index === undefined)
        throw new ApiError(404, 'IndexConfigNotExist', `index of logstore ${name} does not exist`);
      return { status: 200, json: ls.index };
    }
    if (m === 'POST' || m === 'PUT') {
      const index = jsonBody(c);
      checkIndex(index);
      if (m === 'POST' && ls.index !== undefined)
        throw new ApiError(400, 'IndexAlreadyExist', `index of logstore ${name} already exists`);
      if (m === 'PUT' && ls.index === undefined)
        throw new ApiError(404, 'IndexConfigNotExist', `index of logstore ${name} does not exist`);
      ls.index = index;
      return { status: 200 };
    }
  }
  throw new ApiError(405, 'MethodNotAllowed', `${m} is not supported on /${c.segments.join('/')}`);
}

module.exports = { ApiError, route, MAX_LOGS, MAX_RAW_BYTES };
