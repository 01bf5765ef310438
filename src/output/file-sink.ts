import { promises as fs, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import type { RecordBatch } from '../flow/record';
import { jsonLineMeasure, JsonLinesEncoder } from './format/json-lines';
import type { Sink, SinkResult } from './sink';

/**
 * Error codes that retrying cannot fix without an operator: permissions, a directory or
 * read-only filesystem where the file should be, an impossible path. Everything else (ENOSPC,
 * EIO, EDQUOT, EMFILE, a vanished parent directory, ...) may heal, so it is retryable.
 */
const PERMANENT_CODES: ReadonlySet<string> = new Set([
  'EACCES',
  'EPERM',
  'EISDIR',
  'ENOTDIR',
  'EROFS',
  'ENAMETOOLONG',
  'ELOOP',
  'EINVAL',
  'EFBIG',
]);

export interface FileSinkOptions {
  /**
   * fdatasync after every batch (default true). The delivery layer deletes a spooled batch as
   * soon as `write` returns ok, so without this a power cut could lose batches that are neither
   * in the file nor in the spool any more.
   */
  syncEachWrite?: boolean;
}

/** How a file-system failure is classified; exported for tests and other file-backed sinks. */
export function classifyFileError(action: string, err: unknown): SinkResult {
  const code = (err as NodeJS.ErrnoException)?.code ?? '';
  const reason = `${action}: ${(err as Error)?.message ?? String(err)}`;
  if (PERMANENT_CODES.has(code)) return { kind: 'permanent', reason };
  return { kind: 'retryable', retryAfterMs: 0, reason };
}

/**
 * Appends records as JSON Lines to a file (see json-lines.ts for the line format), creating
 * parent directories as needed. A batch is all-or-nothing: when an append fails halfway the file
 * is truncated back to its previous length, so a retry does not leave a torn line or duplicates.
 * A file renamed or deleted underneath (logrotate without copytruncate) is noticed before the
 * next batch and a new file is started at the configured path.
 *
 * Writes are serialised; the handle is owned by the sink and released by `close`, which fsyncs.
 */
export class FileSink implements Sink {
  readonly name: string;
  readonly measure = jsonLineMeasure;
  private handle: FileHandle | null = null;
  private openedIno = -1;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly syncEachWrite: boolean;
  /** Appends run one at a time (`tail`), so one encoder's reused buffer serves them all. */
  private readonly encoder = new JsonLinesEncoder();

  constructor(
    readonly filePath: string,
    options: FileSinkOptions = {},
  ) {
    this.name = `file:${filePath}`;
    this.syncEachWrite = options.syncEachWrite ?? true;
  }

  write(batch: RecordBatch): Promise<SinkResult> {
    const run = this.tail.then(() => this.append(batch));
    this.tail = run;
    return run;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.tail;
    await this.release(true);
  }

  private async append(batch: RecordBatch): Promise<SinkResult> {
    if (this.closed) return { kind: 'permanent', reason: `write file ${this.filePath}: sink is closed` };
    const bytes = this.encoder.encode(batch);
    let handle: FileHandle;
    try {
      handle = await this.openCurrent();
    } catch (err) {
      return classifyFileError(`open file ${this.filePath}`, err);
    }
    let sizeBefore = -1;
    try {
      sizeBefore = (await handle.stat()).size;
      for (let offset = 0; offset < bytes.length;) {
        offset += (await handle.write(bytes, offset, bytes.length - offset)).bytesWritten;
      }
      if (this.syncEachWrite) await handle.datasync();
      return { kind: 'ok' };
    } catch (err) {
      // Take back a partial append so the retry writes the batch exactly once.
      if (sizeBefore >= 0) await handle.truncate(sizeBefore).catch(() => undefined);
      await this.release(false);
      return classifyFileError(`append to file ${this.filePath}`, err);
    }
  }

  /** The open handle, reopened when the path no longer names the file it refers to. */
  private async openCurrent(): Promise<FileHandle> {
    if (this.handle) {
      const current: Stats | undefined = await fs.stat(this.filePath).catch(() => undefined);
      if (current && current.ino === this.openedIno) return this.handle;
      await this.release(true);
    }
    await fs.mkdir(path.dirname(this.filePath), { recursive: true });
    const handle = await fs.open(this.filePath, 'a');
    this.openedIno = (await handle.stat()).ino;
    this.handle = handle;
    return handle;
  }

  private async release(sync: boolean): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    if (!handle) return;
    if (sync) await handle.sync().catch(() => undefined);
    await handle.close().catch(() => undefined);
  }
}
