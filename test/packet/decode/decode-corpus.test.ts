import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Decoder } from '../../../src/packet/decode/decoder';
import { DecodeStatus, DECODE_STATUS_NAMES, PacketView } from '../../../src/packet/decode/packet-view';
import { LinkType } from '../../../src/capture/link-types';
import { CORPUS_DIR, corpusFiles, readCapture } from '../../fixtures/decode/corpus-reader';
import { skipWithoutCorpus } from '../../helpers/corpus';

/** Why a decoded view is impossible, or '' when it is plausible. */
function implausible(status: number, view: PacketView): string {
  if (!Number.isInteger(status) || status < 0 || status >= DECODE_STATUS_NAMES.length) return `status ${status}`;
  if (status !== DecodeStatus.Ok) return '';
  if (view.family !== 4 && view.family !== 6) return `family ${view.family}`;
  if (view.l3Bytes < (view.family === 4 ? 20 : 40) || !Number.isInteger(view.l3Bytes)) return `l3Bytes ${view.l3Bytes}`;
  for (const v of [view.protocol, view.tcpFlags]) if (!Number.isInteger(v) || v < 0 || v > 255) return `byte ${v}`;
  for (const v of [view.srcPort, view.dstPort]) if (!Number.isInteger(v) || v < 0 || v > 65535) return `port ${v}`;
  if (view.family === 4 && (view.src[1] | view.src[2] | view.src[3] | view.dst[1] | view.dst[2] | view.dst[3]) !== 0) {
    return 'IPv4 with words 1..3 set';
  }
  return '';
}

describe('Decoder over the tcpdump regression corpus', () => {
  it('never throws and returns a valid status for every packet of every capture', (ctx) => {
    skipWithoutCorpus(ctx);
    const files = corpusFiles();
    expect(files.length).toBeGreaterThanOrEqual(830);
    const decoder = new Decoder({ fragmentCacheSize: 1024 });
    const view = new PacketView();
    const failures: string[] = [];
    // status counts per link type, e.g. okByLink.get(1) = number of Ethernet packets decoded Ok
    const okByLink = new Map<number, number>();
    const statusCounts = new Array<number>(DECODE_STATUS_NAMES.length).fill(0);
    let packets = 0;
    let refused = 0;
    for (const file of files) {
      const linkType = readCapture(path.join(CORPUS_DIR, file), (link, frame) => {
        packets++;
        view.tsSec = frame.tsSec;
        view.tsUsec = frame.tsUsec;
        view.capLen = frame.capLen;
        view.wireLen = frame.wireLen;
        let status: number;
        try {
          status = decoder.decode(link, frame.buffer, view);
        } catch (err) {
          if (failures.length < 20) failures.push(`${file}#${packets}: threw ${String(err)}`);
          return;
        }
        const why = implausible(status, view);
        if (why !== '') {
          if (failures.length < 20) failures.push(`${file}#${packets}: ${why}`);
          return;
        }
        statusCounts[status]++;
        if (status === DecodeStatus.Ok) okByLink.set(link, (okByLink.get(link) ?? 0) + 1);
      });
      if (linkType === null) refused++;
    }
    expect(failures).toEqual([]);
    expect(statusCounts.reduce((a, b) => a + b, 0)).toBe(packets);
    // Sanity of the run itself: the corpus has thousands of packets, few files libpcap refuses,
    // and IP packets under each link type the decoder reads (LINKTYPE_RAW arrives as 101).
    expect(packets).toBeGreaterThan(5000);
    expect(refused).toBeLessThan(files.length / 10);
    for (const link of [
      LinkType.Ethernet,
      LinkType.LinuxSll,
      LinkType.Null,
      LinkType.Raw,
      LinkType.Ipv4,
      LinkType.Ipv6,
      LinkType.Nflog,
    ]) {
      expect.soft(okByLink.get(link) ?? 0, `Ok packets under link type ${link}`).toBeGreaterThan(0);
    }
    expect(statusCounts[DecodeStatus.UnsupportedLink]).toBeGreaterThan(0); // radiotap, PPP, ...
  });
});
