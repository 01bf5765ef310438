import { isPlainText, RECORD_FIELDS, type FlowRecord, type RecordBatch } from '../../flow/record';
import type { BatchMeasure } from '../sink';
import { putWords, wordText, type WordText } from './word-text';

const STANDARD_FIELDS: ReadonlySet<string> = new Set(RECORD_FIELDS);

/** The JSON string body of `v`: escaped only when it holds a quote, backslash or control character. */
function jsonBody(v: string): string {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c) return JSON.stringify(v).slice(1, -1);
  }
  return v;
}

/**
 * One record as a JSON object on one line: the 18 standard fields in their defined order (a
 * field the record lacks is left out rather than invented), then any extra fields in the
 * record's own order. The order is fixed here, not left to the record's key order, so files
 * from different versions diff cleanly.
 */
export function formatRecordLine(record: FlowRecord): string {
  let line = '';
  for (const field of RECORD_FIELDS) {
    const v = record[field];
    if (v !== undefined) line += `,"${field}":"${jsonBody(String(v))}"`;
  }
  for (const key in record) {
    if (!STANDARD_FIELDS.has(key)) line += `,${JSON.stringify(key)}:"${jsonBody(String(record[key]))}"`;
  }
  return `{${line.slice(1)}}\n`;
}

/**
 * The file and stdout sinks' batch measure: the bytes of the record's JSON line. Records marked
 * plain text (no quote, backslash or control character: nothing to escape) are counted from
 * their lengths, UTF-8 lengths for values that are not ASCII; any other record is formatted to
 * be measured.
 */
export const jsonLineMeasure: BatchMeasure = {
  recordBytes(record: FlowRecord): number {
    if (!isPlainText(record)) return Buffer.byteLength(formatRecordLine(record), 'utf8');
    let n = 2; // '{' + '}\n', less the first field's comma
    for (const key in record) {
      const v = record[key];
      n += key.length + 6 + (isAscii(v) ? v.length : Buffer.byteLength(v, 'utf8')); // ,"key":"value"
    }
    return n;
  },
};

function isAscii(v: string): boolean {
  for (let i = 0; i < v.length; i++) if (v.charCodeAt(i) >= 0x80) return false;
  return true;
}

/** All records of `batch` as JSON Lines, each line ending in "\n". */
export function formatBatchLines(batch: RecordBatch): string {
  let text = '';
  for (const record of batch.records) text += formatRecordLine(record);
  return text;
}

/** Whether `v` is a string JSON can carry between quotes as it is (no quote, backslash, control). */
function plain(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

/** The constant text before each per-flow value (srcaddr's key ends the per-ENI prefix). */
const K_SRCPORT = wordText('","srcport":"');
const K_DSTADDR = wordText('","dstaddr":"');
const K_DSTPORT = wordText('","dstport":"');
const K_PROTOCOL = wordText('","protocol":"');
const K_DIRECTION = wordText('","direction":"');
const K_PACKETS = wordText('","packets":"');
const K_BYTES = wordText('","bytes":"');
const K_START = wordText('","start":"');
const K_END = wordText('","end":"');
const K_LOG_STATUS = wordText('","log-status":"');
const K_ACTION = wordText('","action":"');
const NO_KEY = wordText('');
const LINE_END = wordText('"}\n');
/** Constant bytes of a line after its prefix, plus room for the last word's padding. */
const TAIL_ROOM =
  [
    K_SRCPORT,
    K_DSTADDR,
    K_DSTPORT,
    K_PROTOCOL,
    K_DIRECTION,
    K_PACKETS,
    K_BYTES,
    K_START,
    K_END,
    K_LOG_STATUS,
    K_ACTION,
    LINE_END,
  ].reduce((n, k) => n + k.length, 0) + 4;

/**
 * Writes `key` then `value` at `p`, one byte per UTF-16 unit of the value, four bytes per store,
 * and returns the end; -1 (passed on by later calls) when a unit was not ASCII, so the bytes are
 * wrong and the record must take the general path.
 */
function putField(buf: Buffer, view: DataView, p: number, key: WordText, value: string): number {
  if (p < 0) return p;
  p = putWords(view, p, key);
  const n = value.length;
  let seen = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const c0 = value.charCodeAt(i);
    const c1 = value.charCodeAt(i + 1);
    const c2 = value.charCodeAt(i + 2);
    const c3 = value.charCodeAt(i + 3);
    seen |= c0 | c1 | c2 | c3;
    view.setUint32(p + i, c0 | (c1 << 8) | (c2 << 16) | (c3 << 24), true);
  }
  for (; i < n; i++) {
    const c = value.charCodeAt(i);
    seen |= c;
    buf[p + i] = c;
  }
  return seen < 0x80 ? p + n : -1;
}

/** The cached first bytes of an ENI's records: `{"version":"…",…,"eni-id":"…","srcaddr":"`. */
interface EniPrefix {
  readonly version: string;
  readonly vswitchId: string;
  readonly vmId: string;
  readonly vpcId: string;
  readonly accountId: string;
  readonly eniId: string;
  readonly bytes: Uint8Array;
}

/** Prefixes cached at most; a replay has a handful of ENIs, the cap only bounds a pathological stream. */
const MAX_PREFIXES = 4096;

/**
 * Encodes batches as JSON Lines bytes (the same text as `formatBatchLines`) into one reused
 * buffer. Replays write hundreds of thousands of records, and a template string per record plus
 * its UTF-8 write (which flattens and transcodes) cost about 2 us a record. The fast path writes
 * bytes straight into the buffer instead: the six per-ENI values (version..eni-id) as bytes
 * cached per ENI, the twelve per-flow values unit by unit, the keys between them pre-encoded.
 * Records with extra or missing fields, non-string values, or per-flow values needing escapes or
 * holding non-ASCII take the general path (`formatRecordLine`).
 *
 * Ownership: the returned buffer is a view into the encoder's storage, valid until the next call.
 */
export class JsonLinesEncoder {
  private buf = Buffer.allocUnsafe(1 << 20);
  private view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  private len = 0;
  /** Prefix bytes by eni-id, and the last one used (records of one ENI usually come in runs). */
  private readonly prefixes = new Map<string, EniPrefix>();
  private last: EniPrefix | null = null;

  encode(batch: RecordBatch): Buffer {
    this.len = 0;
    for (const record of batch.records) {
      if (!this.encodeFast(record)) this.putString(formatRecordLine(record));
    }
    return this.buf.subarray(0, this.len);
  }

  /**
   * Writes `r` if it has exactly the 18 standard fields as strings and its per-flow values are
   * plain ASCII; otherwise returns false having advanced nothing (bytes past `len` are scratch).
   */
  private encodeFast(r: FlowRecord): boolean {
    let keys = 0;
    for (const _ in r) keys++;
    if (keys !== RECORD_FIELDS.length) return false;
    const prefix = this.prefixOf(r);
    if (prefix === null) return false;
    // Named reads: the records share one shape, so each is a monomorphic load.
    const srcaddr = r['srcaddr'];
    const srcport = r['srcport'];
    const dstaddr = r['dstaddr'];
    const dstport = r['dstport'];
    const protocol = r['protocol'];
    const direction = r['direction'];
    const packets = r['packets'];
    const bytes = r['bytes'];
    const start = r['start'];
    const end = r['end'];
    const logStatus = r['log-status'];
    const action = r['action'];
    if (
      typeof srcaddr !== 'string' ||
      typeof srcport !== 'string' ||
      typeof dstaddr !== 'string' ||
      typeof dstport !== 'string' ||
      typeof protocol !== 'string' ||
      typeof direction !== 'string' ||
      typeof packets !== 'string' ||
      typeof bytes !== 'string' ||
      typeof start !== 'string' ||
      typeof end !== 'string' ||
      typeof logStatus !== 'string' ||
      typeof action !== 'string'
    ) {
      return false;
    }
    // The builder marks records whose values need no escapes; others are checked here first.
    if (
      !isPlainText(r) &&
      !(
        plain(srcaddr) &&
        plain(srcport) &&
        plain(dstaddr) &&
        plain(dstport) &&
        plain(protocol) &&
        plain(direction) &&
        plain(packets) &&
        plain(bytes) &&
        plain(start) &&
        plain(end) &&
        plain(logStatus) &&
        plain(action)
      )
    ) {
      return false;
    }
    // One byte per unit: exact for ASCII, a bound for what putField writes otherwise.
    this.reserveBytes(
      prefix.length +
        TAIL_ROOM +
        srcaddr.length +
        srcport.length +
        dstaddr.length +
        dstport.length +
        protocol.length +
        direction.length +
        packets.length +
        bytes.length +
        start.length +
        end.length +
        logStatus.length +
        action.length,
    );
    const { buf, view } = this;
    let p = this.len;
    buf.set(prefix, p);
    p = putField(buf, view, p + prefix.length, NO_KEY, srcaddr);
    p = putField(buf, view, p, K_SRCPORT, srcport);
    p = putField(buf, view, p, K_DSTADDR, dstaddr);
    p = putField(buf, view, p, K_DSTPORT, dstport);
    p = putField(buf, view, p, K_PROTOCOL, protocol);
    p = putField(buf, view, p, K_DIRECTION, direction);
    p = putField(buf, view, p, K_PACKETS, packets);
    p = putField(buf, view, p, K_BYTES, bytes);
    p = putField(buf, view, p, K_START, start);
    p = putField(buf, view, p, K_END, end);
    p = putField(buf, view, p, K_LOG_STATUS, logStatus);
    p = putField(buf, view, p, K_ACTION, action);
    p = putField(buf, view, p, LINE_END, '');
    if (p < 0) return false;
    this.len = p;
    return true;
  }

  /**
   * The encoded `{"version":…,"srcaddr":"` of `r`. Records of one ENI share the very same id
   * strings, so the === checks are pointer compares; escapes and non-ASCII here are fine, the
   * prefix is encoded by the general rules once per ENI. Null when one of the six is not a string.
   */
  private prefixOf(r: FlowRecord): Uint8Array | null {
    const eniId = r['eni-id'];
    let e = this.last;
    if (e === null || e.eniId !== eniId) e = this.prefixes.get(eniId) ?? null;
    if (
      e === null ||
      e.version !== r['version'] ||
      e.vswitchId !== r['vswitch-id'] ||
      e.vmId !== r['vm-id'] ||
      e.vpcId !== r['vpc-id'] ||
      e.accountId !== r['account-id']
    ) {
      e = newPrefix(r);
      if (e === null) return null;
      if (this.prefixes.size >= MAX_PREFIXES) this.prefixes.clear();
      this.prefixes.set(e.eniId, e);
    }
    this.last = e;
    return e.bytes;
  }

  private putString(s: string): void {
    this.reserveBytes(s.length * 3); // at most 3 UTF-8 bytes per UTF-16 unit
    this.len += this.buf.write(s, this.len, 'utf8');
  }

  /** Room for `n` more bytes after `len`. */
  private reserveBytes(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
    this.view = new DataView(bigger.buffer, bigger.byteOffset, bigger.byteLength);
  }
}

function newPrefix(r: FlowRecord): EniPrefix | null {
  const [version, vswitchId, vmId, vpcId, accountId, eniId] = RECORD_FIELDS.slice(0, 6).map((f) => r[f]);
  if (![version, vswitchId, vmId, vpcId, accountId, eniId].every((v) => typeof v === 'string')) return null;
  const text = recordPrefixText(version, vswitchId, vmId, vpcId, accountId, eniId);
  return { version, vswitchId, vmId, vpcId, accountId, eniId, bytes: Buffer.from(text, 'utf8') };
}

/**
 * The start of a record's line up to the value of `srcaddr`, for the six fields every record of
 * an ENI shares: `{"version":"…","vswitch-id":"…",…,"eni-id":"…","srcaddr":"`.
 */
export function recordPrefixText(
  version: string,
  vswitchId: string,
  vmId: string,
  vpcId: string,
  accountId: string,
  eniId: string,
): string {
  return (
    `{"version":"${jsonBody(version)}","vswitch-id":"${jsonBody(vswitchId)}","vm-id":"${jsonBody(vmId)}",` +
    `"vpc-id":"${jsonBody(vpcId)}","account-id":"${jsonBody(accountId)}","eni-id":"${jsonBody(eniId)}","srcaddr":"`
  );
}
