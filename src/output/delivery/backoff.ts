/** Bounds of the retry schedule. */
export interface BackoffPolicy {
  /** Shortest wait before a retry, and the base of the exponential growth. */
  retryInitialMs: number;
  /** Longest wait computed by the schedule (a sink's `retryAfterMs` may ask for more). */
  retryMaxMs: number;
}

/**
 * A sink-supplied `retryAfterMs` is honoured up to this much beyond `retryMaxMs`, so a confused
 * server header cannot park a batch for days.
 */
export const RETRY_AFTER_CAP_MS = 300_000;

/**
 * Wait before retry number `attempt` (1 = first retry): exponential backoff with full jitter,
 * uniform in [retryInitialMs, min(retryMaxMs, retryInitialMs * 2^attempt)], so agents that failed
 * together (a Log Service outage) do not retry together. The result is at least `retryAfterMs`
 * (capped at max(retryMaxMs, RETRY_AFTER_CAP_MS)). `random` returns [0, 1) like Math.random.
 */
export function retryDelayMs(
  attempt: number,
  policy: BackoffPolicy,
  retryAfterMs = 0,
  random: () => number = Math.random,
): number {
  const initial = Math.max(0, policy.retryInitialMs);
  const max = Math.max(initial, policy.retryMaxMs);
  // 2^attempt overflows nothing useful past ~50 doublings; clamp the exponent first.
  const ceiling = Math.min(max, initial * 2 ** Math.min(Math.max(1, attempt), 50));
  const jittered = Math.round(initial + random() * (ceiling - initial));
  const asked = Number.isFinite(retryAfterMs) && retryAfterMs > 0 ? retryAfterMs : 0;
  return Math.max(jittered, Math.min(asked, Math.max(max, RETRY_AFTER_CAP_MS)));
}
