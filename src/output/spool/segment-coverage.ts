import { RECORD_FIELDS, type FlowRecord, type RecordBatch } from '../../flow/record';

/**
 * What one spool segment covers, kept in its header (segment-codec.ts) so that a segment the
 * spool drops (evicted over its bound, found corrupt) can still be told to the Logstore as
 * SKIPDATA for the right ENIs and window, without its payload.
 *
 * One entry per ENI (`eni-id` of the records): the record's identity fields (a template), how
 * many records of the ENI the segment holds, and the packets and bytes they counted. A segment
 * holds one batch, so one window: the window bounds are in the fixed header.
 */
export interface SegmentCoverage {
  flowLogId: string;
  enis: EniCoverage[];
}

export interface EniCoverage {
  /** The ENI's identity fields in record order, every other field '-' (see `identityTemplate`). */
  template: FlowRecord;
  records: number;
  /** Packets and bytes of the records; null when some record's count is unknown ('-' in a SKIPDATA). */
  packets: number | null;
  bytes: number | null;
}

/**
 * Fields a SKIPDATA record of a loss keeps from the records it stands for: who (ENI, VM, VPC,
 * vSwitch, account) and the flow log's constant extra field `region`. Everything else is '-' or
 * set by `lossRecord`.
 */
const IDENTITY_FIELDS: ReadonlySet<string> = new Set([
  'version',
  'vswitch-id',
  'vm-id',
  'vpc-id',
  'account-id',
  'eni-id',
  'region',
]);

/** `record` with every field but the identity ones set to '-', key order kept. */
export function identityTemplate(record: FlowRecord): FlowRecord {
  const out: FlowRecord = {};
  for (const key of Object.keys(record)) out[key] = IDENTITY_FIELDS.has(key) ? record[key] : '-';
  return out;
}

/**
 * Coverage of `batch`: its records grouped by `eni-id`, in order of first appearance. NODATA
 * records count no packets; SKIPDATA records count theirs when known. Runs once per append, off
 * the packet path (one pass over the batch).
 */
export function coverageOf(batch: RecordBatch): SegmentCoverage {
  const byEni = new Map<string, EniCoverage>();
  // Records come grouped by ENI (a window's flows in table order): remember the last one's.
  let lastId: string | undefined;
  let c: EniCoverage | undefined;
  for (const r of batch.records) {
    const id = r['eni-id'] ?? '-';
    if (id !== lastId || c === undefined) {
      c = byEni.get(id);
      if (c === undefined) {
        c = { template: identityTemplate(r), records: 0, packets: 0, bytes: 0 };
        byEni.set(id, c);
      }
      lastId = id;
    }
    c.records++;
    if (r['log-status'] === 'NODATA') continue;
    c.packets = addCount(c.packets, r.packets);
    c.bytes = addCount(c.bytes, r.bytes);
  }
  return { flowLogId: batch.flowLogId, enis: [...byEni.values()] };
}

/** `sum + text` when both are known (text a whole number); null (unknown) otherwise. */
function addCount(sum: number | null, text: string | undefined): number | null {
  if (sum === null || text === undefined || text === '') return null;
  const n = +text; // '-' and anything not a number: NaN
  return Number.isInteger(n) && n >= 0 ? sum + n : null;
}

/**
 * The SKIPDATA record standing for records lost from one ENI's window: its identity, `packets`
 * and `bytes` the lost records counted ('-' when unknown), `start`/`end` the window rounded
 * outward to whole seconds (never toward less loss).
 */
export function lossRecord(
  template: FlowRecord,
  startSec: number,
  endSec: number,
  packets: number | null,
  bytes: number | null,
): FlowRecord {
  const rec: FlowRecord = { ...template };
  rec['packets'] = packets === null ? '-' : String(packets);
  rec['bytes'] = bytes === null ? '-' : String(bytes);
  rec['start'] = String(Math.floor(startSec));
  rec['end'] = String(Math.ceil(endSec));
  rec['log-status'] = 'SKIPDATA';
  return rec;
}

/** One lost piece of a flow log: a window and the ENIs it covered (null: unknown, see `LossNotice`). */
export interface LostWindow {
  startSec: number;
  endSec: number;
  /** The ENIs and counts lost; null when the segment's coverage could not be read. */
  enis: EniCoverage[] | null;
  /** Records lost, when known. */
  records: number | null;
}

/**
 * SKIPDATA records for `lost`: one per ENI and window. A window whose ENIs are unknown gets one
 * record per ENI in `fallback` (every ENI the flow log is known to cover), with counts unknown;
 * with no fallback either, one record without ENI ids, so the loss still reaches the Logstore.
 */
export function lossRecords(lost: readonly LostWindow[], fallback: readonly FlowRecord[]): FlowRecord[] {
  const out: FlowRecord[] = [];
  for (const w of lost) {
    if (w.enis !== null) {
      for (const e of w.enis) out.push(lossRecord(e.template, w.startSec, w.endSec, e.packets, e.bytes));
      continue;
    }
    const templates = fallback.length > 0 ? fallback : [ANONYMOUS_TEMPLATE];
    for (const t of templates) out.push(lossRecord(t, w.startSec, w.endSec, null, null));
  }
  return out;
}

/** The identity of a loss whose ENIs nothing tells: every field '-' but the version. */
const ANONYMOUS_TEMPLATE: FlowRecord = { ...Object.fromEntries(RECORD_FIELDS.map((f) => [f, '-'])), version: '1' };

/**
 * Loss records of several mark batches folded into one record per ENI spanning them all
 * (earliest start, latest end; counts summed, unknown when any is): how the spool keeps its
 * marks within bounds through a long outage, as crash gaps fold their windows past 60.
 */
export function foldLossRecords(records: readonly FlowRecord[]): FlowRecord[] {
  const byEni = new Map<
    string,
    { template: FlowRecord; start: number; end: number; packets: number | null; bytes: number | null }
  >();
  for (const r of records) {
    const id = r['eni-id'] ?? '-';
    const start = Number(r.start);
    const end = Number(r.end);
    const seen = byEni.get(id);
    if (seen === undefined) {
      byEni.set(id, {
        template: identityTemplate(r),
        start,
        end,
        packets: countOf(r.packets),
        bytes: countOf(r.bytes),
      });
      continue;
    }
    seen.start = Math.min(seen.start, start);
    seen.end = Math.max(seen.end, end);
    seen.packets = sumCounts(seen.packets, countOf(r.packets));
    seen.bytes = sumCounts(seen.bytes, countOf(r.bytes));
  }
  return [...byEni.values()].map((e) => lossRecord(e.template, e.start, e.end, e.packets, e.bytes));
}

function countOf(text: string | undefined): number | null {
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : null;
}

function sumCounts(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : a + b;
}

/** Checks a parsed coverage object's shape (it came from disk). */
export function isSegmentCoverage(v: unknown): v is SegmentCoverage {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as SegmentCoverage;
  return (
    typeof c.flowLogId === 'string' &&
    Array.isArray(c.enis) &&
    c.enis.every(
      (e) =>
        typeof e === 'object' &&
        e !== null &&
        typeof e.template === 'object' &&
        e.template !== null &&
        Object.values(e.template).every((x) => typeof x === 'string') &&
        Number.isInteger(e.records) &&
        (e.packets === null || typeof e.packets === 'number') &&
        (e.bytes === null || typeof e.bytes === 'number'),
    )
  );
}
