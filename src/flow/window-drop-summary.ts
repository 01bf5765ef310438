import { DECODE_STATUS_NAMES, MALFORMED_STATUSES } from '../packet/decode/packet-view';
import type { Logger } from '../log';
import type { ClosedWindow } from './flow-aggregator';
import type { PacketCounters } from '../packet/flow-recorder';

/**
 * Logs, once per window and only when something was dropped, what the packet path counted but
 * did not record: packets lost before or in aggregation (capture drops, a full table: the
 * window's SKIPDATA, per ENI), malformed packets by reason, packets of no ENI. The packet path
 * only bumps counters; this reads their deltas when a window closes (the daemon).
 */
export class WindowDropSummary {
  private readonly lastByStatus: Float64Array;
  private lastUnattributed: number;

  constructor(
    private readonly counters: PacketCounters,
    private eniIds: readonly string[],
    private readonly log: Logger,
  ) {
    this.lastByStatus = Float64Array.from(counters.byStatus);
    this.lastUnattributed = counters.unattributed;
  }

  /** The ENI ids by index, after the ENIs changed in place. */
  setEniIds(eniIds: readonly string[]): void {
    this.eniIds = eniIds;
  }

  onWindowClosed(w: ClosedWindow): void {
    const malformed: Record<string, number> = {};
    let malformedTotal = 0;
    for (const s of MALFORMED_STATUSES) {
      const d = this.counters.byStatus[s] - this.lastByStatus[s];
      if (d > 0) {
        malformed[DECODE_STATUS_NAMES[s]] = d;
        malformedTotal += d;
      }
    }
    this.lastByStatus.set(this.counters.byStatus);
    const unattributed = this.counters.unattributed - this.lastUnattributed;
    this.lastUnattributed = this.counters.unattributed;
    const lost: Record<string, number> = {};
    let lostTotal = 0;
    w.eniLostPackets.forEach((n, eni) => {
      if (n > 0) {
        lost[this.eniIds[eni]] = n;
        lostTotal += n;
      }
    });
    if (lostTotal === 0 && malformedTotal === 0 && unattributed === 0) return;
    const window = `${new Date(w.startSec * 1000).toISOString()}..${new Date(w.endSec * 1000).toISOString()}`;
    const parts: string[] = [];
    if (lostTotal > 0) parts.push(`${lostTotal} packets not recorded (SKIPDATA written)`);
    if (malformedTotal > 0) parts.push(`${malformedTotal} malformed packets skipped`);
    if (unattributed > 0) parts.push(`${unattributed} packets of no configured ENI skipped`);
    const fields = { window, lostPackets: lost, malformedPackets: malformed, unattributedPackets: unattributed };
    if (lostTotal > 0) this.log.warn(fields, `window ${window}: ${parts.join('; ')}`);
    else this.log.info(fields, `window ${window}: ${parts.join('; ')}`);
  }
}
