import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../../log';
import { decodeCoverage, decodeHeader, SEGMENT_HEADER_BYTES, segmentBytes, type SegmentHeader } from './segment-codec';
import type { SegmentCoverage } from './segment-coverage';

/** File naming and the file-level steps of the spool protocol described in spool.ts. */

const SEGMENT_NAME = /^(\d{20})\.seg$/;
const TEMP_NAME = /^tmp-\d{20}-\d+\.part$/;
export const CORRUPT_DIR = 'corrupt';
/** Quarantined files kept for inspection; older ones are deleted so crash loops cannot fill a disk. */
export const CORRUPT_KEEP = 64;
/** Files and directories of the spool's own, never set aside: the lock, its takeover temp files, the quarantine. */
const OWN_NAMES = /^(lock|lock\.\d+|lock\.stale\.\d+|corrupt)$/;
/** Mode of every spool file and of the spool's directories, whatever the umask (records name hosts and traffic). */
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/**
 * Largest sequence number the spool writes: every integer up to it is exact in a double, and its
 * 20-digit name sorts in order. A name above it (`99999999999999999999.seg`) was not written by
 * a spool: it is set aside, and its number never taken.
 */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;

export function segmentFileName(seq: number): string {
  return `${String(seq).padStart(20, '0')}.seg`;
}

/** Sequence number of a committed segment's file name, or undefined for any other name (or one above MAX_SEQ). */
export function segmentSeqOf(name: string): number | undefined {
  const match = SEGMENT_NAME.exec(name);
  if (!match) return undefined;
  const seq = Number(match[1]);
  return seq >= 1 && seq <= MAX_SEQ ? seq : undefined;
}

export function isTempFileName(name: string): boolean {
  return TEMP_NAME.test(name);
}

/** Whether `name` in a spool directory is the spool's own bookkeeping (never a stray). */
export function isOwnName(name: string): boolean {
  return OWN_NAMES.test(name);
}

/** The final name of a segment is taken by a file this spool did not write. */
export class SegmentNameTakenError extends Error {
  override readonly name = 'SegmentNameTakenError';
  constructor(readonly file: string) {
    super(`commit spool segment ${file}: a file of that name exists already`);
  }
}

/**
 * Creates `dir` (and missing parents) with mode 0700 and sets 0700 on `dir` and on every
 * directory this call created, whatever the umask. Existing parents are left as they are (a
 * state directory may be shared or managed by systemd).
 */
export async function makePrivateDir(dir: string): Promise<void> {
  const first = await fs.mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const created: string[] = [dir];
  if (first !== undefined) {
    for (let d = path.dirname(dir); d.length >= first.length && d !== path.dirname(d); d = path.dirname(d))
      created.push(d);
  }
  for (const d of created) await fs.chmod(d, PRIVATE_DIR_MODE);
}

/**
 * Steps 2-5 of the append protocol: temp file (created exclusively, 0600), fsync, commit, directory
 * fsync. The commit is a hard link of the temp file to the final name, which fails when the name
 * exists (a rename would silently replace it): so a committed segment can never be overwritten,
 * whoever wrote the name first. On file systems without hard links the name is checked, then the
 * temp file renamed. Rejects (and removes the temp file) when the segment could not be committed;
 * `SegmentNameTakenError` when the name was taken.
 */
export async function writeCommittedSegment(dir: string, seq: number, bytes: Buffer): Promise<void> {
  const temp = path.join(dir, `tmp-${String(seq).padStart(20, '0')}-${process.pid}.part`);
  const final = path.join(dir, segmentFileName(seq));
  try {
    const handle = await fs.open(temp, 'wx', PRIVATE_FILE_MODE);
    try {
      await handle.chmod(PRIVATE_FILE_MODE); // the open's mode went through the umask
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await commitExclusively(temp, final);
  } catch (err) {
    await fs.unlink(temp).catch(() => undefined);
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new SegmentNameTakenError(final);
    throw err;
  }
  // The commit is done; a failed directory fsync only weakens power-loss safety.
  const dirHandle = await fs.open(dir, 'r').catch(() => undefined);
  if (dirHandle)
    await dirHandle
      .sync()
      .catch(() => undefined)
      .finally(() => dirHandle.close());
}

async function commitExclusively(temp: string, final: string): Promise<void> {
  try {
    await fs.link(temp, final);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
    // No hard links here (some FUSE and FAT file systems): check, then rename.
    const exists = await fs.lstat(final).then(
      () => true,
      () => false,
    );
    if (exists) throw Object.assign(new Error(`EEXIST: ${final}`), { code: 'EEXIST' });
    await fs.rename(temp, final);
    return;
  }
  await fs.unlink(temp);
}

/** What the head of a segment file says: its header, its coverage, and the file's time. */
export interface SegmentHead {
  /** The header when its checksum holds (even if the file's size disagrees with it), else null. */
  header: SegmentHeader | null;
  /** Why the segment cannot be used (header unreadable, file cut short or too long); undefined when it can. */
  problem: string | undefined;
  /** The coverage, when header and coverage checksums hold (it survives a damaged payload). */
  coverage: SegmentCoverage | null;
  /** Last modification, Unix ms: when it was written. */
  mtimeMs: number;
}

/**
 * Reads and checks the header of a segment file, that the file is exactly as long as it says, and
 * its coverage (which stays readable when the payload is damaged or cut off).
 */
export async function readSegmentHead(file: string): Promise<SegmentHead> {
  const handle = await fs.open(file, 'r');
  try {
    const { size, mtimeMs } = await handle.stat();
    const buf = Buffer.alloc(SEGMENT_HEADER_BYTES);
    const { bytesRead } = await handle.read(buf, 0, SEGMENT_HEADER_BYTES, 0);
    const decoded = decodeHeader(buf.subarray(0, bytesRead));
    if (!decoded.ok) return { header: null, problem: decoded.reason, coverage: null, mtimeMs };
    const h = decoded.value;
    let coverage: SegmentCoverage | null = null;
    if (h.coverageBytes > 0 && SEGMENT_HEADER_BYTES + h.coverageBytes <= size) {
      const cov = Buffer.alloc(h.coverageBytes);
      const got = await handle.read(cov, 0, h.coverageBytes, SEGMENT_HEADER_BYTES);
      const c = decodeCoverage(h, cov.subarray(0, got.bytesRead));
      if (c.ok) coverage = c.value;
    }
    const expected = segmentBytes(h);
    const problem = size === expected ? undefined : `file is ${size} bytes, header says ${expected}`;
    return { header: h, problem, coverage, mtimeMs };
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
    await fs.mkdir(quarantine, { recursive: true, mode: PRIVATE_DIR_MODE });
    await fs.chmod(quarantine, PRIVATE_DIR_MODE);
    await fs.rename(path.join(dir, name), path.join(quarantine, `${name}.${Date.now()}`));
    const kept = (await fs.readdir(quarantine)).map((n) => ({
      n,
      ms: Number(n.slice(n.lastIndexOf('.') + 1)),
    }));
    kept.sort((a, b) => a.ms - b.ms);
    for (const old of kept.slice(0, Math.max(0, kept.length - CORRUPT_KEEP))) {
      await fs.rm(path.join(quarantine, old.n), { recursive: true, force: true }).catch(() => undefined);
    }
  } catch (err) {
    const message = (err as Error).message;
    logger.warn({ err, file: name }, `move spool file ${name} to ${CORRUPT_DIR}/: ${message}`);
    await fs.rm(path.join(dir, name), { recursive: true, force: true }).catch(() => undefined);
  }
}
