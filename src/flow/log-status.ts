import type { LogStatus } from './record';

/**
 * The log-status of one ENI for one window, beyond its OK records:
 * - SKIPDATA when any of its traffic could not be recorded (capture drops, a full flow table,
 *   an overloaded pipeline). It is written alongside the OK records that were recorded, so a
 *   loss is never hidden and never invented: no loss, no SKIPDATA.
 * - NODATA when it had no traffic at all in the window, and was captured in it (`captured`): an
 *   ENI whose device existed for none of the window was not watched, so nothing is said of it.
 * - OK otherwise (no extra record); null when nothing is to be written.
 */
export function logStatusOf(recordedPackets: number, lostPackets: number, captured = true): LogStatus | null {
  if (lostPackets > 0) return 'SKIPDATA';
  if (recordedPackets === 0) return captured ? 'NODATA' : null;
  return 'OK';
}
