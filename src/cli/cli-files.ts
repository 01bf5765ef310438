import { closeSync, fstatSync, openSync, statSync } from 'node:fs';
import { describeReadError } from '../config/load';

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
