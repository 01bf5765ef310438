import { byteBudget, type BatchLimits, type GroupableSegment } from './batcher';

/** A request the picker proposes: segments of one window in spool order, and whether more could join. */
export interface PickedRequest<S extends GroupableSegment> {
  segments: S[];
  full: boolean;
}

/** Segments looked at per pick, past those already dispatched: bounds a pick's cost in a deep spool. */
const SCAN_LIMIT = 20_000;
/** Other windows' segments a request looks past for more of its own window. */
const LOOKAHEAD = 64;

/**
 * Which spooled segments the delivery sends next, so that windows go out side by side: a window
 * of 600,000 flows (150 requests) does not hold the next windows of its flow log back. Each
 * window's segments are sent in spool order (order within a window as before); between windows,
 * the free request slot goes to the window with the fewest requests in flight, the oldest first
 * on a tie. So with `concurrency` N a new window waits for one of the big window's requests to
 * finish, not for all of them. With one window waiting this is plain FIFO.
 *
 * State: `nextSeq`, below which every segment was dispatched, and the few segments dispatched
 * beyond it (another window's). Lifecycle: one per delivery; `take` when a request starts,
 * `release` when it ends (acknowledged, or its segments gone).
 */
export class RequestPicker<S extends GroupableSegment> {
  private nextSeq = 0;
  private readonly ahead = new Set<number>();
  private readonly inFlight = new Map<string, number>();

  constructor(private readonly limits: BatchLimits) {}

  /**
   * The candidate requests, best first: for each of the first `windows` windows waiting (in
   * spool order), the window's undispatched segments from its first one on, as many as one
   * request takes (see runFrom).
   */
  candidates(segments: readonly S[], windows: number): PickedRequest<S>[] {
    const firsts: number[] = [];
    const seen = new Set<string>();
    let i = firstAtOrAfter(segments, this.nextSeq);
    for (let scanned = 0; i < segments.length && scanned < SCAN_LIMIT && firsts.length < windows; i++, scanned++) {
      const s = segments[i];
      if (this.ahead.has(s.seq)) continue;
      const key = windowKey(s);
      if (seen.has(key)) continue;
      seen.add(key);
      firsts.push(i);
    }
    const ranked = firsts
      .map((at, order) => ({ at, order, busy: this.inFlight.get(windowKey(segments[at])) ?? 0 }))
      .sort((a, b) => a.busy - b.busy || a.order - b.order);
    return ranked.map((r) => this.runFrom(segments, r.at));
  }

  /** `request` (one of `candidates`) starts: its segments are dispatched. */
  take(request: PickedRequest<S>, segments: readonly S[]): void {
    const key = windowKey(request.segments[0]);
    this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + 1);
    for (const s of request.segments) this.ahead.add(s.seq);
    this.advance(segments);
  }

  /** A request of `first`'s window ended. Then moves `nextSeq` over the dispatched prefix of `segments`. */
  release(first: S, segments: readonly S[]): void {
    const key = windowKey(first);
    const n = (this.inFlight.get(key) ?? 1) - 1;
    if (n <= 0) this.inFlight.delete(key);
    else this.inFlight.set(key, n);
    this.advance(segments);
  }

  /** Moves `nextSeq` past every leading segment already dispatched, and forgets them. */
  advance(segments: readonly S[]): void {
    let i = firstAtOrAfter(segments, this.nextSeq);
    while (i < segments.length && this.ahead.has(segments[i].seq)) {
      this.nextSeq = segments[i].seq + 1;
      i++;
    }
    for (const seq of this.ahead) if (seq < this.nextSeq) this.ahead.delete(seq);
  }

  /**
   * The request starting at segment `at`: the window's next undispatched segments in spool order,
   * past other windows' segments (the write-ahead interleaves windows), while they fit the
   * limits. `full` when the next one of the window would not fit, or the record limit is reached.
   */
  private runFrom(segments: readonly S[], at: number): PickedRequest<S> {
    const budget = byteBudget(this.limits.maxBatchBytes);
    const first = segments[at];
    const taken = [first];
    let records = first.recordCount;
    let bytes = first.rawBytes;
    for (let i = at + 1, since = 0; i < segments.length; i++) {
      const next = segments[i];
      if (
        next.windowStartSec !== first.windowStartSec ||
        next.windowEndSec !== first.windowEndSec ||
        this.ahead.has(next.seq)
      ) {
        // Windows are interleaved a piece each while appended together: one of this window
        // this far on belongs to another request anyway. Bounds a pick in a deep spool.
        if (++since > LOOKAHEAD) return { segments: taken, full: true };
        continue;
      }
      if (records + next.recordCount > this.limits.maxBatchRecords || bytes + next.rawBytes > budget)
        return { segments: taken, full: true };
      taken.push(next);
      records += next.recordCount;
      bytes += next.rawBytes;
      since = 0;
    }
    return { segments: taken, full: records >= this.limits.maxBatchRecords };
  }
}

function windowKey(s: GroupableSegment): string {
  return `${s.windowStartSec}/${s.windowEndSec}`;
}

/** Index of the first segment with a sequence number >= `seq`, or `segments.length` (binary search). */
function firstAtOrAfter(segments: readonly GroupableSegment[], seq: number): number {
  let lo = 0;
  let hi = segments.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (segments[mid].seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
