import type { AgentConfig, EniConfig, FlowLogConfig } from '../config/types';
import type { ClosedWindow } from './flow-aggregator';
import { FLAG_IPV6, FlowTable, TUNNEL_WORDS } from './flow-table';
import { FLAG_OUT, FLAG_REJECT } from '../packet/flow-windows';
import { formatAddress } from './address-format';
import { PLAIN_TEXT, type FlowRecord, type FlowSlice, type LogStatus, type RecordBatch } from './record';
import { logStatusOf } from './log-status';

/** What `slice.table` holds until the first slice (see RecordBuilder.slice). */
const PLACEHOLDER_TABLE = new FlowTable(1);

/** Which ENIs (by inventory index) a flow log covers, from its resource type and id. */
export function coveredEnis(flowLog: FlowLogConfig, enis: readonly EniConfig[]): Uint8Array {
  const covered = new Uint8Array(enis.length);
  enis.forEach((e, i) => {
    const id = flowLog.resourceType === 'eni' ? e.id : flowLog.resourceType === 'vpc' ? e.vpcId : e.vswitchId;
    if (id === flowLog.resourceId) covered[i] = 1;
  });
  return covered;
}

export interface RecordBuilderCounters {
  /** Records built per log-status, over all flow logs. */
  ok: number;
  nodata: number;
  skipdata: number;
  /** OK records left out by a flow log's trafficType. */
  filtered: number;
  /** Inbound ACCEPT flows left out because NFLOG reported every one of their packets dropped. */
  netted: number;
}

/**
 * ENIs whose inbound ACCEPT flows are netted against NFLOG drops: an ENI tied to an NFLOG group,
 * or every ENI when some group is tied to none.
 */
export function nflogNettedEnis(config: AgentConfig, enis: readonly EniConfig[]): Uint8Array {
  const groups = config.nflog?.groups ?? [];
  const anyUntied = groups.some((g) => g.eni === undefined);
  const tied = new Set(groups.map((g) => g.eni));
  return Uint8Array.from(enis, (e) => (anyUntied || tied.has(e.id) || (e.nflogGroups ?? []).length > 0 ? 1 : 0));
}

/**
 * Turns a closed window into one `RecordBatch` per flow log of that interval: the OK records of
 * the flows of the ENIs the flow log covers (filtered by trafficType), a SKIPDATA record per ENI
 * that lost traffic in the window, and a NODATA record per covered ENI without traffic.
 *
 * Runs once per window, off the packet path: it may allocate (records are plain objects).
 */
export class RecordBuilder {
  readonly counters: RecordBuilderCounters = { ok: 0, nodata: 0, skipdata: 0, filtered: 0, netted: 0 };
  private readonly coverage: Uint8Array[];
  /** Per ENI: 1 when its ids (and the account id) need no escaping, so its records carry PLAIN_TEXT. */
  private readonly plainEni: Uint8Array;
  /**
   * A packet dropped by netfilter on input was captured on the ENI's device before the drop and
   * logged to NFLOG after it: it is in the window twice, as ACCEPT and as REJECT. For ENIs fed by
   * NFLOG, an inbound ACCEPT flow is therefore written with the packets and bytes of its REJECT
   * twin subtracted, and left out when nothing remains. Outbound drops (output hook) never reach
   * the device, so outbound flows are not netted.
   */
  private readonly netted: Uint8Array;
  private readonly nettingActive: boolean;
  /** Per window being built: key of each inbound REJECT flow of a netted ENI -> its entry. */
  private rejectTwins: Map<string, number> | null = null;
  /** Whether windows may be handed over as FlowSlices: plain-text ids, no extra fields (netting is checked per window). */
  private readonly sliceable: boolean;
  private sliceEntries = new Int32Array(0);
  /**
   * The one FlowSlice handed to `emitFlows`, refilled for each slice. V8 compiles the fields of
   * an object written once as constants, and a later write aborts every compilation that relied
   * on them: a new object literal per slice had its field types generalized on its second use,
   * and one object filled at its first use had them turned mutable on its second; either way the
   * encoder that reads the slice was compiled three times in the first replay window. Filled
   * once here with placeholders, its fields are mutable before any slice is encoded.
   */
  private readonly slice: FlowSlice;

  constructor(
    private readonly config: AgentConfig,
    private readonly enis: readonly EniConfig[],
    private readonly flowLogs: readonly FlowLogConfig[],
  ) {
    this.coverage = flowLogs.map((fl) => coveredEnis(fl, enis));
    this.plainEni = Uint8Array.from(enis, (e) =>
      [e.id, e.vpcId, e.vswitchId, e.vmId, config.accountId, config.region].every(isPlainString) ? 1 : 0,
    );
    this.netted = nflogNettedEnis(config, enis);
    this.nettingActive = this.netted.includes(1);
    this.sliceable = !this.plainEni.includes(0) && flowLogs.every((fl) => fl.extraFields.length === 0);
    this.slice = {
      flowLogId: '',
      windowStartSec: 0,
      windowEndSec: 0,
      table: PLACEHOLDER_TABLE,
      entries: this.sliceEntries,
      count: 0,
      enis,
      accountId: config.accountId,
    };
  }

  /** Builds every batch of the window at once: one batch per flow log (tests, small windows). */
  build(w: ClosedWindow): RecordBatch[] {
    const batches = this.begin(w);
    this.addFlows(w, batches, 0, w.table.size);
    this.addStatusRecords(w, batches);
    return batches;
  }

  /**
   * Builds the window slice by slice, `sliceFlows` flows at a time, and hands each slice's
   * non-empty batches to `emit` at once (the status records come last). Records then live only
   * as long as one slice: a window of a hundred thousand flows built whole kept every record
   * alive until the end and cost more in garbage collection than building them.
   */
  buildSlices(
    w: ClosedWindow,
    sliceFlows: number,
    emit: (batch: RecordBatch) => void,
    emitFlows?: (slice: FlowSlice) => void,
  ): void {
    this.prepare(w);
    const n = w.table.size;
    const direct = emitFlows !== undefined && this.sliceable && this.rejectTwins === null;
    for (let from = 0; from < n; from += sliceFlows) {
      const to = Math.min(n, from + sliceFlows);
      if (direct) this.emitFlowSlices(w, from, to, emitFlows);
      else this.emitSlice(w, from, to, emit);
    }
    this.emitStatus(w, emit);
  }

  /**
   * As `emitSlice`, handing each flow log's OK records over as table entries (see FlowSlice)
   * instead of record objects: same records, same order, same counters.
   */
  private emitFlowSlices(w: ClosedWindow, from: number, to: number, emitFlows: (slice: FlowSlice) => void): void {
    const t = w.table;
    if (this.sliceEntries.length < to - from) this.sliceEntries = new Int32Array(to - from);
    const entries = this.sliceEntries;
    for (let f = 0; f < this.flowLogs.length; f++) {
      const fl = this.flowLogs[f];
      const cov = this.coverage[f];
      let count = 0;
      for (let i = from; i < to; i++) {
        if (cov[t.eni(i)] === 0) continue;
        const reject = (t.flags(i) & FLAG_REJECT) !== 0;
        if ((fl.trafficType === 'accept' && reject) || (fl.trafficType === 'reject' && !reject)) {
          this.counters.filtered++;
          continue;
        }
        entries[count++] = i;
      }
      this.counters.ok += count;
      if (count > 0) {
        const slice = this.slice;
        slice.flowLogId = fl.id;
        slice.windowStartSec = w.startSec;
        slice.windowEndSec = w.endSec;
        slice.table = t;
        slice.entries = entries;
        slice.count = count;
        emitFlows(slice);
      }
    }
  }

  /**
   * As `buildSlices`, yielding to the event loop between slices, so a window of a million flows
   * never holds up capture callbacks for long (the daemon).
   */
  async buildIncrementally(w: ClosedWindow, sliceFlows: number, emit: (batch: RecordBatch) => void): Promise<void> {
    this.prepare(w);
    const n = w.table.size;
    for (let from = 0; from < n; from += sliceFlows) {
      this.emitSlice(w, from, Math.min(n, from + sliceFlows), emit);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    this.emitStatus(w, emit);
  }

  /**
   * One batch per flow log for a stretch of time the agent did not capture (a crash, see
   * src/daemon/crash-gap.ts): a SKIPDATA record per covered ENI with `packets` and `bytes`
   * unknown ('-'), start and end the stretch's bounds rounded outward to whole seconds (a stretch
   * to 785.055 s ends at 786: never rounded toward less loss). Counted as SKIPDATA.
   */
  uncapturedBatches(fromSec: number, toSec: number): RecordBatch[] {
    const startSec = Math.floor(fromSec);
    const endSec = Math.ceil(toSec);
    const out: RecordBatch[] = [];
    for (let f = 0; f < this.flowLogs.length; f++) {
      const fl = this.flowLogs[f];
      const records: FlowRecord[] = [];
      this.coverage[f].forEach((covered, eni) => {
        if (covered === 0) return;
        const rec = this.base(eni);
        rec['start'] = String(startSec);
        rec['end'] = String(endSec);
        rec['log-status'] = 'SKIPDATA';
        records.push(this.withExtras(rec, fl, '-', null, 0));
      });
      this.counters.skipdata += records.length;
      if (records.length > 0) out.push({ flowLogId: fl.id, windowStartSec: startSec, windowEndSec: endSec, records });
    }
    return out;
  }

  private emitSlice(w: ClosedWindow, from: number, to: number, emit: (batch: RecordBatch) => void): void {
    const batches = this.newBatches(w);
    this.addFlows(w, batches, from, to);
    for (const b of batches) if (b.records.length > 0) emit(b);
  }

  private emitStatus(w: ClosedWindow, emit: (batch: RecordBatch) => void): void {
    const batches = this.newBatches(w);
    this.addStatusRecords(w, batches);
    for (const b of batches) if (b.records.length > 0) emit(b);
  }

  private begin(w: ClosedWindow): RecordBatch[] {
    this.prepare(w);
    return this.newBatches(w);
  }

  private prepare(w: ClosedWindow): void {
    this.rejectTwins = this.nettingActive ? this.collectRejectTwins(w) : null;
  }

  private newBatches(w: ClosedWindow): RecordBatch[] {
    return this.flowLogs.map((fl) => ({
      flowLogId: fl.id,
      windowStartSec: w.startSec,
      windowEndSec: w.endSec,
      records: [],
    }));
  }

  private collectRejectTwins(w: ClosedWindow): Map<string, number> {
    const t = w.table;
    const twins = new Map<string, number>();
    for (let i = 0; i < t.size; i++) {
      const flags = t.flags(i);
      if ((flags & FLAG_REJECT) !== 0 && (flags & FLAG_OUT) === 0 && this.netted[t.eni(i)] === 1)
        twins.set(flowKeyText(t, i), i);
    }
    return twins;
  }

  private addFlows(w: ClosedWindow, batches: RecordBatch[], from: number, to: number): void {
    const t = w.table;
    for (let i = from; i < to; i++) {
      const eni = t.eni(i);
      const flags = t.flags(i);
      const reject = (flags & FLAG_REJECT) !== 0;
      let packets = t.packets(i);
      let bytes = t.bytes(i);
      const twin =
        !reject && (flags & FLAG_OUT) === 0 && this.rejectTwins !== null && this.netted[eni] === 1
          ? this.rejectTwins.get(flowKeyText(t, i))
          : undefined;
      if (twin !== undefined) {
        packets -= t.packets(twin);
        bytes -= t.bytes(twin);
        if (packets <= 0) {
          this.counters.netted++;
          continue;
        }
      }
      let rec: FlowRecord | null = null;
      for (let f = 0; f < this.flowLogs.length; f++) {
        if (this.coverage[f][eni] === 0) continue;
        const fl = this.flowLogs[f];
        if ((fl.trafficType === 'accept' && reject) || (fl.trafficType === 'reject' && !reject)) {
          this.counters.filtered++;
          continue;
        }
        if (rec === null) {
          const family = (flags & FLAG_IPV6) !== 0 ? 6 : 4;
          const addresses = t.addressWords(i);
          rec = this.base(eni);
          rec['srcaddr'] = formatAddress(family, addresses, t.srcAddressAt(i));
          rec['srcport'] = String(t.srcPort(i));
          rec['dstaddr'] = formatAddress(family, addresses, t.dstAddressAt(i));
          rec['dstport'] = String(t.dstPort(i));
          rec['protocol'] = String(t.protocol(i));
          rec['direction'] = (flags & FLAG_OUT) !== 0 ? 'out' : 'in';
          rec['packets'] = String(packets);
          rec['bytes'] = String(Math.max(0, bytes));
          rec['start'] = String(t.startSec(i));
          rec['end'] = String(t.endSec(i));
          rec['log-status'] = 'OK';
          rec['action'] = reject ? 'REJECT' : 'ACCEPT';
        }
        batches[f].records.push(
          this.withExtras(rec, fl, t.protocol(i) === 6 ? String(t.tcpFlags(i) & 0x3f) : '0', t, i),
        );
        this.counters.ok++;
      }
    }
  }

  private addStatusRecords(w: ClosedWindow, batches: RecordBatch[]): void {
    for (let f = 0; f < this.flowLogs.length; f++) {
      const cov = this.coverage[f];
      for (let eni = 0; eni < cov.length; eni++) {
        if (cov[eni] === 0) continue;
        const status = logStatusOf(w.eniPackets[eni], w.eniLostPackets[eni], w.eniCaptured[eni] === 1);
        if (status === 'OK' || status === null) continue;
        batches[f].records.push(this.withExtras(this.statusRecord(eni, status, w), this.flowLogs[f], '-', null, 0));
        if (status === 'NODATA') this.counters.nodata++;
        else this.counters.skipdata++;
      }
    }
  }

  /** The fields every record of an ENI shares, in record order, with the rest as '-'. */
  private base(eni: number): FlowRecord {
    const e = this.enis[eni];
    const rec: FlowRecord = {
      version: '1',
      'vswitch-id': e.vswitchId,
      'vm-id': e.vmId,
      'vpc-id': e.vpcId,
      'account-id': this.config.accountId,
      'eni-id': e.id,
      srcaddr: '-',
      srcport: '-',
      dstaddr: '-',
      dstport: '-',
      protocol: '-',
      direction: '-',
      packets: '-',
      bytes: '-',
      start: '-',
      end: '-',
      'log-status': '-',
      action: '-',
    };
    if (this.plainEni[eni] === 1) (rec as unknown as Record<symbol, boolean>)[PLAIN_TEXT] = true;
    return rec;
  }

  private statusRecord(eni: number, status: LogStatus, w: ClosedWindow): FlowRecord {
    const rec = this.base(eni);
    if (status === 'SKIPDATA') {
      // The count of packets the window could not record; bytes only when every lost packet's
      // length was known (table overflow), since capture drops report packets alone.
      rec['packets'] = String(w.eniLostPackets[eni]);
      if (w.eniLostBytes[eni] > 0) rec['bytes'] = String(w.eniLostBytes[eni]);
    }
    rec['start'] = String(w.startSec);
    rec['end'] = String(w.endSec);
    rec['log-status'] = status;
    return rec;
  }

  /** `rec` with the flow log's extra fields; the tunnel ones from entry i of `t` (flows only). */
  private withExtras(rec: FlowRecord, fl: FlowLogConfig, tcpFlags: string, t: FlowTable | null, i: number): FlowRecord {
    if (fl.extraFields.length === 0) return rec;
    const out: FlowRecord = { ...rec };
    const tunneled = t !== null && t.tunnelVni(i) >= 0;
    for (const x of fl.extraFields) {
      if (x === 'tcp-flags') out[x] = tcpFlags;
      else if (x === 'region') out[x] = this.config.region;
      else if (!tunneled) out[x] = '-';
      else if (x === 'vni') out[x] = String(t.tunnelVni(i));
      else
        out[x] = formatAddress(t.tunnelFamily(i), t.tunnelWords(), i * TUNNEL_WORDS + (x === 'tunnel-srcaddr' ? 2 : 6));
    }
    return out;
  }
}

/** The flow key of entry i without its REJECT bit, as text (drains only). */
function flowKeyText(t: FlowTable, i: number): string {
  const family = (t.flags(i) & FLAG_IPV6) !== 0 ? 6 : 4;
  const a = t.addressWords(i);
  return `${t.eni(i)},${t.flags(i) & ~FLAG_REJECT},${t.protocol(i)},${formatAddress(family, a, t.srcAddressAt(i))},${t.srcPort(i)},${formatAddress(family, a, t.dstAddressAt(i))},${t.dstPort(i)}`;
}

function isPlainString(v: string): boolean {
  // eslint-disable-next-line no-control-regex -- control characters are what JSON escapes
  return !/["\\\u0000-\u001f]/.test(v);
}
