import type { EniConfig } from '../config/types';
import type { FlowTable } from './flow-table';

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
  /**
   * The delivery's id of the batch (src/output/delivery/pack-id.ts), set when it is appended to the spool
   * and kept there; Log Service sinks send it as the `__pack_id__` tag.
   */
  packId?: string;
}

/**
 * The OK records of one slice of a closed window for one flow log, as flow-table entries rather
 * than record objects: for encoders that format records straight from the table (a replay to a
 * JSON Lines file writes a record in a fifth of the time it takes to build its object and
 * encode that). Same records, same order as the `RecordBatch` the builder would have made.
 * Built only for plain-text ENIs, flow logs without extra fields and windows without NFLOG netting.
 *
 * Ownership: borrowed for the call it is passed to; the slice object, the table and `entries`
 * are reused after it.
 */
export interface FlowSlice {
  flowLogId: string;
  windowStartSec: number;
  windowEndSec: number;
  table: FlowTable;
  /** Entries of `table` to write, in record order: entries[0 .. count). */
  entries: Int32Array;
  count: number;
  /** The records' ids: ENI configs by inventory index, and the account. */
  enis: readonly EniConfig[];
  accountId: string;
}
