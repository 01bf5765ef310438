import type { RecordBatch } from '../../flow/record';
import { crc32 } from './crc32';
import { coverageOf, isSegmentCoverage, type SegmentCoverage } from './segment-coverage';

/**
 * Byte layout of one spool segment file (all integers big-endian):
 *
 *   offset size  field
 *   0      4     magic "FLSG" (0x464C5347)
 *   4      2     format version (2; version 1 files, without coverage, are still read)
 *   6      2     header length in bytes (64), so a later version can grow the header
 *   8      4     record count
 *   12     4     raw size: sum over records of key + value UTF-8 byte lengths
 *   16     4     payload length in bytes
 *   20     4     CRC-32 of the payload
 *   24     8     created, Unix ms (float64)
 *   32     8     window start, Unix s (float64)
 *   40     8     window end, Unix s (float64)
 *   48     4     coverage length in bytes (v2; zero in v1)
 *   52     4     CRC-32 of the coverage (v2)
 *   56     2     flags (v2): bit 0 = loss mark (SKIPDATA written for a loss; never evicted)
 *   58     2     reserved, zero
 *   60     4     CRC-32 of bytes 0..59
 *   64     c     coverage: UTF-8 JSON {flowLogId, enis: [{template, records, packets, bytes}]}
 *                (segment-coverage.ts): which ENIs the records are of, how many, what they counted
 *   64+c   n     payload: UTF-8 JSON {flowLogId, windowStartSec, windowEndSec, records, packId?}
 *
 * The header carries its own checksum so a directory scan can trust counts and sizes from 64
 * bytes per file without reading payloads; the coverage has its own, so a segment whose payload
 * is damaged (or that the spool must evict) still says what it held; the payload checksum is
 * verified when the segment is read for delivery.
 */
export const SEGMENT_MAGIC = 0x464c5347;
export const SEGMENT_VERSION = 2;
export const SEGMENT_HEADER_BYTES = 64;
/** Flag bit: the segment holds SKIPDATA records written for a loss (see Spool: never evicted). */
export const FLAG_LOSS_MARK = 0x1;

export interface SegmentHeader {
  version: number;
  recordCount: number;
  rawBytes: number;
  payloadBytes: number;
  payloadCrc: number;
  createdMs: number;
  windowStartSec: number;
  windowEndSec: number;
  coverageBytes: number;
  coverageCrc: number;
  flags: number;
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Header, coverage and payload of `batch` in one buffer, ready to be written in a single call. */
export function encodeSegment(batch: RecordBatch, rawBytes: number, createdMs: number, flags = 0): Buffer {
  const json = JSON.stringify({
    flowLogId: batch.flowLogId,
    windowStartSec: batch.windowStartSec,
    windowEndSec: batch.windowEndSec,
    records: batch.records,
    packId: batch.packId,
  });
  const coverage = JSON.stringify(coverageOf(batch));
  // Coverage and JSON are written straight after the header: no zero-filled buffer, no second copy.
  const coverageBytes = Buffer.byteLength(coverage, 'utf8');
  const payloadBytes = Buffer.byteLength(json, 'utf8');
  const payloadAt = SEGMENT_HEADER_BYTES + coverageBytes;
  const out = Buffer.allocUnsafe(payloadAt + payloadBytes);
  out.fill(0, 0, SEGMENT_HEADER_BYTES);
  out.write(coverage, SEGMENT_HEADER_BYTES, 'utf8');
  out.write(json, payloadAt, 'utf8');
  out.writeUInt32BE(SEGMENT_MAGIC, 0);
  out.writeUInt16BE(SEGMENT_VERSION, 4);
  out.writeUInt16BE(SEGMENT_HEADER_BYTES, 6);
  out.writeUInt32BE(batch.records.length, 8);
  out.writeUInt32BE(Math.min(rawBytes, 0xffffffff), 12);
  out.writeUInt32BE(payloadBytes, 16);
  out.writeUInt32BE(crc32(out, payloadAt), 20);
  out.writeDoubleBE(createdMs, 24);
  out.writeDoubleBE(batch.windowStartSec, 32);
  out.writeDoubleBE(batch.windowEndSec, 40);
  out.writeUInt32BE(coverageBytes, 48);
  out.writeUInt32BE(crc32(out, SEGMENT_HEADER_BYTES, payloadAt), 52);
  out.writeUInt16BE(flags, 56);
  out.writeUInt32BE(crc32(out, 0, 60), 60);
  return out;
}

/** Validates and reads the first `SEGMENT_HEADER_BYTES` of a segment. */
export function decodeHeader(bytes: Buffer): Decoded<SegmentHeader> {
  if (bytes.length < SEGMENT_HEADER_BYTES) {
    return { ok: false, reason: `header truncated at ${bytes.length} bytes` };
  }
  if (bytes.readUInt32BE(0) !== SEGMENT_MAGIC) return { ok: false, reason: 'bad magic' };
  const version = bytes.readUInt16BE(4);
  if (version !== 1 && version !== SEGMENT_VERSION) return { ok: false, reason: `unknown version ${version}` };
  if (bytes.readUInt16BE(6) !== SEGMENT_HEADER_BYTES) {
    return { ok: false, reason: `unexpected header length ${bytes.readUInt16BE(6)}` };
  }
  if (bytes.readUInt32BE(60) !== crc32(bytes, 0, 60)) {
    return { ok: false, reason: 'header checksum mismatch' };
  }
  const v2 = version === SEGMENT_VERSION;
  return {
    ok: true,
    value: {
      version,
      recordCount: bytes.readUInt32BE(8),
      rawBytes: bytes.readUInt32BE(12),
      payloadBytes: bytes.readUInt32BE(16),
      payloadCrc: bytes.readUInt32BE(20),
      createdMs: bytes.readDoubleBE(24),
      windowStartSec: bytes.readDoubleBE(32),
      windowEndSec: bytes.readDoubleBE(40),
      coverageBytes: v2 ? bytes.readUInt32BE(48) : 0,
      coverageCrc: v2 ? bytes.readUInt32BE(52) : 0,
      flags: v2 ? bytes.readUInt16BE(56) : 0,
    },
  };
}

/** Size of the whole segment file its header describes. */
export function segmentBytes(header: SegmentHeader): number {
  return SEGMENT_HEADER_BYTES + header.coverageBytes + header.payloadBytes;
}

/** Verifies and parses the coverage (the `coverageBytes` after the header). Version 1 has none. */
export function decodeCoverage(header: SegmentHeader, coverage: Buffer): Decoded<SegmentCoverage> {
  if (header.version === 1) return { ok: false, reason: 'version 1 segment: no coverage' };
  if (coverage.length !== header.coverageBytes)
    return { ok: false, reason: `coverage is ${coverage.length} bytes, header says ${header.coverageBytes}` };
  if (crc32(coverage) !== header.coverageCrc) return { ok: false, reason: 'coverage checksum mismatch' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(coverage.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: `coverage is not JSON: ${(err as Error).message}` };
  }
  return isSegmentCoverage(parsed)
    ? { ok: true, value: parsed }
    : { ok: false, reason: 'coverage does not match its format' };
}

/** Verifies the payload against its header and parses it. `payload` excludes header and coverage. */
export function decodePayload(header: SegmentHeader, payload: Buffer): Decoded<RecordBatch> {
  if (payload.length !== header.payloadBytes) {
    return {
      ok: false,
      reason: `payload is ${payload.length} bytes, header says ${header.payloadBytes}`,
    };
  }
  if (crc32(payload) !== header.payloadCrc) return { ok: false, reason: 'payload checksum mismatch' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: `payload is not JSON: ${(err as Error).message}` };
  }
  const batch = parsed as RecordBatch;
  if (
    typeof batch !== 'object' ||
    batch === null ||
    typeof batch.flowLogId !== 'string' ||
    !Array.isArray(batch.records) ||
    (batch.packId !== undefined && typeof batch.packId !== 'string') ||
    batch.records.length !== header.recordCount
  ) {
    return { ok: false, reason: 'payload does not match its header' };
  }
  return { ok: true, value: batch };
}

/** Header, coverage and batch of a whole segment file's bytes. */
export function decodeSegment(bytes: Buffer): Decoded<RecordBatch> {
  const header = decodeHeader(bytes.subarray(0, SEGMENT_HEADER_BYTES));
  if (!header.ok) return header;
  return decodePayload(header.value, bytes.subarray(SEGMENT_HEADER_BYTES + header.value.coverageBytes));
}
