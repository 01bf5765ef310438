/**
 * Port ranges as the product writes them ("22/22", "-1/-1" for every port) and the two shorter
 * forms operators type ("22", "1000-2000"). Parsed at config load and compile time only.
 */
export interface PortRange {
  /** Inclusive bounds; 0..65535 for "-1/-1" (every port). */
  fromPort: number;
  toPort: number;
  /** Whether the range is "-1/-1": every port, the only form allowed for icmp, icmpv6 and all. */
  any: boolean;
}

export type PortRangeResult = { ok: true; value: PortRange } | { ok: false; reason: string };

const RANGE_RE = /^(\d{1,5})(?:[/-](\d{1,5}))?$/;

/** Parses a port range; the reason names the accepted forms. */
export function parsePortRange(text: string): PortRangeResult {
  const t = text.trim();
  if (t === '-1/-1' || t === '-1') return { ok: true, value: { fromPort: 0, toPort: 65535, any: true } };
  const m = RANGE_RE.exec(t);
  const bad = {
    ok: false as const,
    reason: `must be a port range like "22/22", "1000/2000", "22", "1000-2000" or "-1/-1" (all ports), got "${text}"`,
  };
  if (!m) return bad;
  const fromPort = Number(m[1]);
  const toPort = m[2] === undefined ? fromPort : Number(m[2]);
  if (fromPort < 1 || toPort > 65535) return { ok: false, reason: `ports must be 1..65535, got "${text}"` };
  if (fromPort > toPort) return { ok: false, reason: `range start is above its end in "${text}"` };
  return { ok: true, value: { fromPort, toPort, any: false } };
}

/** The product's form of a range: "22/22", "-1/-1". */
export function formatPortRange(r: PortRange): string {
  return r.any ? '-1/-1' : `${r.fromPort}/${r.toPort}`;
}
