import {
  chmodSync,
  closeSync,
  fchmodSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { isAlive } from '../output/spool/spool-lock';

/** Under stateDir: the pid and start time of the daemon using it; removed by a clean stop. */
export const RUN_LOCK_FILE = 'daemon.lock';

/** What a stale run lock says of the run that left it (it stopped without removing it: uncleanly). */
export interface PreviousRun {
  pid: number;
  /** When that run started, Unix ms (the lock's content, else its file time). */
  startedMs: number;
}

/** Another live daemon uses the state directory. */
export class RunLockedError extends Error {
  override readonly name = 'RunLockedError';
  constructor(
    readonly stateDir: string,
    readonly holderPid: number,
  ) {
    super(`lock state directory ${stateDir}: another daemon (pid ${holderPid}) runs on it`);
  }
}

/**
 * Takes `stateDir/daemon.lock` (created exclusively, 0600: "<pid> <start ms>"). Two daemons on one
 * state directory would overwrite each other's capture journal (and, with the same flow logs,
 * their spools, which have locks of their own). A lock left by a dead process is the proof that
 * the previous run stopped uncleanly, and says since when it ran: the widest honest bounds of what
 * it may have lost when its journal cannot be read. Taken over as the spool's lock is (rename to a
 * name of our own, check, create exclusively). Synchronous: it runs once, at start.
 *
 * Returns the previous run when its lock was stale, null when there was none.
 * @throws RunLockedError when a live process holds it; the fs error when the directory is unusable.
 */
export function takeRunLock(stateDir: string, nowMs = Date.now()): PreviousRun | null {
  // A state directory this call creates is 0700 whatever the umask; an existing one (systemd's
  // StateDirectory, or one an operator made) is left as it is.
  const first = mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  if (first !== undefined)
    for (let d = stateDir; d.length >= first.length && d !== dirname(d); d = dirname(d)) chmodSync(d, 0o700);
  const path = join(stateDir, RUN_LOCK_FILE);
  let previous: PreviousRun | null = null;
  for (let attempt = 0; attempt < 8; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        fchmodSync(fd, 0o600);
        writeSync(fd, `${process.pid} ${nowMs}\n`);
      } finally {
        closeSync(fd);
      }
      return previous;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let text: string;
    let mtimeMs: number;
    try {
      text = readFileSync(path, 'utf8');
      mtimeMs = statSync(path).mtimeMs;
    } catch {
      continue; // gone meanwhile
    }
    const [pidText, startText] = text.trim().split(/\s+/);
    const pid = Number(pidText);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid))
      throw new RunLockedError(stateDir, pid);
    const started = Number(startText);
    previous ??= {
      pid: Number.isInteger(pid) ? pid : 0,
      startedMs: Number.isFinite(started) && started > 0 ? Math.min(started, mtimeMs) : mtimeMs,
    };
    const aside = `${path}.stale.${process.pid}`;
    try {
      renameSync(path, aside);
    } catch {
      continue; // another starter moved it first
    }
    const moved = readFileSync(aside, 'utf8');
    if (moved !== text) {
      // A live owner took it between our read and our rename: give it back.
      try {
        linkSync(aside, path);
      } catch {
        // a third taker: it will be judged again
      }
    }
    unlinkSync(aside);
  }
  throw new Error(`lock state directory ${stateDir}: the lock kept changing hands; is another daemon starting on it?`);
}

/** Removes the run lock (a clean stop); a missing file is fine. */
export function releaseRunLock(stateDir: string): void {
  try {
    unlinkSync(join(stateDir, RUN_LOCK_FILE));
  } catch {
    // already gone
  }
}
