import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CORRUPT_DIR, isOwnName, isTempFileName, readSegmentHead, segmentSeqOf } from './spool-files';
import { liveLockHolder } from './spool-lock';
import { segmentBytes } from './segment-codec';

/** What one spool directory holds, as read without changing anything in it. */
export interface SpoolDirStatus {
  /** Directory name under `<stateDir>/spool`, which is the flow log id. */
  flowLogId: string;
  dir: string;
  segments: number;
  records: number;
  /** Bytes of valid segments (headers included). */
  bytes: number;
  /** Unix ms when the oldest valid segment was written, undefined when there is none. */
  oldestCreatedMs: number | undefined;
  /** Segment files whose header fails its checks (they will be quarantined on the next open). */
  invalidSegments: number;
  /** Uncommitted temp files (a writer was killed, or is writing right now). */
  tempFiles: number;
  /** Files the spool did not write (set aside, never delivered, at the next open). */
  strayFiles: number;
  /** Files already in corrupt/. */
  corruptFiles: number;
  /** Pid of the live process that owns the directory, if any. */
  ownerPid: number | undefined;
}

/**
 * Reads the status of one spool directory. Read-only on purpose (headers only, no lock, nothing
 * moved), so it is safe while a daemon is delivering from the same directory; a file that
 * vanishes mid-scan (just delivered) is simply skipped.
 */
export async function readSpoolDirStatus(dir: string): Promise<SpoolDirStatus> {
  const status: SpoolDirStatus = {
    flowLogId: path.basename(dir),
    dir,
    segments: 0,
    records: 0,
    bytes: 0,
    oldestCreatedMs: undefined,
    invalidSegments: 0,
    tempFiles: 0,
    strayFiles: 0,
    corruptFiles: 0,
    ownerPid: await liveLockHolder(dir),
  };
  for (const name of await fs.readdir(dir)) {
    if (isOwnName(name)) continue;
    if (isTempFileName(name)) {
      status.tempFiles++;
      continue;
    }
    if (segmentSeqOf(name) === undefined) {
      status.strayFiles++;
      continue;
    }
    const head = await readSegmentHead(path.join(dir, name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      if (err.code === 'EISDIR' || err.code === 'EACCES') return null;
      throw err;
    });
    if (head === undefined) continue;
    if (head === null || head.header === null || head.problem !== undefined) {
      status.invalidSegments++;
      continue;
    }
    const header = head.header;
    status.segments++;
    status.records += header.recordCount;
    status.bytes += segmentBytes(header);
    const created = header.createdMs;
    if (status.oldestCreatedMs === undefined || created < status.oldestCreatedMs) {
      status.oldestCreatedMs = created;
    }
  }
  status.corruptFiles = (await fs.readdir(path.join(dir, CORRUPT_DIR)).catch(() => [])).length;
  return status;
}

/**
 * Status of every flow log's spool under `<stateDir>/spool`, sorted by flow log id; an empty
 * list when there is no spool directory yet.
 */
export async function readSpoolStatuses(stateDir: string): Promise<SpoolDirStatus[]> {
  const root = path.join(stateDir, 'spool');
  let entries;
  try {
    entries = await fs.readdir(root, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const dirs = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const statuses: SpoolDirStatus[] = [];
  for (const name of dirs) statuses.push(await readSpoolDirStatus(path.join(root, name)));
  return statuses;
}
