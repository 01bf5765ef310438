import type { Writable } from 'node:stream';
import type { RecordBatch } from '../flow/record';
import { formatBatchLines, jsonLineMeasure } from './format/json-lines';
import type { Sink, SinkResult } from './sink';

/** A reader that went away will not come back: retrying cannot help. */
const PERMANENT_CODES: ReadonlySet<string> = new Set(['EPIPE', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);

/**
 * Writes records as JSON Lines (json-lines.ts) to a stream, process.stdout by default.
 *
 * Backpressure: a write resolves only when the stream has taken the chunk (its write callback),
 * and writes are serialised, so a slow reader (`flowlog-agent ... | slow-consumer`) slows
 * delivery down, and the spool absorbs the difference, instead of Node buffering without bound.
 * The stream is borrowed: `close` waits for pending writes but never ends it.
 */
export class StdoutSink implements Sink {
  readonly name: string;
  readonly measure = jsonLineMeasure;
  private tail: Promise<unknown> = Promise.resolve();
  private lastError: NodeJS.ErrnoException | null = null;

  constructor(
    private readonly stream: Writable = process.stdout,
    name = 'stdout',
  ) {
    this.name = name;
    // An 'error' event without a listener (EPIPE when the reader exits) would kill the process.
    stream.on('error', (err: NodeJS.ErrnoException) => {
      this.lastError = err;
    });
  }

  write(batch: RecordBatch): Promise<SinkResult> {
    const run = this.tail.then(() => this.writeNow(formatBatchLines(batch)));
    this.tail = run;
    return run;
  }

  async close(): Promise<void> {
    await this.tail;
  }

  private writeNow(text: string): Promise<SinkResult> {
    if (this.lastError || this.stream.destroyed || this.stream.writableEnded) {
      const err = this.lastError ?? Object.assign(new Error('stream closed'), { code: 'ERR_STREAM_DESTROYED' });
      return Promise.resolve(this.classify(err));
    }
    return new Promise((resolve) => {
      this.stream.write(text, (err?: Error | null) => {
        resolve(err ? this.classify(err) : { kind: 'ok' });
      });
    });
  }

  private classify(err: NodeJS.ErrnoException): SinkResult {
    const reason = `write ${this.name}: ${err.message}`;
    if (PERMANENT_CODES.has(err.code ?? '')) return { kind: 'permanent', reason };
    return { kind: 'retryable', retryAfterMs: 0, reason };
  }
}
