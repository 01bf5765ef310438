/**
 * Two processes on one state directory: writers started at the same instant on one spool, with a
 * stale lock left by a killed process, never both write. Exactly one opens the spool, the other
 * is refused naming the holder; every segment the winner acknowledged is there, whole, under its
 * own name. And every file and directory the spool makes is private whatever the umask.
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Spool } from '../../../src/output/spool/spool';
import { captureLogger } from '../../helpers/capture-logger';
import { DIST_SPOOL, ensureCompiledSpool, SPOOL_WRITER_CHILD } from '../../helpers/compiled-spool';
import { sizedBatch } from '../../helpers/records';
import { tempDirForFile } from '../../helpers/temp-dir';
import { slsLogMeasure } from '../../../src/output/sls/sls-log-group';

const ROUNDS = 8;
const SEGMENTS_EACH = 5;

interface WriterRun {
  pid: number;
  code: number | null;
  acked: number[];
  lockedBy?: number;
}

function writer(dir: string): Promise<WriterRun> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [SPOOL_WRITER_CHILD, DIST_SPOOL, dir, '20', String(SEGMENTS_EACH), '1000'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      const lines = out.split('\n');
      const locked = lines.find((l) => l.startsWith('locked '));
      const run: WriterRun = {
        pid: child.pid ?? 0,
        code,
        acked: lines.filter((l) => l.startsWith('ack ')).map((l) => Number(l.slice(4))),
      };
      if (locked) run.lockedBy = Number(locked.slice(7));
      done(run);
    });
  });
}

/** A pid that no process has: a dead holder's. */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((r) => child.once('exit', r));
  return child.pid ?? 999_999;
}

describe('two processes on one spool directory', () => {
  const dir = join(tempDirForFile('spool-two'), 'fl-two');
  beforeAll(ensureCompiledSpool);

  it(`lets exactly one of two writers started together take a stale lock, ${ROUNDS} times`, async () => {
    const acked: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      if (round > 0) writeFileSync(join(dir, 'lock'), `${await deadPid()}\n`); // a killed run's lock
      const [a, b] = await Promise.all([writer(dir), writer(dir)]);
      const winners = [a, b].filter((r) => r.code === 0);
      const refused = [a, b].filter((r) => r.code === 3);
      expect(winners, JSON.stringify([a, b])).toHaveLength(1);
      expect(refused).toHaveLength(1);
      // Refused while the winner held the spool (1 s after its writes), naming it.
      expect(refused[0].lockedBy).toBe(winners[0].pid);
      expect(winners[0].acked).toHaveLength(SEGMENTS_EACH);
      acked.push(...winners[0].acked);
    }
    const spool = await Spool.open(dir, { measure: slsLogMeasure, maxBytes: 1e12, logger: captureLogger().logger });
    try {
      expect(spool.segments.map((s) => s.seq)).toEqual(acked);
      expect(acked).toEqual(acked.map((_, i) => i + 1));
      for (const s of spool.segments) {
        const batch = await spool.read(s.seq);
        // One writer per segment: its records carry one pid and one append index.
        expect(new Set(batch?.records.map((r) => r.n.split('-').slice(0, 2).join('-')))).toHaveLength(1);
      }
      expect(spool.stats.corruptSegments + spool.stats.foreignFilesSetAside).toBe(0);
    } finally {
      await spool.close();
    }
  }, 120_000);
});

describe('spool files are private', () => {
  const root = tempDirForFile('spool-modes');

  it.each([0o000, 0o022, 0o077])('makes directories 0700 and files 0600 under umask %o', async (umask) => {
    const was = process.umask(umask);
    try {
      const dir = join(root, `u${umask.toString(8)}`, 'state', 'spool', 'fl-m');
      const spool = await Spool.open(dir, { measure: slsLogMeasure, maxBytes: 1e9, logger: captureLogger().logger });
      await spool.append(sizedBatch(1, 2), 200);
      writeFileSync(join(dir, 'stray'), 'x');
      await spool.close();
      const again = await Spool.open(dir, { measure: slsLogMeasure, maxBytes: 1e9, logger: captureLogger().logger }); // sets the stray aside into corrupt/
      const mode = (p: string) => statSync(p).mode & 0o777;
      for (const d of [
        join(root, `u${umask.toString(8)}`),
        join(dir, '..', '..'),
        join(dir, '..'),
        dir,
        join(dir, 'corrupt'),
      ])
        expect([d, mode(d)]).toEqual([d, 0o700]);
      for (const f of readdirSync(dir).filter((n) => n.endsWith('.seg') || n === 'lock'))
        expect([f, mode(join(dir, f))]).toEqual([f, 0o600]);
      await again.close();
    } finally {
      process.umask(was);
    }
  });
});
