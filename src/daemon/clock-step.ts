import { performance } from 'node:perf_hooks';
import { CLOCK_STEP_MS } from '../flow/flow-aggregator';
import type { Logger } from '../log';

export { CLOCK_STEP_MS };

/**
 * Notices steps of the wall clock (an NTP step, an operator's `date -s`) by comparing it with the
 * monotonic clock between two ticks, and says so once per step. The windows themselves need no
 * help (FlowAggregator in wall-clock mode: a step back holds the open window until the clock
 * catches up, a step forward writes the windows it jumped over as SKIPDATA); this makes the
 * cause visible. A suspended process sees both clocks advance, so it is not a step.
 */
export class ClockStepWatch {
  forward = 0;
  back = 0;
  private lastWallMs: number;
  private lastMonoMs: number;

  constructor(
    private readonly log: Logger,
    private readonly wallMs: () => number = Date.now,
    private readonly monoMs: () => number = () => performance.now(),
  ) {
    this.lastWallMs = wallMs();
    this.lastMonoMs = monoMs();
  }

  check(): void {
    const wall = this.wallMs();
    const mono = this.monoMs();
    const stepMs = wall - this.lastWallMs - (mono - this.lastMonoMs);
    this.lastWallMs = wall;
    this.lastMonoMs = mono;
    if (Math.abs(stepMs) < CLOCK_STEP_MS) return;
    const direction = stepMs > 0 ? 'forward' : 'back';
    if (stepMs > 0) this.forward++;
    else this.back++;
    const sec = Math.round(Math.abs(stepMs) / 1000);
    this.log.warn(
      { stepMs: Math.round(stepMs), wallSec: Math.floor(wall / 1000) },
      direction === 'forward'
        ? `wall clock stepped forward by ${sec} s: windows it jumped over are written as SKIPDATA`
        : `wall clock stepped back by ${sec} s: the open window stays open until the clock reaches its end again`,
    );
  }
}
