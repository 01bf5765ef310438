import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../../../src/output/spool/crc32';
import {
  decodeCoverage,
  decodeHeader,
  decodePayload,
  decodeSegment,
  encodeSegment,
} from '../../../src/output/spool/segment-codec';
import { coverageOf, foldLossRecords, lossRecord, lossRecords } from '../../../src/output/spool/segment-coverage';
import { sizedBatch } from '../../helpers/records';
import { tempDirForFile } from '../../helpers/temp-dir';

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
  const coverageBytes = bytes.readUInt32BE(48);
  const payloadAt = 64 + coverageBytes;

  it('lays the header out as documented', () => {
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('FLSG');
    expect(bytes.readUInt16BE(4)).toBe(2);
    expect(bytes.readUInt16BE(6)).toBe(64);
    expect(bytes.readUInt32BE(8)).toBe(3);
    expect(bytes.readUInt32BE(12)).toBe(300);
    expect(bytes.readUInt32BE(16)).toBe(bytes.length - payloadAt);
    expect(bytes.readDoubleBE(24)).toBe(1_700_000_123_456);
    expect(bytes.readDoubleBE(32)).toBe(1_700_000_040);
    expect(bytes.readDoubleBE(40)).toBe(1_700_000_100);
    expect(bytes.readUInt16BE(56)).toBe(0); // not a loss mark
    expect(bytes.subarray(58, 60).every((b) => b === 0)).toBe(true);
    const headerFile = join(dir, 'header.bin');
    const coverageFile = join(dir, 'coverage.bin');
    const payloadFile = join(dir, 'payload.bin');
    writeFileSync(headerFile, bytes.subarray(0, 60));
    writeFileSync(coverageFile, bytes.subarray(64, payloadAt));
    writeFileSync(payloadFile, bytes.subarray(payloadAt));
    expect([bytes.readUInt32BE(60), bytes.readUInt32BE(52), bytes.readUInt32BE(20)]).toEqual(
      zlibCrc32([headerFile, coverageFile, payloadFile]),
    );
    expect(JSON.parse(bytes.subarray(payloadAt).toString('utf8'))).toEqual(batch);
    // Records without eni-id (these test records) are one group '-', with unknown counts.
    expect(JSON.parse(bytes.subarray(64, payloadAt).toString('utf8'))).toEqual({
      flowLogId: 'fl-test',
      enis: [{ template: { n: '-', p: '-' }, records: 3, packets: null, bytes: null }],
    });
  });

  it('round-trips', () => {
    const header = decodeHeader(bytes.subarray(0, 64));
    expect(header.ok).toBe(true);
    if (!header.ok) return;
    expect(header.value).toMatchObject({
      version: 2,
      recordCount: 3,
      rawBytes: 300,
      windowStartSec: 1_700_000_040,
      coverageBytes,
      flags: 0,
    });
    expect(decodePayload(header.value, bytes.subarray(payloadAt))).toEqual({ ok: true, value: batch });
    expect(decodeCoverage(header.value, bytes.subarray(64, payloadAt))).toMatchObject({
      ok: true,
      value: { flowLogId: 'fl-test' },
    });
    expect(decodeSegment(bytes)).toEqual({ ok: true, value: batch });
  });

  it('reads version 1 segments (no coverage) as written before it', () => {
    const v1 = Buffer.concat([Buffer.alloc(64), bytes.subarray(payloadAt)]);
    bytes.copy(v1, 0, 0, 48);
    v1.writeUInt16BE(1, 4);
    v1.writeUInt32BE(crc32(v1, 0, 60), 60);
    const header = decodeHeader(v1.subarray(0, 64));
    expect(header).toMatchObject({ ok: true, value: { version: 1, coverageBytes: 0, flags: 0 } });
    expect(decodeSegment(v1)).toEqual({ ok: true, value: batch });
  });

  it.each([
    ['payload byte flipped', -10, 'payload checksum mismatch'],
    ['record count changed', 8, 'header checksum mismatch'],
    ['magic damaged', 0, 'bad magic'],
  ])('rejects a segment with its %s', (_name, offset, reason) => {
    const damaged = Buffer.from(bytes);
    damaged[offset < 0 ? damaged.length + offset : offset] ^= 0x01;
    expect(decodeSegment(damaged)).toEqual({ ok: false, reason });
  });

  it('keeps the coverage readable when the payload is damaged, and checks the coverage on its own', () => {
    const damaged = Buffer.from(bytes);
    damaged[damaged.length - 10] ^= 0x01;
    const header = decodeHeader(damaged.subarray(0, 64));
    if (!header.ok) throw new Error('header');
    expect(decodeCoverage(header.value, damaged.subarray(64, payloadAt)).ok).toBe(true);
    damaged[70] ^= 0x01;
    expect(decodeCoverage(header.value, damaged.subarray(64, payloadAt))).toEqual({
      ok: false,
      reason: 'coverage checksum mismatch',
    });
  });

  it('rejects truncated headers and payloads', () => {
    expect(decodeHeader(bytes.subarray(0, 40))).toEqual({ ok: false, reason: 'header truncated at 40 bytes' });
    const header = decodeHeader(bytes.subarray(0, 64));
    if (!header.ok) throw new Error('header');
    const short = decodePayload(header.value, bytes.subarray(payloadAt, bytes.length - 5));
    expect(short.ok).toBe(false);
  });
});

describe('segment coverage', () => {
  const rec = (eni: string, status: string, packets: string, bytes: string): Record<string, string> => ({
    version: '1',
    'vswitch-id': 'vsw-1',
    'vm-id': 'i-1',
    'vpc-id': 'vpc-1',
    'account-id': '123',
    'eni-id': eni,
    srcaddr: '10.0.0.1',
    srcport: '1',
    dstaddr: '10.0.0.2',
    dstport: '2',
    protocol: '6',
    direction: 'in',
    packets,
    bytes,
    start: '100',
    end: '101',
    'log-status': status,
    action: 'ACCEPT',
    region: 'cn-hangzhou',
  });

  it('counts records, packets and bytes per ENI, NODATA as nothing and unknown SKIPDATA counts as unknown', () => {
    const c = coverageOf({
      flowLogId: 'fl',
      windowStartSec: 60,
      windowEndSec: 120,
      records: [
        rec('eni-a', 'OK', '3', '300'),
        rec('eni-b', 'NODATA', '-', '-'),
        rec('eni-a', 'OK', '2', '120'),
        rec('eni-c', 'SKIPDATA', '-', '-'),
      ],
    });
    expect(c.enis.map((e) => [e.template['eni-id'], e.records, e.packets, e.bytes])).toEqual([
      ['eni-a', 2, 5, 420],
      ['eni-b', 1, 0, 0],
      ['eni-c', 1, null, null],
    ]);
    // Identity kept, flow fields blanked, key order as the record's.
    expect(c.enis[0].template).toEqual({
      ...rec('eni-a', '-', '-', '-'),
      srcaddr: '-',
      srcport: '-',
      dstaddr: '-',
      dstport: '-',
      protocol: '-',
      direction: '-',
      start: '-',
      end: '-',
      action: '-',
    });
    expect(Object.keys(c.enis[0].template)).toEqual(Object.keys(rec('eni-a', 'OK', '1', '1')));
  });

  it('writes SKIPDATA rounded outward, for unknown ENIs from the fallback, and never nothing', () => {
    const t = coverageOf({
      flowLogId: 'fl',
      windowStartSec: 0,
      windowEndSec: 0,
      records: [rec('eni-a', 'OK', '3', '300')],
    }).enis[0].template;
    expect(lossRecord(t, 785.2, 785.055 + 5, 7, null)).toMatchObject({
      start: '785',
      end: '791',
      packets: '7',
      bytes: '-',
      'log-status': 'SKIPDATA',
      'eni-id': 'eni-a',
      region: 'cn-hangzhou',
    });
    expect(
      lossRecords([{ startSec: 60, endSec: 120, enis: null, records: null }], [t, { ...t, 'eni-id': 'eni-b' }]).map(
        (r) => r['eni-id'],
      ),
    ).toEqual(['eni-a', 'eni-b']);
    expect(lossRecords([{ startSec: 60, endSec: 120, enis: null, records: null }], [])).toEqual([
      expect.objectContaining({ 'eni-id': '-', 'log-status': 'SKIPDATA', start: '60', end: '120', packets: '-' }),
    ]);
  });

  it('folds marks into one record per ENI over their whole span', () => {
    const t = coverageOf({
      flowLogId: 'fl',
      windowStartSec: 0,
      windowEndSec: 0,
      records: [rec('eni-a', 'OK', '3', '300')],
    }).enis[0].template;
    const folded = foldLossRecords([
      lossRecord(t, 60, 120, 3, 300),
      lossRecord({ ...t, 'eni-id': 'eni-b' }, 60, 120, 1, 10),
      lossRecord(t, 180, 240, 2, 20),
      lossRecord(t, 120, 180, null, null),
    ]);
    expect(folded.map((r) => [r['eni-id'], r.start, r.end, r.packets, r.bytes])).toEqual([
      ['eni-a', '60', '240', '-', '-'],
      ['eni-b', '60', '120', '1', '10'],
    ]);
  });
});
