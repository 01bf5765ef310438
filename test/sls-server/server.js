'use strict';

/**
 * A local Log Service-compatible HTTP endpoint, written from the Log Service API reference
 * (common request headers, request signatures, PutLogs, CreateLogstore, GetLogstore,
 * CreateIndex, GetIndex, GetLogs, dashboards, alert rules and saved searches: view-handlers.js,
 * error codes), for the tests and for `npm run bench`.
 *
 * It checks what the service checks on every request (Host = <project>.<endpoint host>, Date
 * within 15 minutes, x-log-apiversion 0.6.0, x-log-signaturemethod, Content-MD5, the hmac-sha1
 * signature, the STS token of temporary keys), decodes PutLogs bodies (lz4 or deflate) with its
 * own decoders, enforces the PutLogs limits, answers errors as the service does (JSON
 * {"errorCode","errorMessage"} and x-log-requestid), keeps logs in memory per project/logstore,
 * and injects faults on demand (see fault-plan.js).
 *
 * Plain CommonJS with JSDoc so the bench can run it without a build:
 *   node test/sls-server/server.js [--port N] [--count-only]
 * prints {"url","port"} as one JSON line and serves until SIGTERM (or its IPC channel closes).
 */

const crypto = require('node:crypto');
const http = require('node:http');
const { FaultPlan, HTML_502 } = require('./fault-plan');
const { ApiError, route } = require('./api-handlers');
const { newProjectViews } = require('./view-handlers');
const { canonicalString, parseAuthorization, safeEqual, sign } = require('./request-signature');

/** Bodies over this are refused before reading on (the service's request size cap). */
const MAX_BODY_BYTES = 10 * 1024 * 1024;

/**
 * @typedef {object} SlsServerOptions
 * @property {Array<{ accessKeyId: string, accessKeySecret: string, securityToken?: string }>} [accessKeys]
 *   default one key: test-access-key-id / test-access-key-secret
 * @property {Record<string, string[]>} [projects] project -> logstores that exist from the start;
 *   default { 'test-project': ['flowlog'] }
 * @property {string} [host] listen address, default 127.0.0.1
 * @property {number} [port] default 0 (any free port)
 * @property {boolean} [keepContents] false: count logs without keeping them (bench); default true
 * @property {number} [maxSkewSec] Date skew accepted, default 900
 * @property {'reject' | 'accept'} [outOfRangeLogTime] logs older than 7 days or more than 15
 *   minutes ahead: refused with PostBodyInvalid (default, the strict reading) or accepted
 *
 * @typedef {object} RequestRecord
 * @property {string} method
 * @property {string} url
 * @property {string | undefined} host
 * @property {import('node:http').IncomingHttpHeaders} headers
 * @property {number} bodyBytes
 * @property {number} status
 * @property {number} atMs when it was handled (Date.now())
 * @property {string} [project]
 * @property {string} [errorCode]
 * @property {string} [compressType]
 * @property {number} [rawSize]
 * @property {number} [logs]
 * @property {string} [packId] the PutLogs group's __pack_id__ tag
 * @property {'late' | 'reset' | 'html502' | 'status' | 'error'} [fault] the fault injected on it
 *
 * @typedef {object} SlsServer
 * @property {string} url e.g. http://127.0.0.1:PORT, to use as a sink endpoint
 * @property {number} port
 * @property {(project: string, logstore: string) => import('./api-handlers').StoredLog[]} stored
 * @property {(project: string, logstore: string) => number} count logs accepted
 * @property {(project: string) => string[]} logstores
 * @property {(project: string, logstore: string) => object | undefined} index
 * @property {(project: string) => import('./view-handlers').ProjectViews | undefined} views the
 *   project's dashboards, alerts and saved searches by name (the stored objects: a test may edit
 *   them as a person would in the console)
 * @property {(calls: number) => void} incompleteGetLogs answer the next `calls` GetLogs Incomplete
 * @property {RequestRecord[]} requests every request answered (at most the last 10,000)
 * @property {FaultPlan} faults
 * @property {() => Promise<void>} down stop listening and drop connections (port kept)
 * @property {() => Promise<void>} up listen again on the same port
 * @property {() => Promise<void>} close
 */

/**
 * @param {SlsServerOptions} [opts]
 * @returns {Promise<SlsServer>}
 */
async function startSlsServer(opts = {}) {
  const keys = new Map(
    (opts.accessKeys ?? [{ accessKeyId: 'test-access-key-id', accessKeySecret: 'test-access-key-secret' }]).map((k) => [
      k.accessKeyId,
      k,
    ]),
  );
  /** @type {Map<string, Map<string, import('./api-handlers').LogstoreState>>} */
  const projects = new Map();
  /** @type {Map<string, import('./view-handlers').ProjectViews>} */
  const projectViews = new Map();
  for (const [p, stores] of Object.entries(opts.projects ?? { 'test-project': ['flowlog'] })) {
    projects.set(p, new Map(stores.map((s) => [s, { ttl: 30, shardCount: 2, logs: [], count: 0, index: undefined }])));
    projectViews.set(p, newProjectViews());
  }
  /** @type {{ keepContents: boolean, outOfRangeLogTime: 'reject' | 'accept', incompleteGetLogs: number }} */
  const handlerOpts = {
    keepContents: opts.keepContents ?? true,
    outOfRangeLogTime: opts.outOfRangeLogTime ?? 'reject',
    incompleteGetLogs: 0,
  };
  const maxSkewSec = opts.maxSkewSec ?? 900;
  const listenHost = opts.host ?? '127.0.0.1';
  const faults = new FaultPlan();
  /** @type {RequestRecord[]} */
  const requests = [];
  const timers = new Set();
  let port = opts.port ?? 0;

  /**
   * @param {import('node:http').IncomingMessage} req
   * @param {Buffer} body
   * @param {Record<string, unknown>} note
   * @returns {import('./api-handlers').Answer}
   */
  function handle(req, body, note) {
    const h = req.headers;
    const endpointHost = `${listenHost}:${port}`;
    const host = h.host;
    if (host === undefined) throw new ApiError(400, 'MissingHost', 'Host does not exist in http header.');
    let project;
    for (const suffix of [`.${endpointHost}`, `.${listenHost}`]) {
      if (host.endsWith(suffix)) project = host.slice(0, -suffix.length);
    }
    if (h.date === undefined) throw new ApiError(400, 'MissingDate', 'Date does not exist in http header.');
    const dateMs = Date.parse(h.date);
    if (!Number.isFinite(dateMs) || !/GMT$/.test(h.date))
      throw new ApiError(400, 'InvalidDateFormat', `Date ${h.date} must follow RFC822.`);
    if (Math.abs(dateMs - Date.now()) > maxSkewSec * 1000) {
      throw new ApiError(
        400,
        'RequestTimeExpired',
        `Request time ${h.date} has been expired while server time is ${new Date().toUTCString()}.`,
      );
    }
    if (h['x-log-apiversion'] === undefined)
      throw new ApiError(400, 'MissingAPIVersion', 'x-log-apiversion does not exist in http header.');
    if (h['x-log-apiversion'] !== '0.6.0')
      throw new ApiError(400, 'InvalidAPIVersion', `x-log-apiversion ${h['x-log-apiversion']} is unsupported.`);
    if (h['x-log-signaturemethod'] !== 'hmac-sha1') {
      throw new ApiError(
        400,
        'InvalidSignatureMethod',
        `x-log-signaturemethod ${h['x-log-signaturemethod']} is unsupported.`,
      );
    }
    if (body.length > 0) {
      if (h['content-type'] === undefined)
        throw new ApiError(
          400,
          'MissingContentType',
          'Content-Type does not exist in http header when body is not empty.',
        );
      const md5 = crypto.createHash('md5').update(body).digest('hex').toUpperCase();
      if (h['content-md5'] === undefined)
        throw new ApiError(
          400,
          'MissingContentMD5',
          'Content-MD5 does not exist in http header when body is not empty.',
        );
      if (h['content-md5'] !== md5)
        throw new ApiError(
          400,
          'InvalidContentMD5',
          `Content-MD5 ${h['content-md5']} does not match the body (${md5}).`,
        );
    }
    const auth = parseAuthorization(h.authorization);
    if (auth === undefined)
      throw new ApiError(401, 'Unauthorized', 'Authorization is missing or not "LOG <AccessKeyId>:<Signature>".');
    const key = keys.get(auth.accessKeyId);
    if (key === undefined)
      throw new ApiError(401, 'InvalidAccessKeyId', `AccessKeyId ${auth.accessKeyId} does not exist.`);
    const expected = sign(key.accessKeySecret, canonicalString(req.method ?? '', req.url ?? '/', h));
    if (!safeEqual(expected, auth.signature))
      throw new ApiError(401, 'SignatureNotMatch', `signature ${auth.signature} not match`);
    if (key.securityToken !== undefined && h['x-acs-security-token'] !== key.securityToken) {
      throw new ApiError(401, 'InvalidSecurityToken', 'the security token is missing or invalid');
    }
    if (project === undefined || project === '')
      throw new ApiError(404, 'ProjectNotExist', `the Host ${host} names no project`);
    const logstores = projects.get(project);
    if (logstores === undefined) throw new ApiError(404, 'ProjectNotExist', `The Project does not exist : ${project}`);
    note.project = project;
    const url = new URL(req.url ?? '/', 'http://x');
    const segments = url.pathname.split('/').slice(1).map(decodeURIComponent);
    const views = /** @type {import('./view-handlers').ProjectViews} */ (projectViews.get(project));
    return route({
      method: req.method ?? '',
      segments,
      headers: h,
      body,
      logstores,
      views,
      query: url.searchParams,
      opts: handlerOpts,
      note,
    });
  }

  /**
   * @param {import('node:http').IncomingMessage} req
   * @param {import('node:http').ServerResponse} res
   * @param {Buffer} body
   */
  function respond(req, res, body, delayAnswerMs = 0) {
    /** @type {Record<string, unknown>} */
    const note = {};
    const requestId = crypto.randomBytes(12).toString('hex').toUpperCase();
    let status;
    let payload = '';
    let errorCode;
    /** @type {Record<string, string>} */
    let extraHeaders = {};
    try {
      const answer = handle(req, body, note);
      status = answer.status;
      extraHeaders = answer.headers ?? {};
      if (answer.json !== undefined) payload = JSON.stringify(answer.json);
    } catch (err) {
      // A bug of this server answers 500 (visible to the test) instead of crashing the process.
      const e =
        err instanceof ApiError
          ? err
          : new ApiError(500, 'InternalServerError', `test server bug: ${err && err.stack}`);
      status = e.status;
      errorCode = e.code;
      payload = JSON.stringify({ errorCode: e.code, errorMessage: e.message });
    }
    record(req, body, status, { errorCode, ...note, ...(delayAnswerMs > 0 ? { fault: 'late' } : {}) });
    const headers = { ...extraHeaders, 'x-log-requestid': requestId, 'content-length': Buffer.byteLength(payload) };
    if (payload !== '') headers['content-type'] = 'application/json';
    if (delayAnswerMs === 0) return void res.writeHead(status, headers).end(payload);
    // Handled (stored) now, answered later: past a client's timeout the write is stored unanswered.
    const t = setTimeout(() => {
      timers.delete(t);
      if (!res.destroyed && !req.socket.destroyed) res.writeHead(status, headers).end(payload);
    }, delayAnswerMs);
    timers.add(t);
  }

  /**
   * @param {import('node:http').IncomingMessage} req
   * @param {Buffer} body
   * @param {number} status
   * @param {Record<string, unknown>} extra
   */
  function record(req, body, status, extra) {
    if (requests.length >= 10_000) requests.shift();
    requests.push({
      method: req.method ?? '',
      url: req.url ?? '',
      host: req.headers.host,
      headers: { ...req.headers },
      bodyBytes: body.length,
      status,
      atMs: Date.now(),
      ...extra,
    });
  }

  /**
   * @param {import('node:http').IncomingMessage} req
   * @param {import('node:http').ServerResponse} res
   * @param {Buffer} body
   */
  function serve(req, res, body) {
    const fault = faults.take(req.method ?? '', new URL(req.url ?? '/', 'http://x').pathname);
    if (fault === undefined) return respond(req, res, body);
    const retryAfter =
      'retryAfterSec' in fault && fault.retryAfterSec !== undefined
        ? { 'retry-after': String(fault.retryAfterSec) }
        : {};
    switch (fault.kind) {
      case 'reset':
        record(req, body, 0, { fault: 'reset' });
        req.socket.destroy();
        return;
      case 'late':
        return respond(req, res, body, fault.delayMs);
      case 'slow': {
        const t = setTimeout(() => {
          timers.delete(t);
          if (!res.destroyed && !req.socket.destroyed) respond(req, res, body);
        }, fault.delayMs);
        timers.add(t);
        return;
      }
      case 'html502':
        record(req, body, 502, { fault: 'html502' });
        res.writeHead(502, { 'content-type': 'text/html' }).end(HTML_502);
        return;
      case 'status':
        record(req, body, fault.status, { fault: 'status' });
        res
          .writeHead(fault.status, {
            ...retryAfter,
            ...(fault.contentType ? { 'content-type': fault.contentType } : {}),
          })
          .end(fault.body ?? '');
        return;
      case 'error': {
        const payload = JSON.stringify({
          errorCode: fault.errorCode,
          errorMessage: fault.errorMessage ?? `injected ${fault.errorCode}`,
        });
        record(req, body, fault.status, { fault: 'error', errorCode: fault.errorCode });
        res
          .writeHead(fault.status, { ...retryAfter, 'content-type': 'application/json', 'x-log-requestid': 'FAULT' })
          .end(payload);
        return;
      }
      default:
        throw new Error(`unknown fault ${JSON.stringify(fault)}`);
    }
  }

  const server = http.createServer({ keepAliveTimeout: 5000 }, (req, res) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      // Drained, not kept, so the client reads the answer instead of a reset mid-upload.
      const payload = JSON.stringify({
        errorCode: 'PostBodyTooLarge',
        errorMessage: `body size ${declared} is larger than ${MAX_BODY_BYTES}`,
      });
      req.resume();
      req.on('end', () => res.writeHead(413, { 'content-type': 'application/json', connection: 'close' }).end(payload));
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => serve(req, res, Buffer.concat(chunks)));
  });

  const listen = () =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, listenHost, () => {
        server.off('error', reject);
        port = /** @type {import('node:net').AddressInfo} */ (server.address()).port;
        resolve(undefined);
      });
    });
  const stop = () =>
    new Promise((resolve) => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      if (!server.listening) return resolve(undefined);
      server.close(() => resolve(undefined));
      server.closeAllConnections();
    });
  await listen();

  /** @param {string} p @param {string} l */
  const state = (p, l) => projects.get(p)?.get(l);
  return {
    url: `http://${listenHost}:${port}`,
    port,
    stored: (p, l) => [...(state(p, l)?.logs ?? [])],
    count: (p, l) => state(p, l)?.count ?? 0,
    logstores: (p) => [...(projects.get(p)?.keys() ?? [])],
    index: (p, l) => state(p, l)?.index,
    views: (p) => projectViews.get(p),
    incompleteGetLogs: (calls) => {
      handlerOpts.incompleteGetLogs = calls;
    },
    requests,
    faults,
    down: stop,
    up: listen,
    close: stop,
  };
}

module.exports = { startSlsServer };

if (require.main === module) {
  const args = process.argv.slice(2);
  const portAt = args.indexOf('--port');
  startSlsServer({
    port: portAt >= 0 ? Number(args[portAt + 1]) : 0,
    keepContents: !args.includes('--count-only'),
    outOfRangeLogTime: 'accept',
  }).then((s) => {
    const hello = { url: s.url, port: s.port };
    process.stdout.write(`${JSON.stringify(hello)}\n`);
    if (process.send) {
      process.send(hello);
      process.on('message', (m) => {
        if (m === 'count') process.send?.({ count: s.count('test-project', 'flowlog') });
      });
      process.on('disconnect', () => void s.close().then(() => process.exit(0)));
    }
    process.on('SIGTERM', () => void s.close().then(() => process.exit(0)));
  });
}
