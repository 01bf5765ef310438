import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Spool } from '../../../src/output/spool/spool';
import { SpoolLockedError } from '../../../src/output/spool/spool-lock';
import { captureLogger } from '../../helpers/capture-logger';
import { flowBatch, sizedBatch } from '../../helpers/records';
import { tempDirForFile } from '../../helpers/temp-dir';
import { slsLogMeasure } from '../../../src/output/sls/sls-log-group';

const root = tempDirForFile('spool-store');
const quiet = captureLogger().logger;
let dirCount = 0;
const freshDir = () => join(root, `fl-${++dirCount}`);
const segFiles = (dir: string) =>
  readdirSync(dir)
    .filter((n) => n.endsWith('.seg'))
    .sort();
const seqName = (seq: number) => `${String(seq).padStart(20, '0')}.seg`;

describe('Spool', () => {
  it('appends, reads and removes in FIFO order, and a reopen continues the sequence', async () => {
    const dir = freshDir();
    const spool = await Spool.open(dir, { measure: slsLogMeasure, maxBytes: 1e9, logger: quiet });
    for (let i = 0; i < 3; i++) await spool.append(sizedBatch(1 + 10 * i, 10, 1000 + 60 * i), 1000);
    expect(segFiles(dir)).toEqual([seqName(1), seqName(2), seqName(3)]);
    expect(spool.segments.map((s) => [s.seq, s.recordCount, s.windowStartSec, s.durable])).toEqual([
      [1, 10, 1000, true],
      [2, 10, 1060, true],
      [3, 10, 1120, true],
    ]);
    expect(await spool.read(2)).toEqual(sizedBatch(11, 10, 1060));
    await spool.remove(1);
    await spool.remove(1); // idempotent
    expect(segFiles(dir)).toEqual([seqName(2), seqName(3)]);
    expect(spool.stats).toMatchObject({ segments: 2, records: 20 });
    expect(spool.stats.bytes).toBe(statSync(join(dir, seqName(2))).size + statSync(join(dir, seqName(3))).size);
    await spool.close();
    expect(existsSync(join(dir, 'lock'))).toBe(false);

    const again = await Spool.open(dir, { measure: slsLogMeasure, maxBytes: 1e9, logger: quiet });
    expect(again.segments.map((s) => [s.seq, s.recordCount, s.rawBytes])).toEqual([
      [2, 10, 1000],
      [3, 10, 1000],
    ]);
    expect((await again.append(sizedBatch(99, 1), 100)).seq).toBe(4);
    expect(await again.read(3)).toEqual(sizedBatch(21, 10, 1120));
    await again.close();
  });

  it('evicts the oldest segments beyond maxBytes, counts them and writes their SKIPDATA as marks it never evicts', async () => {
    const dir = freshDir();
    const probe = await Spool.open(dir, { measure: slsLogMeasure, maxBytes: 1e9, logger: quiet });
    await probe.append(flowBatch('fl', 1000, ['eni-a', 'eni-b'], 10, 3), 4000);
    const size = statSync(join(dir, seqName(1))).size;
    await probe.remove(1);
    await probe.close();

    const logs = captureLogger();
    const spool = await Spool.open(dir, {
      measure: slsLogMeasure,
      maxBytes: Math.floor(size * 3.5),
      logger: logs.logger,
    });
    for (let i = 0; i < 5; i++) await spool.append(flowBatch('fl', 1000 + 60 * i, ['eni-a', 'eni-b'], 10, 3), 4000); // same size each
    // The directory was empty, so numbering starts at 1 again. 3 fit in 3.5 sizes: appends 4 and
    // 5 each evict the oldest data segment (1, then 2) and are followed by a mark (5, then 7).
    expect(spool.stats).toMatchObject({ evictedSegments: 2, evictedRecords: 40 });
    expect(spool.stats.lostRecords).toEqual({ spool_full: 40, spool_memory_full: 0, segment_corrupt: 0 });
    expect(spool.stats.lossMarkRecords).toEqual({ spool_full: 4, spool_memory_full: 0, segment_corrupt: 0 });
    expect(spool.segments.map((s) => s.seq)).toEqual([3, 4, 5, 6, 7]);
    const marks = [await spool.read(5), await spool.read(7)];
    expect(
      marks.map((m) =>
        m?.records.map((r) => [r['eni-id'], r.start, r.end, r.packets, r.bytes, r['log-status'], r['vpc-id']]),
      ),
    ).toEqual([
      [
        ['eni-a', '1000', '1060', '30', '3000', 'SKIPDATA', 'vpc-1'],
        ['eni-b', '1000', '1060', '30', '3000', 'SKIPDATA', 'vpc-1'],
      ],
      [
        ['eni-a', '1060', '1120', '30', '3000', 'SKIPDATA', 'vpc-1'],
        ['eni-b', '1060', '1120', '30', '3000', 'SKIPDATA', 'vpc-1'],
      ],
    ]);
    // One line for the episode, not one per eviction; the health state says since when.
    expect(logs.lines.filter((l) => l.msg.startsWith('evict spool segments'))).toHaveLength(1);
    expect(spool.stats.evictingSinceMs).toBeGreaterThan(0);
    // More appends keep evicting data segments, never the marks.
    for (let i = 5; i < 9; i++) await spool.append(flowBatch('fl', 1000 + 60 * i, ['eni-a', 'eni-b'], 10, 3), 4000);
    const left = await Promise.all(spool.segments.map((s) => spool.read(s.seq)));
    const skip = left.flatMap((b) => b?.records ?? []).filter((r) => r['log-status'] === 'SKIPDATA');
    expect(skip.reduce((n, r) => n + Number(r.packets), 0)).toBe(spool.stats.lostRecords.spool_full * 3);
    expect(new Set(skip.map((r) => r['eni-id']))).toEqual(new Set(['eni-a', 'eni-b']));
    // Delivery frees room: the next append fits, the episode ends with one summary line.
    for (const s of [...spool.segments]) await spool.remove(s.seq);
    await spool.append(flowBatch('fl', 2000, ['eni-a'], 1), 400);
    expect(spool.stats.evictingSinceMs).toBe(0);
    expect(
      logs.lines.filter((l) => / has room again: \d+ records in \d+ segments were evicted/.test(l.msg)),
    ).toHaveLength(1);
    await spool.close();
  });

  it('folds its marks into one record per ENI when they outgrow a quarter of the bound', async () => {
    const dir = freshDir();
    const spool = await Spool.open(dir, { measure: slsLogMeasure, maxBytes: 12_000, logger: quiet });
    const enis = ['eni-a', 'eni-b', 'eni-c'];
    for (let i = 0; i < 40; i++) await spool.append(flowBatch('fl', 60 * i, enis, 5, 2), 3000);
    const batches = await Promise.all(spool.segments.map((s) => spool.read(s.seq)));
    const skip = batches.flatMap((b) => b?.records ?? []).filter((r) => r['log-status'] === 'SKIPDATA');
    const lost = spool.stats.lostRecords.spool_full;
    expect(lost).toBeGreaterThan(100);
    // Every lost packet is still accounted for, each ENI's marks span from the first lost window.
    expect(skip.reduce((n, r) => n + Number(r.packets), 0)).toBe(lost * 2);
    for (const eni of enis)
      expect(Math.min(...skip.filter((r) => r['eni-id'] === eni).map((r) => Number(r.start)))).toBe(0);
    expect(skip.length).toBeLessThanOrEqual(2 * enis.length);
    await spool.close();
  });

  it('moves a segment that fails its payload checksum to corrupt/ and writes SKIPDATA for its ENIs and window', async () => {
    const dir = freshDir();
    const spool = await Spool.open(dir, { measure: slsLogMeasure, maxBytes: 1e9, logger: quiet });
    await spool.append(flowBatch('fl', 1020, ['eni-a', 'eni-b'], 3, 4), 1000);
    await spool.append(flowBatch('fl', 1080, ['eni-a'], 2), 500);
    await spool.close();
    const file = join(dir, seqName(1));
    const bytes = readFileSync(file);
    bytes[bytes.length - 3] ^= 0x20; // inside the JSON payload; header and coverage still valid
    writeFileSync(file, bytes);

    const logs = captureLogger();
    const reopened = await Spool.open(dir, { measure: slsLogMeasure, maxBytes: 1e9, logger: logs.logger });
    expect(reopened.segments.map((s) => s.seq)).toEqual([1, 2]);
    expect(await reopened.read(1)).toBeNull();
    expect(await reopened.read(2)).toEqual(flowBatch('fl', 1080, ['eni-a'], 2));
    await reopened.append(flowBatch('fl', 1140, ['eni-a'], 1), 100); // the mark was queued first
    expect(reopened.segments.map((s) => s.seq)).toEqual([2, 3, 4]);
    const mark = (await reopened.read(3))?.records;
    expect(mark?.map((r) => [r['eni-id'], r.start, r.end, r.packets, r.bytes, r['log-status']])).toEqual([
      ['eni-a', '1020', '1080', '12', '1200', 'SKIPDATA'],
      ['eni-b', '1020', '1080', '12', '1200', 'SKIPDATA'],
    ]);
    expect(reopened.stats).toMatchObject({
      corruptSegments: 1,
      lostRecords: { segment_corrupt: 6 },
      lossMarkRecords: { segment_corrupt: 2 },
    });
    expect(readdirSync(join(dir, 'corrupt'))).toEqual([expect.stringMatching(/^0{19}1\.seg\.\d+$/)]);
    expect(logs.at('error').map((l) => l.msg)).toEqual([expect.stringContaining('payload checksum mismatch')]);
    await reopened.close();
  });

  it('quarantines at open a segment cut short and temp files never committed, and marks the cut one', async () => {
    const dir = freshDir();
    const spool = await Spool.open(dir, { measure: slsLogMeasure, maxBytes: 1e9, logger: quiet });
    await spool.append(sizedBatch(1, 5), 500);
    await spool.append(flowBatch('fl', 1200, ['eni-c'], 5), 500);
    await spool.close();
    truncateSync(join(dir, seqName(2)), 900); // header and coverage survive, the payload is cut
    writeFileSync(join(dir, `tmp-${'0'.repeat(19)}3-4242.part`), 'half a segment');

    const reopened = await Spool.open(dir, { measure: slsLogMeasure, maxBytes: 1e9, logger: quiet });
    // 1 survives; 2 went aside; 3 is the SKIPDATA for it (its number not reused by anything else).
    expect(reopened.segments.map((s) => s.seq)).toEqual([1, 3]);
    expect(reopened.stats).toMatchObject({ corruptSegments: 1, tempFilesMovedAside: 1, records: 6 });
    expect((await reopened.read(3))?.records.map((r) => [r['eni-id'], r.start, r.end, r.packets])).toEqual([
      ['eni-c', '1200', '1260', '5'],
    ]);
    expect(
      readdirSync(join(dir, 'corrupt'))
        .map((n) => n.replace(/\.\d+$/, ''))
        .sort(),
    ).toEqual([seqName(2), `tmp-${'0'.repeat(19)}3-4242.part`]);
    expect((await reopened.append(sizedBatch(11, 1), 100)).seq).toBe(4);
    await reopened.close();
  });

  it('gives a segment whose header is unreadable the widest window its neighbours and file time allow, for every ENI it knows', async () => {
    const dir = freshDir();
    const spool = await Spool.open(dir, { measure: slsLogMeasure, maxBytes: 1e9, logger: quiet });
    await spool.append(flowBatch('fl', 1_700_000_000, ['eni-a'], 2), 200);
    await spool.append(flowBatch('fl', 1_700_000_060, ['eni-b'], 2), 200);
    await spool.append(flowBatch('fl', 1_700_000_120, ['eni-a'], 2), 200);
    await spool.close();
    const file = join(dir, seqName(2));
    const bytes = readFileSync(file);
    bytes[9] ^= 0xff; // record count: the header checksum fails
    writeFileSync(file, bytes);
    const mtime = statSync(file).mtimeMs;

    const reopened = await Spool.open(dir, {
      measure: slsLogMeasure,
      maxBytes: 1e9,
      logger: quiet,
      lossFallback: () => [{ 'eni-id': 'eni-z', 'vpc-id': 'vpc-9' }],
    });
    const mark = reopened.segments.at(-1);
    const records = (await reopened.read(mark?.seq ?? 0))?.records ?? [];
    // ENIs unknown: every ENI the spool knows of this flow log (a, from the neighbours) and the
    // owner's fallback (z); counts unknown; from the earlier neighbour's start (or the file time
    // less the longest window) to the file time or the later neighbour's end, whichever is later.
    expect(records.map((r) => r['eni-id']).sort()).toEqual(['eni-a', 'eni-z']);
    for (const r of records) {
      expect([r.packets, r.bytes, r['log-status']]).toEqual(['-', '-', 'SKIPDATA']);
      expect(Number(r.start)).toBe(Math.min(1_700_000_000, Math.floor(mtime / 1000) - 660));
      expect(Number(r.end)).toBe(Math.max(1_700_000_180, Math.ceil(mtime / 1000)));
    }
    expect(reopened.stats.lostRecords.segment_corrupt).toBe(0); // how many is unknown
    expect(reopened.stats.lossMarkRecords.segment_corrupt).toBe(2);
    await reopened.close();
  });

  it('sets a stray file aside once and never takes its name; a file appearing under the next name is set aside too', async () => {
    const dir = freshDir();
    const spool = await Spool.open(dir, { measure: slsLogMeasure, maxBytes: 1e9, logger: quiet });
    await spool.append(sizedBatch(1, 2), 200);
    await spool.close();
    writeFileSync(join(dir, '99999999999999999999.seg'), 'not a segment');
    writeFileSync(join(dir, 'notes.txt'), 'left by someone');

    const logs = captureLogger();
    const reopened = await Spool.open(dir, { measure: slsLogMeasure, maxBytes: 1e9, logger: logs.logger });
    expect(reopened.stats.foreignFilesSetAside).toBe(2);
    expect(readdirSync(dir).sort()).toEqual([seqName(1), 'corrupt', 'lock']);
    const seqs: number[] = [];
    for (let i = 0; i < 3; i++) seqs.push((await reopened.append(sizedBatch(10 + i, 1), 100)).seq);
    expect(seqs).toEqual([2, 3, 4]);
    // Someone writes the very name the spool takes next: the commit refuses to replace it.
    writeFileSync(join(dir, seqName(5)), 'squatter');
    expect((await reopened.append(sizedBatch(20, 1), 100)).seq).toBe(6);
    expect(reopened.stats.foreignFilesSetAside).toBe(3);
    expect(segFiles(dir)).toEqual([1, 2, 3, 4, 6].map(seqName));
    for (const s of reopened.segments) expect((await reopened.read(s.seq))?.records).toHaveLength(s.seq === 1 ? 2 : 1);
    expect(
      readdirSync(join(dir, 'corrupt'))
        .map((n) => n.replace(/\.\d+$/, ''))
        .sort(),
    ).toEqual([seqName(5), '99999999999999999999.seg', 'notes.txt']);
    await reopened.close();
  });

  it('refuses a directory locked by a live process and takes over a stale lock', async () => {
    const dir = freshDir();
    const spool = await Spool.open(dir, { measure: slsLogMeasure, maxBytes: 1e9, logger: quiet });
    await expect(Spool.open(dir, { measure: slsLogMeasure, maxBytes: 1e9, logger: quiet })).rejects.toBeInstanceOf(
      SpoolLockedError,
    );
    await spool.close();

    const sleeper = spawn('sleep', ['30']);
    try {
      writeFileSync(join(dir, 'lock'), `${sleeper.pid}\n`);
      await expect(Spool.open(dir, { measure: slsLogMeasure, maxBytes: 1e9, logger: quiet })).rejects.toMatchObject({
        holderPid: sleeper.pid,
      });
    } finally {
      sleeper.kill('SIGKILL');
    }
    await new Promise((resolve) => sleeper.once('exit', resolve));
    // The holder is dead now: its lock is stale.
    const taken = await Spool.open(dir, { measure: slsLogMeasure, maxBytes: 1e9, logger: quiet });
    expect(readFileSync(join(dir, 'lock'), 'utf8')).toBe(`${process.pid}\n`);
    await taken.close();
  });

  it('serves the newest batches from memory and older ones from their files', async () => {
    const dir = freshDir();
    const spool = await Spool.open(dir, { measure: slsLogMeasure, maxBytes: 1e9, logger: quiet });
    await spool.append(sizedBatch(1, 2), 200);
    rmSync(join(dir, seqName(1))); // the file is gone; the batch this process appended is not
    expect(await spool.read(1)).toEqual(sizedBatch(1, 2));
    await spool.append(sizedBatch(3, 2), 200);
    await spool.close();
    const reopened = await Spool.open(dir, { measure: slsLogMeasure, maxBytes: 1e9, logger: quiet });
    expect(reopened.segments.map((s) => s.seq)).toEqual([2]);
    rmSync(join(dir, seqName(2))); // a new process has only the file: gone is gone
    expect(await reopened.read(2)).toBeNull();
    expect(reopened.segments).toEqual([]);
    await reopened.close();
  });

  it('keeps segments in memory, in order, when the disk refuses them', async () => {
    const dir = freshDir();
    const logs = captureLogger();
    const spool = await Spool.open(dir, { measure: slsLogMeasure, maxBytes: 1e9, logger: logs.logger });
    await spool.append(sizedBatch(1, 2), 200);
    rmSync(dir, { recursive: true, force: true }); // every later write fails with ENOENT
    const second = await spool.append(sizedBatch(3, 2), 200);
    await spool.append(sizedBatch(5, 2), 200);
    expect(second.durable).toBe(false);
    expect(spool.stats).toMatchObject({ writeFailures: 2, memorySegments: 2, segments: 3 });
    expect(logs.at('error')).toHaveLength(1); // one line per kind of failure, not per segment
    // Its file went with the directory, but this process still holds the batch it appended.
    expect(await spool.read(1)).toEqual(sizedBatch(1, 2));
    expect(await spool.read(second.seq)).toEqual(sizedBatch(3, 2));
    await spool.remove(second.seq);
    expect(spool.stats.memorySegments).toBe(1);
    await spool.close();
    expect(logs.at('error').at(-1)?.msg).toContain('2 records held in memory only are lost');
  });
});
