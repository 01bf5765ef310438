import { createHash } from 'node:crypto';
import { closeSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CaptureFileReader, type CaptureFileReaderOptions } from '../src/capture/capture-file-reader';
import { ReadAhead } from '../src/capture/read-ahead';
import { PacketView } from '../src/decode/packet-view';
import { openCaptureWriter, type CaptureFormat } from '../src/synth/pcap-writer';
import { prng } from './helpers/views';
import { tempDirForFile } from './helpers/temp-dir';

const dir = tempDirForFile('read-ahead');

/**
 * A capture of `packets` frames of random lengths (some past the 256 KiB chunk, so records span
 * chunks and slots), each frame's bytes derived from its index.
 */
function writeCapture(format: CaptureFormat, packets: number): string {
  const path = join(dir, `mixed-${packets}.${format}`);
  const w = openCaptureWriter(path, { format, tsResolution: 'ns' });
  const rnd = prng(packets);
  const frame = Buffer.alloc(400_000);
  for (let i = 0; i < packets; i++) {
    const len = i % 97 === 0 ? 300_000 : 14 + Math.floor(rnd() * 1500);
    for (let b = 0; b < 64; b++) frame[b] = (i * 31 + b) & 0xff;
    w.writePacket(1_700_000_000 + (i >> 10), (i * 7919) % 1e9, frame, len, len + (i % 3));
  }
  w.close();
  return path;
}

/** Every packet the reader hands over, as one digest of (time, lengths, first bytes), and the count. */
function readAll(path: string, options?: CaptureFileReaderOptions): { digest: string; packets: number; error?: string } {
  const view = new PacketView();
  const reader = new CaptureFileReader(view, options);
  const h = createHash('sha256');
  const result = reader.read(path, () => {
    const head = reader.frame.subarray(view.frameOffset, view.frameOffset + Math.min(view.capLen, 64));
    h.update(`${view.tsSec}.${view.tsUsec}/${view.capLen}/${view.wireLen}:`).update(head);
  });
  return { digest: h.digest('hex'), packets: result.packets, error: result.error };
}

describe('CaptureFileReader read-ahead on a worker thread', () => {
  it.each(['pcap', 'pcapng'] as const)('hands over the same packets as direct reads (%s)', (format) => {
    const path = writeCapture(format, 3000); // about 11 MB
    const direct = readAll(path, { readAheadMinBytes: Number.MAX_SAFE_INTEGER });
    expect(direct.packets).toBe(3000);
    expect(direct.error).toBeUndefined();
    for (const startBytes of [0, 100_000, 5_000_000, 50_000_000]) {
      expect(readAll(path, { readAheadMinBytes: 0, readAheadStartBytes: startBytes })).toEqual(direct);
    }
  });

  it('reads on by itself when the worker fails', () => {
    const ahead = new ReadAhead(1_000_000, 0); // no such descriptor: the worker's first read fails
    const into = new Uint8Array(16);
    expect(ahead.take(into, 0, 16)).toBe(-1);
    expect(ahead.position).toBe(0);
    ahead.close();
  });

  it('gives 0 at the end of the file and keeps saying so', () => {
    const path = writeCapture('pcap', 10);
    const fd = openSync(path, 'r');
    try {
      const ahead = new ReadAhead(fd, 0, 2, 4096);
      const into = new Uint8Array(1 << 20);
      let total = 0;
      for (let n = ahead.take(into, total, into.length - total); n > 0; n = ahead.take(into, total, into.length - total)) total += n;
      expect(total).toBe(ahead.position);
      expect(total).toBe(statSync(path).size); // 65 turns of the two 4 KiB slots
      expect(ahead.take(into, 0, 16)).toBe(0);
      ahead.close();
    } finally {
      closeSync(fd);
    }
  });
});
