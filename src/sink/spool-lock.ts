import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export const LOCK_FILE = 'lock';

/** A spool directory could not be opened, read or written as a whole. */
export class SpoolError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SpoolError';
  }
}

/** Another live process (a running daemon, a `spool drain`) owns the spool directory. */
export class SpoolLockedError extends SpoolError {
  constructor(
    readonly dir: string,
    readonly holderPid: number,
  ) {
    super(`lock spool ${dir}: held by running process ${holderPid}`);
    this.name = 'SpoolLockedError';
  }
}

/** Directories locked by this process, so a second `Spool` on the same directory is refused too. */
const heldHere = new Set<string>();

/**
 * Takes the `lock` file of `dir` (content: the owner's pid). Two deliveries on one directory
 * would send every segment twice and delete each other's files. A lock whose pid is dead is
 * stale (kill -9, reboot) and taken over; so is one carrying our own pid that this process does
 * not hold, which happens when a container restarts and the daemon gets the same pid again.
 */
export async function acquireSpoolLock(dir: string): Promise<void> {
  const resolved = path.resolve(dir);
  if (heldHere.has(resolved)) throw new SpoolLockedError(dir, process.pid);
  const lockPath = path.join(dir, LOCK_FILE);
  const mine = `${process.pid}\n`;
  try {
    await fs.writeFile(lockPath, mine, { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new SpoolError(`lock spool ${dir}: ${(err as Error).message}`, { cause: err });
    }
    const holder = Number.parseInt(await fs.readFile(lockPath, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
      throw new SpoolLockedError(dir, holder);
    }
    // Stale: replace atomically so a concurrent taker sees either the old or the new owner.
    const temp = `${lockPath}.${process.pid}`;
    await fs.writeFile(temp, mine);
    await fs.rename(temp, lockPath);
  }
  heldHere.add(resolved);
}

/** Releases a lock taken by `acquireSpoolLock`; a missing file is fine. */
export async function releaseSpoolLock(dir: string): Promise<void> {
  heldHere.delete(path.resolve(dir));
  await fs.unlink(path.join(dir, LOCK_FILE)).catch(() => undefined);
}

/** Pid of the lock holder if it is alive, else undefined (no lock or stale). */
export async function liveLockHolder(dir: string): Promise<number | undefined> {
  const text = await fs.readFile(path.join(dir, LOCK_FILE), 'utf8').catch(() => '');
  const pid = Number.parseInt(text, 10);
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
