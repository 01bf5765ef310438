import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AgentConfig } from '../config/types';
import type { FlowSlice, RecordBatch } from '../flow/record';
import { JsonLinesEncoder } from './format/json-lines';
import { SliceJsonLinesEncoder } from './format/json-lines-slice';
import type { RecordOutput } from './record-output';
import { StdoutClosedError } from './stdout-closed';

/**
 * Where a replay's records go: `--output -|FILE` writes every flow log's records as JSON Lines,
 * synchronously as each window closes (a local run needs neither retry nor spool), FILE replaced
 * unless `append`; without it, each flow log's configured sink through the delivery layer.
 * On stdout, a reader that closed the pipe ends the command (StdoutClosedError).
 */
export async function openRecordOutput(
  config: AgentConfig,
  output: string | undefined,
  flushTimeoutMs = 30_000,
  append = false,
): Promise<RecordOutput> {
  if (output !== undefined) return new JsonLinesOutput(output, append);
  // Loaded here: the delivery layer (spool, retry, sinks) is a tenth of a replay's start-up.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { DeliveredOutput } = require('./delivered-output') as typeof import('./delivered-output');
  return DeliveredOutput.open(config, flushTimeoutMs);
}

class JsonLinesOutput implements RecordOutput {
  private readonly fd: number;
  private delivered = 0;
  private readonly encoder = new JsonLinesEncoder();
  private readonly sliceEncoder = new SliceJsonLinesEncoder();

  constructor(
    private readonly target: string,
    append: boolean,
  ) {
    if (target === '-') this.fd = 1;
    else {
      mkdirSync(dirname(target), { recursive: true });
      this.fd = openSync(target, append ? 'a' : 'w');
    }
  }

  submit(batch: RecordBatch): void {
    writeAllSync(this.fd, this.encoder.encode(batch));
    this.delivered += batch.records.length;
  }

  submitFlows(slice: FlowSlice): void {
    writeAllSync(this.fd, this.sliceEncoder.encode(slice));
    this.delivered += slice.count;
  }

  async close(): Promise<{ delivered: number; spooled: number }> {
    if (this.fd !== 1) closeSync(this.fd);
    return { delivered: this.delivered, spooled: 0 };
  }
}

/**
 * writeSync may write part of a buffer to a pipe; loop until all of it is out. A reader that
 * closed the pipe (EPIPE) ends the command: StdoutClosedError, which the CLI turns into exit 0.
 */
export function writeAllSync(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue;
      if (code === 'EPIPE' && fd === 1) throw new StdoutClosedError();
      throw err;
    }
  }
}
