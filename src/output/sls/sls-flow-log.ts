import { RECORD_FIELDS, type FlowRecord } from '../../flow/record';
import { putWords, wordText, type WordText } from '../format/word-text';

/**
 * Fast path of the LogGroup encoder for flow records: the 18 standard fields in their order,
 * optionally followed by the extra fields `tcp-flags` and `region`, every value an ASCII string
 * short enough for one-byte lengths. It writes the same bytes as the general path in
 * sls-log-group.ts (which handles everything else: other shapes, non-ASCII, long values) in
 * about 0.8 us a record where that took 2 us, most of it per-character work on the keys and on
 * the per-ENI ids:
 *
 * - each known key's bytes (Key tag, length, key, Value tag) are built once and written as
 *   32-bit words;
 * - the first six fields (version, vswitch-id, vm-id, vpc-id, account-id, eni-id) are the same
 *   strings for every record of an ENI, so their encoded pairs are built once per ENI and
 *   copied (see `flowPrefix`);
 * - the other values are written with a character loop that collects an ASCII check on the way;
 *   a non-ASCII value makes the caller redo the log on the general path.
 *
 * Shape is checked by enumerating the record (for-in, the order the general path writes), so a
 * record with the standard keys in another order takes the general path too.
 */

const EXTRA_KEYS = ['tcp-flags', 'region'] as const;
const KEYS: readonly string[] = [...RECORD_FIELDS, ...EXTRA_KEYS];
const STANDARD = RECORD_FIELDS.length;
const TCP_FLAGS = STANDARD;
const REGION = STANDARD + 1;
/** Fields 0..5: the same strings for every record of one ENI. */
const PREFIX_FIELDS = 6;
/** A pair of the fast path is at most 2 + 127 bytes (one-byte pair length). */
const MAX_PAIR_BYTES = 129;

/**
 * Most bytes `writeFlowLog` may touch past `pos`: Log tag, 2 length bytes, time tag + 5-byte
 * varint, at most 20 pairs, and 3 bytes that a 32-bit key write can run past its pair's key
 * (overwritten right after).
 */
export const FLOW_LOG_MAX_BYTES = 9 + KEYS.length * MAX_PAIR_BYTES + 3;

/**
 * Per known key k, the head of its Content pair: 0x0a, k.length, k, 0x12 (Key tag and length,
 * the key, Value tag), written as 32-bit words.
 */
const HEADS: readonly WordText[] = KEYS.map((key) => wordText(`\n${String.fromCharCode(key.length)}${key}\x12`));

/**
 * The encoded Content pairs of fields 0..5 of an ENI's records, and the strings they encode;
 * `bytes` null when they do not fit the fast path (remembered, so such records do not retry).
 */
class PrefixEntry {
  constructor(
    readonly version: string,
    readonly vswitchId: string,
    readonly vmId: string,
    readonly vpcId: string,
    readonly accountId: string,
    readonly eniId: string,
    readonly bytes: Uint8Array | null,
  ) {}
}

/**
 * Prefix entries by eni-id, shared by every encoder and by `flowLogBytes` (entries are
 * immutable). Bounded: a host has a few dozen ENIs at most, so the cache is dropped whole when
 * it somehow fills (ids churning), rather than tracking use.
 */
const prefixes = new Map<string, PrefixEntry>();
const MAX_PREFIXES = 256;

/**
 * The prefix entry for `record`'s first six values, made on first sight; undefined when one of
 * them is not a string, is not ASCII, or is too long for the fast path. Does not check key
 * order (the callers' enumeration does).
 */
function flowPrefix(record: FlowRecord): (PrefixEntry & { bytes: Uint8Array }) | undefined {
  const eniId = record['eni-id'];
  if (typeof eniId !== 'string') return undefined;
  const version = record['version'];
  const vswitchId = record['vswitch-id'];
  const vmId = record['vm-id'];
  const vpcId = record['vpc-id'];
  const accountId = record['account-id'];
  const e = prefixes.get(eniId);
  // Same strings as the entry's: pointer comparisons for records of one builder.
  if (
    e !== undefined &&
    e.version === version &&
    e.vswitchId === vswitchId &&
    e.vmId === vmId &&
    e.vpcId === vpcId &&
    e.accountId === accountId
  ) {
    return e.bytes === null ? undefined : (e as PrefixEntry & { bytes: Uint8Array });
  }
  if (
    typeof version !== 'string' ||
    typeof vswitchId !== 'string' ||
    typeof vmId !== 'string' ||
    typeof vpcId !== 'string' ||
    typeof accountId !== 'string'
  )
    return undefined;
  const bytes = encodePrefix([version, vswitchId, vmId, vpcId, accountId, eniId]);
  if (prefixes.size >= MAX_PREFIXES) prefixes.clear();
  const made = new PrefixEntry(version, vswitchId, vmId, vpcId, accountId, eniId, bytes);
  prefixes.set(eniId, made);
  return bytes === null ? undefined : (made as PrefixEntry & { bytes: Uint8Array });
}

/** Content pairs for fields 0..5 with these values; null when one is not ASCII or too long. */
function encodePrefix(values: readonly string[]): Uint8Array | null {
  const bytes = new Uint8Array(PREFIX_FIELDS * MAX_PAIR_BYTES + 3);
  const view = new DataView(bytes.buffer);
  let pos = 0;
  for (let f = 0; f < PREFIX_FIELDS; f++) {
    const value = values[f];
    const pairLen = HEADS[f].length + 1 + value.length;
    if (pairLen >= 0x80) return null;
    bytes[pos++] = 0x12;
    bytes[pos++] = pairLen;
    pos = putWords(view, pos, HEADS[f]);
    bytes[pos++] = value.length;
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x80) return null;
      bytes[pos++] = c;
    }
  }
  return bytes.slice(0, pos);
}

/**
 * The index of `key` when it is the `i`-th key of a fast-path record (0..19), else -1.
 * Keys are internalized strings, so the comparisons are pointer comparisons.
 */
function keyIndex(key: string, i: number): number {
  if (i < STANDARD) return key === KEYS[i] ? i : -1;
  if (key === 'tcp-flags') return TCP_FLAGS;
  if (key === 'region') return REGION;
  return -1;
}

/**
 * Writes `record` as a Log (field 1 of LogGroup, tag included) at `pos`, and returns the end;
 * -1 when the record does not fit the fast path (nothing valid written: the caller writes the
 * log from `pos` again). The caller guarantees FLOW_LOG_MAX_BYTES of room after `pos`; `view`
 * is a DataView on the same bytes as `buf`.
 */
export function writeFlowLog(buf: Buffer, view: DataView, pos: number, record: FlowRecord, timeSec: number): number {
  const prefix = flowPrefix(record);
  if (prefix === undefined) return -1;
  const start = pos;
  buf[pos] = 0x0a;
  pos += 3; // Two bytes for the log length: a fast-path log is 128..2600 bytes.
  buf[pos++] = 0x08;
  pos = putVarint32(buf, pos, timeSec);
  buf.set(prefix.bytes, pos);
  pos += prefix.bytes.length;
  let i = 0;
  let or = 0;
  for (const key in record) {
    const f = keyIndex(key, i++);
    if (f < 0) return -1;
    if (f < PREFIX_FIELDS) continue;
    const value = record[key];
    if (typeof value !== 'string') return -1;
    const n = value.length;
    const head = HEADS[f];
    const pairLen = head.length + 1 + n;
    if (pairLen >= 0x80) return -1;
    buf[pos] = 0x12;
    buf[pos + 1] = pairLen;
    let p = putWords(view, pos + 2, head);
    buf[p++] = n;
    for (let j = 0; j < n; j++) {
      const c = value.charCodeAt(j);
      or |= c;
      buf[p++] = c;
    }
    pos = p;
  }
  if (or >= 0x80 || i < STANDARD) return -1;
  const len = pos - start - 3;
  if (len < 0x80 || len >= 0x4000) return -1;
  buf[start + 1] = (len & 0x7f) | 0x80;
  buf[start + 2] = len >>> 7;
  return pos;
}

/**
 * `encodedLogBytes` for a fast-path record (same result: the Log with its tag and length, time
 * counted as 5 bytes); -1 when `record` does not fit the fast path.
 */
export function flowLogBytes(record: FlowRecord): number {
  const prefix = flowPrefix(record);
  if (prefix === undefined) return -1;
  let logLen = 1 + 5 + prefix.bytes.length;
  let i = 0;
  for (const key in record) {
    const f = keyIndex(key, i++);
    if (f < 0) return -1;
    if (f < PREFIX_FIELDS) continue;
    const value = record[key];
    if (typeof value !== 'string') return -1;
    const n = value.length;
    const pairLen = HEADS[f].length + 1 + n;
    if (pairLen >= 0x80) return -1;
    for (let j = 0; j < n; j++) if (value.charCodeAt(j) >= 0x80) return -1;
    logLen += 2 + pairLen;
  }
  if (i < STANDARD) return -1;
  return 1 + (logLen < 0x80 ? 1 : 2) + logLen;
}

/** Writes `value` (0..2^32-1) as a protobuf varint at `pos`; returns the end. */
export function putVarint32(buf: Uint8Array, pos: number, value: number): number {
  let v = value >>> 0;
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}
