import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AgentConfig } from '../config/types';
import type { FlowSlice, RecordBatch } from '../flow/record';
import type { RecordSubmitter } from '../pipeline';
import { JsonLinesEncoder } from '../sink/json-lines';
import { SliceJsonLinesEncoder } from '../sink/json-lines-slice';
import { writeAllSync } from './cli-files';

export interface RecordOutput extends RecordSubmitter {
  /** Delivers or spools everything submitted; counts records delivered and left spooled. */
  close(): Promise<{ delivered: number; spooled: number }>;
  /**
   * Resolves once every batch submitted so far survives a kill of the process: appended to its
   * spool, or written to the output file. Absent: at once (writes are synchronous).
   */
  appended?(): Promise<void>;
}

/**
 * Where a replay's records go: `--output -|FILE` writes every flow log's records as JSON Lines,
 * synchronously as each window closes (a local run needs neither retry nor spool), FILE replaced
 * unless `append`; without it, each flow log's configured sink through the delivery layer.
 * On stdout, a reader that closed the pipe ends the command (StdoutClosedError).
 */
export async function openRecordOutput(config: AgentConfig, output: string | undefined, flushTimeoutMs = 30_000, append = false): Promise<RecordOutput> {
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
