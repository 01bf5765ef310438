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
 * MAX_GAP_WINDOWS_EACH - 1 are one stretch. Bounds may be fractional (capture resumed at
 * 785.055 s: the last stretch is [785, 785.055)); records round them outward.
 */
export function gapPieces(intervalSec: number, fromSec: number, toSec: number): GapPiece[] {
  const pieces: GapPiece[] = [];
  if (!(toSec > fromSec)) return pieces;
  const firstEnd = Math.min(toSec, Math.floor(fromSec / intervalSec) * intervalSec + intervalSec);
  pieces.push({ intervalSec, startSec: fromSec, endSec: firstEnd });
  const lastStart = Math.max(firstEnd, Math.floor(toSec / intervalSec) * intervalSec);
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
