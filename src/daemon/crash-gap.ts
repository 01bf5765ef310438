import type { AgentConfig } from '../config/types';
import type { RecordBatch } from '../flow/record';
import { RecordBuilder } from '../flow/record-builder';
import type { JournalState } from './capture-journal';

/**
 * Whole windows of a gap written one by one before the rest of the gap becomes a single record
 * per ENI: a day-long outage at 1-minute windows would otherwise be 1,440 records per ENI.
 */
export const MAX_GAP_WINDOWS_EACH = 60;

/** One stretch of uncaptured time of one interval, within a window or spanning whole ones. */
export interface GapPiece {
  intervalSec: number;
  startSec: number;
  endSec: number;
}

/**
 * The stretches of `[fromSec, toSec)` cut at the interval's window boundaries: the window open at
 * the crash (from `fromSec`), every window in the gap, the window capture resumed in (to
 * `toSec`). With more than MAX_GAP_WINDOWS_EACH whole windows in between, those after the first
 * MAX_GAP_WINDOWS_EACH - 1 are one stretch.
 */
export function gapPieces(intervalSec: number, fromSec: number, toSec: number): GapPiece[] {
  const pieces: GapPiece[] = [];
  if (!(toSec > fromSec)) return pieces;
  const firstEnd = Math.min(toSec, fromSec - (fromSec % intervalSec) + intervalSec);
  pieces.push({ intervalSec, startSec: fromSec, endSec: firstEnd });
  const lastStart = Math.max(firstEnd, toSec - (toSec % intervalSec));
  const whole = (lastStart - firstEnd) / intervalSec;
  let s = firstEnd;
  for (let i = 0; s < lastStart; i++) {
    const spanning = whole > MAX_GAP_WINDOWS_EACH && i === MAX_GAP_WINDOWS_EACH - 1;
    const end = spanning ? lastStart : s + intervalSec;
    pieces.push({ intervalSec, startSec: s, endSec: end });
    s = end;
  }
  if (lastStart < toSec) pieces.push({ intervalSec, startSec: lastStart, endSec: toSec });
  return pieces;
}

export interface CrashGap {
  /** Bounds for the log line: what the previous run had made durable, and when capture resumed. */
  fromSec: number;
  capturedUntilSec: number;
  resumedSec: number;
  batches: RecordBatch[];
  records: number;
  /** Flow logs of the previous run the current config no longer has (their gap goes unwritten). */
  missingFlowLogs: string[];
}

/**
 * The SKIPDATA records of a crash: for each flow log of the previous run that the config still
 * has, each ENI it covered, each stretch from what that run had made durable to `resumedSec`.
 * Windows wholly inside the gap get SKIPDATA too, not NODATA: nothing was capturing, so nothing
 * is known of their traffic, and NODATA would claim there was none.
 */
export function crashGapRecords(previous: JournalState, config: AgentConfig, resumedSec: number): CrashGap {
  const batches: RecordBatch[] = [];
  const missingFlowLogs: string[] = [];
  let fromSec = resumedSec;
  for (const past of previous.flowLogs) {
    const fl = config.flowLogs.find((f) => f.id === past.id);
    if (fl === undefined) {
      missingFlowLogs.push(past.id);
      continue;
    }
    const durable = previous.durableUntilSec[String(past.intervalSec)] ?? previous.capturedUntilSec;
    fromSec = Math.min(fromSec, durable);
    const builder = new RecordBuilder(config, previous.enis, [fl]);
    for (const piece of gapPieces(past.intervalSec, durable, resumedSec)) batches.push(...builder.uncapturedBatches(piece.startSec, piece.endSec));
  }
  return {
    fromSec,
    capturedUntilSec: previous.capturedUntilSec,
    resumedSec,
    batches,
    records: batches.reduce((n, b) => n + b.records.length, 0),
    missingFlowLogs,
  };
}
