import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Spool } from '../../../src/output/spool/spool';
import { captureLogger } from '../../helpers/capture-logger';
import { DIST_SPOOL, ensureCompiledSpool, SPOOL_WRITER_CHILD as CHILD } from '../../helpers/compiled-spool';
import { tempDirForFile } from '../../helpers/temp-dir';
import { slsLogMeasure } from '../../../src/output/sls/sls-log-group';

const KILLS = 20;
const RECORDS_PER_SEGMENT = 100; // ~100 KB per segment, so kills often land inside a write

/** Runs one writer, kills it with SIGKILL `afterMs` after its spool is open; returns the acked seqs. */
function runAndKill(dir: string, afterMs: number): Promise<number[]> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CHILD, DIST_SPOOL, dir, String(RECORDS_PER_SEGMENT)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acked: number[] = [];
    let buffered = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line === 'open') setTimeout(() => child.kill('SIGKILL'), afterMs);
        else if (line.startsWith('ack ')) acked.push(Number(line.slice(4)));
      }
    });
    child.once('exit', (code, signal) => {
      if (signal === 'SIGKILL') done(acked);
      else fail(new Error(`writer exited with ${code}: ${stderr}`));
    });
  });
}

describe('Spool under kill -9', () => {
  const dir = join(tempDirForFile('spool-kill'), 'fl-kill');
  beforeAll(ensureCompiledSpool);

  it(`keeps every committed segment whole across ${KILLS} SIGKILLs at random moments`, async () => {
    const acked: number[] = [];
    for (let k = 0; k < KILLS; k++) acked.push(...(await runAndKill(dir, Math.floor(Math.random() * 40))));

    const logs = captureLogger();
    const spool = await Spool.open(dir, { measure: slsLogMeasure, maxBytes: 1e12, logger: logs.logger });
    try {
      const seqs = spool.segments.map((s) => s.seq);
      expect(seqs.length).toBeGreaterThan(KILLS);
      // Contiguous from 1: a kill never leaves a hole, and a restart never skips or reuses a number.
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
      // Every append the writer saw resolve survived.
      for (const seq of acked) expect(seqs).toContain(seq);
      // Nothing committed was damaged: only uncommitted temp files were ever quarantined.
      expect(spool.stats.corruptSegments).toBe(0);
      const quarantined = existsSync(join(dir, 'corrupt')) ? readdirSync(join(dir, 'corrupt')) : [];
      for (const name of quarantined) expect(name).toMatch(/^tmp-\d{20}-\d+\.part\.\d+$/);
      for (const info of spool.segments) {
        const batch = await spool.read(info.seq);
        expect(batch).not.toBeNull();
        const ids = batch!.records.map((r) => r.n.split('-'));
        expect(ids).toHaveLength(RECORDS_PER_SEGMENT);
        // One writer, one append: same pid and i throughout, j = 0..99 in order.
        expect(new Set(ids.map(([pid, i]) => `${pid}-${i}`)).size).toBe(1);
        expect(ids.map(([, , j]) => Number(j))).toEqual(ids.map((_, j) => j));
      }
      expect(spool.stats.corruptSegments).toBe(0);
      console.log(
        `kill -9 test: ${seqs.length} segments, ${acked.length} acked, ${quarantined.length} temp files quarantined`,
      );
    } finally {
      await spool.close();
    }
  });
});
