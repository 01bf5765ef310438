import { join, resolve } from 'node:path';
import { parseExposition, type Sample } from '../../src/metrics/exposition-text';
import { DaemonProcess } from './daemon-process';
import type { NetnsLab } from './netns';

const REPO = resolve(__dirname, '../..');

/**
 * Starts the bundled daemon in `ns` without --output, so records go through each flow log's
 * configured sink (the production path), with `env` added to the environment (credentials).
 */
export function startDaemonWithSinks(
  lab: NetnsLab,
  ns: string,
  bundle: string,
  configPath: string,
  env: NodeJS.ProcessEnv = {},
): DaemonProcess {
  const full = {
    ...process.env,
    NODE_PATH: join(REPO, 'node_modules'),
    FLOWLOG_CAPTURE_ADDON: join(REPO, 'build', 'Release', 'flowlog_capture.node'),
    FLOWLOG_EBPF_DIR: join(REPO, 'build', 'Release'),
    FLOWLOG_LOG_LEVEL: 'info',
    ...env,
  };
  return new DaemonProcess(lab.spawn(ns, process.execPath, [bundle, configPath], full));
}

/** GET `url` from inside `ns` (the daemon's loopback is the namespace's own) with curl. */
export function httpGetInNamespace(lab: NetnsLab, ns: string, url: string): { status: number; body: string } {
  const out = lab.exec(ns, 'curl', ['-s', '-m', '5', '-w', '\n%{http_code}', url]);
  const cut = out.lastIndexOf('\n');
  return { status: Number(out.slice(cut + 1)), body: out.slice(0, cut) };
}

/** Scrapes /metrics of the daemon listening on `base` inside `ns`. */
export function scrapeMetrics(lab: NetnsLab, ns: string, base: string): Sample[] {
  const res = httpGetInNamespace(lab, ns, `${base}/metrics`);
  if (res.status !== 200) throw new Error(`scrape ${base}/metrics: HTTP ${res.status}: ${res.body}`);
  return parseExposition(res.body);
}

/** Value of the one sample of `name` whose labels include `labels`; undefined when absent. */
export function sampleValue(
  samples: readonly Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const hit = samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return hit?.value;
}
