import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { FlowRecord, RecordBatch } from '../../flow/record';
import { log as processLog, type Logger } from '../../log';
import type { BatchMeasure } from '../sink';
import {
  decodeCoverage,
  decodeHeader,
  decodePayload,
  encodeSegment,
  FLAG_LOSS_MARK,
  SEGMENT_HEADER_BYTES,
} from './segment-codec';
import { coverageOf } from './segment-coverage';
import { newSpoolStats, type SegmentInfo, type SegmentStore, type SpoolStats } from './segment-store';
import {
  CORRUPT_DIR,
  makePrivateDir,
  MAX_SEQ,
  moveAside,
  SegmentNameTakenError,
  segmentFileName,
  writeCommittedSegment,
} from './spool-files';
import { acquireSpoolLock, releaseSpoolLock, SpoolError } from './spool-lock';
import { SpoolLossLedger, type SpoolLossReason } from './spool-loss';
import { entryOf, rawBytesOf, SpoolIndex, type SpoolEntry } from './spool-index';
import { scanSpoolDir } from './spool-scan';

export type { SegmentInfo, SegmentStore, SpoolStats } from './segment-store';

/*
 * A durable FIFO of record batches, one directory per flow log:
 *
 *   <stateDir>/spool/<flowLogId>/               0700, files 0600 (whatever the umask)
 *   |-- lock                                   pid of the owning process
 *   |-- 00000000000000000041.seg               committed segments; 20-digit sequence numbers,
 *   |-- 00000000000000000042.seg               so name order = FIFO order
 *   |-- tmp-00000000000000000043-<pid>.part    being written; never read, never delivered
 *   `-- corrupt/                               quarantine, newest CORRUPT_KEEP files kept
 *       |-- 00000000000000000017.seg.<ms>      failed its checks on scan or read
 *       |-- tmp-00000000000000000039-<pid>.part.<ms>   left by a crash before its commit
 *       `-- 99999999999999999999.seg.<ms>      a file the spool did not write, set aside
 *
 *   segment file = 64-byte header (magic, version, counts, CRC-32s; see segment-codec.ts)
 *                + coverage (which ENIs and window the records are of, with counts)
 *                + JSON payload
 *
 * Write / ack protocol (appends are serialised, so sequence numbers commit in order):
 *
 *   append(batch)                                   ack(seq) after the sink said ok
 *   1 evict oldest segments while used+new > max    6 unlink <seq>.seg
 *     (never a loss mark, never a pinned one)          (no dir fsync: an unlink lost to a
 *   2 write header+payload to tmp-<seq>-<pid>.part     power cut re-delivers the batch, which
 *     (created exclusively, 0600)                      is at-least-once, never loss)
 *   3 fsync the temp file
 *   4 link temp -> <seq>.seg (the commit; fails if the name exists: a stray is set aside and
 *     the next number taken, never the same name), unlink temp
 *   5 fsync the directory (commit survives power loss); only now is the append resolved
 *
 *   every loss (1, the memory bound, a corrupt segment found on open or read) is counted by
 *   reason and becomes a loss mark: a segment of SKIPDATA records for the ENIs and window the
 *   lost segment's coverage names, appended like any batch and delivered like any batch, never
 *   evicted; marks over a quarter of the bound (disk or memory) are folded into one record per ENI.
 *
 *   read(seq): the batch as appended, while this process holds it (up to 32 MiB of segments
 *         appended here; delivering them frees room), else the file, its CRCs checked
 *
 *   open: 7 take the lock; set aside every tmp-* (never committed, or committed and not yet
 *         unlinked) and every file the spool did not write; check each header (size, CRC); a
 *         bad one goes aside too and its coverage (or, unreadable, its neighbours' windows and
 *         its file time) becomes a loss mark
 *         8 next sequence = highest committed + 1, so sequence numbers stay contiguous
 *
 * A kill -9 at any point leaves either a complete, committed segment or a temp file, never a
 * half segment under a committed name. When the disk refuses a write (ENOSPC, EROFS) the segment
 * is kept in memory instead, in order, within the same byte bound and within `memoryMaxBytes`
 * (beyond it the oldest held segments are dropped, counted and logged once per episode), and
 * written to disk, in order, by the first append the disk accepts again.
 */

export interface SpoolOptions {
  /** How its sink sizes requests: the spool measures the loss marks it writes itself with it. */
  measure: BatchMeasure;
  /** Bound on the summed segment sizes; the oldest segments are evicted to stay under it. */
  maxBytes: number;
  /** Bound on the segments held in memory because the disk refused them (default 64 MiB). */
  memoryMaxBytes?: number | undefined;
  logger?: Logger | undefined;
  /**
   * Identity templates of the ENIs the flow log covers (see segment-coverage.ts), for a loss
   * whose own coverage cannot be read and no other segment names an ENI. Default: none.
   */
  lossFallback?: (() => readonly FlowRecord[]) | undefined;
}

const DEFAULT_MEMORY_MAX_BYTES = 64 * 1024 * 1024;
/** Share of the bound the spool must be under, after an append, for an eviction episode to end. */
const ROOM_AGAIN_SHARE = 0.75;
/** Attempts to find a free segment name before the append counts as a failed write. */
const NAME_ATTEMPTS = 16;

export class Spool implements SegmentStore {
  private readonly index: SpoolIndex;
  private nextSeq = 1;
  private appendTail: Promise<unknown> = Promise.resolve();
  private lastWriteError = '';
  private readonly logger: Logger;
  private readonly maxBytes: number;
  private readonly measure: BatchMeasure;
  private readonly memoryMaxBytes: number;
  private memoryDropLogged = false;
  private readonly ledger: SpoolLossLedger;
  readonly stats: SpoolStats = newSpoolStats();

  private constructor(
    /** The spool directory, or null for a memory-only spool. */
    readonly dir: string | null,
    options: SpoolOptions,
  ) {
    this.maxBytes = options.maxBytes;
    this.measure = options.measure;
    this.memoryMaxBytes = options.memoryMaxBytes ?? DEFAULT_MEMORY_MAX_BYTES;
    this.logger = options.logger ?? processLog;
    this.index = new SpoolIndex(this.stats);
    this.ledger = new SpoolLossLedger(
      dir ?? '(memory)',
      this.logger,
      options.lossFallback,
      dir === null ? '' : path.basename(dir),
    );
    // The ledger's counters are the stats' (one object, read at scrape time).
    this.stats.lostRecords = this.ledger.lostRecords;
    this.stats.lossMarkRecords = this.ledger.markRecords;
  }

  /**
   * Opens (creating if needed, 0700) and locks `dir`, sets aside leftovers and strays, indexes
   * the committed segments a previous process left (delivered before anything appended now) and
   * marks the losses it found. Throws `SpoolLockedError` when a live process holds the
   * directory, `SpoolError` otherwise.
   */
  static async open(dir: string, options: SpoolOptions): Promise<Spool> {
    try {
      await makePrivateDir(dir);
    } catch (err) {
      throw new SpoolError(`create spool ${dir}: ${(err as Error).message}`, { cause: err });
    }
    await acquireSpoolLock(dir);
    const spool = new Spool(dir, options);
    try {
      await spool.scan(dir);
    } catch (err) {
      await releaseSpoolLock(dir);
      throw new SpoolError(`scan spool ${dir}: ${(err as Error).message}`, { cause: err });
    }
    await spool.appendMarksNow();
    return spool;
  }

  /** A spool that never touches disk (the directory could not be opened): bounded, not durable. */
  static memoryOnly(options: SpoolOptions): Spool {
    return new Spool(null, options);
  }

  get segments(): readonly SegmentInfo[] {
    return this.index.entries;
  }

  has(seq: number): boolean {
    return this.index.get(seq) !== undefined;
  }

  append(batch: RecordBatch, rawBytes: number): Promise<SegmentInfo> {
    return this.serialised(() => this.appendNow(batch, rawBytes, false));
  }

  pin(seq: number): void {
    const e = this.index.get(seq);
    if (e) e.pins++;
  }

  unpin(seq: number): void {
    const e = this.index.get(seq);
    if (e && e.pins > 0) e.pins--;
  }

  async read(seq: number): Promise<RecordBatch | null> {
    const entry = this.index.get(seq);
    if (!entry) return null;
    if (entry.batch !== null) return entry.batch;
    let bytes = entry.memory;
    if (!bytes) {
      try {
        bytes = await fs.readFile(this.pathOf(seq));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          // Deleted underneath (by hand): nothing tells whether it was delivered. Say so.
          await this.quarantine(entry, 'file vanished', false);
          return null;
        }
        await this.quarantine(entry, `read failed: ${(err as Error).message}`);
        return null;
      }
    }
    const header = decodeHeader(bytes.subarray(0, SEGMENT_HEADER_BYTES));
    const payload = header.ok
      ? decodePayload(header.value, bytes.subarray(SEGMENT_HEADER_BYTES + header.value.coverageBytes))
      : header;
    if (payload.ok) return payload.value;
    if (header.ok && entry.coverage === null) {
      const coverage = decodeCoverage(
        header.value,
        bytes.subarray(SEGMENT_HEADER_BYTES, SEGMENT_HEADER_BYTES + header.value.coverageBytes),
      );
      if (coverage.ok) entry.coverage = coverage.value;
    }
    await this.quarantine(entry, payload.reason);
    return null;
  }

  async remove(seq: number): Promise<void> {
    const entry = this.index.get(seq);
    if (!entry) return;
    this.index.drop(entry);
    if (!entry.durable) return;
    await fs.unlink(this.pathOf(seq)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return;
      this.logger.warn(
        { err, seq },
        `delete spool segment ${this.pathOf(seq)}: ${err.message} (it will be delivered again after a restart)`,
      );
    });
  }

  async close(): Promise<void> {
    await this.appendTail;
    if (this.stats.memorySegments > 0) {
      const records = this.index.entries.filter((e) => !e.durable).reduce((n, e) => n + e.recordCount, 0);
      this.logger.error(
        { dir: this.dir, segments: this.stats.memorySegments, records },
        `close spool ${this.dir ?? '(memory)'}: ${records} records held in memory only are lost`,
      );
    }
    if (this.dir) await releaseSpoolLock(this.dir);
  }

  private serialised<T>(work: () => Promise<T>): Promise<T> {
    const run = this.appendTail.then(work);
    this.appendTail = run.catch(() => undefined);
    return run;
  }

  private async appendNow(batch: RecordBatch, rawBytes: number, mark: boolean): Promise<SpoolEntry> {
    const createdMs = Date.now();
    const coverage = coverageOf(batch);
    const bytes = encodeSegment(batch, rawBytes, createdMs, mark ? FLAG_LOSS_MARK : 0);
    if (!mark) await this.evictFor(bytes.length);
    const { seq, durable } = await this.commit(bytes);
    const entry: SpoolEntry = {
      seq,
      recordCount: batch.records.length,
      rawBytes,
      fileBytes: bytes.length,
      createdMs,
      windowStartSec: batch.windowStartSec,
      windowEndSec: batch.windowEndSec,
      durable,
      memory: durable ? null : bytes,
      batch: null,
      coverage,
      mark,
      pins: 0,
    };
    this.ledger.learn(coverage);
    this.index.add(entry, batch);
    this.stats.appendedSegments++;
    if (!durable && !mark) this.boundMemory(entry);
    if (!mark) await this.appendMarksNow();
    return entry;
  }

  /** Commits `bytes` under the next free sequence number, or holds them in memory when the disk refuses. */
  private async commit(bytes: Buffer): Promise<{ seq: number; durable: boolean }> {
    for (let attempt = 0; ; attempt++) {
      if (this.nextSeq > MAX_SEQ) throw new SpoolError(`append to spool ${this.dir}: sequence numbers exhausted`);
      const seq = this.nextSeq++;
      if (this.dir === null) return { seq, durable: false };
      try {
        await writeCommittedSegment(this.dir, seq, bytes);
        if (this.stats.memorySegments > 0) await this.persistHeld();
        if (this.lastWriteError) {
          this.logger.info(
            { dir: this.dir },
            `write spool ${this.dir}: writes succeed again; segments held in memory written`,
          );
          this.lastWriteError = '';
          this.stats.writeError = '';
          this.memoryDropLogged = false;
        }
        return { seq, durable: true };
      } catch (err) {
        if (err instanceof SegmentNameTakenError && attempt < NAME_ATTEMPTS) {
          // A file this spool did not write holds the name: set it aside, take the next number.
          this.stats.foreignFilesSetAside++;
          this.logger.warn(
            { dir: this.dir, file: segmentFileName(seq) },
            `${err.message}, not written by this spool: moved to ${CORRUPT_DIR}/, taking the next number`,
          );
          await moveAside(this.dir, segmentFileName(seq), this.logger);
          continue;
        }
        this.writeRefused(err);
        return { seq, durable: false };
      }
    }
  }

  private writeRefused(err: unknown): void {
    this.stats.writeFailures++;
    // Compare codes, not messages: messages name the (ever-changing) segment file.
    const kind = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    if (kind !== this.lastWriteError) {
      this.logger.error(
        { err, dir: this.dir },
        `write spool segment to ${this.dir}: ${(err as Error).message} ` +
          '(keeping segments in memory until writes succeed again; those are lost on exit)',
      );
      this.lastWriteError = kind;
    }
    this.stats.writeError = kind;
  }

  /** Appends the SKIPDATA of every loss queued so far as one loss mark; then folds marks past their share. */
  private async appendMarksNow(): Promise<void> {
    const marks = this.ledger.takeMarks();
    if (marks !== null) await this.appendNow(marks, rawBytesOf(marks, this.measure), true);
    await this.foldMarksIfLarge();
  }

  /**
   * Marks stay within a quarter of the bound: past it, every mark not in flight is folded into
   * one record per ENI spanning their windows (wider bounds, never fewer ENIs or packets).
   */
  private async foldMarksIfLarge(): Promise<void> {
    // Marks held in memory (the disk refusing writes) count against the memory bound too.
    if (this.index.markBytes <= Math.min(this.maxBytes, this.memoryMaxBytes) / 4) return;
    const folding = this.index.entries.filter((e) => e.mark && e.pins === 0);
    if (folding.length < 2) return;
    const batches: RecordBatch[] = [];
    for (const e of folding) {
      const b = await this.read(e.seq);
      if (b !== null) batches.push(b);
    }
    if (batches.length < 2) return;
    const folded = this.ledger.fold(batches);
    await this.appendNow(folded, rawBytesOf(folded, this.measure), true);
    for (const e of folding) await this.remove(e.seq);
  }

  /** Queues `entry`'s records as lost for `reason` (its coverage, else unknown ENIs). */
  private lose(reason: SpoolLossReason, entry: SpoolEntry): void {
    this.ledger.lose(reason, {
      startSec: entry.windowStartSec,
      endSec: entry.windowEndSec,
      enis: entry.coverage?.enis ?? null,
      records: entry.recordCount,
    });
  }

  /** Drops the oldest segments held in memory (never `newest`, a mark or a pinned one) beyond memoryMaxBytes. */
  private boundMemory(newest: SpoolEntry): void {
    let segments = 0;
    let records = 0;
    for (let i = 0; i < this.index.entries.length && this.index.memoryBytes > this.memoryMaxBytes;) {
      const e = this.index.entries[i];
      if (e.durable || e === newest || e.mark || e.pins > 0) {
        i++;
        continue;
      }
      segments++;
      records += e.recordCount;
      this.lose('spool_memory_full', e);
      this.index.drop(e);
    }
    if (segments === 0) return;
    this.stats.evictedSegments += segments;
    this.stats.evictedRecords += records;
    this.stats.memoryDroppedRecords += records;
    if (this.memoryDropLogged) return;
    this.memoryDropLogged = true;
    this.logger.error(
      { dir: this.dir, segments, records, memoryMaxBytes: this.memoryMaxBytes },
      `hold spool segments of ${this.dir ?? '(memory)'} in memory: over ${this.memoryMaxBytes} bytes, dropped ${records} records ` +
        'in the oldest segments, SKIPDATA written for their windows (counted in flowlog_output_lost_records_total; logged once until the disk accepts writes)',
    );
  }

  /** Writes the segments held in memory, oldest first, once the disk accepts writes again. */
  private async persistHeld(): Promise<void> {
    for (const e of this.index.entries) {
      if (e.durable || e.memory === null || this.dir === null) continue;
      try {
        await writeCommittedSegment(this.dir, e.seq, e.memory);
      } catch {
        break; // still refused (or the name taken: it stays in memory): the next append tries again
      }
      this.index.persisted(e);
    }
  }

  private async evictFor(incomingBytes: number): Promise<void> {
    let segments = 0;
    let records = 0;
    while (this.stats.bytes + incomingBytes > this.maxBytes) {
      // The oldest that is neither a loss mark nor in flight (nearly always the head).
      const victim = this.index.entries.find((e) => !e.mark && e.pins === 0);
      if (victim === undefined) break; // over the bound by marks and requests in flight only
      segments++;
      records += victim.recordCount;
      this.lose('spool_full', victim);
      await this.remove(victim.seq);
    }
    if (segments === 0) {
      // Ends an eviction episode only once delivery made real room, so a spool at its bound
      // whose appends sometimes fit does not flap between evicting and not.
      if (this.stats.bytes + incomingBytes <= this.maxBytes * ROOM_AGAIN_SHARE) this.ledger.roomAgain();
    } else {
      this.stats.evictedSegments += segments;
      this.stats.evictedRecords += records;
      this.ledger.evicted(segments, records, segments, this.maxBytes, Date.now());
    }
    this.stats.evictingSinceMs = this.ledger.evictingSinceMs;
  }

  private async scan(dir: string): Promise<void> {
    const found = await scanSpoolDir(dir, this.logger);
    this.stats.tempFilesMovedAside += found.tempFilesMovedAside;
    this.stats.foreignFilesSetAside += found.foreignFilesSetAside;
    this.nextSeq = Math.max(this.nextSeq, found.highestSeq + 1);
    for (const s of found.segments) this.ledger.learn(s.coverage);
    for (const s of found.segments) this.index.add(entryOf(s));
    for (const c of found.corrupt) {
      this.stats.corruptSegments++;
      this.ledger.lose('segment_corrupt', c.lost);
    }
    if (this.index.entries.length > 0 || found.tempFilesMovedAside > 0) {
      this.logger.info(
        {
          dir,
          segments: this.stats.segments,
          records: this.stats.records,
          tempFilesMovedAside: found.tempFilesMovedAside,
        },
        `recover spool ${dir}: ${this.stats.records} records in ${this.stats.segments} segments from a previous run`,
      );
    }
  }

  private async quarantine(entry: SpoolEntry, reason: string, fileThere = entry.durable): Promise<void> {
    this.index.drop(entry);
    this.stats.corruptSegments++;
    this.lose('segment_corrupt', entry);
    this.logger.error(
      { dir: this.dir, seq: entry.seq, records: entry.recordCount, reason },
      `read spool segment ${segmentFileName(entry.seq)}: ${reason}; ` +
        `moved to ${CORRUPT_DIR}/, ${entry.recordCount} records lost, SKIPDATA written for window ${entry.windowStartSec}..${entry.windowEndSec}`,
    );
    if (fileThere && this.dir) await moveAside(this.dir, segmentFileName(entry.seq), this.logger);
    // The SKIPDATA goes in after whatever append is under way.
    void this.serialised(() => this.appendMarksNow());
  }

  private pathOf(seq: number): string {
    return path.join(this.dir ?? '', segmentFileName(seq));
  }
}
