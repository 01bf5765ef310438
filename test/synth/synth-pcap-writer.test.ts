import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CaptureWriteError,
  openCaptureWriter,
  type CaptureFormat,
  type TimestampResolution,
} from '../../src/synth/pcap-writer';
import { tempDirForFile } from '../helpers/temp-dir';
import { captureFileType, tsharkFields } from '../helpers/tshark-fields';

const dir = tempDirForFile('synth-writer');

/** A minimal IPv4/UDP packet (no checksums needed for these tests), `total` bytes of IP. */
function rawIpv4(total: number): Buffer {
  const b = Buffer.alloc(total);
  b[0] = 0x45;
  b.writeUInt16BE(total, 2);
  b[8] = 64;
  b[9] = 17;
  b.set([10, 0, 0, 5], 12);
  b.set([10, 0, 0, 6], 16);
  b.writeUInt16BE(1000, 20);
  b.writeUInt16BE(2000, 22);
  b.writeUInt16BE(total - 20, 24);
  return b;
}

function ethernetFrame(ipTotal: number): Buffer {
  const eth = Buffer.alloc(14);
  eth.set([0, 0x16, 0x3e, 0, 0, 5], 0);
  eth.set([0xee, 0xff, 0xff, 0xff, 0xff, 0xff], 6);
  eth.writeUInt16BE(0x0800, 12);
  return Buffer.concat([eth, rawIpv4(ipTotal)]);
}

describe('capture writer timestamps and formats', () => {
  const cases: Array<{ format: CaptureFormat; res: TimestampResolution; type: string; frac: string[] }> = [
    // A microsecond file keeps the first six digits of the nanoseconds (truncated, not rounded).
    { format: 'pcap', res: 'us', type: 'pcap', frac: ['000000000', '123456000', '999999000'] },
    { format: 'pcap', res: 'ns', type: 'nsecpcap', frac: ['000000000', '123456789', '999999999'] },
    { format: 'pcapng', res: 'us', type: 'pcapng', frac: ['000000000', '123456000', '999999000'] },
    { format: 'pcapng', res: 'ns', type: 'pcapng', frac: ['000000000', '123456789', '999999999'] },
  ];
  const stamps: Array<[number, number]> = [
    [1_700_000_000, 0],
    [1_700_000_000, 123_456_789],
    // The largest 32-bit second: the pcapng 64-bit split must carry into the high word correctly.
    [4_294_967_295, 999_999_999],
  ];
  it.each(cases)(
    '$format/$res: tshark reads every timestamp, length and the file type',
    ({ format, res, type, frac }) => {
      const path = join(dir, `ts-${format}-${res}.cap`);
      const w = openCaptureWriter(path, { format, tsResolution: res });
      const frame = ethernetFrame(60);
      for (const [s, ns] of stamps) w.writePacket(s, ns, frame, frame.length, frame.length);
      w.close();
      expect(w.packetsWritten).toBe(3);
      expect(captureFileType(path)).toEqual({ type, encapsulation: 'ether' });
      const rows = tsharkFields(path, ['frame.time_epoch', 'frame.len', 'ip.len', 'udp.srcport']);
      expect(rows.map((r) => r['frame.time_epoch'])).toEqual(stamps.map(([s], i) => `${s}.${frac[i]}`));
      expect(rows.map((r) => [r['frame.len'], r['ip.len'], r['udp.srcport']])).toEqual(
        stamps.map(() => ['74', '60', '1000']),
      );
    },
  );
});

describe('capture writer lengths', () => {
  it('classic pcap: cuts to the snap length, keeps the wire length, and sizes the file by arithmetic', () => {
    const path = join(dir, 'snap.pcap');
    const w = openCaptureWriter(path, { snapLen: 100, bufferBytes: 1 }); // tiny buffer: one flush per record
    const sizes = [60, 100, 101, 1500];
    for (const ipLen of sizes) {
      const f = ethernetFrame(ipLen);
      w.writePacket(1_700_000_000, 0, f, f.length, f.length);
    }
    w.close();
    const rows = tsharkFields(path, ['frame.len', 'frame.cap_len']);
    expect(rows).toEqual(
      sizes.map((s) => ({ 'frame.len': String(s + 14), 'frame.cap_len': String(Math.min(100, s + 14)) })),
    );
    // 24-byte file header, then per record 16 bytes of header and the captured bytes.
    const expected = 24 + sizes.reduce((sum, s) => sum + 16 + Math.min(100, s + 14), 0);
    expect(statSync(path).size).toBe(expected);
  });

  it('pcapng: pads packet data to 32 bits, records the interface name, and sizes the file by arithmetic', () => {
    const path = join(dir, 'pad.pcapng');
    const w = openCaptureWriter(path, { format: 'pcapng', interfaceName: 'eth0' });
    const ipLens = [28, 29, 30, 31]; // frames of 42..45 bytes: every padding remainder
    for (const ipLen of ipLens) {
      const f = ethernetFrame(ipLen);
      w.writePacket(1_700_000_000, 0, f, f.length, f.length);
    }
    w.close();
    const rows = tsharkFields(path, ['frame.len', 'frame.interface_name']);
    expect(rows).toEqual(ipLens.map((s) => ({ 'frame.len': String(s + 14), 'frame.interface_name': 'eth0' })));
    // SHB 28; IDB 16 + if_name (4 + 4 for "eth0") + if_tsresol 8 + end 4 + trailer 4 = 40;
    // each EPB 32 + data padded to 4.
    const expected = 28 + 40 + ipLens.reduce((sum, s) => sum + 32 + Math.ceil((s + 14) / 4) * 4, 0);
    expect(statSync(path).size).toBe(expected);
  });

  it('writes the link type it is given (raw IP)', () => {
    const path = join(dir, 'raw.pcap');
    const w = openCaptureWriter(path, { linkType: 101 });
    const p = rawIpv4(48);
    w.writePacket(1_700_000_000, 0, p, p.length, p.length);
    w.close();
    expect(captureFileType(path).encapsulation).toBe('rawip');
    expect(tsharkFields(path, ['ip.len', 'udp.dstport'])).toEqual([{ 'ip.len': '48', 'udp.dstport': '2000' }]);
  });

  it('fails with a typed error naming the file', () => {
    // Missing parent directories are created; a parent that is a regular file cannot be.
    writeFileSync(join(dir, 'a-file'), '');
    const path = join(dir, 'a-file', 'x.pcap');
    expect(() => openCaptureWriter(path)).toThrow(CaptureWriteError);
    expect(() => openCaptureWriter(path)).toThrow(`write capture ${path}: EEXIST`);
    const nested = openCaptureWriter(join(dir, 'new-dir', 'deeper', 'x.pcap'));
    nested.close();
    const w = openCaptureWriter(join(dir, 'closed.pcap'));
    w.close();
    expect(() => w.writePacket(0, 0, Buffer.alloc(1), 1, 1)).toThrow(CaptureWriteError);
    expect(() => openCaptureWriter(join(dir, 'bad.pcap'), { snapLen: 0 })).toThrow(RangeError);
  });
});
