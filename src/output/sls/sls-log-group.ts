import type { FlowRecord, RecordBatch } from '../../flow/record';
import type { BatchMeasure } from '../sink';
import { FLOW_LOG_MAX_BYTES, flowLogBytes, putVarint32, writeFlowLog } from './sls-flow-log';

/**
 * The service accepts a log time only within about [now - 7 days, now + 15 min] (older or
 * future logs are refused or dropped). A replay of an old capture must still be stored, so
 * such times are clamped into the range, with margins: the past margin leaves a day for the
 * delivery layer to retry or spool the batch (it is re-encoded, so re-clamped, on each write);
 * the future margin absorbs clock skew between this host and the service.
 */
export const LOG_TIME_MAX_AGE_SEC = 7 * 24 * 3600;
export const LOG_TIME_MAX_AHEAD_SEC = 15 * 60;
const LOG_TIME_PAST_MARGIN_SEC = 24 * 3600;
const LOG_TIME_FUTURE_MARGIN_SEC = 5 * 60;

/** LogGroup fields other than the logs (sls.proto: Topic = 3, Source = 4, LogTags = 6). */
export interface LogGroupMeta {
  topic: string;
  source: string;
  tags: ReadonlyArray<readonly [string, string]>;
}

/** An encoded LogGroup and what encoding found. */
export interface EncodedLogGroup {
  /** Protobuf `sls.LogGroup`, exact length (from `encodeShared`: a view on the encoder's buffer). */
  body: Buffer;
  logCount: number;
  /** Logs whose time was moved into the accepted range (true time stays in start/end). */
  clampedLogTimes: number;
}

/**
 * The log time of a record: its own `start` (the first packet of the flow in the window), so
 * the console's time picker finds the record both in the window and in [start, end]; the
 * window start when `start` is missing or not a number (NODATA records carry the window).
 */
export function recordLogTimeSec(record: FlowRecord, windowStartSec: number): number {
  const start = record.start;
  if (start !== undefined) {
    // Up to 10 decimal digits (what the record builder writes) parse here, the same number
    // Number() gives, at a fraction of its cost (it converts through a double parser).
    if (typeof start === 'string' && start.length > 0 && start.length <= 10) {
      let v = 0;
      let i = 0;
      for (; i < start.length; i++) {
        const d = start.charCodeAt(i) - 0x30;
        if (d < 0 || d > 9) break;
        v = v * 10 + d;
      }
      if (i === start.length) return v > 0 && v <= 0xffffffff ? v : windowStartSec;
    }
    const n = Number(start);
    if (Number.isInteger(n) && n > 0 && n <= 0xffffffff) return n;
  }
  return windowStartSec;
}

/** The accepted log-time range at `nowSec`, margins included. */
export function acceptedLogTimeRange(nowSec: number): { minSec: number; maxSec: number } {
  return {
    minSec: nowSec - LOG_TIME_MAX_AGE_SEC + LOG_TIME_PAST_MARGIN_SEC,
    maxSec: nowSec + LOG_TIME_MAX_AHEAD_SEC - LOG_TIME_FUTURE_MARGIN_SEC,
  };
}

/**
 * Bytes `record` takes in an encoded LogGroup (exact for log times after 1978, whose varint
 * takes the 5 bytes counted), so a batcher can keep batches under PUT_LOGS_MAX_RAW_BYTES exactly. Keys and values alone
 * undercount a flow record by about 38%: each field adds 6 bytes of tags and lengths.
 * Add the batch's topic, source and tags once (a few hundred bytes at most, with configured tags).
 */
export function encodedLogBytes(record: FlowRecord): number {
  const fast = flowLogBytes(record);
  if (fast >= 0) return fast;
  let logLen = 1 + 5; // Time tag + varint
  for (const key in record) {
    const raw = record[key];
    const kb = Buffer.byteLength(key, 'utf8');
    const vb = Buffer.byteLength(typeof raw === 'string' ? raw : String(raw), 'utf8');
    const pairLen = 1 + varintSize(kb) + kb + 1 + varintSize(vb) + vb;
    logLen += 1 + varintSize(pairLen) + pairLen;
  }
  return 1 + varintSize(logLen) + logLen;
}

/**
 * Encodes record batches as protobuf `sls.LogGroup` by hand. The SDK's own path (protobufjs
 * verify + create + encode per content) managed about 28,000 records/s; this writes bytes
 * straight into a reused scratch buffer and copies the result out once per batch. Flow records
 * take the fast path of sls-flow-log.ts; any other log (other keys or key order, non-ASCII or
 * long values) the general path below, which writes the same bytes for flow records.
 *
 * Lifecycle: `encode` is synchronous and returns a body the caller owns, so one encoder can
 * serve overlapping writes; a body from `encodeShared` belongs to the encoder until its next
 * encode, so a caller that holds it across an await needs an encoder of its own meanwhile.
 */
/**
 * The Log Service sink's batch measure: raw size as the service counts it (`x-log-bodyrawsize`
 * is the size of the uncompressed protobuf LogGroup), the record's encoded `Log` with tags and
 * lengths. Keys and values alone undercount short flow-record fields by about 40%, enough to
 * overrun 3 MiB.
 */
export const slsLogMeasure: BatchMeasure = { recordBytes: encodedLogBytes };

export class LogGroupEncoder {
  private buf: Buffer = Buffer.allocUnsafe(1 << 20);
  /** On `buf`'s bytes, for the fast path's 32-bit writes; remade whenever `buf` is. */
  private view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  private pos = 0;

  /** Encodes `batch`; the body is the caller's (a copy of the scratch buffer). */
  encode(batch: RecordBatch, meta: LogGroupMeta, nowSec: number): EncodedLogGroup {
    const out = this.encodeShared(batch, meta, nowSec);
    return { ...out, body: Buffer.from(out.body) };
  }

  /**
   * Encodes `batch` with the body as a view on this encoder's scratch buffer, valid until its
   * next encode: saves the copy, and the fresh allocation of up to 3 MB behind it, which cost
   * as much as encoding a third of the batch (page faults on every new buffer).
   */
  encodeShared(batch: RecordBatch, meta: LogGroupMeta, nowSec: number): EncodedLogGroup {
    const { minSec, maxSec } = acceptedLogTimeRange(nowSec);
    this.pos = 0;
    let clamped = 0;
    const records = batch.records;
    for (let i = 0; i < records.length; i++) {
      let t = recordLogTimeSec(records[i], batch.windowStartSec);
      if (t < minSec) {
        t = minSec;
        clamped++;
      } else if (t > maxSec) {
        t = maxSec;
        clamped++;
      }
      this.writeLog(records[i], t);
    }
    if (meta.topic !== '') this.writeStringField(0x1a, meta.topic);
    if (meta.source !== '') this.writeStringField(0x22, meta.source);
    for (const [key, value] of meta.tags) this.writePair(0x32, key, value);
    return { body: this.buf.subarray(0, this.pos), logCount: records.length, clampedLogTimes: clamped };
  }

  /**
   * Log (field 1 of LogGroup): Time = 1 (varint), Contents = 2 (repeated {Key = 1, Value = 2}).
   * Flow records take the fast path; the general path below takes any record, with locals
   * instead of fields and ASCII strings written inline.
   */
  private writeLog(record: FlowRecord, timeSec: number): void {
    this.ensure(FLOW_LOG_MAX_BYTES);
    const end = writeFlowLog(this.buf, this.view, this.pos, record, timeSec);
    if (end >= 0) {
      this.pos = end;
      return;
    }
    let buf = this.buf;
    let pos = this.pos;
    buf[pos++] = 0x0a;
    // Two bytes reserved for the length: a flow log is 128..16383 bytes; others are shifted.
    const logLenAt = pos;
    pos += 2;
    buf[pos++] = 0x08;
    pos = putVarint32(buf, pos, timeSec);
    for (const key in record) {
      const raw = record[key];
      const value = typeof raw === 'string' ? raw : String(raw);
      const kn = key.length;
      const vn = value.length;
      // Fast path: both ASCII and the pair under 128 bytes, so every length is one byte.
      if (kn + vn < 120) {
        if (pos + kn + vn + 8 > buf.length) {
          this.pos = pos;
          this.ensure(kn + vn + 8);
          buf = this.buf;
        }
        const pairAt = pos;
        buf[pos] = 0x12;
        buf[pos + 2] = 0x0a;
        buf[pos + 3] = kn;
        let p = pos + 4;
        let ascii = true;
        for (let i = 0; i < kn; i++) {
          const c = key.charCodeAt(i);
          if (c >= 0x80) {
            ascii = false;
            break;
          }
          buf[p++] = c;
        }
        if (ascii) {
          buf[p++] = 0x12;
          buf[p++] = vn;
          for (let i = 0; i < vn; i++) {
            const c = value.charCodeAt(i);
            if (c >= 0x80) {
              ascii = false;
              break;
            }
            buf[p++] = c;
          }
        }
        if (ascii) {
          buf[pairAt + 1] = p - pairAt - 2;
          pos = p;
          continue;
        }
      }
      this.pos = pos;
      this.writePair(0x12, key, value);
      buf = this.buf;
      pos = this.pos;
    }
    this.pos = pos;
    this.patchLength(logLenAt, 2);
  }

  /** A {Key = 1, Value = 2} message as field `tag`; one byte reserved for its length. */
  private writePair(tag: number, key: string, value: string): void {
    this.ensure(4);
    this.buf[this.pos++] = tag;
    const lenAt = this.pos;
    this.pos += 1;
    this.writeStringField(0x0a, key);
    this.writeStringField(0x12, value);
    this.patchLength(lenAt, 1);
  }

  private writeStringField(tag: number, s: string): void {
    const n = s.length;
    this.ensure(n * 3 + 8);
    const buf = this.buf;
    buf[this.pos++] = tag;
    if (n < 128) {
      // ASCII fast path: one length byte, one byte per char; falls through on the first non-ASCII.
      const start = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[start + i] = c;
      }
      if (i === n) {
        buf[this.pos] = n;
        this.pos = start + n;
        return;
      }
    }
    const byteLength = Buffer.byteLength(s, 'utf8');
    this.writeVarint(byteLength);
    this.pos += buf.write(s, this.pos, byteLength, 'utf8');
  }

  /** Writes the length of the bytes after `lenAt + reserved` as a varint, moving them if its size differs. */
  private patchLength(lenAt: number, reserved: number): void {
    const bodyStart = lenAt + reserved;
    const len = this.pos - bodyStart;
    const need = varintSize(len);
    if (need !== reserved) {
      this.ensure(need - reserved);
      this.buf.copyWithin(lenAt + need, bodyStart, this.pos);
      this.pos += need - reserved;
    }
    let v = len;
    let p = lenAt;
    while (v >= 0x80) {
      this.buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[p] = v;
  }

  private writeVarint(value: number): void {
    this.pos = putVarint32(this.buf, this.pos, value);
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
    this.view = new DataView(grown.buffer, grown.byteOffset, grown.length);
  }
}

function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  return 5;
}
