import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { everyAddressConfig, scratchDir, writeConfig } from '../helpers/replay-run';
import { CORPUS_DIR, skipWithoutCorpus } from '../helpers/corpus';

const ROOT = join(__dirname, '..', '..');
const CORPUS = CORPUS_DIR;

/**
 * Robustness: one `replay` over every capture of tcpdump's regression corpus (many malformed on
 * purpose) reads every capture it can, with no exception, names each one it cannot read whole
 * (and so exits 2), and accounts for every packet it read.
 */
describe.skipIf(!existsSync(join(ROOT, 'dist', 'cli', 'main.js')))('replay over the whole tcpdump corpus', () => {
  const dir = scratchDir('corpus-replay');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names every capture it cannot read whole, exits 2, and counts every packet as decoded, not IP, malformed or skipped', (ctx) => {
    skipWithoutCorpus(ctx);
    const files = readdirSync(CORPUS)
      .filter((f) => /\.pcap(ng)?$/.test(f))
      .map((f) => join(CORPUS, f));
    expect(files.length).toBeGreaterThanOrEqual(800);
    const config = writeConfig(dir, everyAddressConfig(dir));
    const args = [
      'replay',
      '--config',
      config,
      '--output',
      join(dir, 'records.jsonl'),
      ...files.flatMap((f) => ['--pcap', f]),
    ];
    const r = spawnSync(join(ROOT, 'bin', 'flowlog-agent'), args, { encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(r.error).toBeUndefined();
    expect(r.stderr).not.toMatch(/TypeError|RangeError|ReferenceError|\n\s+at /);
    const m = /replay: (\d+) of (\d+) files read, (\d+) packets/.exec(r.stderr);
    expect(m, r.stderr.slice(-2000)).not.toBeNull();
    expect(Number(m![2])).toBe(files.length);
    // Every capture it could not read, or read only in part, has its one line; then it exits 2.
    const notRead = r.stderr.split('\n').filter((l) => /^flowlog-agent replay: .*: not read: /.test(l)).length;
    const partly = r.stderr.split('\n').filter((l) => /^flowlog-agent replay: .*: read only in part: /.test(l)).length;
    expect(Number(m![2]) - Number(m![1])).toBe(notRead);
    expect(notRead + partly).toBeGreaterThan(0); // the corpus is malformed on purpose
    expect(r.status).toBe(2);
    const decoded = /decoded (\d+), not IP (\d+), malformed ([^,\n]*(?:, [a-z_]+ \d+)*), unattributed (\d+)/.exec(
      r.stderr,
    );
    expect(decoded).not.toBeNull();
    const malformed = [...decoded![3].matchAll(/(\d+)/g)].reduce((n, x) => n + Number(x[1]), 0);
    expect(Number(decoded![1]) + Number(decoded![2]) + malformed).toBe(Number(m![3]));
  });
});
