import { RECORD_FIELDS, type FlowRecord, type RecordBatch } from '../flow/record';

const STANDARD_FIELDS: ReadonlySet<string> = new Set(RECORD_FIELDS);
const has = Object.prototype.hasOwnProperty;

/**
 * One record as a JSON object on one line: the 18 standard fields in their defined order (a
 * field the record lacks is left out rather than invented), then any extra fields in the
 * record's own order. The order is fixed here, not left to the record's key order, so files
 * from different versions diff cleanly.
 */
export function formatRecordLine(record: FlowRecord): string {
  let line = '';
  for (const field of RECORD_FIELDS) {
    if (has.call(record, field)) line += `,${JSON.stringify(field)}:${JSON.stringify(String(record[field]))}`;
  }
  for (const key in record) {
    if (!STANDARD_FIELDS.has(key)) line += `,${JSON.stringify(key)}:${JSON.stringify(String(record[key]))}`;
  }
  return `{${line.slice(1)}}\n`;
}

/** All records of `batch` as JSON Lines, each line ending in "\n". */
export function formatBatchLines(batch: RecordBatch): string {
  let text = '';
  for (const record of batch.records) text += formatRecordLine(record);
  return text;
}
