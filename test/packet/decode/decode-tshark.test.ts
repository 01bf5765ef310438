import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Decoder } from '../../../src/packet/decode/decoder';
import { DecodeStatus, DECODE_STATUS_NAMES, PacketView } from '../../../src/packet/decode/packet-view';
import { addressText } from '../../fixtures/decode/annotated-hex';
import { CORPUS_DIR, readCapture } from '../../fixtures/decode/corpus-reader';
import { skipWithoutCorpus } from '../../helpers/corpus';

/**
 * Corpus packets where tshark shows an IP header but the decoder rightly refuses it: a wrong
 * version nibble, or a fixed IP header not captured whole. (Packets whose IPv4 options or IPv6
 * extension headers are cut still count, with the protocol where reading stopped, as tshark
 * lists them.) Key: "file#frame".
 */
const EXPECTED_REFUSALS: Record<string, string> = {
  'LINKTYPE_IPV4_invalid.pcap#1': 'bad_version', // LINKTYPE_IPV4 carrying an IPv6 packet
  'gre-heapoverflow-1.pcap#2': 'bad_version', // ethertype IPv4, version nibble 0
  'ipv6_39_byte_header.pcap#1': 'truncated',
  'ipv6_invalid_length.pcap#1': 'truncated', // IPv6 header cut inside the source address
};

interface TsharkRow {
  frame: number;
  family: number;
  src: string;
  dst: string;
  l3Bytes: string;
  protocol: string;
  srcPort: string;
  dstPort: string;
}

function loadExpectations(): Map<string, Map<number, TsharkRow>> {
  const text = readFileSync(path.join(__dirname, '..', '..', 'fixtures/decode/tshark-expected.tsv'), 'utf8');
  const byFile = new Map<string, Map<number, TsharkRow>>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const [file, frame, family, src, dst, l3Bytes, protocol, srcPort, dstPort] = line.split('\t');
    if (!byFile.has(file)) byFile.set(file, new Map());
    byFile.get(file)!.set(Number(frame), {
      frame: Number(frame),
      family: Number(family),
      src,
      dst,
      l3Bytes,
      protocol,
      srcPort,
      dstPort,
    });
  }
  return byFile;
}

/** The decoder's view in the fixture's terms, with '-' where tshark does not tell. */
function decoded(view: PacketView, row: TsharkRow): TsharkRow {
  const pick = (expected: string, actual: number): string => (expected === '-' ? '-' : String(actual));
  return {
    frame: row.frame,
    family: view.family,
    src: addressText(view.family, view.src),
    dst: addressText(view.family, view.dst),
    l3Bytes: pick(row.l3Bytes, view.l3Bytes),
    protocol: pick(row.protocol, view.protocol),
    srcPort: pick(row.srcPort, view.srcPort),
    dstPort: pick(row.dstPort, view.dstPort),
  };
}

describe('Decoder agrees with tshark on corpus captures', () => {
  const expectations = loadExpectations();

  it('covers a meaningful sample', () => {
    expect(expectations.size).toBeGreaterThan(100);
    expect([...expectations.values()].reduce((n, m) => n + m.size, 0)).toBeGreaterThan(1000);
  });

  it('decodes every packet tshark reads as IP to the same addresses, lengths, protocol and ports', (ctx) => {
    skipWithoutCorpus(ctx);
    const mismatches: string[] = [];
    const refusals: Record<string, string> = {};
    for (const [file, rows] of expectations) {
      // A decoder per capture: fragments are joined only within one capture, as in replay.
      const decoder = new Decoder({ fragmentCacheSize: 256 });
      const view = new PacketView();
      let frameNumber = 0;
      readCapture(path.join(CORPUS_DIR, file), (link, frame) => {
        frameNumber++;
        const row = rows.get(frameNumber);
        if (!row) return;
        view.tsSec = frame.tsSec;
        view.capLen = frame.capLen;
        view.wireLen = frame.wireLen;
        const status = decoder.decode(link, frame.buffer, view);
        if (status !== DecodeStatus.Ok) {
          refusals[`${file}#${frameNumber}`] = DECODE_STATUS_NAMES[status];
          return;
        }
        const got = decoded(view, row);
        if (JSON.stringify(got) !== JSON.stringify(row)) {
          mismatches.push(`${file}#${frameNumber}: tshark ${JSON.stringify(row)} decoder ${JSON.stringify(got)}`);
        }
      });
    }
    expect(mismatches).toEqual([]);
    expect(refusals).toEqual(EXPECTED_REFUSALS);
  });
});
