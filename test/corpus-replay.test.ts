import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { everyAddressConfig, scratchDir, writeConfig } from './helpers/replay-run';

const ROOT = join(__dirname, '..');
const CORPUS = join(ROOT, '..', 'shared', 'corpus', 'tcpdump-tests');

/**
 * Robustness: one `replay` over every capture of tcpdump's regression corpus (many malformed on
 * purpose) exits 0, with no exception, and accounts for every packet it read.
 */
describe.skipIf(!existsSync(join(ROOT, 'dist', 'cli', 'main.js')))('replay over the whole tcpdump corpus', () => {
  const dir = scratchDir('corpus-replay');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 0 and counts every packet as decoded, not IP, malformed or skipped', () => {
    const files = readdirSync(CORPUS).filter((f) => /\.pcap(ng)?$/.test(f)).map((f) => join(CORPUS, f));
    expect(files.length).toBeGreaterThanOrEqual(800);
    const config = writeConfig(dir, everyAddressConfig(dir));
    const args = ['replay', '--config', config, '--output', join(dir, 'records.jsonl'), ...files.flatMap((f) => ['--pcap', f])];
    const r = spawnSync(join(ROOT, 'bin', 'flowlog-agent'), args, { encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(r.error).toBeUndefined();
    expect(r.stderr).not.toMatch(/TypeError|RangeError|ReferenceError|\n\s+at /);
    expect(r.status).toBe(0);
    const m = /replay: (\d+) of (\d+) files read, (\d+) packets/.exec(r.stderr);
    expect(m, r.stderr.slice(-2000)).not.toBeNull();
    expect(Number(m![2])).toBe(files.length);
    const decoded = /decoded (\d+), not IP (\d+), malformed ([^,\n]*(?:, [a-z_]+ \d+)*), unattributed (\d+)/.exec(r.stderr);
    expect(decoded).not.toBeNull();
    const malformed = [...decoded![3].matchAll(/(\d+)/g)].reduce((n, x) => n + Number(x[1]), 0);
    expect(Number(decoded![1]) + Number(decoded![2]) + malformed).toBe(Number(m![3]));
  });
});
