/**
 * Records of file-sink output (JSON Lines) for the report, read as `query` reads them
 * (src/query/record-file-reader.ts), with one difference: a file whose lines are not records is
 * refused, because a report of "0 flows" made from the wrong file (a capture, a log) would look
 * like a quiet network. A few damaged lines among records are counted, skipped and shown on
 * the page.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { FlowRecord } from '../flow/record';
import {
  checkRecordLine,
  newRecordReadStats,
  readRecordFile,
  RecordFileError,
  type RecordReadStats,
} from '../query/record-file-reader';

export { RecordFileError };

/** How much of a file is looked at before reading it whole. */
const SNIFF_BYTES = 64 * 1024;

/** Reads every file in order into `onRecord`; rejects with RecordFileError naming the file. */
export async function readRecordFiles(
  files: readonly string[],
  onRecord: (r: FlowRecord) => void,
): Promise<RecordReadStats> {
  const stats = newRecordReadStats();
  for (const file of files) {
    const problem = sniff(file);
    if (problem !== undefined)
      throw new RecordFileError(
        file,
        `read records ${file}: not a record file (JSON Lines of flow-log records): ${problem}`,
      );
    const own = newRecordReadStats();
    await readRecordFile(file, onRecord, own);
    stats.records += own.records;
    stats.malformedLines += own.malformedLines;
    stats.firstMalformed ??= own.firstMalformed;
    if (own.records === 0 && own.malformedLines > 0) {
      throw new RecordFileError(
        file,
        `read records ${file}: not a record file (JSON Lines of flow-log records): ${own.firstMalformed ?? ''}`,
      );
    }
  }
  return stats;
}

/**
 * Why the start of `file` shows it is not records: its first 64 KiB hold complete lines and
 * not one is a record (a capture of gigabytes is refused at once, not after reading it all).
 * Undefined when it may be records, or cannot be opened (the reader then says why).
 */
function sniff(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.alloc(SNIFF_BYTES);
    const n = readSync(fd, buf, 0, SNIFF_BYTES, 0);
    const text = buf.subarray(0, n).toString('utf8');
    const complete = n < SNIFF_BYTES ? text : text.slice(0, text.lastIndexOf('\n') + 1);
    const lines = complete.split('\n');
    let first: string | undefined;
    for (let i = 0; i < lines.length; i++) {
      if (lines[i].trim() === '') continue;
      const r = checkRecordLine(lines[i]);
      if (typeof r !== 'string') return undefined;
      first ??= `${file}:${i + 1}: ${r}`;
    }
    return first;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
