import { describe, expect, it } from 'vitest';
import type { AgentConfig, EniConfig } from '../../src/config/types';
import { parseConfig } from '../../src/config/load';
import { LinkType } from '../../src/capture/link-types';
import type { FlowRecord } from '../../src/flow/record';
import { buildPipeline } from '../../src/agent/pipeline';

// NFLOG frames built byte by byte (libpcap LINKTYPE_NFLOG: 4-byte header, then TLVs with
// host-order length/type, values padded to 4 bytes; interface indexes are big-endian u32).
const NFULA_IFINDEX_INDEV = 4;
const NFULA_IFINDEX_OUTDEV = 5;
const NFULA_PAYLOAD = 9;

function ipv4Tcp(src: string, dst: string, sport: number, dport: number): Buffer {
  const p = Buffer.alloc(40);
  p[0] = 0x45;
  p.writeUInt16BE(40, 2);
  p[8] = 64;
  p[9] = 6;
  Buffer.from(src.split('.').map(Number)).copy(p, 12);
  Buffer.from(dst.split('.').map(Number)).copy(p, 16);
  p.writeUInt16BE(sport, 20);
  p.writeUInt16BE(dport, 22);
  p[32] = 0x50;
  p[33] = 0x02; // SYN
  return p;
}

function tlv(type: number, value: Buffer): Buffer {
  const padded = Buffer.alloc(4 + Math.ceil(value.length / 4) * 4);
  padded.writeUInt16LE(4 + value.length, 0);
  padded.writeUInt16LE(type, 2);
  value.copy(padded, 4);
  return padded;
}

function nflogFrame(group: number, indev: number, outdev: number, packet: Buffer): Uint8Array {
  const header = Buffer.from([2, 0, group >> 8, group & 0xff]); // AF_INET, version 0, group
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const parts: Buffer[] = [header];
  if (indev > 0) parts.push(tlv(NFULA_IFINDEX_INDEV, u32(indev)));
  if (outdev > 0) parts.push(tlv(NFULA_IFINDEX_OUTDEV, u32(outdev)));
  parts.push(tlv(NFULA_PAYLOAD, packet));
  return new Uint8Array(Buffer.concat(parts));
}

const CONFIG = `region: cn-hangzhou
accountId: "1234567890123456"
enis:
  - {id: eni-a, interface: etha, ips: [10.0.0.5], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-1}
  - {id: eni-b, interface: ethb, vpcId: vpc-1, vswitchId: vsw-1, vmId: i-2}
nflog:
  groups: [{group: 7}]
flowLogs:
  - {id: fl-1, resourceType: vpc, resourceId: vpc-1, aggregationInterval: 1, sink: {type: stdout}}
`;
const IFINDEX: Record<string, number> = { etha: 3, ethb: 4 };
const T0 = 1_700_000_040;

/** Runs frames through a pipeline and returns the OK records as compact strings. */
function run(config: AgentConfig, feed: (p: ReturnType<typeof buildPipeline>, map: Int32Array) => void): string[] {
  const records: FlowRecord[] = [];
  const pipeline = buildPipeline(config, { submit: (b) => records.push(...b.records) }, { maxGapWindows: 10 });
  const map = new Int32Array(5).fill(-1);
  config.enis.forEach((e: EniConfig, i) => (map[IFINDEX[e.interface ?? '']] = i));
  feed(pipeline, map);
  pipeline.finish();
  return records
    .filter((r) => r['log-status'] === 'OK')
    .map(
      (r) =>
        `${r['eni-id']} ${r.direction} ${r.srcaddr}:${r.srcport}>${r.dstaddr}:${r.dstport} ${r.action} ${r.packets}/${r.bytes}`,
    )
    .sort();
}

describe('NFLOG frames: ENI and direction', () => {
  const config = parseConfig(CONFIG, '/cfg/nflog.yaml').config;
  const send = (p: ReturnType<typeof buildPipeline>, frame: Uint8Array, fixedEni: number, map: Int32Array) => {
    p.recorder.view.tsSec = T0;
    p.recorder.view.capLen = p.recorder.view.wireLen = frame.length;
    p.recorder.onNflogFrame(LinkType.Nflog, frame, fixedEni, map);
  };

  it.each([
    {
      name: 'group tied to an ENI',
      fixedEni: 0,
      indev: 9,
      outdev: 0,
      src: '10.9.9.9',
      dst: '10.0.0.5',
      want: ['eni-a in 10.9.9.9:40000>10.0.0.5:23 REJECT 1/40'],
    },
    {
      name: 'input interface of an ENI without addresses: inbound',
      fixedEni: -1,
      indev: 4,
      outdev: 0,
      src: '10.9.9.9',
      dst: '10.1.1.1',
      want: ['eni-b in 10.9.9.9:40000>10.1.1.1:23 REJECT 1/40'],
    },
    {
      name: 'output interface of an ENI without addresses: outbound',
      fixedEni: -1,
      indev: 0,
      outdev: 4,
      src: '10.1.1.1',
      dst: '10.9.9.9',
      want: ['eni-b out 10.1.1.1:40000>10.9.9.9:23 REJECT 1/40'],
    },
    {
      name: 'input interface, direction from the ENI address',
      fixedEni: -1,
      indev: 3,
      outdev: 0,
      src: '10.9.9.9',
      dst: '10.0.0.5',
      want: ['eni-a in 10.9.9.9:40000>10.0.0.5:23 REJECT 1/40'],
    },
    {
      name: 'unknown interfaces: matched by address',
      fixedEni: -1,
      indev: 8,
      outdev: 0,
      src: '10.0.0.5',
      dst: '10.9.9.9',
      want: ['eni-a out 10.0.0.5:40000>10.9.9.9:23 REJECT 1/40'],
    },
    {
      name: 'unknown interfaces and addresses: unattributed',
      fixedEni: -1,
      indev: 8,
      outdev: 0,
      src: '10.9.9.9',
      dst: '10.8.8.8',
      want: [],
    },
  ])('$name', (c) => {
    const got = run(config, (p, map) =>
      send(p, nflogFrame(7, c.indev, c.outdev, ipv4Tcp(c.src, c.dst, 40000, 23)), c.fixedEni, map),
    );
    expect(got).toEqual(c.want);
  });

  it('an inbound packet captured on the device and logged to NFLOG counts once, as REJECT', () => {
    const got = run(config, (p, map) => {
      const syn = ipv4Tcp('10.9.9.9', '10.0.0.5', 40000, 23);
      const allowed = ipv4Tcp('10.9.9.9', '10.0.0.5', 40001, 22);
      for (let i = 0; i < 3; i++) {
        p.recorder.view.tsSec = T0 + i;
        p.recorder.view.capLen = p.recorder.view.wireLen = 40;
        p.recorder.onFrameForEni(0, LinkType.Ipv4, syn, false); // the device sees it before the drop
        send(p, nflogFrame(7, 3, 0, syn), -1, map);
      }
      p.recorder.view.tsSec = T0 + 4;
      p.recorder.view.capLen = p.recorder.view.wireLen = 40;
      p.recorder.onFrameForEni(0, LinkType.Ipv4, syn, false); // one more passed (rule changed)
      p.recorder.view.capLen = p.recorder.view.wireLen = 40;
      p.recorder.onFrameForEni(0, LinkType.Ipv4, allowed, false);
    });
    expect(got).toEqual([
      'eni-a in 10.9.9.9:40000>10.0.0.5:23 ACCEPT 1/40',
      'eni-a in 10.9.9.9:40000>10.0.0.5:23 REJECT 3/120',
      'eni-a in 10.9.9.9:40001>10.0.0.5:22 ACCEPT 1/40',
    ]);
  });
});
