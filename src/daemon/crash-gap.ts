import type { AgentConfig } from '../config/types';
import type { RecordBatch } from '../flow/record';
import { gapPieces } from '../flow/gap-pieces';
import { RecordBuilder } from '../flow/record-builder';
import type { JournalState } from './capture-journal';

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
    for (const piece of gapPieces(past.intervalSec, durable, resumedSec))
      batches.push(...builder.uncapturedBatches(piece.startSec, piece.endSec));
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
