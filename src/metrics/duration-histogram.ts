/**
 * A histogram of durations kept as plain numbers, so the stage that measures (delivery, window
 * flush) only bumps counts and the metrics endpoint renders them at scrape time.
 */

/** Read-only view of a histogram, as the exposition needs it. */
export interface HistogramView {
  /** Upper bounds of the finite buckets, seconds, strictly increasing. */
  readonly upperBoundsSec: readonly number[];
  /** Observations per bucket, NOT cumulative; length = upperBoundsSec.length + 1 (the last is +Inf). */
  readonly bucketCounts: ArrayLike<number>;
  readonly sumSec: number;
  readonly count: number;
}

/** Default bounds for delivery and flush latencies: 5 ms .. 60 s. */
export const DEFAULT_DURATION_BOUNDS_SEC: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/** Owned by the stage that observes; `observe` allocates nothing. */
export class DurationHistogram implements HistogramView {
  readonly bucketCounts: Float64Array;
  sumSec = 0;
  count = 0;

  constructor(readonly upperBoundsSec: readonly number[] = DEFAULT_DURATION_BOUNDS_SEC) {
    for (let i = 1; i < upperBoundsSec.length; i++) {
      if (!(upperBoundsSec[i] > upperBoundsSec[i - 1])) {
        throw new RangeError(`create histogram: bounds must increase, got ${upperBoundsSec.join(', ')}`);
      }
    }
    this.bucketCounts = new Float64Array(upperBoundsSec.length + 1);
  }

  /** Counts one duration; a value equal to a bound falls in that bound's bucket (Prometheus `le`). */
  observe(seconds: number): void {
    if (!(seconds >= 0)) return; // NaN or negative (clock step): not a duration
    let i = 0;
    while (i < this.upperBoundsSec.length && seconds > this.upperBoundsSec[i]) i++;
    this.bucketCounts[i]++;
    this.sumSec += seconds;
    this.count++;
  }
}

/** An empty histogram view, for sources with nothing to report yet. */
export const EMPTY_HISTOGRAM: HistogramView = {
  upperBoundsSec: [],
  bucketCounts: [0],
  sumSec: 0,
  count: 0,
};
