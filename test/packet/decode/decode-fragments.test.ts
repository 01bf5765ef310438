import { describe, expect, it } from 'vitest';
import { Decoder } from '../../../src/packet/decode/decoder';
import { DecodeStatus } from '../../../src/packet/decode/packet-view';
import { LinkType } from '../../../src/capture/link-types';
import { FrameFeeder } from '../../fixtures/decode/decode-case';

const hex8 = (n: number): string => n.toString(16).padStart(2, '0');
const hex16 = (n: number): string => `${hex8((n >> 8) & 0xff)} ${hex8(n & 0xff)}`;
const hex32 = (n: number): string => `${hex16((n >>> 16) & 0xffff)} ${hex16(n & 0xffff)}`;
const zeros = (count: number): string => Array(count).fill('00').join(' ');

interface V4Fragment {
  id: number;
  offsetBytes: number;
  more: boolean;
  protocol?: number;
  /** First fragment only: the transport header's ports. */
  ports?: [number, number];
  dataBytes?: number;
  src?: string;
}

/** An IPv4 fragment as annotated hex; a first fragment (offset 0) starts with an 8-byte UDP/TCP prefix. */
function v4Fragment(f: V4Fragment): string {
  const data = f.dataBytes ?? 8;
  const transport = f.offsetBytes === 0 ? 8 : 0;
  return `
    45 00 ${hex16(20 + transport + data)}   # total length
    ${hex16(f.id)} ${hex16((f.more ? 0x2000 : 0) | (f.offsetBytes / 8))}   # id; MF | offset / 8
    40 ${hex8(f.protocol ?? 17)} 00 00      # TTL; protocol
    ${f.src ?? '0a 00 00 01'} 0a 00 00 02   # source, destination 10.0.0.2
    ${f.offsetBytes === 0 ? `${hex16(f.ports![0])} ${hex16(f.ports![1])} 05 c8 00 12 # ports; length/seq bytes` : ''}
    ${zeros(data)}`;
}

interface V6Fragment {
  id: number;
  offsetBytes: number;
  more: boolean;
  /** The fragment header's next header (17 UDP, 60 destination options, ...). */
  next: number;
  ports?: [number, number];
  dataBytes?: number;
}

/** An IPv6 fragment; a first fragment carries a destination-options header when `next` is 60, then UDP. */
function v6Fragment(f: V6Fragment): string {
  const data = f.dataBytes ?? 8;
  const first = f.offsetBytes === 0;
  const destOpts = first && f.next === 60 ? '11 00 01 04 00 00 00 00 # destination options: next 17, PadN\n' : '';
  const transport = first ? `${hex16(f.ports![0])} ${hex16(f.ports![1])} 05 c8 00 00 # UDP ports, length\n` : '';
  const payloadLen = 8 + (destOpts ? 8 : 0) + (first ? 8 : 0) + data;
  return `
    60 00 00 00 ${hex16(payloadLen)} 2c 40   # payload length; next header 44 (fragment)
    20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01   # source 2001:db8::1
    20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02   # destination 2001:db8::2
    ${hex8(f.next)} 00 ${hex16(f.offsetBytes | (f.more ? 1 : 0))} ${hex32(f.id)}  # fragment header
    ${destOpts}${transport}${zeros(data)}`;
}

function ports(feeder: FrameFeeder): [number, number, number] {
  return [feeder.view.protocol, feeder.view.srcPort, feeder.view.dstPort];
}

function counters(decoder: Decoder): { joined: number; unjoined: number; evictions: number } {
  return {
    joined: decoder.fragmentsJoined,
    unjoined: decoder.fragmentsUnjoined,
    evictions: decoder.fragmentCacheEvictions,
  };
}

describe('Decoder fragments', () => {
  it('joins middle and last IPv4 fragments to the first fragment ports', () => {
    const feeder = new FrameFeeder();
    expect(
      feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 0xabcd, offsetBytes: 0, more: true, ports: [1234, 5678] })),
    ).toBe(DecodeStatus.Ok);
    expect([...ports(feeder), feeder.view.l3Bytes]).toEqual([17, 1234, 5678, 36]);
    // The first fragment carried 16 bytes (8 transport + 8 data): the next starts at offset 16.
    expect(feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 0xabcd, offsetBytes: 16, more: true }))).toBe(
      DecodeStatus.Ok,
    );
    expect([...ports(feeder), feeder.view.l3Bytes]).toEqual([17, 1234, 5678, 28]);
    expect(
      feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 0xabcd, offsetBytes: 24, more: false, dataBytes: 100 })),
    ).toBe(DecodeStatus.Ok);
    expect([...ports(feeder), feeder.view.l3Bytes]).toEqual([17, 1234, 5678, 120]);
    expect(counters(feeder.decoder)).toEqual({ joined: 2, unjoined: 0, evictions: 0 });
  });

  it('gives TCP later fragments the ports but no flags', () => {
    const feeder = new FrameFeeder();
    feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 9, offsetBytes: 0, more: true, protocol: 6, ports: [40000, 443] }));
    feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 9, offsetBytes: 16, more: false, protocol: 6 }));
    expect([...ports(feeder), feeder.view.tcpFlags]).toEqual([6, 40000, 443, 0]);
  });

  it('leaves ports 0 on a later fragment whose first fragment was not seen', () => {
    const feeder = new FrameFeeder();
    expect(feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 0x1111, offsetBytes: 1480, more: false }))).toBe(
      DecodeStatus.Ok,
    );
    expect(ports(feeder)).toEqual([17, 0, 0]);
    expect(counters(feeder.decoder)).toEqual({ joined: 0, unjoined: 1, evictions: 0 });
  });

  it('keys IPv4 fragments by source, destination, protocol and id', () => {
    const feeder = new FrameFeeder();
    feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 7, offsetBytes: 0, more: true, ports: [1, 2] }));
    feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 7, offsetBytes: 16, more: true, protocol: 6 }));
    expect(ports(feeder)).toEqual([6, 0, 0]);
    feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 7, offsetBytes: 16, more: true, src: '0a 00 00 09' }));
    expect(ports(feeder)).toEqual([17, 0, 0]);
    feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 8, offsetBytes: 16, more: true }));
    expect(ports(feeder)).toEqual([17, 0, 0]);
    feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 7, offsetBytes: 16, more: true }));
    expect(ports(feeder)).toEqual([17, 1, 2]);
    expect(counters(feeder.decoder)).toEqual({ joined: 1, unjoined: 3, evictions: 0 });
  });

  it('does not look up fragments of protocols without ports', () => {
    const feeder = new FrameFeeder();
    feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 3, offsetBytes: 1480, more: false, protocol: 1 }));
    expect(ports(feeder)).toEqual([1, 0, 0]);
    expect(counters(feeder.decoder)).toEqual({ joined: 0, unjoined: 0, evictions: 0 });
  });

  it('joins nothing with a cache of size 0', () => {
    const feeder = new FrameFeeder(new Decoder({ fragmentCacheSize: 0 }));
    feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 1, offsetBytes: 0, more: true, ports: [1, 2] }));
    expect(ports(feeder)).toEqual([17, 1, 2]);
    feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 1, offsetBytes: 16, more: false }));
    expect(ports(feeder)).toEqual([17, 0, 0]);
    expect(counters(feeder.decoder)).toEqual({ joined: 0, unjoined: 1, evictions: 0 });
  });

  it('holds at most fragmentCacheSize datagrams, pushing out the oldest', () => {
    const feeder = new FrameFeeder(new Decoder({ fragmentCacheSize: 2 }));
    for (const id of [1, 2, 3])
      feeder.decodeHex(LinkType.Raw, v4Fragment({ id, offsetBytes: 0, more: true, ports: [id, 100 + id] }));
    expect(feeder.decoder.fragmentCacheEvictions).toBe(1); // the third pushed out id 1
    const seen: number[][] = [];
    for (const id of [1, 2, 3]) {
      feeder.decodeHex(LinkType.Raw, v4Fragment({ id, offsetBytes: 16, more: false }));
      seen.push([feeder.view.srcPort, feeder.view.dstPort]);
    }
    expect(seen).toEqual([
      [0, 0],
      [2, 102],
      [3, 103],
    ]);
    expect(counters(feeder.decoder)).toEqual({ joined: 2, unjoined: 1, evictions: 1 });
  });

  it('does not count a completed datagram making room as an eviction', () => {
    const feeder = new FrameFeeder(new Decoder({ fragmentCacheSize: 1 }));
    feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 1, offsetBytes: 0, more: true, ports: [1, 2] }));
    feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 1, offsetBytes: 16, more: false })); // last fragment
    feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 2, offsetBytes: 0, more: true, ports: [3, 4] }));
    expect(feeder.decoder.fragmentCacheEvictions).toBe(0);
    feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 3, offsetBytes: 0, more: true, ports: [5, 6] }));
    expect(feeder.decoder.fragmentCacheEvictions).toBe(1); // id 2 was still waiting
  });

  it('stops joining after the 60 s reassembly timeout', () => {
    const feeder = new FrameFeeder();
    feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 1, offsetBytes: 0, more: true, ports: [1, 2] }), { tsSec: 1000 });
    feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 1, offsetBytes: 16, more: true }), { tsSec: 1060 });
    expect(ports(feeder)).toEqual([17, 1, 2]); // 60 s old: still joined
    feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 1, offsetBytes: 24, more: false }), { tsSec: 1061 });
    expect(ports(feeder)).toEqual([17, 0, 0]); // 61 s old: stale
  });

  it('refreshes an entry when an IP id is reused by a new first fragment', () => {
    const feeder = new FrameFeeder(new Decoder({ fragmentCacheSize: 4 }));
    feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 5, offsetBytes: 0, more: true, ports: [1, 2] }));
    feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 5, offsetBytes: 16, more: false }));
    expect(ports(feeder)).toEqual([17, 1, 2]);
    feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 5, offsetBytes: 0, more: true, ports: [3, 4] }));
    feeder.decodeHex(LinkType.Raw, v4Fragment({ id: 5, offsetBytes: 16, more: false }));
    expect(ports(feeder)).toEqual([17, 3, 4]);
    expect(feeder.decoder.fragmentCacheEvictions).toBe(0);
  });

  it('joins IPv6 later fragments by source, destination and 32-bit identification', () => {
    const feeder = new FrameFeeder();
    expect(
      feeder.decodeHex(
        LinkType.Raw,
        v6Fragment({ id: 0xdeadbeef, offsetBytes: 0, more: true, next: 17, ports: [53, 54321] }),
      ),
    ).toBe(DecodeStatus.Ok);
    expect([...ports(feeder), feeder.view.l3Bytes]).toEqual([17, 53, 54321, 40 + 8 + 8 + 8]);
    expect(
      feeder.decodeHex(
        LinkType.Raw,
        v6Fragment({ id: 0xdeadbeef, offsetBytes: 16, more: false, next: 17, dataBytes: 32 }),
      ),
    ).toBe(DecodeStatus.Ok);
    expect([...ports(feeder), feeder.view.l3Bytes]).toEqual([17, 53, 54321, 40 + 8 + 32]);
    feeder.decodeHex(LinkType.Raw, v6Fragment({ id: 0xdeadbeee, offsetBytes: 16, more: false, next: 17 }));
    expect(ports(feeder)).toEqual([17, 0, 0]);
    expect(counters(feeder.decoder)).toEqual({ joined: 1, unjoined: 1, evictions: 0 });
  });

  it('gives IPv6 later fragments the upper-layer protocol found past extension headers', () => {
    const feeder = new FrameFeeder();
    feeder.decodeHex(LinkType.Raw, v6Fragment({ id: 42, offsetBytes: 0, more: true, next: 60, ports: [5000, 6000] }));
    expect(ports(feeder)).toEqual([17, 5000, 6000]);
    // Later fragments name only destination options (60) after the fragment header.
    feeder.decodeHex(LinkType.Raw, v6Fragment({ id: 42, offsetBytes: 24, more: false, next: 60 }));
    expect(ports(feeder)).toEqual([17, 5000, 6000]);
    feeder.decodeHex(LinkType.Raw, v6Fragment({ id: 43, offsetBytes: 24, more: false, next: 60 }));
    expect(ports(feeder)).toEqual([60, 0, 0]);
  });

  it('reads an IPv6 atomic fragment (offset 0, no more) and does not remember it', () => {
    const feeder = new FrameFeeder();
    feeder.decodeHex(LinkType.Raw, v6Fragment({ id: 77, offsetBytes: 0, more: false, next: 17, ports: [7, 8] }));
    expect(ports(feeder)).toEqual([17, 7, 8]);
    feeder.decodeHex(LinkType.Raw, v6Fragment({ id: 77, offsetBytes: 16, more: false, next: 17 }));
    expect(ports(feeder)).toEqual([17, 0, 0]);
  });
});
