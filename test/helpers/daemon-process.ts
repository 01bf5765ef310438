import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { NetnsLab } from './netns';

const REPO = resolve(__dirname, '../..');

/**
 * Bundles the daemon (test/helpers/daemon-entry.ts and the src/ it imports) into one file in
 * `dir` with esbuild (vitest's own dependency); npm packages stay external and resolve from the
 * repository's node_modules through NODE_PATH. Returns the bundle's path.
 */
export function bundleDaemon(dir: string): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const esbuild = require('esbuild') as typeof import('esbuild');
  const outfile = join(dir, 'daemon.js');
  esbuild.buildSync({
    entryPoints: [join(REPO, 'test/helpers/daemon-entry.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    packages: 'external',
    outfile,
    logLevel: 'error',
  });
  return outfile;
}

/**
 * Writes the daemon's config to `dir`/agent.yaml and returns its path: the header every daemon
 * test shares (region, account, state under `dir`/state), then `lines` (ENIs, flow logs, ...).
 */
export function writeDaemonConfig(dir: string, lines: readonly string[]): string {
  const path = join(dir, 'agent.yaml');
  const header = ['region: cn-hangzhou', 'accountId: "1234567890123456"', `stateDir: ${join(dir, 'state')}`];
  writeFileSync(path, [...header, ...lines, ''].join('\n'));
  return path;
}

/** A daemon child process running inside a namespace, with its stderr (JSON log lines) kept. */
export class DaemonProcess {
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    child.stdout?.on('data', () => {});
    this.exited = new Promise((res) => child.on('exit', (code) => res(code)));
  }

  static start(lab: NetnsLab, ns: string, bundle: string, configPath: string, outputPath: string): DaemonProcess {
    const env = {
      ...process.env,
      NODE_PATH: join(REPO, 'node_modules'),
      FLOWLOG_CAPTURE_ADDON: join(REPO, 'build', 'Release', 'flowlog_capture.node'),
      FLOWLOG_EBPF_DIR: join(REPO, 'build', 'Release'),
      FLOWLOG_LOG_LEVEL: 'info',
    };
    return new DaemonProcess(lab.spawn(ns, process.execPath, [bundle, configPath, outputPath], env));
  }

  /** Log lines (parsed JSON) so far. */
  logLines(): Array<Record<string, unknown>> {
    return this.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /** Waits until a log line with this `msg` (and matching `where`) appears. */
  async waitForLog(
    msg: string,
    timeoutMs: number,
    where: (line: Record<string, unknown>) => boolean = () => true,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.logLines().find((l) => l.msg === msg && where(l));
      if (hit) return hit;
      if (Date.now() > deadline)
        throw new Error(`wait for log "${msg}": not seen in ${timeoutMs} ms; stderr:\n${this.stderr}`);
      await sleep(50);
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill(signal);
    return this.exited;
  }
}

/** Records written by the daemon so far (JSON Lines file). */
export function readRecords(path: string): Array<Record<string, string>> {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, string>);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Sleeps until `offsetSec` into the next window of `intervalSec` (wall clock). */
export async function sleepUntilWindowOffset(intervalSec: number, offsetSec: number): Promise<number> {
  const nowMs = Date.now();
  const periodMs = intervalSec * 1000;
  let target = Math.floor(nowMs / periodMs) * periodMs + offsetSec * 1000;
  if (target <= nowMs) target += periodMs;
  await sleep(target - nowMs);
  return Math.floor(target / periodMs) * intervalSec;
}
