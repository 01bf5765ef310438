import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../src/sink/crc32';
import { decodeHeader, decodePayload, encodeSegment } from '../src/sink/segment-codec';
import { sizedBatch } from './helpers/records';
import { tempDirForFile } from './helpers/temp-dir';

const dir = tempDirForFile('spool-segment');

/** CRC-32 of each file by Python's zlib, an implementation independent of ours. */
function zlibCrc32(files: string[]): number[] {
  const out = execFileSync('python3', [
    '-c',
    'import sys, zlib\nfor f in sys.argv[1:]: print(zlib.crc32(open(f, "rb").read()))',
    ...files,
  ]);
  return out.toString().trim().split('\n').map(Number);
}

describe('crc32', () => {
  it('matches the standard check value and the empty input', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(Buffer.alloc(0))).toBe(0);
  });

  it('agrees with zlib on random inputs', () => {
    const inputs = [1, 7, 255, 256, 4096, 100_003].map((n) => randomBytes(n));
    const files = inputs.map((buf, i) => {
      const file = join(dir, `crc-${i}.bin`);
      writeFileSync(file, buf);
      return file;
    });
    expect(inputs.map((buf) => crc32(buf))).toEqual(zlibCrc32(files));
  });

  it('agrees with zlib on unaligned ranges of every length up to 40', () => {
    const buf = randomBytes(64);
    const cases = Array.from({ length: 41 }, (_, n) => [3, 3 + n] as const);
    const files = cases.map(([from, to], i) => {
      const file = join(dir, `crc-range-${i}.bin`);
      writeFileSync(file, buf.subarray(from, to));
      return file;
    });
    expect(cases.map(([from, to]) => crc32(buf, from, to))).toEqual(zlibCrc32(files));
  });

  it('continues a running checksum over pieces', () => {
    const buf = randomBytes(1000);
    expect(crc32(buf, 400, 1000, crc32(buf, 0, 400))).toBe(crc32(buf));
  });
});

describe('segment codec', () => {
  const batch = sizedBatch(1, 3, 1_700_000_040);
  batch.records[0].n = 'é∑'; // multi-byte UTF-8 survives the round trip
  const bytes = encodeSegment(batch, 300, 1_700_000_123_456);

  it('lays the header out as documented', () => {
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('FLSG');
    expect(bytes.readUInt16BE(4)).toBe(1);
    expect(bytes.readUInt16BE(6)).toBe(64);
    expect(bytes.readUInt32BE(8)).toBe(3);
    expect(bytes.readUInt32BE(12)).toBe(300);
    expect(bytes.readUInt32BE(16)).toBe(bytes.length - 64);
    expect(bytes.readDoubleBE(24)).toBe(1_700_000_123_456);
    expect(bytes.readDoubleBE(32)).toBe(1_700_000_040);
    expect(bytes.readDoubleBE(40)).toBe(1_700_000_100);
    expect(bytes.subarray(48, 60).every((b) => b === 0)).toBe(true);
    const headerFile = join(dir, 'header.bin');
    const payloadFile = join(dir, 'payload.bin');
    writeFileSync(headerFile, bytes.subarray(0, 60));
    writeFileSync(payloadFile, bytes.subarray(64));
    expect([bytes.readUInt32BE(60), bytes.readUInt32BE(20)]).toEqual(zlibCrc32([headerFile, payloadFile]));
    expect(JSON.parse(bytes.subarray(64).toString('utf8'))).toEqual(batch);
  });

  it('round-trips', () => {
    const header = decodeHeader(bytes.subarray(0, 64));
    expect(header.ok).toBe(true);
    if (!header.ok) return;
    expect(header.value).toMatchObject({ recordCount: 3, rawBytes: 300, windowStartSec: 1_700_000_040 });
    expect(decodePayload(header.value, bytes.subarray(64))).toEqual({ ok: true, value: batch });
  });

  it.each([
    ['payload byte flipped', 64 + 10, 'payload checksum mismatch'],
    ['record count changed', 8, 'header checksum mismatch'],
    ['magic damaged', 0, 'bad magic'],
  ])('rejects a segment with its %s', (_name, offset, reason) => {
    const damaged = Buffer.from(bytes);
    damaged[offset] ^= 0x01;
    const header = decodeHeader(damaged.subarray(0, 64));
    const result = header.ok ? decodePayload(header.value, damaged.subarray(64)) : header;
    expect(result).toEqual({ ok: false, reason });
  });

  it('rejects truncated headers and payloads', () => {
    expect(decodeHeader(bytes.subarray(0, 40))).toEqual({ ok: false, reason: 'header truncated at 40 bytes' });
    const header = decodeHeader(bytes.subarray(0, 64));
    if (!header.ok) throw new Error('header');
    const short = decodePayload(header.value, bytes.subarray(64, bytes.length - 5));
    expect(short.ok).toBe(false);
  });
});
