import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Spool } from '../src/sink/spool';
import { SpoolLockedError } from '../src/sink/spool-lock';
import { captureLogger } from './helpers/capture-logger';
import { sizedBatch } from './helpers/records';
import { tempDirForFile } from './helpers/temp-dir';

const root = tempDirForFile('spool-store');
const quiet = captureLogger().logger;
let dirCount = 0;
const freshDir = () => join(root, `fl-${++dirCount}`);
const segFiles = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.seg')).sort();
const seqName = (seq: number) => `${String(seq).padStart(20, '0')}.seg`;

describe('Spool', () => {
  it('appends, reads and removes in FIFO order, and a reopen continues the sequence', async () => {
    const dir = freshDir();
    const spool = await Spool.open(dir, { maxBytes: 1e9, logger: quiet });
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

    const again = await Spool.open(dir, { maxBytes: 1e9, logger: quiet });
    expect(again.segments.map((s) => [s.seq, s.recordCount, s.rawBytes])).toEqual([
      [2, 10, 1000],
      [3, 10, 1000],
    ]);
    expect((await again.append(sizedBatch(99, 1), 100)).seq).toBe(4);
    expect(await again.read(3)).toEqual(sizedBatch(21, 10, 1120));
    await again.close();
  });

  it('evicts the oldest segments beyond maxBytes, counting and logging the records', async () => {
    const dir = freshDir();
    const probe = await Spool.open(dir, { maxBytes: 1e9, logger: quiet });
    await probe.append(sizedBatch(100, 4), 400);
    const size = statSync(join(dir, seqName(1))).size;
    await probe.remove(1);
    await probe.close();

    const logs = captureLogger();
    const spool = await Spool.open(dir, { maxBytes: Math.floor(size * 3.5), logger: logs.logger });
    for (let i = 0; i < 5; i++) await spool.append(sizedBatch(100 + 4 * i, 4), 400); // same size each
    // The directory was empty, so numbering starts at 1 again. 3 fit in 3.5 sizes: appends 4
    // and 5 each evict one.
    expect(spool.segments.map((s) => s.seq)).toEqual([3, 4, 5]);
    expect(segFiles(dir)).toEqual([seqName(3), seqName(4), seqName(5)]);
    expect(spool.stats).toMatchObject({ evictedSegments: 2, evictedRecords: 8, bytes: 3 * size });
    const evictions = logs.at('warn').filter((l) => l.msg.startsWith('evict spool segments'));
    expect(evictions.map((l) => l.obj.records)).toEqual([4, 4]);
    expect(evictions[0].msg).toContain('dropped 4 records');
    await spool.close();
  });

  it('moves a segment that fails its payload checksum to corrupt/ instead of delivering it', async () => {
    const dir = freshDir();
    const spool = await Spool.open(dir, { maxBytes: 1e9, logger: quiet });
    await spool.append(sizedBatch(1, 5), 500);
    await spool.append(sizedBatch(6, 5), 500);
    await spool.close();
    const file = join(dir, seqName(1));
    const bytes = readFileSync(file);
    bytes[bytes.length - 3] ^= 0x20; // inside the JSON payload; header still valid
    writeFileSync(file, bytes);

    const logs = captureLogger();
    const reopened = await Spool.open(dir, { maxBytes: 1e9, logger: logs.logger });
    expect(reopened.segments.map((s) => s.seq)).toEqual([1, 2]);
    expect(await reopened.read(1)).toBeNull();
    expect(await reopened.read(2)).toEqual(sizedBatch(6, 5));
    expect(reopened.segments.map((s) => s.seq)).toEqual([2]);
    expect(reopened.stats.corruptSegments).toBe(1);
    expect(readdirSync(join(dir, 'corrupt'))).toEqual([expect.stringMatching(/^0{19}1\.seg\.\d+$/)]);
    expect(logs.at('warn').map((l) => l.msg)).toEqual([expect.stringContaining('payload checksum mismatch')]);
    await reopened.close();
  });

  it('quarantines at open a segment cut short and temp files never committed', async () => {
    const dir = freshDir();
    const spool = await Spool.open(dir, { maxBytes: 1e9, logger: quiet });
    await spool.append(sizedBatch(1, 5), 500);
    await spool.append(sizedBatch(6, 5), 500);
    await spool.close();
    truncateSync(join(dir, seqName(2)), 100);
    writeFileSync(join(dir, `tmp-${'0'.repeat(19)}3-4242.part`), 'half a segment');

    const reopened = await Spool.open(dir, { maxBytes: 1e9, logger: quiet });
    expect(reopened.segments.map((s) => s.seq)).toEqual([1]);
    expect(reopened.stats).toMatchObject({ corruptSegments: 1, tempFilesMovedAside: 1, records: 5 });
    expect(readdirSync(join(dir, 'corrupt')).map((n) => n.replace(/\.\d+$/, '')).sort()).toEqual([
      seqName(2),
      `tmp-${'0'.repeat(19)}3-4242.part`,
    ]);
    // The cut segment's number is not reused, so corrupt/ and live names never meet.
    expect((await reopened.append(sizedBatch(11, 1), 100)).seq).toBe(3);
    await reopened.close();
  });

  it('refuses a directory locked by a live process and takes over a stale lock', async () => {
    const dir = freshDir();
    const spool = await Spool.open(dir, { maxBytes: 1e9, logger: quiet });
    await expect(Spool.open(dir, { maxBytes: 1e9, logger: quiet })).rejects.toBeInstanceOf(SpoolLockedError);
    await spool.close();

    const sleeper = spawn('sleep', ['30']);
    try {
      writeFileSync(join(dir, 'lock'), `${sleeper.pid}\n`);
      await expect(Spool.open(dir, { maxBytes: 1e9, logger: quiet })).rejects.toMatchObject({ holderPid: sleeper.pid });
    } finally {
      sleeper.kill('SIGKILL');
    }
    await new Promise((resolve) => sleeper.once('exit', resolve));
    // The holder is dead now: its lock is stale.
    const taken = await Spool.open(dir, { maxBytes: 1e9, logger: quiet });
    expect(readFileSync(join(dir, 'lock'), 'utf8')).toBe(`${process.pid}\n`);
    await taken.close();
  });

  it('serves the newest batches from memory and older ones from their files', async () => {
    const dir = freshDir();
    const spool = await Spool.open(dir, { maxBytes: 1e9, logger: quiet });
    await spool.append(sizedBatch(1, 2), 200);
    rmSync(join(dir, seqName(1))); // the file is gone; the batch this process appended is not
    expect(await spool.read(1)).toEqual(sizedBatch(1, 2));
    await spool.append(sizedBatch(3, 2), 200);
    await spool.close();
    const reopened = await Spool.open(dir, { maxBytes: 1e9, logger: quiet });
    expect(reopened.segments.map((s) => s.seq)).toEqual([2]);
    rmSync(join(dir, seqName(2))); // a new process has only the file: gone is gone
    expect(await reopened.read(2)).toBeNull();
    expect(reopened.segments).toEqual([]);
    await reopened.close();
  });

  it('keeps segments in memory, in order, when the disk refuses them', async () => {
    const dir = freshDir();
    const logs = captureLogger();
    const spool = await Spool.open(dir, { maxBytes: 1e9, logger: logs.logger });
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
