import type { FlowRecord, RecordBatch } from '../../src/flow/record';
import type { Sink, SinkResult } from '../../src/output/sink';
import { slsLogMeasure } from '../../src/output/sls/sls-log-group';

/**
 * One scripted answer: a result returned at once, 'hang' (a write that never settles), or
 * 'manual' (a write the test settles later through `ScriptedSink.settle`).
 */
export type ScriptStep = SinkResult | 'hang' | 'manual';

export interface SinkCall {
  /** Copy of what was written (the batch is only borrowed by the sink). */
  windowStartSec: number;
  records: FlowRecord[];
  atMs: number;
}

export const ok: SinkResult = { kind: 'ok' };
export function retryable(reason = 'HTTP 503', retryAfterMs = 0): SinkResult {
  return { kind: 'retryable', retryAfterMs, reason };
}
export function permanent(reason = 'Unauthorized: AccessKeyId not found'): SinkResult {
  return { kind: 'permanent', reason };
}

/**
 * A test double for `Sink`: answers each `write` with the next scripted step, then `ok` once
 * the script is exhausted, and records every call.
 */
export class ScriptedSink implements Sink {
  /** Sized as the Log Service sink sizes requests (the batching tests count in its bytes). */
  readonly measure = slsLogMeasure;
  readonly calls: SinkCall[] = [];
  readonly manual: Array<(result: SinkResult) => void> = [];
  closed = false;
  private readonly script: ScriptStep[];

  constructor(
    script: ScriptStep[] = [],
    readonly name = 'scripted',
  ) {
    this.script = [...script];
  }

  /** Appends steps to the script. */
  then(...steps: ScriptStep[]): this {
    this.script.push(...steps);
    return this;
  }

  write(batch: RecordBatch): Promise<SinkResult> {
    this.calls.push({
      windowStartSec: batch.windowStartSec,
      records: batch.records.map((r) => ({ ...r })),
      atMs: Date.now(),
    });
    const step = this.script.length > 0 ? this.script.shift()! : ok;
    if (step === 'hang') return new Promise(() => undefined);
    if (step === 'manual') return new Promise((resolve) => this.manual.push(resolve));
    return Promise.resolve(step);
  }

  /** Settles the `index`-th manual write (in call order of the manual steps). */
  settle(index: number, result: SinkResult = ok): void {
    this.manual[index](result);
  }

  /** Record counts of the calls, in order. */
  get sizes(): number[] {
    return this.calls.map((c) => c.records.length);
  }

  /** The `n` field of every record written, in order. */
  get delivered(): string[] {
    return this.calls.flatMap((c) => c.records.map((r) => r.n));
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
