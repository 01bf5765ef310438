'use strict';

const http = require('node:http');
const crypto = require('node:crypto');

/**
 * A fake ECS instance metadata service for RAM-role credentials, after the ECS documentation:
 * - PUT /latest/api/token with X-aliyun-ecs-metadata-token-ttl-seconds (1..21600) answers a
 *   token (hardened mode);
 * - GET /latest/meta-data/ram/security-credentials/<role> answers
 *   {Code, AccessKeyId, AccessKeySecret, SecurityToken, Expiration, LastUpdated}, and requires
 *   X-aliyun-ecs-metadata-token when `requireToken`.
 *
 * @typedef {{ accessKeyId: string, accessKeySecret: string, securityToken: string, expiration: string }} RoleCredentials
 * @param {{ roles: Record<string, RoleCredentials>, requireToken?: boolean, tokenApi?: boolean }} opts
 *   tokenApi false: an old service without hardened mode (PUT answers 404)
 * @returns {Promise<{ url: string, requests: Array<{ method: string, path: string, headers: import('node:http').IncomingHttpHeaders }>,
 *   roles: Record<string, RoleCredentials>, close: () => Promise<void> }>}
 */
async function startEcsMetadataServer(opts) {
  const tokens = new Set();
  const requests = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', path: req.url ?? '', headers: { ...req.headers } });
    const send = (status, body, type = 'text/plain') => res.writeHead(status, { 'content-type': type }).end(body);
    if (req.url === '/latest/api/token' && req.method === 'PUT') {
      if (opts.tokenApi === false) return send(404, 'Not Found');
      const ttl = Number(req.headers['x-aliyun-ecs-metadata-token-ttl-seconds']);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) return send(400, 'Bad Request');
      const token = crypto.randomBytes(16).toString('base64');
      tokens.add(token);
      return send(200, token);
    }
    const m = /^\/latest\/meta-data\/ram\/security-credentials\/([^/]+)$/.exec(req.url ?? '');
    if (m && req.method === 'GET') {
      if (opts.requireToken && !tokens.has(String(req.headers['x-aliyun-ecs-metadata-token'])))
        return send(401, 'Unauthorized');
      const c = opts.roles[decodeURIComponent(m[1])];
      if (c === undefined) return send(404, '<html><body>404 Not Found</body></html>', 'text/html');
      const body = {
        AccessKeyId: c.accessKeyId,
        AccessKeySecret: c.accessKeySecret,
        Expiration: c.expiration,
        SecurityToken: c.securityToken,
        LastUpdated: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        Code: 'Success',
      };
      return send(200, JSON.stringify(body), 'application/json');
    }
    send(404, 'Not Found');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const port = /** @type {import('node:net').AddressInfo} */ (server.address()).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    roles: opts.roles,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve(undefined));
        server.closeAllConnections();
      }),
  };
}

module.exports = { startEcsMetadataServer };
