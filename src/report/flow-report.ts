/**
 * The numbers of `flowlog-agent report`: the views of the Log Service dashboards that
 * `sls setup` creates (src/output/sls/sls-view-queries.ts), computed from records one at a time, with
 * the same definitions: traffic counts OK records only; a record's time is its `start`; the
 * top talkers and top rejected flows are `query`'s group sums (src/query/record-ranking.ts), so
 * the report and `query --group ... --top N` agree by construction and the test checks they do.
 */
import type { FlowRecord } from '../flow/record';
import { countOf, GroupSums, type GroupTotals } from '../query/record-ranking';

/** Traffic of one time bucket. */
export interface TimeBucket {
  startSec: number;
  inBytes: number;
  outBytes: number;
  inPackets: number;
  outPackets: number;
  acceptPackets: number;
  rejectPackets: number;
}

/** One SKIPDATA record: a window of an ENI whose traffic was not all recorded. */
export interface LossRow {
  eniId: string;
  vmId: string;
  startSec: number;
  endSec: number;
  /** Packets (bytes) lost; null when not counted ('-': the agent was not capturing). */
  packets: number | null;
  bytes: number | null;
}

export interface EniRow {
  eniId: string;
  vmId: string;
  vpcId: string;
  inBytes: number;
  outBytes: number;
  inPackets: number;
  outPackets: number;
  flows: number;
  rejectedFlows: number;
  nodataWindows: number;
  lossWindows: number;
}

/** Traffic an ENI sent to another ENI of its VPC. */
export interface PairRow {
  vpcId: string;
  srcEni: string;
  srcVm: string;
  dstEni: string;
  dstVm: string;
  packets: number;
  bytes: number;
}

export interface FlowReport {
  records: number;
  /** OK records: flows. */
  flows: number;
  nodata: number;
  skipdata: number;
  packets: number;
  bytes: number;
  rejectedFlows: number;
  rejectedPackets: number;
  /** Earliest start and latest end of any record; null without records. */
  firstSec: number | null;
  lastSec: number | null;
  bucketSec: number;
  series: TimeBucket[];
  topTalkers: GroupTotals[];
  topRejected: GroupTotals[];
  /** REJECT records summed by source address and by destination port (the policy dashboard's bars). */
  rejectBySource: GroupTotals[];
  rejectByPort: GroupTotals[];
  enis: EniRow[];
  pairs: PairRow[];
  /** Every SKIPDATA record, oldest first, up to MAX_LOSS_ROWS; `lossRowsLeftOut` says how many more. */
  losses: LossRow[];
  lossRowsLeftOut: number;
}

export const TOP_TALKER_FIELDS = ['srcaddr', 'dstaddr', 'dstport', 'protocol'] as const;
export const TOP_REJECTED_FIELDS = [
  'eni-id',
  'direction',
  'srcaddr',
  'srcport',
  'dstaddr',
  'dstport',
  'protocol',
] as const;
/** Rows of the REJECT-by-source and REJECT-by-port tables. */
export const REJECT_BY_ROWS = 5;
/** A page listing more losses than this is no longer read; the count of the rest is shown. */
export const MAX_LOSS_ROWS = 100_000;
/** Bucket sizes, seconds; the smallest giving at most MAX_BUCKETS buckets is used. */
const BUCKET_SIZES = [60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400];
const MAX_BUCKETS = 120;

/** A number of a record, or null when it is not one ('-'). */
function numberOf(text: string | undefined): number | null {
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : null;
}

/**
 * Builds a FlowReport from records handed one at a time (`add`), in any order. Memory grows
 * with distinct minutes, ENIs, groups and SKIPDATA records, not with the number of records.
 */
export class FlowReportBuilder {
  private records = 0;
  private flows = 0;
  private nodata = 0;
  private skipdata = 0;
  private rejectedFlows = 0;
  private rejectedPackets = 0;
  private firstSec = Infinity;
  private lastSec = -Infinity;
  /** Traffic per minute (start / 60); re-bucketed once the range is known. */
  private readonly minutes = new Map<number, TimeBucket>();
  private readonly talkers = new GroupSums(TOP_TALKER_FIELDS);
  private readonly rejected = new GroupSums(TOP_REJECTED_FIELDS);
  private readonly rejectedSources = new GroupSums(['srcaddr']);
  private readonly rejectedPorts = new GroupSums(['dstport']);
  private readonly enis = new Map<string, EniRow>();
  private readonly losses: LossRow[] = [];
  private lossRowsLeftOut = 0;
  /** Address -> the ENIs (vpc, eni, vm) that used it: source of their out, destination of their in. */
  private readonly addressUsers = new Map<string, Map<string, { vpcId: string; eniId: string; vmId: string }>>();
  /** Outbound traffic per (vpc, eni, vm, destination). */
  private readonly sent = new GroupSums(['vpc-id', 'eni-id', 'vm-id', 'dstaddr']);

  add(r: FlowRecord): void {
    this.records++;
    const start = numberOf(r.start);
    const end = numberOf(r.end);
    if (start !== null) this.firstSec = Math.min(this.firstSec, start);
    if (end !== null) this.lastSec = Math.max(this.lastSec, end);
    const eni = this.eniRow(r);
    const status = r['log-status'];
    if (status === 'NODATA') {
      this.nodata++;
      eni.nodataWindows++;
      return;
    }
    if (status === 'SKIPDATA') {
      this.skipdata++;
      eni.lossWindows++;
      if (this.losses.length < MAX_LOSS_ROWS) {
        this.losses.push({
          eniId: r['eni-id'],
          vmId: r['vm-id'],
          startSec: start ?? 0,
          endSec: end ?? 0,
          packets: numberOf(r.packets),
          bytes: numberOf(r.bytes),
        });
      } else this.lossRowsLeftOut++;
      return;
    }
    if (status !== 'OK') return;
    this.flows++;
    const packets = countOf(r.packets);
    const bytes = countOf(r.bytes);
    const out = r.direction === 'out';
    const reject = r.action === 'REJECT';
    addDirected(eni, out, bytes, packets);
    eni.flows++;
    if (reject) {
      eni.rejectedFlows++;
      this.rejectedFlows++;
      this.rejectedPackets += packets;
      this.rejected.add(r);
      this.rejectedSources.add(r);
      this.rejectedPorts.add(r);
    }
    this.talkers.add(r);
    if (start !== null) {
      const minute = Math.floor(start / 60);
      let b = this.minutes.get(minute);
      if (b === undefined) this.minutes.set(minute, (b = emptyBucket(minute * 60)));
      addDirected(b, out, bytes, packets);
      if (reject) b.rejectPackets += packets;
      else b.acceptPackets += packets;
    }
    this.learnAddress(out ? r.srcaddr : r.dstaddr, r);
    if (out) this.sent.add(r);
  }

  /** The report of the records added so far; `top` rows in the top-N tables. */
  build(top: number): FlowReport {
    const enis = [...this.enis.values()].sort(
      (a, b) => b.inBytes + b.outBytes - (a.inBytes + a.outBytes) || compare(a.eniId, b.eniId),
    );
    const totals = enis.reduce(
      (t, e) => ({ packets: t.packets + e.inPackets + e.outPackets, bytes: t.bytes + e.inBytes + e.outBytes }),
      { packets: 0, bytes: 0 },
    );
    const { bucketSec, series } = this.buckets();
    const losses = [...this.losses].sort((a, b) => a.startSec - b.startSec || compare(a.eniId, b.eniId));
    return {
      records: this.records,
      flows: this.flows,
      nodata: this.nodata,
      skipdata: this.skipdata,
      packets: totals.packets,
      bytes: totals.bytes,
      rejectedFlows: this.rejectedFlows,
      rejectedPackets: this.rejectedPackets,
      firstSec: Number.isFinite(this.firstSec) ? this.firstSec : null,
      lastSec: Number.isFinite(this.lastSec) ? this.lastSec : null,
      bucketSec,
      series,
      topTalkers: this.talkers.top(top, 'bytes'),
      topRejected: this.rejected.top(top, 'packets'),
      rejectBySource: this.rejectedSources.top(REJECT_BY_ROWS, 'packets'),
      rejectByPort: this.rejectedPorts.top(REJECT_BY_ROWS, 'packets'),
      enis,
      pairs: this.pairs(),
      losses,
      lossRowsLeftOut: this.lossRowsLeftOut,
    };
  }

  private eniRow(r: FlowRecord): EniRow {
    const id = r['eni-id'];
    let e = this.enis.get(id);
    if (e === undefined) {
      e = {
        eniId: id,
        vmId: r['vm-id'],
        vpcId: r['vpc-id'],
        inBytes: 0,
        outBytes: 0,
        inPackets: 0,
        outPackets: 0,
        flows: 0,
        rejectedFlows: 0,
        nodataWindows: 0,
        lossWindows: 0,
      };
      this.enis.set(id, e);
    }
    return e;
  }

  private learnAddress(addr: string, r: FlowRecord): void {
    let users = this.addressUsers.get(addr);
    if (users === undefined)
      this.addressUsers.set(addr, (users = new Map<string, { vpcId: string; eniId: string; vmId: string }>()));
    const key = `${r['vpc-id']}\u0000${r['eni-id']}`;
    if (!users.has(key)) users.set(key, { vpcId: r['vpc-id'], eniId: r['eni-id'], vmId: r['vm-id'] });
  }

  /** Sent traffic whose destination another ENI of the same VPC used (the SQL's join). */
  private pairs(): PairRow[] {
    const pairs = new Map<string, PairRow>();
    for (const g of this.sent.top(Number.MAX_SAFE_INTEGER, 'bytes')) {
      const [vpcId, srcEni, srcVm, dstaddr] = g.values;
      for (const u of this.addressUsers.get(dstaddr)?.values() ?? []) {
        if (u.vpcId !== vpcId || u.eniId === srcEni) continue;
        const key = `${vpcId}\u0000${srcEni}\u0000${u.eniId}`;
        let p = pairs.get(key);
        if (p === undefined)
          pairs.set(key, (p = { vpcId, srcEni, srcVm, dstEni: u.eniId, dstVm: u.vmId, packets: 0, bytes: 0 }));
        p.packets += g.packets;
        p.bytes += g.bytes;
      }
    }
    return [...pairs.values()].sort(
      (a, b) => b.bytes - a.bytes || compare(a.srcEni, b.srcEni) || compare(a.dstEni, b.dstEni),
    );
  }

  /** Minutes re-bucketed to the smallest size giving at most MAX_BUCKETS, gaps as zeros. */
  private buckets(): { bucketSec: number; series: TimeBucket[] } {
    if (this.minutes.size === 0) return { bucketSec: 60, series: [] };
    const keys = [...this.minutes.keys()];
    const first = Math.min(...keys) * 60;
    const last = Math.max(...keys) * 60;
    const bucketSec =
      BUCKET_SIZES.find((s) => Math.floor(last / s) - Math.floor(first / s) + 1 <= MAX_BUCKETS) ??
      BUCKET_SIZES[BUCKET_SIZES.length - 1];
    const base = Math.floor(first / bucketSec);
    const series: TimeBucket[] = [];
    for (let i = base; i <= Math.floor(last / bucketSec); i++) series.push(emptyBucket(i * bucketSec));
    for (const m of this.minutes.values()) {
      const b = series[Math.floor(m.startSec / bucketSec) - base];
      b.inBytes += m.inBytes;
      b.outBytes += m.outBytes;
      b.inPackets += m.inPackets;
      b.outPackets += m.outPackets;
      b.acceptPackets += m.acceptPackets;
      b.rejectPackets += m.rejectPackets;
    }
    return { bucketSec, series };
  }
}

type Directed = { inBytes: number; outBytes: number; inPackets: number; outPackets: number };

function addDirected(to: Directed, out: boolean, bytes: number, packets: number): void {
  if (out) {
    to.outBytes += bytes;
    to.outPackets += packets;
  } else {
    to.inBytes += bytes;
    to.inPackets += packets;
  }
}

function emptyBucket(startSec: number): TimeBucket {
  return { startSec, inBytes: 0, outBytes: 0, inPackets: 0, outPackets: 0, acceptPackets: 0, rejectPackets: 0 };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
