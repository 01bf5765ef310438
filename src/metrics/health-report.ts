/**
 * The judgement behind /healthz: unhealthy when a sink has had data waiting and delivered
 * nothing for three of its windows, or when a capture device is down. Pure function of the
 * source and the clock, so it is tested without a server.
 */
import type { HealthSource } from './metrics-source';

/** Windows a sink may go without delivering, while data waits, before /healthz fails. */
export const SINK_STALE_WINDOWS = 3;

export type HealthProblem =
  | { kind: 'sink'; sink: string; message: string; undeliveredSec: number }
  | { kind: 'capture'; eni: string; device: string; message: string }
  | { kind: 'spool'; sink: string; message: string };

/** Body of /healthz (JSON). */
export interface HealthReport {
  status: 'ok' | 'unhealthy';
  /** Empty when ok. */
  problems: HealthProblem[];
  checkedAtUnixMs: number;
}

/** Judges `source` at `nowUnixMs`. */
export function evaluateHealth(source: HealthSource, nowUnixMs: number): HealthReport {
  const problems: HealthProblem[] = [];
  for (const s of source.sinkDeliveries()) {
    if (s.spoolWriteError !== undefined) {
      // Nothing is lost yet, but a crash now would lose what is held in memory: not healthy.
      problems.push({
        kind: 'spool',
        sink: s.sink,
        message:
          `spool of sink ${s.sink} cannot write (${s.spoolWriteError}): ${s.spoolMemorySegments ?? 0} segments held in memory` +
          `, ${s.spoolDroppedRecords ?? 0} records dropped over the memory bound`,
      });
    }
    // Nothing waiting: an idle sink is not a failing sink.
    if (s.oldestPendingUnixMs === undefined) continue;
    // Undelivered since the later of "data began waiting" and "last success": a sink steadily
    // draining a backlog keeps succeeding and stays healthy.
    const since = Math.max(s.oldestPendingUnixMs, s.lastSuccessUnixMs ?? -Infinity);
    const undeliveredMs = nowUnixMs - since;
    const limitMs = SINK_STALE_WINDOWS * s.windowSec * 1000;
    if (undeliveredMs > limitMs) {
      const undeliveredSec = Math.floor(undeliveredMs / 1000);
      problems.push({
        kind: 'sink',
        sink: s.sink,
        undeliveredSec,
        message:
          `sink ${s.sink} has not delivered for ${undeliveredSec} s ` +
          `(more than ${SINK_STALE_WINDOWS} windows of ${s.windowSec} s) while records wait`,
      });
    }
  }
  for (const d of source.captureDeviceStates()) {
    if (d.up) continue;
    problems.push({
      kind: 'capture',
      eni: d.eni,
      device: d.device,
      message: `capture device ${d.device} of ${d.eni} is down${d.reason ? `: ${d.reason}` : ''}`,
    });
  }
  return { status: problems.length === 0 ? 'ok' : 'unhealthy', problems, checkedAtUnixMs: nowUnixMs };
}
