import type { RecordBatch } from '../../flow/record';
import type { Sink, SinkResult } from '../sink';

/**
 * `sink.write(batch)` raced against `timeoutMs`. A write that does not settle in time resolves
 * as retryable (and `onTimeout` is called); its late answer is ignored, so the batch may end up
 * delivered twice (at-least-once). A throw or rejection, which the `Sink` contract forbids, is
 * turned into a retryable result too. Never rejects.
 */
export function writeWithTimeout(
  sink: Sink,
  batch: RecordBatch,
  timeoutMs: number,
  onTimeout: () => void,
): Promise<SinkResult> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (result: SinkResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const timer = setTimeout(() => {
      if (settled) return;
      onTimeout();
      settle({ kind: 'retryable', retryAfterMs: 0, reason: `write timed out after ${timeoutMs} ms` });
    }, timeoutMs);
    const failed = (err: unknown) => {
      const reason = `write threw: ${(err as Error)?.message ?? String(err)}`;
      settle({ kind: 'retryable', retryAfterMs: 0, reason });
    };
    try {
      sink.write(batch).then(settle, failed);
    } catch (err) {
      failed(err);
    }
  });
}
