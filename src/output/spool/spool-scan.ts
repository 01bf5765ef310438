import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../../log';
import { segmentBytes, type SegmentHeader } from './segment-codec';
import type { LostWindow, SegmentCoverage } from './segment-coverage';
import {
  CORRUPT_DIR,
  isOwnName,
  isTempFileName,
  moveAside,
  readSegmentHead,
  segmentSeqOf,
  type SegmentHead,
} from './spool-files';

/** A committed segment found valid at open. */
export interface ScannedSegment {
  seq: number;
  header: SegmentHeader;
  coverage: SegmentCoverage | null;
  fileBytes: number;
}

/** A segment found damaged at open (moved to corrupt/), and what it is known to have held. */
export interface CorruptSegment {
  name: string;
  reason: string;
  lost: LostWindow;
}

export interface SpoolScan {
  segments: ScannedSegment[];
  corrupt: CorruptSegment[];
  /** Highest sequence number of a segment name found (valid or not), 0 when none. */
  highestSeq: number;
  tempFilesMovedAside: number;
  foreignFilesSetAside: number;
}

/**
 * Longest aggregation window (10 minutes) plus the grace and drain before a window's records are
 * spooled: how far before its file time a segment's window may start. For a segment whose header
 * is unreadable, the widest honest bounds come from its neighbours' windows and this.
 */
const MAX_WINDOW_BEFORE_WRITE_SEC = 600 + 60;

/**
 * Reads a spool directory at open (after its lock is taken): every temp file and every file the
 * spool did not write is moved to corrupt/ once, so its name is free and never read again; every
 * committed segment's header and coverage is checked; a segment that fails is moved aside and
 * reported with what it held: its coverage (ENIs, counts) and window when they are readable,
 * else the window its neighbours and its file time allow, its ENIs unknown.
 */
export async function scanSpoolDir(dir: string, logger: Logger): Promise<SpoolScan> {
  const out: SpoolScan = { segments: [], corrupt: [], highestSeq: 0, tempFilesMovedAside: 0, foreignFilesSetAside: 0 };
  const heads: Array<{ seq: number; name: string; head: SegmentHead | null; problem: string | undefined }> = [];
  const foreign: string[] = [];
  for (const name of (await fs.readdir(dir)).sort()) {
    if (isOwnName(name)) continue;
    if (isTempFileName(name)) {
      out.tempFilesMovedAside++;
      await moveAside(dir, name, logger);
      continue;
    }
    const seq = segmentSeqOf(name);
    if (seq === undefined) {
      foreign.push(name);
      continue;
    }
    out.highestSeq = Math.max(out.highestSeq, seq);
    let head: SegmentHead | null = null;
    let problem: string | undefined;
    try {
      head = await readSegmentHead(path.join(dir, name));
      problem = head.problem;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EISDIR') {
        foreign.push(name); // a directory by a segment's name: not the spool's
        continue;
      }
      problem = `cannot read: ${code ?? (err as Error).message}`;
    }
    heads.push({ seq, name, head, problem });
  }
  for (const name of foreign) {
    out.foreignFilesSetAside++;
    await moveAside(dir, name, logger);
  }
  if (foreign.length > 0) {
    logger.warn(
      { dir, files: foreign.slice(0, 10), count: foreign.length },
      `open spool ${dir}: ${foreign.length} file(s) the spool did not write (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', ...' : ''}) moved to ${CORRUPT_DIR}/; their names are never used`,
    );
  }
  heads.forEach((h, i) => {
    if (h.problem === undefined && h.head?.header) {
      out.segments.push({
        seq: h.seq,
        header: h.head.header,
        coverage: h.head.coverage,
        fileBytes: segmentBytes(h.head.header),
      });
      return;
    }
    const lost = lostWindowOf(h.head, heads, i);
    out.corrupt.push({ name: h.name, reason: h.problem ?? 'unreadable', lost });
    const what = lost.enis === null ? 'ENIs unknown' : `${lost.enis.length} ENIs`;
    logger.error(
      {
        dir,
        file: h.name,
        reason: h.problem,
        records: lost.records,
        windowStartSec: lost.startSec,
        windowEndSec: lost.endSec,
      },
      `open spool segment ${h.name}: ${h.problem}; moved to ${CORRUPT_DIR}/, ` +
        `${lost.records ?? 'an unknown number of'} records lost, SKIPDATA written for ${lost.startSec}..${lost.endSec} (${what})`,
    );
  });
  for (const c of out.corrupt) await moveAside(dir, c.name, logger);
  return out;
}

/**
 * What a damaged segment held: its header's window and count and its coverage's ENIs when their
 * checksums hold; else the widest window its neighbours (the closest readable segments before
 * and after it) and its file time allow, with ENIs and count unknown.
 */
function lostWindowOf(
  head: SegmentHead | null,
  all: ReadonlyArray<{ head: SegmentHead | null; problem: string | undefined }>,
  at: number,
): LostWindow {
  const h = head?.header;
  if (h)
    return {
      startSec: h.windowStartSec,
      endSec: h.windowEndSec,
      enis: head?.coverage?.enis ?? null,
      records: h.recordCount,
    };
  const starts: number[] = [];
  const ends: number[] = [];
  const neighbour = (step: number) => {
    for (let j = at + step; j >= 0 && j < all.length; j += step) {
      const n = all[j].head?.header;
      if (n) return n;
    }
    return undefined;
  };
  for (const n of [neighbour(-1), neighbour(1)]) {
    if (n === undefined) continue;
    starts.push(n.windowStartSec);
    ends.push(n.windowEndSec);
  }
  if (head !== null) {
    starts.push(Math.floor(head.mtimeMs / 1000) - MAX_WINDOW_BEFORE_WRITE_SEC);
    ends.push(Math.ceil(head.mtimeMs / 1000));
  }
  if (starts.length === 0) {
    // Not even a file time (unreadable): the last ten minutes before now, the widest we can say.
    const now = Date.now() / 1000;
    starts.push(Math.floor(now) - MAX_WINDOW_BEFORE_WRITE_SEC);
    ends.push(Math.ceil(now));
  }
  return { startSec: Math.min(...starts), endSec: Math.max(...ends), enis: null, records: null };
}
