import { closeSync, fstatSync, openSync, statSync, writeSync } from 'node:fs';
import { describeReadError } from '../config/load';
import { StdoutClosedError } from './stdout-closed';

/**
 * What a command needs to know of the files named on its command line, in words for a one-line
 * message: never a stack trace, and a directory is called a directory.
 */

/** Why `path` cannot be read as an input file (missing, a directory, unreadable, empty), or undefined when it can. */
export function inputFileProblem(path: string, what: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    return describeReadError(err);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) return `is a directory, not ${what}`;
    if (st.isFile() && st.size === 0) return `is empty (0 bytes), not ${what}`;
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** Whether `path` names a directory. */
export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Bytes already in `path` when it is a non-empty file; 0 when it is absent or empty. */
export function existingBytes(path: string): number {
  try {
    const st = statSync(path);
    return st.isFile() ? st.size : 0;
  } catch {
    return 0;
  }
}


/**
 * writeSync may write part of a buffer to a pipe; loop until all of it is out. A reader that
 * closed the pipe (EPIPE) ends the command: StdoutClosedError, which the CLI turns into exit 0.
 */
export function writeAllSync(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue;
      if (code === 'EPIPE' && fd === 1) throw new StdoutClosedError();
      throw err;
    }
  }
}
