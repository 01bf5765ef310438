import { openCaptureWriter, type CaptureWriterOptions } from './pcap-writer';
import {
  FrameBuilder,
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_TCP,
  PROTO_UDP,
  ipHeaderBytes,
  newFrameSpec,
  transportHeaderBytes,
} from './frame-builder';
import {
  apportionPackets,
  drawFlows,
  parseEnis,
  type EniAddresses,
  type EniEndpoint,
  type SynthFlow,
} from './flow-mix';
import { parseMac } from './address-codec';
import { SeededRandom } from './seeded-random';

export type { EniEndpoint, SynthFlow } from './flow-mix';

/** What to generate. Equal options (seed included) give byte-identical captures. */
export interface TrafficOptions {
  packets: number;
  /** Conversations; at most `packets`. */
  flows: number;
  /** Default 1. */
  seed?: number;
  /** Capture start, whole Unix seconds. */
  startSec: number;
  /** Every packet falls in [startSec, startSec + durationSec). */
  durationSec: number;
  /** Fraction of flows that are IPv6, 0..1; default 0. */
  ipv6Share?: number;
  /** At least one; flow i belongs to ENI i mod enis.length. */
  enis: EniEndpoint[];
  /** The other end of every frame at layer 2; default ee:ff:ff:ff:ff:ff (the VPC gateway's MAC). */
  gatewayMac?: string;
  /** 802.1Q tags on every frame, outermost first; default none. */
  vlanIds?: number[];
}

/** One packet as `forEachPacket` hands it out; the object and `frame` are reused per packet. */
export interface SynthPacket {
  /** 0-based position in the capture. */
  ordinal: number;
  tsSec: number;
  /** Nanoseconds within the second; non-decreasing in capture order. */
  tsNsec: number;
  flow: SynthFlow;
  /** True when the ENI is the source (direction "out"). */
  outbound: boolean;
  srcPort: number;
  dstPort: number;
  tcpFlags: number;
  l3Bytes: number;
  wireLen: number;
  capLen: number;
  /** Frame bytes; the first `capLen` are valid. */
  frame: Buffer;
}

/** Summary of a written capture. */
export interface CaptureSummary {
  path: string;
  packets: number;
  flows: number;
  /** Sum of IP lengths (what the records' `bytes` add up to). */
  l3Bytes: number;
  firstTsSec: number;
  lastTsSec: number;
}

const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_PSH = 0x08;
const TCP_ACK = 0x10;

/**
 * A planned capture: the flows and, per packet, its flow, direction, payload and time, sorted by
 * time. Frames are built on demand in `forEachPacket`, so planning 2 million packets costs
 * about 20 bytes each and no frame memory.
 */
export class TrafficPlan {
  readonly flows: SynthFlow[];
  readonly packetCount: number;
  readonly startSec: number;
  private readonly enis: EniAddresses[];
  private readonly gatewayMac: Uint8Array;
  private readonly seed: number;
  private readonly vlanIds: number[];
  /** Per planned packet (planning order): flow, direction (1 out), payload bytes, TCP flags, time. */
  private readonly flowOf: Uint32Array;
  private readonly outboundOf: Uint8Array;
  private readonly payloadOf: Uint16Array;
  private readonly flagsOf: Uint8Array;
  private readonly offsetUsOf: Float64Array;
  /** Planned packet indexes in capture order. */
  private readonly order: Uint32Array;

  constructor(options: TrafficOptions) {
    validate(options);
    const rng = new SeededRandom(options.seed ?? 1);
    const durationUs = Math.round(options.durationSec * 1_000_000);
    this.startSec = options.startSec;
    this.enis = parseEnis(options.enis);
    this.gatewayMac = parseMac(options.gatewayMac ?? 'ee:ff:ff:ff:ff:ff');
    this.seed = options.seed ?? 1;
    this.vlanIds = options.vlanIds ?? [];
    this.flows = drawFlows(rng, options.flows, options.ipv6Share ?? 0, this.enis, durationUs);
    apportionPackets(rng, this.flows, options.packets);
    const n = options.packets;
    this.packetCount = n;
    this.flowOf = new Uint32Array(n);
    this.outboundOf = new Uint8Array(n);
    this.payloadOf = new Uint16Array(n);
    this.flagsOf = new Uint8Array(n);
    this.offsetUsOf = new Float64Array(n);
    let maxPackets = 0;
    for (const f of this.flows) maxPackets = Math.max(maxPackets, f.packets);
    const gaps = new Float64Array(maxPackets + 1);
    let p = 0;
    for (const flow of this.flows) {
      // Sorted uniform times in the flow's span from normalised exponential gaps.
      let sum = 0;
      for (let k = 0; k <= flow.packets; k++) sum += gaps[k] = rng.nextExponential();
      let acc = 0;
      for (let k = 0; k < flow.packets; k++, p++) {
        acc += gaps[k];
        this.flowOf[p] = flow.index;
        this.offsetUsOf[p] = Math.min(durationUs - 1, flow.firstOffsetUs + Math.floor((flow.spanUs * acc) / sum));
        // The initiator opens, the responder answers; then echo alternates and the rest is random.
        const icmp = flow.protocol === PROTO_ICMP || flow.protocol === PROTO_ICMPV6;
        const initiatorSends = k < 2 || icmp ? k % 2 === 0 : rng.nextFloat() < 0.5;
        this.outboundOf[p] = initiatorSends === flow.eniInitiated ? 1 : 0;
        this.planPayload(rng, p, flow, k);
      }
    }
    this.order = sortByTime(this.offsetUsOf);
  }

  /** Visit every packet in capture order, building its frame (cut to `snapLen` when given). */
  forEachPacket(visit: (packet: SynthPacket) => void, snapLen?: number): void {
    const builder = new FrameBuilder();
    const spec = newFrameSpec();
    spec.vlanIds = this.vlanIds;
    // TCP sequence numbers per flow and side: [initiator, responder].
    const nextSeq = new Uint32Array(this.flows.length * 2);
    // Initial sequence numbers from their own stream, so planning and framing stay independent.
    const seqRng = new SeededRandom(this.seed ^ 0x5eed5eed);
    for (let i = 0; i < nextSeq.length; i++) nextSeq[i] = seqRng.nextUint32();
    const icmpSeq = new Uint16Array(this.flows.length);
    const packet: SynthPacket = {
      ordinal: 0,
      tsSec: 0,
      tsNsec: 0,
      flow: this.flows[0],
      outbound: false,
      srcPort: 0,
      dstPort: 0,
      tcpFlags: 0,
      l3Bytes: 0,
      wireLen: 0,
      capLen: 0,
      frame: builder.frame,
    };
    let prevUs = -1;
    let prevSubNs = 0;
    for (let ordinal = 0; ordinal < this.packetCount; ordinal++) {
      const p = this.order[ordinal];
      const flow = this.flows[this.flowOf[p]];
      const out = this.outboundOf[p] === 1;
      const eni = this.enis[flow.eniIndex];
      const offsetUs = this.offsetUsOf[p];
      // A deterministic sub-microsecond part, kept non-decreasing within one microsecond.
      let subNs = (Math.imul(p, 0x9e3779b1) >>> 0) % 1000;
      if (offsetUs === prevUs && subNs < prevSubNs) subNs = prevSubNs;
      prevUs = offsetUs;
      prevSubNs = subNs;
      const wholeSec = Math.floor(offsetUs / 1_000_000);
      packet.ordinal = ordinal;
      packet.tsSec = this.startSec + wholeSec;
      packet.tsNsec = (offsetUs - wholeSec * 1_000_000) * 1000 + subNs;
      packet.flow = flow;
      packet.outbound = out;
      packet.srcPort = out ? flow.eniPort : flow.remotePort;
      packet.dstPort = out ? flow.remotePort : flow.eniPort;
      packet.tcpFlags = flow.protocol === PROTO_TCP ? this.flagsOf[p] : 0;

      spec.srcMac = out ? eni.mac : this.gatewayMac;
      spec.dstMac = out ? this.gatewayMac : eni.mac;
      spec.family = flow.family;
      spec.srcIp = out ? flow.eniIp : flow.remoteIp;
      spec.dstIp = out ? flow.remoteIp : flow.eniIp;
      spec.protocol = flow.protocol;
      spec.srcPort = packet.srcPort;
      spec.dstPort = packet.dstPort;
      spec.payloadBytes = this.payloadOf[p];
      spec.ttl = out ? 64 : 52;
      spec.ipId = ordinal & 0xffff;
      // Frames delivered to the ENI are padded to the Ethernet minimum; sent ones are captured before padding.
      spec.padToEthernetMinimum = !out;
      const fromInitiator = out === flow.eniInitiated;
      if (flow.protocol === PROTO_TCP) {
        const mine = flow.index * 2 + (fromInitiator ? 0 : 1);
        const theirs = flow.index * 2 + (fromInitiator ? 1 : 0);
        const flags = this.flagsOf[p];
        spec.tcpFlags = flags;
        spec.tcpSeq = nextSeq[mine];
        spec.tcpAck = flags & TCP_ACK ? nextSeq[theirs] : 0;
        nextSeq[mine] = (nextSeq[mine] + spec.payloadBytes + (flags & (TCP_SYN | TCP_FIN) ? 1 : 0)) >>> 0;
      } else if (flow.protocol !== PROTO_UDP) {
        spec.icmpType = flow.protocol === PROTO_ICMP ? (fromInitiator ? 8 : 0) : fromInitiator ? 128 : 129;
        spec.icmpCode = 0;
        spec.icmpId = flow.icmpId;
        if (fromInitiator) icmpSeq[flow.index]++;
        spec.icmpSeq = icmpSeq[flow.index];
      }
      const built = builder.build(spec, snapLen);
      packet.l3Bytes = built.l3Bytes;
      packet.wireLen = built.wireLen;
      packet.capLen = built.capLen;
      visit(packet);
    }
  }

  /** Build every frame and write the capture file. */
  writeCapture(path: string, options: CaptureWriterOptions = {}): CaptureSummary {
    const writer = openCaptureWriter(path, { linkType: 1, ...options });
    const summary: CaptureSummary = {
      path,
      packets: 0,
      flows: this.flows.length,
      l3Bytes: 0,
      firstTsSec: 0,
      lastTsSec: 0,
    };
    try {
      this.forEachPacket((pkt) => {
        writer.writePacket(pkt.tsSec, pkt.tsNsec, pkt.frame, pkt.capLen, pkt.wireLen);
        if (summary.packets === 0) summary.firstTsSec = pkt.tsSec;
        summary.lastTsSec = pkt.tsSec;
        summary.packets++;
        summary.l3Bytes += pkt.l3Bytes;
      }, options.snapLen);
    } finally {
      writer.close();
    }
    return summary;
  }

  /**
   * Visit the facts of every packet in planning order (cheap: no frames are built), for totals
   * computed by arithmetic rather than by reading the capture back.
   */
  forEachPlannedPacket(visit: (flow: SynthFlow, outbound: boolean, l3Bytes: number, tsSec: number) => void): void {
    for (let p = 0; p < this.packetCount; p++) {
      const flow = this.flows[this.flowOf[p]];
      const l3 = ipHeaderBytes(flow.family) + transportHeaderBytes(flow.protocol) + this.payloadOf[p];
      visit(flow, this.outboundOf[p] === 1, l3, this.startSec + Math.floor(this.offsetUsOf[p] / 1_000_000));
    }
  }

  private planPayload(rng: SeededRandom, p: number, flow: SynthFlow, k: number): void {
    const v6 = flow.family === 6;
    const r = rng.nextFloat();
    if (flow.protocol === PROTO_TCP) {
      const mss = v6 ? 1440 : 1460;
      const last = k === flow.packets - 1 && k >= 2;
      let flags = k === 0 ? TCP_SYN : k === 1 ? TCP_SYN | TCP_ACK : last ? TCP_FIN | TCP_ACK : TCP_ACK;
      let payload = 0;
      if (k >= 2 && !last) {
        payload = r < 0.35 ? 0 : r < 0.65 ? rng.nextIntBetween(1, 300) : r < 0.85 ? mss : rng.nextIntBetween(301, mss);
        if (payload > 0) flags |= TCP_PSH;
      }
      this.flagsOf[p] = flags;
      this.payloadOf[p] = payload;
    } else if (flow.protocol === PROTO_UDP) {
      this.payloadOf[p] = r < 0.9 ? rng.nextIntBetween(20, 512) : rng.nextIntBetween(513, v6 ? 1452 : 1472);
    } else {
      this.payloadOf[p] = r < 0.8 ? 56 : rng.nextIntBetween(0, v6 ? 1452 : 1472);
    }
  }
}

/** Plan a capture; see `TrafficPlan`. */
export function planTraffic(options: TrafficOptions): TrafficPlan {
  return new TrafficPlan(options);
}

/**
 * Indexes of `times` in ascending time order, ties in index order. Packs (time, index) into one
 * double and sorts natively when that is exact (< 2^53), else falls back to a comparator sort.
 */
function sortByTime(times: Float64Array): Uint32Array {
  const n = times.length;
  const order = new Uint32Array(n);
  let maxTime = 0;
  for (let i = 0; i < n; i++) if (times[i] > maxTime) maxTime = times[i];
  const scale = 2 ** Math.max(1, Math.ceil(Math.log2(n + 1)));
  if ((maxTime + 1) * scale < 2 ** 53) {
    const keys = new Float64Array(n);
    for (let i = 0; i < n; i++) keys[i] = times[i] * scale + i;
    keys.sort();
    for (let i = 0; i < n; i++) order[i] = keys[i] % scale;
  } else {
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => times[a] - times[b] || a - b);
  }
  return order;
}

function validate(o: TrafficOptions): void {
  const bad = (what: string): never => {
    throw new RangeError(`plan traffic: ${what}`);
  };
  if (!Number.isInteger(o.packets) || o.packets < 1) bad(`packets ${o.packets} is not a positive integer`);
  if (!Number.isInteger(o.flows) || o.flows < 1) bad(`flows ${o.flows} is not a positive integer`);
  if (o.flows > o.packets) bad(`flows ${o.flows} exceed packets ${o.packets}: every flow needs a packet`);
  if (!Number.isInteger(o.startSec) || o.startSec < 0 || o.startSec > 0xffffffff)
    bad(`start ${o.startSec} is not a Unix second`);
  if (!(o.durationSec > 0) || o.durationSec * 1e6 > Number.MAX_SAFE_INTEGER)
    bad(`duration ${o.durationSec} s is not positive`);
  const share = o.ipv6Share ?? 0;
  if (!(share >= 0 && share <= 1)) bad(`ipv6Share ${share} is not in 0..1`);
  if (o.enis.length === 0) bad('no ENI given');
  for (const v of o.vlanIds ?? []) if (!Number.isInteger(v) || v < 0 || v > 4094) bad(`VLAN id ${v} is not in 0..4094`);
}
