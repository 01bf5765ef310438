import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runReplay, type ReplaySummary } from '../../src/cli/replay-command';

/** A scratch directory under the OS temp dir (never inside the repo or ../shared). */
export function scratchDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `flowlog-${prefix}-`));
}

/** Captures what a command writes to stderr. */
export class TextSink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** Writes a YAML config into `dir` and returns its path. */
export function writeConfig(dir: string, yaml: string, name = 'config.yaml'): string {
  const p = join(dir, name);
  writeFileSync(p, yaml);
  return p;
}

/**
 * A config in which one ENI (`eni-all`) owns every IPv4 and IPv6 address, with one 1-minute flow
 * log (`fl-all`) over it: each IP packet is one outbound and one inbound flow packet of it. The
 * state directory is `dir`/state.
 */
export function everyAddressConfig(dir: string): string {
  return `region: cn-hangzhou
accountId: "1234567890123456"
stateDir: ${dir}/state
enis:
  - { id: eni-all, ips: ["0.0.0.0/0", "::/0"], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-1 }
flowLogs:
  - { id: fl-all, resourceType: eni, resourceId: eni-all, aggregationInterval: 1, sink: { type: stdout } }
`;
}

/** Replays captures in-process with `--output FILE` and returns the records and summary. */
export async function replayToRecords(
  pcaps: string[],
  configPath: string,
  dir: string,
  maxGapWindows = 1440,
  /** false: the TypeScript path only (replay --no-kernel); default as the CLI (kernel on). */
  kernel = true,
): Promise<{ code: number; records: Array<Record<string, string>>; summary?: ReplaySummary; stderr: string }> {
  const out = join(dir, `records-${Math.random().toString(36).slice(2)}.jsonl`);
  const err = new TextSink();
  const { code, summary } = await runReplay({
    pcaps,
    configPath,
    output: out,
    maxGapWindows,
    flushTimeoutMs: 5000,
    kernel,
    err,
  });
  // Exit 2 with records too: a capture read only in part (truncated) still delivers what it read.
  const text = existsSync(out) ? readFileSync(out, 'utf8') : '';
  const records =
    text === ''
      ? []
      : text
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l) as Record<string, string>);
  return { code, records, summary, stderr: err.text };
}
