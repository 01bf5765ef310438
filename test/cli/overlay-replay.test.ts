import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openCaptureWriter } from '../../src/synth/pcap-writer';
import { SeededRandom } from '../../src/synth/seeded-random';
import { fragmentIpv4, overlayFrame, pick, type OverlayPacket } from '../helpers/overlay-frames';
import { replayToRecords, scratchDir, writeConfig } from '../helpers/replay-run';

/**
 * Overlay decapsulation against tshark: a generated uplink capture (VXLAN and Geneve, three
 * VPCs whose ENIs reuse the same addresses, inner IPv4 and IPv6, inner 802.1Q tags, outer IPv4
 * and IPv6, outer fragments, an unknown VNI, plain traffic) replayed with an overlay config.
 * The expected records come from tshark's dissection (-o ip.defragment:FALSE, so each frame is
 * dissected alone) and this file's arithmetic: VNI -> VPC, then inner MAC, else inner address,
 * names the ENI; inner 5-tuple, inner IP length.
 */

const VPCS = [
  { vpcId: 'vpc-a', vni: 1001 },
  { vpcId: 'vpc-b', vni: 1002 },
  { vpcId: 'vpc-c', vni: 5000 },
];
// Every VPC has an ENI at 10.0.0.5 and at fd00::5: only the VNI tells them apart. (Listed in
// another order for the last VPC, so a lookup in the wrong VPC's ENIs names another ENI.)
const ENIS = VPCS.flatMap((v, k) => {
  const pair = [
    { id: `eni-${k}m`, vpcId: v.vpcId, mac: `00:16:3e:00:0${k}:01`, ips: ['10.0.0.5', 'fd00::5'] },
    { id: `eni-${k}i`, vpcId: v.vpcId, ips: ['10.0.0.6', 'fd00::6'] },
  ];
  return k === 2 ? pair.reverse() : pair;
});
const REMOTES = ['10.0.0.99', '10.1.2.3'];
const REMOTES6 = ['fd00::99', '2001:db8::3'];
const HOSTS = ['192.168.10.1', '192.168.10.2', 'fd10::1', 'fd10::2'];

function generate(file: string): number {
  const rng = new SeededRandom(20261204);
  const w = openCaptureWriter(file);
  let frames = 0;
  const write = (t: number, f: Buffer) => {
    w.writePacket(1_700_000_000 + t, rng.nextInt(1_000_000) * 1000, f, f.length, f.length);
    frames++;
  };
  for (let n = 0; n < 1500; n++) {
    const t = Math.floor(n / 25); // 60 s: one-minute windows, two of them
    const vpc = rng.nextInt(10) === 0 ? { vni: 4242 } : pick(rng, VPCS); // 1 in 10: unknown VNI
    const v6 = rng.nextInt(3) === 0;
    const eniByMac = rng.nextInt(2) === 0;
    const k = VPCS.findIndex((v) => v.vni === vpc.vni);
    const local = eniByMac ? '10.0.0.5' : '10.0.0.6';
    const remote = pick(rng, REMOTES);
    const out = rng.nextInt(2) === 0;
    const localMac = eniByMac ? `00:16:3e:00:0${k < 0 ? 9 : k}:01` : '00:16:3e:00:0f:0f';
    const geneve = rng.nextInt(3) === 0;
    const outer6 = rng.nextInt(4) === 0;
    const outerSrc = outer6 ? HOSTS[2] : HOSTS[0];
    const outerDst = outer6 ? HOSTS[3] : HOSTS[1];
    const a = v6 ? (eniByMac ? 'fd00::5' : 'fd00::6') : local;
    const b = v6 ? pick(rng, REMOTES6) : remote;
    const p: OverlayPacket = {
      kind: geneve ? 'geneve' : 'vxlan',
      vni: vpc.vni,
      outerSrc,
      outerDst,
      geneveOptions: geneve ? 4 * rng.nextInt(4) : 0,
      inner: {
        srcMac: out ? localMac : '00:16:3e:ee:ee:ee',
        dstMac: out ? '00:16:3e:ee:ee:ee' : localMac,
        vlans: rng.nextInt(4) === 0 ? [100 + rng.nextInt(10)] : [],
        src: out ? a : b,
        dst: out ? b : a,
        protocol: rng.nextInt(2) === 0 ? 6 : 17,
        srcPort: out ? 40000 + rng.nextInt(4) : 443,
        dstPort: out ? 443 : 40000 + rng.nextInt(4),
        payload: rng.nextInt(1400),
      },
    };
    const frame = overlayFrame(p, n + 1);
    if (!outer6 && frame.length > 1000 && rng.nextInt(2) === 0) for (const f of fragmentIpv4(frame, 512)) write(t, f);
    else write(t, frame);
    if (n % 50 === 0) {
      // plain traffic of the uplink (not to a tunnel port): no ENI of the overlay
      const plain = overlayFrame({ ...p, port: 5555 }, n + 1);
      write(t, plain);
    }
  }
  w.close();
  return frames;
}

interface Expected {
  packets: number;
  bytes: number;
  start: number;
  end: number;
  tunnelSrc: string;
  tunnelDst: string;
  vni: string;
}

/** The records tshark's dissection predicts, keyed as `recordKey` keys the agent's. */
function oracle(file: string): Map<string, Expected> {
  const fields = [
    'frame.time_epoch',
    'frame.protocols',
    'vxlan.vni',
    'geneve.vni',
    'eth.src',
    'eth.dst',
    'ip.src',
    'ip.dst',
    'ip.len',
    'ip.proto',
    'ipv6.src',
    'ipv6.dst',
    'ipv6.plen',
    'ipv6.nxt',
    'tcp.srcport',
    'tcp.dstport',
    'udp.srcport',
    'udp.dstport',
  ];
  const text = execFileSync(
    'tshark',
    [
      '-r',
      file,
      '-o',
      'ip.defragment:FALSE',
      '-d',
      'udp.port==4789,vxlan',
      '-T',
      'fields',
      '-E',
      'occurrence=a',
      '-E',
      'separator=\t',
      ...fields.flatMap((f) => ['-e', f]),
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 28 },
  );
  const out = new Map<string, Expected>();
  for (const line of text.trimEnd().split('\n')) {
    const row = Object.fromEntries(line.split('\t').map((v, i) => [fields[i], v.split(',')]));
    const vniText = row['vxlan.vni'][0] || row['geneve.vni'][0];
    if (!vniText) continue; // plain uplink traffic, later outer fragments: no ENI of the overlay
    const vni = Number(vniText);
    const k = VPCS.findIndex((v) => v.vni === vni);
    if (k < 0) continue; // unknown VNI: unattributed
    const layers = row['frame.protocols'][0].split(':');
    const tunnelAt = layers.findIndex((l) => l === 'vxlan' || l === 'geneve');
    const innerEth = layers[tunnelAt + 1] === 'eth';
    const v6 = layers.lastIndexOf('ipv6') > tunnelAt;
    const last = (f: string) => row[f][row[f].length - 1];
    const first = (f: string) => row[f][0];
    const src = v6 ? last('ipv6.src') : last('ip.src');
    const dst = v6 ? last('ipv6.dst') : last('ip.dst');
    const outer6 = layers.indexOf('ipv6') >= 0 && layers.indexOf('ipv6') < tunnelAt;
    const protocol = v6 ? Number(last('ipv6.nxt')) : Number(last('ip.proto'));
    const bytes = v6 ? 40 + Number(last('ipv6.plen')) : Number(last('ip.len'));
    const ports =
      protocol === 6 ? [last('tcp.srcport'), last('tcp.dstport')] : [last('udp.srcport'), last('udp.dstport')];
    const enisOf = (macField: string, addr: string): string | undefined => {
      const mac = innerEth ? last(macField) : undefined;
      const vpc = ENIS.filter((e) => e.vpcId === VPCS[k].vpcId);
      return (vpc.find((e) => e.mac !== undefined && e.mac === mac) ?? vpc.find((e) => e.ips.includes(addr)))?.id;
    };
    const sec = Math.floor(Number(first('frame.time_epoch')));
    const windowStart = Math.floor(sec / 60) * 60;
    for (const [eni, direction] of [
      [enisOf('eth.src', src), 'out'],
      [enisOf('eth.dst', dst), 'in'],
    ] as const) {
      if (eni === undefined) continue;
      const key = [eni, direction, src, ports[0], dst, ports[1], protocol, windowStart].join(' ');
      const e = out.get(key) ?? {
        packets: 0,
        bytes: 0,
        start: sec,
        end: sec,
        tunnelSrc: outer6 ? first('ipv6.src') : first('ip.src'),
        tunnelDst: outer6 ? first('ipv6.dst') : first('ip.dst'),
        vni: String(vni),
      };
      e.packets++;
      e.bytes += bytes;
      e.start = Math.min(e.start, sec);
      e.end = Math.max(e.end, sec);
      out.set(key, e);
    }
  }
  return out;
}

function config(dir: string): string {
  const enis = ENIS.map(
    (e) =>
      `  - { id: ${e.id}, ${e.mac ? `mac: "${e.mac}", ` : ''}ips: ["${e.ips.join('", "')}"], vpcId: ${e.vpcId}, vswitchId: vsw-1, vmId: i-${e.id} }`,
  ).join('\n');
  return writeConfig(
    dir,
    `region: cn-hangzhou
accountId: "1234567890123456"
stateDir: ${dir}/state
enis:
${enis}
flowLogs:
${VPCS.map((v) => `  - { id: fl-${v.vpcId}, resourceType: vpc, resourceId: ${v.vpcId}, aggregationInterval: 1, extraFields: [tunnel-srcaddr, tunnel-dstaddr, vni], sink: { type: file, path: ${dir}/${v.vpcId}.jsonl } }`).join('\n')}
overlay:
  vpcs:
${VPCS.map((v) => `    - { vpcId: ${v.vpcId}, vni: ${v.vni} }`).join('\n')}
`,
  );
}

describe('overlay decapsulation (replay of an uplink capture) against tshark', () => {
  it('gives every VPC its inner flows, with inner bytes, outer addresses and VNI', async () => {
    const dir = scratchDir('overlay');
    const file = join(dir, 'uplink.pcap');
    const frames = generate(file);
    const expected = oracle(file);
    expect(expected.size).toBeGreaterThan(100);
    for (const kernel of [true, false]) {
      const { code, records, summary, stderr } = await replayToRecords([file], config(dir), dir, 1440, kernel);
      expect(code, stderr).toBe(0);
      expect(summary?.frames).toBe(frames);
      expect(summary?.kernelPackets).toBe(0);
      const got = new Map<string, Expected>();
      for (const r of records.filter((x) => x['log-status'] === 'OK')) {
        const windowStart = Math.floor(Number(r.start) / 60) * 60;
        const key = [
          r['eni-id'],
          r.direction,
          r.srcaddr,
          r.srcport,
          r.dstaddr,
          r.dstport,
          r.protocol,
          windowStart,
        ].join(' ');
        expect(got.has(key), key).toBe(false);
        got.set(key, {
          packets: Number(r.packets),
          bytes: Number(r.bytes),
          start: Number(r.start),
          end: Number(r.end),
          tunnelSrc: r['tunnel-srcaddr'],
          tunnelDst: r['tunnel-dstaddr'],
          vni: r.vni,
        });
      }
      expect(got).toEqual(expected);
      // Unknown VNIs are counted, not attributed; later fragments are counted once each.
      expect(summary?.overlay?.unknownVni).toBeGreaterThan(0);
      expect(summary?.overlay?.tunnelFragments).toBeGreaterThan(0);
      expect(stderr).toMatch(/overlay: \d+ packets out of tunnels/);
    }
  }, 60_000);
});
