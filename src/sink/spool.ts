import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { RecordBatch } from '../flow/record';
import { log as processLog, type Logger } from '../log';
import { decodeHeader, decodePayload, encodeSegment, SEGMENT_HEADER_BYTES } from './segment-codec';
import {
  CORRUPT_DIR,
  isTempFileName,
  moveAside,
  readSegmentHeader,
  segmentFileName,
  segmentSeqOf,
  writeCommittedSegment,
} from './spool-files';
import { acquireSpoolLock, releaseSpoolLock, SpoolError } from './spool-lock';
import { newSpoolStats, type SegmentInfo, type SegmentStore, type SpoolStats } from './segment-store';

export type { SegmentInfo, SegmentStore, SpoolStats } from './segment-store';

/*
 * A durable FIFO of record batches, one directory per flow log:
 *
 *   <stateDir>/spool/<flowLogId>/
 *   |-- lock                                   pid of the owning process
 *   |-- 00000000000000000041.seg               committed segments; 20-digit sequence numbers,
 *   |-- 00000000000000000042.seg               so name order = FIFO order
 *   |-- tmp-00000000000000000043-<pid>.part    being written; never read, never delivered
 *   `-- corrupt/                               quarantine, newest CORRUPT_KEEP files kept
 *       |-- 00000000000000000017.seg.<ms>      failed its checksum on scan or read
 *       `-- tmp-00000000000000000039-<pid>.part.<ms>   left by a crash before its rename
 *
 *   segment file = 64-byte header (magic, version, counts, CRC-32s; see segment-codec.ts)
 *                + JSON payload
 *
 * Write / ack protocol (appends are serialised, so sequence numbers commit in order):
 *
 *   append(batch)                                   ack(seq) after the sink said ok
 *   1 evict oldest segments while used+new > max    6 unlink <seq>.seg
 *   2 write header+payload to tmp-<seq>-<pid>.part     (no dir fsync: an unlink lost to a
 *   3 fsync the temp file                              power cut re-delivers the batch, which
 *   4 rename temp -> <seq>.seg   (atomic commit)       is at-least-once, never loss)
 *   5 fsync the directory        (rename survives
 *     power loss); only now is the append resolved
 *
 *   read(seq): the batch as appended, while this process holds it (up to 32 MiB of segments
 *         appended here; delivering them frees room), else the file, its CRC checked
 *
 *   open: 7 take the lock; move every tmp-* aside (it was never committed, the writer was
 *         killed between 2 and 4); check each header (size, CRC); a bad one goes aside too
 *         8 next sequence = highest committed + 1, so sequence numbers stay contiguous
 *
 * A kill -9 at any point leaves either a complete, committed segment or a temp file, never a
 * half segment under a committed name. When the disk refuses a write (ENOSPC, EROFS) the segment
 * is kept in memory instead, in order, within the same byte bound and within `memoryMaxBytes`
 * (beyond it the oldest held segments are dropped, counted and logged once per episode), and
 * written to disk, in order, by the first append the disk accepts again.
 */

export interface SpoolOptions {
  /** Bound on the summed segment sizes; the oldest segments are evicted to stay under it. */
  maxBytes: number;
  /** Bound on the segments held in memory because the disk refused them (default 64 MiB). */
  memoryMaxBytes?: number | undefined;
  logger?: Logger;
}

const DEFAULT_MEMORY_MAX_BYTES = 64 * 1024 * 1024;

interface Entry extends SegmentInfo {
  /** Becomes true when a segment held in memory is written after all (persistHeld). */
  durable: boolean;
  memory: Buffer | null;
  /**
   * The batch itself while this process still holds it (see RECENT_BATCH_BYTES): `read` returns
   * it instead of reading, checksumming and parsing the file it has just written.
   */
  batch: RecordBatch | null;
}

/**
 * Segment bytes whose batches are kept in memory after their append. Reading back what was just
 * written (file read, CRC, JSON.parse) was half of the delivery layer's CPU: with it the spool
 * passed about 100 k records/s. The file is still written and fsynced before the append
 * resolves; only the read is skipped, for segments appended while the kept ones stay within
 * this bound (during an outage, the first 32 MiB; later ones are read from their files).
 */
const RECENT_BATCH_BYTES = 32 * 1024 * 1024;

export class Spool implements SegmentStore {
  private readonly entries: Entry[] = [];
  private readonly bySeq = new Map<number, Entry>();
  /** fileBytes of the entries whose `batch` is kept. */
  private recentBytes = 0;
  private nextSeq = 1;
  private appendTail: Promise<unknown> = Promise.resolve();
  private lastWriteError = '';
  private readonly logger: Logger;
  private readonly maxBytes: number;
  private readonly memoryMaxBytes: number;
  /** fileBytes of the entries held in memory only. */
  private memoryBytes = 0;
  private memoryDropLogged = false;
  readonly stats: SpoolStats = newSpoolStats();

  private constructor(
    /** The spool directory, or null for a memory-only spool. */
    readonly dir: string | null,
    options: SpoolOptions,
  ) {
    this.maxBytes = options.maxBytes;
    this.memoryMaxBytes = options.memoryMaxBytes ?? DEFAULT_MEMORY_MAX_BYTES;
    this.logger = options.logger ?? processLog;
  }

  /**
   * Opens (creating if needed) and locks `dir`, quarantines leftovers and indexes the committed
   * segments a previous process left, which are delivered before anything appended now.
   * Throws `SpoolLockedError` when a live process holds the directory, `SpoolError` otherwise.
   */
  static async open(dir: string, options: SpoolOptions): Promise<Spool> {
    try {
      await fs.mkdir(dir, { recursive: true });
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
    return spool;
  }

  /** A spool that never touches disk (the directory could not be opened): bounded, not durable. */
  static memoryOnly(options: SpoolOptions): Spool {
    return new Spool(null, options);
  }

  get segments(): readonly SegmentInfo[] {
    return this.entries;
  }

  has(seq: number): boolean {
    return this.bySeq.has(seq);
  }

  append(batch: RecordBatch, rawBytes: number): Promise<SegmentInfo> {
    const run = this.appendTail.then(() => this.appendNow(batch, rawBytes));
    this.appendTail = run.catch(() => undefined);
    return run;
  }

  async read(seq: number): Promise<RecordBatch | null> {
    const entry = this.bySeq.get(seq);
    if (!entry) return null;
    if (entry.batch !== null) return entry.batch;
    let bytes = entry.memory;
    if (!bytes) {
      try {
        bytes = await fs.readFile(this.pathOf(seq));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          this.drop(entry);
          return null;
        }
        await this.quarantine(entry, `read failed: ${(err as Error).message}`);
        return null;
      }
    }
    const header = decodeHeader(bytes.subarray(0, SEGMENT_HEADER_BYTES));
    const payload = header.ok ? decodePayload(header.value, bytes.subarray(SEGMENT_HEADER_BYTES)) : header;
    if (payload.ok) return payload.value;
    await this.quarantine(entry, payload.reason);
    return null;
  }

  async remove(seq: number): Promise<void> {
    const entry = this.bySeq.get(seq);
    if (!entry) return;
    this.drop(entry);
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
      const records = this.entries.filter((e) => !e.durable).reduce((n, e) => n + e.recordCount, 0);
      this.logger.error(
        { dir: this.dir, segments: this.stats.memorySegments, records },
        `close spool ${this.dir ?? '(memory)'}: ${records} records held in memory only are lost`,
      );
    }
    if (this.dir) await releaseSpoolLock(this.dir);
  }

  private async appendNow(batch: RecordBatch, rawBytes: number): Promise<SegmentInfo> {
    const seq = this.nextSeq++;
    const createdMs = Date.now();
    const bytes = encodeSegment(batch, rawBytes, createdMs);
    await this.evictFor(bytes.length);
    let durable = false;
    if (this.dir) {
      try {
        await writeCommittedSegment(this.dir, seq, bytes);
        durable = true;
        const held = this.stats.memorySegments > 0 ? await this.persistHeld() : 0;
        if (this.lastWriteError) {
          this.logger.info({ dir: this.dir, persisted: held }, `write spool ${this.dir}: writes succeed again; ${held} segments held in memory written`);
          this.lastWriteError = '';
          this.stats.writeError = '';
          this.memoryDropLogged = false;
        }
      } catch (err) {
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
    }
    const entry: Entry = {
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
    };
    if (this.recentBytes + bytes.length <= RECENT_BATCH_BYTES) {
      entry.batch = batch;
      this.recentBytes += bytes.length;
    }
    this.entries.push(entry);
    this.bySeq.set(seq, entry);
    this.stats.segments++;
    this.stats.bytes += entry.fileBytes;
    this.stats.records += entry.recordCount;
    this.stats.appendedSegments++;
    if (!durable) {
      this.stats.memorySegments++;
      this.memoryBytes += entry.fileBytes;
      this.boundMemory(entry);
    }
    return entry;
  }

  /** Drops the oldest segments held in memory (never `newest`) beyond memoryMaxBytes. */
  private boundMemory(newest: Entry): void {
    let segments = 0;
    let records = 0;
    for (let i = 0; i < this.entries.length && this.memoryBytes > this.memoryMaxBytes; ) {
      const e = this.entries[i];
      if (e.durable || e === newest) {
        i++;
        continue;
      }
      segments++;
      records += e.recordCount;
      this.drop(e);
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
        'in the oldest segments (counted in flowlog_spool_dropped_records_total; logged once until the disk accepts writes)',
    );
  }

  /** Writes the segments held in memory, oldest first, once the disk accepts writes again. */
  private async persistHeld(): Promise<number> {
    let written = 0;
    for (const e of this.entries) {
      if (e.durable || e.memory === null || this.dir === null) continue;
      try {
        await writeCommittedSegment(this.dir, e.seq, e.memory);
      } catch {
        break; // still refused: the next successful append tries again
      }
      e.durable = true;
      e.memory = null;
      this.stats.memorySegments--;
      this.memoryBytes -= e.fileBytes;
      written++;
    }
    return written;
  }

  private async evictFor(incomingBytes: number): Promise<void> {
    let segments = 0;
    let records = 0;
    let oldestWindowStartSec = 0;
    while (this.entries.length > 0 && this.stats.bytes + incomingBytes > this.maxBytes) {
      const oldest = this.entries[0];
      if (segments === 0) oldestWindowStartSec = oldest.windowStartSec;
      segments++;
      records += oldest.recordCount;
      await this.remove(oldest.seq);
    }
    if (segments === 0) return;
    this.stats.evictedSegments += segments;
    this.stats.evictedRecords += records;
    this.logger.warn(
      { dir: this.dir, segments, records, oldestWindowStartSec, maxBytes: this.maxBytes },
      `evict spool segments from ${this.dir ?? '(memory)'}: spool full at ${this.maxBytes} bytes, ` +
        `dropped ${records} records in ${segments} oldest segments`,
    );
  }

  private async scan(dir: string): Promise<void> {
    const names = (await fs.readdir(dir)).sort();
    for (const name of names) {
      if (isTempFileName(name)) {
        this.stats.tempFilesMovedAside++;
        await moveAside(dir, name, this.logger);
        continue;
      }
      const seq = segmentSeqOf(name);
      if (seq === undefined) continue;
      this.nextSeq = Math.max(this.nextSeq, seq + 1);
      const checked = await readSegmentHeader(path.join(dir, name));
      if (!checked.ok) {
        this.stats.corruptSegments++;
        this.logger.warn(
          { dir, file: name, reason: checked.reason },
          `open spool segment ${name}: ${checked.reason}; moved to ${CORRUPT_DIR}/`,
        );
        await moveAside(dir, name, this.logger);
        continue;
      }
      const h = checked.value;
      const entry: Entry = {
        seq,
        recordCount: h.recordCount,
        rawBytes: h.rawBytes,
        fileBytes: SEGMENT_HEADER_BYTES + h.payloadBytes,
        createdMs: h.createdMs,
        windowStartSec: h.windowStartSec,
        windowEndSec: h.windowEndSec,
        durable: true,
        memory: null,
        batch: null,
      };
      this.entries.push(entry);
      this.bySeq.set(seq, entry);
      this.stats.segments++;
      this.stats.bytes += entry.fileBytes;
      this.stats.records += entry.recordCount;
    }
    if (this.entries.length > 0 || this.stats.tempFilesMovedAside > 0) {
      this.logger.info(
        {
          dir,
          segments: this.stats.segments,
          records: this.stats.records,
          tempFilesMovedAside: this.stats.tempFilesMovedAside,
        },
        `recover spool ${dir}: ${this.stats.records} records in ${this.stats.segments} segments ` +
          'from a previous run',
      );
    }
  }

  private async quarantine(entry: Entry, reason: string): Promise<void> {
    this.drop(entry);
    this.stats.corruptSegments++;
    this.logger.warn(
      { dir: this.dir, seq: entry.seq, records: entry.recordCount, reason },
      `read spool segment ${segmentFileName(entry.seq)}: ${reason}; ` +
        `moved to ${CORRUPT_DIR}/, ${entry.recordCount} records not delivered`,
    );
    if (entry.durable && this.dir) await moveAside(this.dir, segmentFileName(entry.seq), this.logger);
  }

  private drop(entry: Entry): void {
    if (this.bySeq.get(entry.seq) !== entry) return;
    this.bySeq.delete(entry.seq);
    // FIFO: the entry is nearly always at the head.
    const at = this.entries[0] === entry ? 0 : this.entries.indexOf(entry);
    this.entries.splice(at, 1);
    this.stats.segments--;
    this.stats.bytes -= entry.fileBytes;
    this.stats.records -= entry.recordCount;
    if (!entry.durable) {
      this.stats.memorySegments--;
      this.memoryBytes -= entry.fileBytes;
    }
    if (entry.batch !== null) {
      entry.batch = null;
      this.recentBytes -= entry.fileBytes;
    }
  }

  private pathOf(seq: number): string {
    return path.join(this.dir ?? '', segmentFileName(seq));
  }
}
