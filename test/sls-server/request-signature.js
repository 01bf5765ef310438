'use strict';

const crypto = require('node:crypto');

/**
 * Log Service request signature (API reference "Request signatures"), computed server-side
 * from the request as received:
 *
 *   SignString = VERB + "\n" + CONTENT-MD5 + "\n" + CONTENT-TYPE + "\n" + DATE + "\n"
 *                + CanonicalizedLOGHeaders + CanonicalizedResource
 *   Signature  = base64(hmac-sha1(AccessKeySecret, SignString))
 *   Authorization: LOG <AccessKeyId>:<Signature>
 *
 * CanonicalizedLOGHeaders: every x-log-* and x-acs-* header, names lower-case, sorted, each
 * "name:value\n" with the value trimmed. CanonicalizedResource: the path, then, if there is a
 * query, "?" and its decoded "key=value" pairs sorted and joined by "&".
 */

/**
 * @param {string} method
 * @param {string} rawUrl path and query as received
 * @param {import('node:http').IncomingHttpHeaders} headers
 * @returns {string}
 */
function canonicalString(method, rawUrl, headers) {
  const url = new URL(rawUrl, 'http://x');
  const logHeaders = Object.keys(headers)
    .filter((k) => k.startsWith('x-log-') || k.startsWith('x-acs-'))
    .sort()
    .map((k) => `${k}:${String(headers[k]).trim()}\n`)
    .join('');
  const pairs = [];
  for (const [k, v] of url.searchParams) pairs.push(`${k}=${v}`);
  pairs.sort();
  const resource = decodeURIComponent(url.pathname) + (pairs.length ? `?${pairs.join('&')}` : '');
  return `${method}\n${headers['content-md5'] ?? ''}\n${headers['content-type'] ?? ''}\n${headers.date ?? ''}\n${logHeaders}${resource}`;
}

/**
 * @param {string} secret
 * @param {string} stringToSign
 * @returns {string}
 */
function sign(secret, stringToSign) {
  return crypto.createHmac('sha1', secret).update(stringToSign, 'utf8').digest('base64');
}

/**
 * Parses `LOG <id>:<signature>`.
 * @param {string | undefined} header
 * @returns {{ accessKeyId: string, signature: string } | undefined}
 */
function parseAuthorization(header) {
  if (header === undefined) return undefined;
  const m = /^LOG ([^:\s]+):(\S+)$/.exec(header);
  return m ? { accessKeyId: m[1], signature: m[2] } : undefined;
}

/**
 * @param {string} a
 * @param {string} b
 */
function safeEqual(a, b) {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

module.exports = { canonicalString, sign, parseAuthorization, safeEqual };
