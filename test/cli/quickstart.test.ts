import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { scratchDir } from '../helpers/replay-run';

const ROOT = join(__dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'flowlog-agent');

/** The README's quick start, as a newcomer runs it (the built CLI, the shipped config). */
describe.skipIf(!existsSync(join(ROOT, 'dist', 'cli', 'main.js')))('quick start', () => {
  const dir = scratchDir('quickstart');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('generate, replay, query and report account for every generated packet', () => {
    const config = join(dir, 'quickstart.yaml');
    writeFileSync(
      config,
      readFileSync(join(ROOT, 'config', 'quickstart.yaml'), 'utf8').replaceAll('/tmp/flowlog-quickstart', dir),
    );
    const capture = join(dir, 'capture.pcap');
    const run = (...args: string[]) => execFileSync(BIN, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    run(
      'generate',
      '--out',
      capture,
      '--packets',
      '5000',
      '--flows',
      '50',
      '--start',
      '1700000040',
      '--duration',
      '120',
    );
    run('replay', '--pcap', capture, '--config', config);
    const records = readFileSync(join(dir, 'records.jsonl'), 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, string>);
    // Every generated packet has the ENI (10.0.0.5) on exactly one side: one record packet each.
    const ok = records.filter((r) => r['log-status'] === 'OK');
    expect(ok.reduce((n, r) => n + Number(r.packets), 0)).toBe(5000);
    // 120 s from a minute-aligned start (1700000040 = 60 x 28333334): two 1-minute windows.
    expect(new Set(ok.map((r) => Math.floor(Number(r.start) / 60))).size).toBe(2);
    const top = run(
      'query',
      join(dir, 'records.jsonl'),
      '--top',
      '3',
      '--by',
      'bytes',
      '--group',
      'srcaddr,dstaddr,dstport',
    );
    expect(top.split('\n').filter((l) => /^\d/.test(l))).toHaveLength(3);
    run('report', join(dir, 'records.jsonl'), '--out', join(dir, 'report.html'));
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toContain('<div class="value">5,000</div>');
  });
});
