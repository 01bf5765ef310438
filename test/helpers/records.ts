import type { FlowLogConfig } from '../../src/config/types';
import type { FlowRecord, RecordBatch } from '../../src/flow/record';

/** Bytes of a protobuf varint holding `v`. */
function varintBytes(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/**
 * Size of a record as one protobuf `Log` inside a LogGroup (field 1, length-delimited), from the
 * Log Service's proto: Log { 1: Time (uint32, counted as a 5-byte varint), 2: Contents { 1: Key,
 * 2: Value } repeated }. Written out here from the proto, independently of the sink's encoder.
 */
export function protobufLogBytes(record: FlowRecord): number {
  let log = 1 + 5;
  for (const k of Object.keys(record)) {
    const kb = Buffer.byteLength(k);
    const vb = Buffer.byteLength(record[k]);
    const pair = 1 + varintBytes(kb) + kb + 1 + varintBytes(vb) + vb;
    log += 1 + varintBytes(pair) + pair;
  }
  return 1 + varintBytes(log) + log;
}

/**
 * A record of known raw size for batching arithmetic: key "n" with the record's number, plus key
 * "p" padded so that its protobuf Log encoding is `rawBytes` exactly.
 */
export function sizedRecord(n: number, rawBytes = 100): FlowRecord {
  const id = String(n);
  for (let padding = 0; padding <= rawBytes; padding++) {
    const r = { n: id, p: 'x'.repeat(padding) };
    const size = protobufLogBytes(r);
    if (size === rawBytes) return r;
    if (size > rawBytes) break;
  }
  throw new Error(`record ${n} cannot be exactly ${rawBytes} bytes`);
}

/** `count` sized records numbered from `firstN`, in one batch of window `windowStartSec`. */
export function sizedBatch(firstN: number, count: number, windowStartSec = 1_700_000_000, rawBytes = 100): RecordBatch {
  const records: FlowRecord[] = [];
  for (let i = 0; i < count; i++) records.push(sizedRecord(firstN + i, rawBytes));
  return { flowLogId: 'fl-test', windowStartSec, windowEndSec: windowStartSec + 60, records };
}

/** "1".."n" as strings, the expected `n` fields of records firstN..firstN+count-1. */
export function numbers(firstN: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => String(firstN + i));
}

/** A flow log config for record-builder tests: every ENI of vpc-1, all traffic, 60 s windows, `over` applied. */
export function flowLogConfig(id: string, over: Partial<FlowLogConfig> = {}): FlowLogConfig {
  return {
    id,
    resourceType: 'vpc',
    resourceId: 'vpc-1',
    trafficType: 'all',
    aggregationIntervalSec: 60,
    sink: { type: 'stdout' },
    extraFields: [],
    ...over,
  };
}

/**
 * A window's OK records as the record builder writes them: `flows` flows for each ENI, each of
 * `packets` packets of 100 bytes, window [windowStartSec, windowStartSec + windowSec).
 */
export function flowBatch(
  flowLogId: string,
  windowStartSec: number,
  enis: readonly string[],
  flows: number,
  packets = 1,
  windowSec = 60,
): RecordBatch {
  const records: FlowRecord[] = [];
  for (const eni of enis) {
    for (let f = 0; f < flows; f++) {
      records.push({
        version: '1',
        'vswitch-id': 'vsw-1',
        'vm-id': 'i-1',
        'vpc-id': 'vpc-1',
        'account-id': '1234567890123456',
        'eni-id': eni,
        srcaddr: '10.0.0.1',
        srcport: String(10000 + f),
        dstaddr: '10.0.0.2',
        dstport: '80',
        protocol: '6',
        direction: 'in',
        packets: String(packets),
        bytes: String(packets * 100),
        start: String(windowStartSec),
        end: String(windowStartSec + 1),
        'log-status': 'OK',
        action: 'ACCEPT',
      });
    }
  }
  return { flowLogId, windowStartSec, windowEndSec: windowStartSec + windowSec, records };
}
