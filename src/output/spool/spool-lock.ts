import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { PRIVATE_FILE_MODE } from './spool-files';

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

/** Rounds of "create, else find it stale and move it away" before giving up. */
const LOCK_ATTEMPTS = 40;

/**
 * Takes the `lock` file of `dir` (content: the owner's pid; 0600). Two deliveries on one
 * directory would send every segment twice and delete each other's files. The lock is created
 * exclusively (O_EXCL); a lock whose pid is dead is stale (kill -9, reboot) and is taken over;
 * so is one carrying our own pid that this process does not hold (a container restarted and the
 * daemon got the same pid again).
 *
 * Takeover when two processes find the same stale lock at once: each renames `lock` to a name of
 * its own (only one rename can take a given file), checks that what it moved is the stale lock it
 * judged (else it moved a live owner's lock, and puts it back), and creates a fresh lock
 * exclusively; the other finds the new lock live and is refused.
 */
export async function acquireSpoolLock(dir: string): Promise<void> {
  const resolved = path.resolve(dir);
  if (heldHere.has(resolved)) throw new SpoolLockedError(dir, process.pid);
  const lockPath = path.join(dir, LOCK_FILE);
  const mine = `${process.pid}\n`;
  for (let attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
    try {
      const handle = await fs.open(lockPath, 'wx', PRIVATE_FILE_MODE);
      try {
        await handle.chmod(PRIVATE_FILE_MODE);
        await handle.writeFile(mine);
      } finally {
        await handle.close();
      }
      heldHere.add(resolved);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new SpoolError(`lock spool ${dir}: ${(err as Error).message}`, { cause: err });
      }
    }
    const seen = await fs.readFile(lockPath, 'utf8').catch(() => undefined);
    if (seen === undefined) continue; // released (or moved) meanwhile: try again
    const holder = Number.parseInt(seen, 10);
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
      throw new SpoolLockedError(dir, holder);
    }
    if (!(holder > 0) && (await isFresh(lockPath))) {
      // No pid yet: its owner created it a moment ago and is writing it. Look again shortly.
      await new Promise((resolve) => setTimeout(resolve, 50));
      continue;
    }
    // Stale (or unreadable text: a write cut by a crash). Move it away under a name of our own.
    const aside = path.join(dir, `lock.stale.${process.pid}`);
    try {
      await fs.rename(lockPath, aside);
    } catch {
      continue; // another taker moved it first
    }
    const moved = await fs.readFile(aside, 'utf8').catch(() => '');
    if (moved !== seen) {
      // Between our read and our rename someone took the lock: give it back and look again.
      await fs.link(aside, lockPath).catch(() => undefined);
    }
    await fs.unlink(aside).catch(() => undefined);
  }
  throw new SpoolError(
    `lock spool ${dir}: the lock kept changing hands; is another process starting on this directory?`,
  );
}

/** A lock file without a pid younger than this is being written, not stale. */
const LOCK_WRITE_GRACE_MS = 5_000;

async function isFresh(lockPath: string): Promise<boolean> {
  const stat = await fs.stat(lockPath).catch(() => undefined);
  return stat !== undefined && Date.now() - stat.mtimeMs < LOCK_WRITE_GRACE_MS;
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

/** Whether process `pid` exists (EPERM: it does, under another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
