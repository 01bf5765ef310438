'use strict';

/**
 * Programmable faults of the local Log Service server. Each `next(count, fault)` queues a fault
 * for the next `count` requests (any API); queued entries are used in order.
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
 */
class FaultPlan {
  constructor() {
    /** @type {Array<{ remaining: number, fault: Fault }>} */
    this.queue = [];
  }

  /**
   * @param {number} count
   * @param {Fault} fault
   */
  next(count, fault) {
    if (!(count > 0)) throw new Error(`queue fault: count must be positive, got ${count}`);
    this.queue.push({ remaining: count, fault });
  }

  clear() {
    this.queue.length = 0;
  }

  /** @returns {Fault | undefined} the fault for the request being handled, if any */
  take() {
    const head = this.queue[0];
    if (head === undefined) return undefined;
    head.remaining--;
    if (head.remaining === 0) this.queue.shift();
    return head.fault;
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
