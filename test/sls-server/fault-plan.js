'use strict';

/**
 * Programmable faults of the local Log Service server. Each `next(count, fault, match?)` queues
 * a fault for the next `count` requests (those `match` selects: method and/or path pattern;
 * default any request); queued entries are used in order.
 *
 * @typedef {{ kind: 'error', status: number, errorCode: string, errorMessage?: string, retryAfterSec?: number }
 *   | { kind: 'status', status: number, body?: string, contentType?: string, retryAfterSec?: number }
 *   | { kind: 'html502' }
 *   | { kind: 'slow', delayMs: number }
 *   | { kind: 'reset' }} Fault
 *   - error: answer with the service's JSON error body;
 *   - status: answer a bare status (e.g. 503 with an empty body);
 *   - html502: a reverse proxy's HTML "502 Bad Gateway" page;
 *   - slow: wait delayMs, then handle the request normally;
 *   - reset: destroy the connection without answering.
 *
 * @typedef {{ method?: string, path?: RegExp }} FaultMatch
 */
class FaultPlan {
  constructor() {
    /** @type {Array<{ remaining: number, fault: Fault, match: FaultMatch }>} */
    this.queue = [];
  }

  /**
   * @param {number} count
   * @param {Fault} fault
   * @param {FaultMatch} [match]
   */
  next(count, fault, match = {}) {
    if (!(count > 0)) throw new Error(`queue fault: count must be positive, got ${count}`);
    this.queue.push({ remaining: count, fault, match });
  }

  clear() {
    this.queue.length = 0;
  }

  /**
   * @param {string} method
   * @param {string} path
   * @returns {Fault | undefined} the fault for the request being handled, if any
   */
  take(method, path) {
    const i = this.queue.findIndex((e) => (e.match.method === undefined || e.match.method === method) && (e.match.path === undefined || e.match.path.test(path)));
    if (i < 0) return undefined;
    const entry = this.queue[i];
    entry.remaining--;
    if (entry.remaining === 0) this.queue.splice(i, 1);
    return entry.fault;
  }

  /** Requests still to be faulted. */
  pending() {
    return this.queue.reduce((n, e) => n + e.remaining, 0);
  }
}

const HTML_502 =
  '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n' +
  '<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';

module.exports = { FaultPlan, HTML_502 };
