import { describeReadError } from '../config/load';
/**
 * Streaming reader of file-sink output (JSON Lines, one record per line). Files may be large,
 * so lines are read with readline and handed on one at a time; nothing is kept here.
 */
import { promises as fs } from 'node:fs';
import * as readline from 'node:readline';
import { RECORD_FIELDS, type FlowRecord } from '../flow/record';

/** A record file that cannot be opened or read; the message names the file. */
export class RecordFileError extends Error {
  override readonly name = 'RecordFileError';
  constructor(
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Counts kept across files, for the one report at the end of a query. */
export interface RecordReadStats {
  records: number;
  malformedLines: number;
  /** Where the first malformed line was and why, e.g. "a.jsonl:7: not JSON". */
  firstMalformed?: string;
}

export function newRecordReadStats(): RecordReadStats {
  return { records: 0, malformedLines: 0 };
}

/**
 * Reads `file` line by line and calls `onRecord` for each well-formed record (an object with
 * the 18 fields, every value a string). Blank lines are ignored; other lines are counted as
 * malformed in `stats` and skipped. Rejects with RecordFileError when the file cannot be read,
 * or when it has lines and not one of them is a record (it is not a record file at all).
 */
export async function readRecordFile(
  file: string,
  onRecord: (record: FlowRecord) => void,
  stats: RecordReadStats,
): Promise<void> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
    const st = await handle.stat();
    if (st.isDirectory()) {
      await handle.close();
      throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    }
  } catch (err) {
    throw new RecordFileError(file, `read records ${file}: ${describeReadError(err)}`, { cause: err });
  }
  const lines = readline.createInterface({ input: handle.createReadStream({ encoding: 'utf8' }), crlfDelay: Infinity });
  let lineNo = 0;
  let records = 0;
  let firstProblem: string | undefined;
  try {
    for await (const line of lines) {
      lineNo++;
      if (line.trim() === '') continue;
      const problem = checkRecordLine(line);
      if (typeof problem === 'string') {
        stats.malformedLines++;
        firstProblem ??= `line ${lineNo}: ${problem}`;
        stats.firstMalformed ??= `${file}:${lineNo}: ${problem}`;
        continue;
      }
      records++;
      stats.records++;
      onRecord(problem);
    }
  } catch (err) {
    throw new RecordFileError(file, `read records ${file}: ${describeReadError(err)}`, { cause: err });
  } finally {
    lines.close();
    await handle.close().catch(() => undefined);
  }
  // Not one record in lines of text: the wrong file (a capture, a log), not a file with a few
  // damaged lines. An empty file is an empty record file.
  if (records === 0 && firstProblem !== undefined) {
    throw new RecordFileError(
      file,
      `read records ${file}: not a record file (JSON Lines of flow-log records): ${firstProblem}`,
    );
  }
}

/** The record of a line, or why the line is not one. */
export function checkRecordLine(line: string): FlowRecord | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const record = value as Record<string, unknown>;
  for (const field of RECORD_FIELDS) {
    if (!(field in record)) return `missing field "${field}"`;
  }
  for (const [key, v] of Object.entries(record)) {
    if (typeof v !== 'string') return `field "${key}" is not a string`;
  }
  return record as FlowRecord;
}
