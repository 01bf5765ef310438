import type { TrafficPlan } from './traffic';

/**
 * What a correct agent must report for a generated capture, derived from the plan by
 * arithmetic (sizes and times the generator chose), never by decoding the capture.
 */
export interface ExpectedFlowTotal {
  eniIndex: number;
  /** 'out' when the ENI is the source. */
  direction: 'in' | 'out';
  srcaddr: string;
  srcport: number;
  dstaddr: string;
  dstport: number;
  protocol: number;
  /** Clock-aligned window start: floor(ts / windowSec) * windowSec, Unix seconds. */
  windowStartSec: number;
  packets: number;
  /** Sum of L3 lengths (IPv4 total length; IPv6 40 + payload length). */
  bytes: number;
}

/** Lookup key of a total: direction|srcaddr|srcport|dstaddr|dstport|protocol|windowStart. */
export function flowTotalKey(t: {
  direction: string;
  srcaddr: string;
  srcport: number | string;
  dstaddr: string;
  dstport: number | string;
  protocol: number | string;
  windowStartSec: number | string;
}): string {
  return `${t.direction}|${t.srcaddr}|${t.srcport}|${t.dstaddr}|${t.dstport}|${t.protocol}|${t.windowStartSec}`;
}

/**
 * Totals per (direction, 5-tuple, window) for windows of `windowSec` seconds, ordered by
 * window, then flow, then direction ('out' first).
 */
export function expectedFlowTotals(plan: TrafficPlan, windowSec: number): ExpectedFlowTotal[] {
  if (!Number.isInteger(windowSec) || windowSec < 1) {
    throw new RangeError(`compute expected totals: window ${windowSec} s is not a positive integer`);
  }
  const flowCount = plan.flows.length;
  const firstWindow = Math.floor(plan.startSec / windowSec);
  // Numeric keys (window ordinal, flow, direction) keep this fast for millions of packets.
  const packets = new Map<number, number>();
  const bytes = new Map<number, number>();
  plan.forEachPlannedPacket((flow, outbound, l3Bytes, tsSec) => {
    const w = Math.floor(tsSec / windowSec) - firstWindow;
    const key = (w * flowCount + flow.index) * 2 + (outbound ? 0 : 1);
    packets.set(key, (packets.get(key) ?? 0) + 1);
    bytes.set(key, (bytes.get(key) ?? 0) + l3Bytes);
  });
  const keys = Array.from(packets.keys()).sort((a, b) => a - b);
  return keys.map((key) => {
    const outbound = key % 2 === 0;
    const flow = plan.flows[Math.floor(key / 2) % flowCount];
    const w = Math.floor(key / 2 / flowCount);
    return {
      eniIndex: flow.eniIndex,
      direction: outbound ? 'out' : 'in',
      srcaddr: outbound ? flow.eniAddr : flow.remoteAddr,
      srcport: outbound ? flow.eniPort : flow.remotePort,
      dstaddr: outbound ? flow.remoteAddr : flow.eniAddr,
      dstport: outbound ? flow.remotePort : flow.eniPort,
      protocol: flow.protocol,
      windowStartSec: (firstWindow + w) * windowSec,
      packets: packets.get(key) ?? 0,
      bytes: bytes.get(key) ?? 0,
    };
  });
}
