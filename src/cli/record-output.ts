import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AgentConfig } from '../config/types';
import type { RecordBatch } from '../flow/record';
import type { RecordSubmitter } from '../pipeline';

export interface RecordOutput extends RecordSubmitter {
  /** Delivers or spools everything submitted; counts records delivered and left spooled. */
  close(): Promise<{ delivered: number; spooled: number }>;
}

/**
 * Where a replay's records go: `--output -|FILE` writes every flow log's records as JSON Lines,
 * synchronously as each window closes (a local run needs neither retry nor spool); without it,
 * each flow log's configured sink through the delivery layer.
 */
export async function openRecordOutput(config: AgentConfig, output: string | undefined): Promise<RecordOutput> {
  if (output !== undefined) return new JsonLinesOutput(output);
  throw new Error('open sinks: delivery to configured sinks is not wired yet; pass --output - or --output FILE');
}

class JsonLinesOutput implements RecordOutput {
  private readonly fd: number;
  private delivered = 0;

  constructor(private readonly target: string) {
    if (target === '-') this.fd = 1;
    else {
      mkdirSync(dirname(target), { recursive: true });
      this.fd = openSync(target, 'w');
    }
  }

  submit(batch: RecordBatch): void {
    let text = '';
    for (const r of batch.records) text += JSON.stringify(r) + '\n';
    writeAll(this.fd, text);
    this.delivered += batch.records.length;
  }

  async close(): Promise<{ delivered: number; spooled: number }> {
    if (this.fd !== 1) closeSync(this.fd);
    return { delivered: this.delivered, spooled: 0 };
  }
}

/** writeSync may write part of a buffer to a pipe; loop until all of it is out. */
function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
  }
}
