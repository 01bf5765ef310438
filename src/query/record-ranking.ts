/**
 * The two answers of `query`: the newest matching records, and traffic summed per group
 * ranked by bytes or packets. Both take records one at a time and keep memory bounded by the
 * answer (limit) or the number of distinct groups, never by the input size.
 */
import type { FlowRecord } from '../flow/record';

export type RankMeasure = 'bytes' | 'packets';

/** A record value as a count: '-' (NODATA/SKIPDATA records) and garbage count as 0. */
export function countOf(text: string | undefined): number {
  if (text === undefined || text === '-') return 0;
  const n = Number(text);
  return Number.isFinite(n) && n >= 0 ? n : 0;
}

interface Ranked {
  record: FlowRecord;
  /** Input order, so among equal keys the later line ranks first ("newest"). */
  seq: number;
  k1: number;
  k2: number;
}

/**
 * Keeps the `limit` records with the largest keys. Records are buffered and pruned by sorting
 * once the buffer holds twice the limit, so the work is O(n log limit)-ish and memory O(limit).
 */
export class TopRecords {
  private kept: Ranked[] = [];
  private seq = 0;

  /**
   * @param limit most records returned
   * @param keyOf primary and secondary sort keys, larger first
   */
  constructor(
    private readonly limit: number,
    private readonly keyOf: (record: FlowRecord) => [number, number],
  ) {}

  /** Newest first: by end time, then start time, then input order. */
  static newest(limit: number): TopRecords {
    return new TopRecords(limit, (r) => [countOf(r.end), countOf(r.start)]);
  }

  /** Largest first by `measure`, then by the other measure. */
  static largest(limit: number, measure: RankMeasure): TopRecords {
    const other: RankMeasure = measure === 'bytes' ? 'packets' : 'bytes';
    return new TopRecords(limit, (r) => [countOf(r[measure]), countOf(r[other])]);
  }

  add(record: FlowRecord): void {
    if (this.limit <= 0) return;
    const [k1, k2] = this.keyOf(record);
    this.kept.push({ record, seq: this.seq++, k1, k2 });
    if (this.kept.length >= Math.max(2 * this.limit, 1024)) this.prune();
  }

  /** The kept records, best first. */
  result(): FlowRecord[] {
    this.prune();
    return this.kept.map((r) => r.record);
  }

  private prune(): void {
    this.kept.sort((a, b) => b.k1 - a.k1 || b.k2 - a.k2 || b.seq - a.seq);
    if (this.kept.length > this.limit) this.kept.length = this.limit;
  }
}

/** One group's totals. */
export interface GroupTotals {
  /** The group's values, in the order of the group-by fields. */
  values: string[];
  packets: number;
  bytes: number;
  records: number;
}

/** Sums packets, bytes and records per distinct combination of the group-by fields. */
export class GroupSums {
  private readonly groups = new Map<string, GroupTotals>();

  constructor(readonly fields: readonly string[]) {}

  add(record: FlowRecord): void {
    const values = this.fields.map((f) => record[f] ?? '-');
    // NUL cannot occur in a JSON-decoded field value written by the agent, so the key is unambiguous.
    const key = values.join('\u0000');
    let totals = this.groups.get(key);
    if (!totals) {
      totals = { values, packets: 0, bytes: 0, records: 0 };
      this.groups.set(key, totals);
    }
    totals.packets += countOf(record.packets);
    totals.bytes += countOf(record.bytes);
    totals.records++;
  }

  get size(): number {
    return this.groups.size;
  }

  /** The `top` groups with the largest `by`, ties broken by the other measure, then by values. */
  top(top: number, by: RankMeasure): GroupTotals[] {
    const other: RankMeasure = by === 'bytes' ? 'packets' : 'bytes';
    const all = [...this.groups.values()];
    all.sort((a, b) => b[by] - a[by] || b[other] - a[other] || compareValues(a.values, b.values));
    return all.slice(0, Math.max(0, top));
  }
}

function compareValues(a: string[], b: string[]): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return 0;
}
