import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../log';
import { decodeHeader, SEGMENT_HEADER_BYTES, type Decoded, type SegmentHeader } from './segment-codec';

/** File naming and the file-level steps of the spool protocol described in spool.ts. */

const SEGMENT_NAME = /^(\d{20})\.seg$/;
const TEMP_NAME = /^tmp-\d{20}-\d+\.part$/;
export const CORRUPT_DIR = 'corrupt';
/** Quarantined files kept for inspection; older ones are deleted so crash loops cannot fill a disk. */
export const CORRUPT_KEEP = 64;

export function segmentFileName(seq: number): string {
  return `${String(seq).padStart(20, '0')}.seg`;
}

/** Sequence number of a committed segment's file name, or undefined for any other name. */
export function segmentSeqOf(name: string): number | undefined {
  const match = SEGMENT_NAME.exec(name);
  return match ? Number(match[1]) : undefined;
}

export function isTempFileName(name: string): boolean {
  return TEMP_NAME.test(name);
}

/**
 * Steps 2-5 of the append protocol: temp file, fsync, rename (the commit), directory fsync.
 * Rejects (and removes the temp file) when the segment could not be committed.
 */
export async function writeCommittedSegment(dir: string, seq: number, bytes: Buffer): Promise<void> {
  const temp = path.join(dir, `tmp-${String(seq).padStart(20, '0')}-${process.pid}.part`);
  try {
    const handle = await fs.open(temp, 'wx');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, path.join(dir, segmentFileName(seq)));
  } catch (err) {
    await fs.unlink(temp).catch(() => undefined);
    throw err;
  }
  // The rename is the commit; a failed directory fsync only weakens power-loss safety.
  const dirHandle = await fs.open(dir, 'r').catch(() => undefined);
  if (dirHandle) await dirHandle.sync().catch(() => undefined).finally(() => dirHandle.close());
}

/** Reads and checks the header of a segment file and that the file is exactly as long as it says. */
export async function readSegmentHeader(file: string): Promise<Decoded<SegmentHeader>> {
  const handle = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(SEGMENT_HEADER_BYTES);
    const { bytesRead } = await handle.read(buf, 0, SEGMENT_HEADER_BYTES, 0);
    const header = decodeHeader(buf.subarray(0, bytesRead));
    if (!header.ok) return header;
    const { size } = await handle.stat();
    const expected = SEGMENT_HEADER_BYTES + header.value.payloadBytes;
    if (size !== expected) return { ok: false, reason: `file is ${size} bytes, header says ${expected}` };
    return header;
  } finally {
    await handle.close();
  }
}

/**
 * Moves `dir/name` into `dir/corrupt/` (suffixing the time so names never collide), then trims
 * corrupt/ to the newest CORRUPT_KEEP files. If the move fails the file is deleted instead, so a
 * bad file can never be picked up again.
 */
export async function moveAside(dir: string, name: string, logger: Logger): Promise<void> {
  const quarantine = path.join(dir, CORRUPT_DIR);
  try {
    await fs.mkdir(quarantine, { recursive: true });
    await fs.rename(path.join(dir, name), path.join(quarantine, `${name}.${Date.now()}`));
    const kept = (await fs.readdir(quarantine)).map((n) => ({
      n,
      ms: Number(n.slice(n.lastIndexOf('.') + 1)),
    }));
    kept.sort((a, b) => a.ms - b.ms);
    for (const old of kept.slice(0, Math.max(0, kept.length - CORRUPT_KEEP))) {
      await fs.unlink(path.join(quarantine, old.n)).catch(() => undefined);
    }
  } catch (err) {
    const message = (err as Error).message;
    logger.warn({ err, file: name }, `move spool file ${name} to ${CORRUPT_DIR}/: ${message}`);
    await fs.unlink(path.join(dir, name)).catch(() => undefined);
  }
}
