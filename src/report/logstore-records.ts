/**
 * Flow-log records of a time range of a Logstore, read through GetLogs (`*`, 100 logs a call,
 * oldest first), for `flowlog-agent report --config FILE`. A log becomes a record again: the
 * 18 fields in their order, then the extra fields it has; Log Service's own keys (`__time__`,
 * `__source__`, `__topic__`, `__tag__:...`) are dropped. A log without the 18 fields (something
 * else written to the Logstore) is counted, not reported.
 */
import { RECORD_FIELDS, type FlowRecord } from '../flow/record';
import type { SlsApi } from '../output/sls/sls-api';
import { classifySlsOutcome, type SlsCallOutcome } from '../output/sls/sls-outcome';

/** The Logstore could not be read; the message is one line, "read logs of P/L: cause". */
export class LogstoreReadError extends Error {
  override readonly name = 'LogstoreReadError';
}

export interface LogstoreRange {
  project: string;
  logstore: string;
  /** [fromSec, toSec), Unix seconds. */
  fromSec: number;
  toSec: number;
}

export interface LogstoreReadStats {
  records: number;
  /** Logs that are not flow-log records, and the first one's problem. */
  malformed: number;
  firstMalformed?: string;
  /** GetLogs calls made, Incomplete answers asked again included. */
  calls: number;
}

const EXTRA_FIELDS = ['tcp-flags', 'region', 'tunnel-srcaddr', 'tunnel-dstaddr', 'vni'];
const PAGE_LINES = 100;

/**
 * Calls `onRecord` for every flow-log record of the range, oldest first. An Incomplete answer
 * (the service has not finished the query) is asked again after `retryDelayMs`, at most
 * `maxIncomplete` times in a row. Rejects with LogstoreReadError on an error answer.
 */
export async function readLogstoreRecords(
  api: SlsApi,
  range: LogstoreRange,
  onRecord: (r: FlowRecord) => void,
  o: { retryDelayMs?: number; maxIncomplete?: number } = {},
): Promise<LogstoreReadStats> {
  const stats: LogstoreReadStats = { records: 0, malformed: 0, calls: 0 };
  const where = `${range.project}/${range.logstore}`;
  let offset = 0;
  let incomplete = 0;
  for (;;) {
    stats.calls++;
    const got = await api.getLogs(range.project, range.logstore, range.fromSec, range.toSec, {
      query: '*',
      line: PAGE_LINES,
      offset,
    });
    const logs = pageOf(got, where);
    if (got.probe.progress === 'Incomplete') {
      if (++incomplete > (o.maxIncomplete ?? 10))
        throw new LogstoreReadError(
          `read logs of ${where}: the service still answers Incomplete after ${incomplete - 1} tries; try a shorter range`,
        );
      await new Promise((resolve) => setTimeout(resolve, o.retryDelayMs ?? 500));
      continue;
    }
    incomplete = 0;
    for (let k = 0; k < logs.length; k++) {
      const r = recordOf(logs[k]);
      if (typeof r === 'string') {
        stats.malformed++;
        stats.firstMalformed ??= `log ${offset + k + 1} of ${where}: ${r}`;
      } else {
        stats.records++;
        onRecord(r);
      }
    }
    if (logs.length < PAGE_LINES) return stats;
    offset += logs.length;
  }
}

function pageOf(o: SlsCallOutcome, where: string): unknown[] {
  const status = o.probe.statusCode ?? 0;
  if (o.error === undefined && status >= 200 && status < 300 && Array.isArray(o.resolved)) return o.resolved;
  const c = classifySlsOutcome(o, `read logs of ${where}`).result;
  throw new LogstoreReadError(c.kind === 'ok' ? `read logs of ${where}: the answer is not a list of logs` : c.reason);
}

/** The record of a GetLogs log object, or why it is not one. */
export function recordOf(log: unknown): FlowRecord | string {
  if (typeof log !== 'object' || log === null || Array.isArray(log)) return 'not an object';
  const o = log as Record<string, unknown>;
  const r: FlowRecord = {};
  for (const f of RECORD_FIELDS) {
    const v = o[f];
    if (typeof v !== 'string') return `missing field "${f}"`;
    r[f] = v;
  }
  for (const f of EXTRA_FIELDS) if (typeof o[f] === 'string') r[f] = o[f];
  return r;
}
