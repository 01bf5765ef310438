/**
 * The flow-log record: exactly these 18 fields, in this order, string values, as the Log
 * Service stores them. Optional extra fields (per flow log) follow the 18.
 */
export const RECORD_FIELDS = [
  'version',
  'vswitch-id',
  'vm-id',
  'vpc-id',
  'account-id',
  'eni-id',
  'srcaddr',
  'srcport',
  'dstaddr',
  'dstport',
  'protocol',
  'direction',
  'packets',
  'bytes',
  'start',
  'end',
  'log-status',
  'action',
] as const;
export type RecordField = (typeof RECORD_FIELDS)[number];

export type LogStatus = 'OK' | 'NODATA' | 'SKIPDATA';
export type Direction = 'in' | 'out';
export type Action = 'ACCEPT' | 'REJECT';

/**
 * Marks a record whose every value is known to be plain text (no quote, backslash or control
 * character): the record builder sets it when the ENI's ids and the account id are (checked once
 * per ENI), since everything else it writes is digits, addresses and fixed words. Encoders may
 * then skip their per-character checks. A symbol key: invisible to for-in, Object.keys and
 * JSON.stringify, so records still have exactly their fields.
 */
export const PLAIN_TEXT: unique symbol = Symbol('flowlog.plainText');

/** Whether `record` carries the PLAIN_TEXT mark. */
export function isPlainText(record: FlowRecord): boolean {
  return (record as unknown as Record<symbol, unknown>)[PLAIN_TEXT] === true;
}

/**
 * One record. Built once per flow per window at drain time (off the packet path), so plain
 * objects are fine here. Key order is the field order above followed by extra fields.
 */
export type FlowRecord = Record<string, string>;

/** A batch of records of one flow log and one window, handed to a sink. */
export interface RecordBatch {
  flowLogId: string;
  /** Window bounds, Unix seconds. */
  windowStartSec: number;
  windowEndSec: number;
  records: FlowRecord[];
}
