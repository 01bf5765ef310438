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
 *   | { kind: 'late', delayMs: number }
 *   | { kind: 'reset' }} Fault
 *   - error: answer with the service's JSON error body;
 *   - status: answer a bare status (e.g. 503 with an empty body);
 *   - html502: a reverse proxy's HTML "502 Bad Gateway" page;
 *   - slow: wait delayMs, then handle the request normally (nothing is stored if the client left);
 *   - late: handle (store) the request now and answer after delayMs (a client that timed out
 *     meanwhile retries a write that was stored);
 *   - reset: destroy the connection without answering.
 *
 * @typedef {{ method?: string, path?: RegExp }} FaultMatch
 */
class FaultPlan {
  constructor() {
    /** @type {Array<{ remaining: number, fault: Fault, match: FaultMatch }>} */
    this.queue = [];
    /** @type {null | { random: () => number, rates: ChaosRates, match: FaultMatch, taken: Record<string, number> }} */
    this.chaosMode = null;
  }

  /**
   * Seeded random faults for requests no queued fault takes: each matching request is answered
   * busy (503 ServerBusy), over quota (403 WriteQuotaExceed), reset without an answer, or stored
   * and answered late, with the given probabilities; the same seed gives the same sequence.
   * `taken` counts the faults given, by kind.
   *
   * @typedef {{ busy?: number, quota?: number, reset?: number, late?: number, lateDelayMs?: number }} ChaosRates
   * @param {number} seed
   * @param {ChaosRates} rates
   * @param {FaultMatch} [match]
   */
  chaos(seed, rates, match = {}) {
    let s = seed >>> 0 || 1;
    // xorshift32: small, seeded, and the same on every run.
    const random = () => {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      return s / 0x1_0000_0000;
    };
    this.chaosMode = { random, rates, match, taken: { busy: 0, quota: 0, reset: 0, late: 0 } };
  }

  /** Faults the chaos mode gave, by kind (zeros when off). */
  chaosTaken() {
    return { ...(this.chaosMode?.taken ?? { busy: 0, quota: 0, reset: 0, late: 0 }) };
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
    this.chaosMode = null;
  }

  /**
   * @param {string} method
   * @param {string} path
   * @returns {Fault | undefined} the fault for the request being handled, if any
   */
  take(method, path) {
    const matches = (m) =>
      (m.method === undefined || m.method === method) && (m.path === undefined || m.path.test(path));
    const i = this.queue.findIndex((e) => matches(e.match));
    if (i < 0) return this.chaosMode !== null && matches(this.chaosMode.match) ? this.chaosFault() : undefined;
    const entry = this.queue[i];
    entry.remaining--;
    if (entry.remaining === 0) this.queue.splice(i, 1);
    return entry.fault;
  }

  /** @returns {Fault | undefined} */
  chaosFault() {
    const c = /** @type {NonNullable<FaultPlan['chaosMode']>} */ (this.chaosMode);
    let x = c.random();
    const pick = (/** @type {'busy' | 'quota' | 'reset' | 'late'} */ kind) => {
      const p = c.rates[kind] ?? 0;
      if (x < p) return true;
      x -= p;
      return false;
    };
    if (pick('busy')) {
      c.taken.busy++;
      return { kind: 'error', status: 503, errorCode: 'ServerBusy', errorMessage: 'chaos: server busy' };
    }
    if (pick('quota')) {
      c.taken.quota++;
      return { kind: 'error', status: 403, errorCode: 'WriteQuotaExceed', errorMessage: 'chaos: write quota exceeded' };
    }
    if (pick('reset')) {
      c.taken.reset++;
      return { kind: 'reset' };
    }
    if (pick('late')) {
      c.taken.late++;
      return { kind: 'late', delayMs: c.rates.lateDelayMs ?? 10_000 };
    }
    return undefined;
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
