import { join } from 'node:path';
import { FrameBuilder, newFrameSpec, PROTO_TCP, PROTO_UDP } from '../../src/synth/frame-builder';
import { openCaptureWriter } from '../../src/synth/pcap-writer';
import { TextSink, writeConfig } from './replay-run';
import { runReplay } from '../../src/cli/replay-command';

/**
 * Half an hour of a small VPC, made into records by the real pipeline (replay), for the report
 * tests and the README's screenshot. VPC vpc-demo: two web servers (eni-web1 10.0.1.11, eni-web2
 * 10.0.1.12) behind 443 and a database (eni-db 10.0.2.20, 5432); VPC vpc-ops: a bastion (eni-ops
 * 10.9.0.5). Security groups: web accepts 443 from anywhere and 22 from 10.9.0.0/16, the
 * database 5432 from 10.0.1.0/24. Each minute: clients on 443 (load rising and falling), each
 * web server querying the database (inter-ENI traffic of one VPC), DNS out; SSH from the bastion
 * in minutes 5-8 (inter-VPC, not inter-ENI); SSH attempts refused in minutes 3, 17 and 25; and in
 * minute 12 a port scan of web1 (300 ports, all REJECT) that overflows the flow table (capacity
 * 150): the flows that did not fit are SKIPDATA. One-minute windows; two flow logs (vpc-demo,
 * eni-ops), replayed into one JSON Lines file.
 */
export const SCENARIO_START = 1_767_225_600; // 2026-01-01 00:00:00 UTC
export const SCENARIO_MINUTES = 30;

interface Packet {
  t: number;
  proto: number;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  flags: number;
  payload: number;
}

/** Deterministic numbers in [0, 1) (a 32-bit LCG; equal runs give equal captures). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

function scenarioPackets(): Packet[] {
  const rnd = lcg(35);
  const p: Packet[] = [];
  const SYN = 0x02;
  const ACK = 0x10;
  /** A TCP exchange: `n` packets each way, spread over [t, t + 50 s). */
  const tcp = (
    t: number,
    client: string,
    cport: number,
    server: string,
    sport: number,
    n: number,
    up: number,
    down: number,
  ) => {
    for (let k = 0; k < n; k++) {
      const at = t + (50 * k) / n + rnd();
      p.push({
        t: at,
        proto: PROTO_TCP,
        src: client,
        sport: cport,
        dst: server,
        dport: sport,
        flags: k === 0 ? SYN : ACK,
        payload: k === 0 ? 0 : up,
      });
      p.push({
        t: at + 0.2,
        proto: PROTO_TCP,
        src: server,
        sport,
        dst: client,
        dport: cport,
        flags: k === 0 ? SYN | ACK : ACK,
        payload: k === 0 ? 0 : down,
      });
    }
  };
  for (let m = 0; m < SCENARIO_MINUTES; m++) {
    const t = SCENARIO_START + m * 60;
    const load = 1 + 0.7 * Math.sin((2 * Math.PI * m) / SCENARIO_MINUTES) + 0.3 * rnd();
    for (let c = 0; c < 6; c++) {
      const web = c % 2 === 0 ? '10.0.1.11' : '10.0.1.12';
      tcp(
        t + c * 1.5,
        `198.51.100.${10 + c}`,
        40000 + m * 10 + c,
        web,
        443,
        Math.round(4 + 6 * load),
        180 + c * 20,
        900 + Math.round(600 * load),
      );
    }
    tcp(t + 2, '10.0.1.11', 50000 + m, '10.0.2.20', 5432, Math.round(3 + 4 * load), 220, 700);
    tcp(t + 3, '10.0.1.12', 51000 + m, '10.0.2.20', 5432, Math.round(2 + 3 * load), 200, 650);
    p.push({
      t: t + 5,
      proto: PROTO_UDP,
      src: '10.0.1.11',
      sport: 33000 + m,
      dst: '8.8.8.8',
      dport: 53,
      flags: 0,
      payload: 40,
    });
    p.push({
      t: t + 5.02,
      proto: PROTO_UDP,
      src: '8.8.8.8',
      sport: 53,
      dst: '10.0.1.11',
      dport: 33000 + m,
      flags: 0,
      payload: 90,
    });
    if (m >= 5 && m <= 8) tcp(t + 8, '10.9.0.5', 52000 + m, '10.0.1.11', 22, 20, 60, 400);
    if (m === 3 || m === 17 || m === 25) {
      for (let k = 0; k < 3; k++)
        p.push({
          t: t + 20 + k * 3,
          proto: PROTO_TCP,
          src: '198.51.100.77',
          sport: 61000 + m,
          dst: '10.0.1.12',
          dport: 22,
          flags: SYN,
          payload: 0,
        });
    }
    if (m === 12) {
      for (let port = 1; port <= 300; port++)
        p.push({
          t: t + 30 + port / 100,
          proto: PROTO_TCP,
          src: '203.0.113.66',
          sport: 45555,
          dst: '10.0.1.11',
          dport: port,
          flags: SYN,
          payload: 0,
        });
    }
  }
  return p.sort((a, b) => a.t - b.t);
}

const ipBytes = (ip: string) => Uint8Array.from(ip.split('.').map(Number));

/** Writes the capture; returns its packet count. */
export function writeScenarioCapture(path: string): number {
  const writer = openCaptureWriter(path);
  const builder = new FrameBuilder();
  const spec = newFrameSpec();
  const packets = scenarioPackets();
  for (const q of packets) {
    spec.protocol = q.proto;
    spec.srcIp = ipBytes(q.src);
    spec.dstIp = ipBytes(q.dst);
    spec.srcPort = q.sport;
    spec.dstPort = q.dport;
    spec.tcpFlags = q.flags;
    spec.payloadBytes = q.payload;
    const built = builder.build(spec);
    const sec = Math.floor(q.t);
    writer.writePacket(sec, Math.round((q.t - sec) * 1e6) * 1000, builder.frame, built.capLen, built.wireLen);
  }
  writer.close();
  return packets.length;
}

export function scenarioConfig(dir: string): string {
  const web = `    securityGroups:
      - id: sg-web
        rules:
          - {priority: 1, direction: ingress, protocol: tcp, portRange: "443/443", cidr: 0.0.0.0/0, policy: accept}
          - {priority: 2, direction: ingress, protocol: tcp, portRange: "22/22", cidr: 10.9.0.0/16, policy: accept}`;
  return `region: cn-hangzhou
accountId: "1234567890123456"
stateDir: ${dir}/state
flowTable: {capacity: 150}
enis:
  - id: eni-web1
    ips: [10.0.1.11]
    vpcId: vpc-demo
    vswitchId: vsw-web
    vmId: i-web1
${web}
  - id: eni-web2
    ips: [10.0.1.12]
    vpcId: vpc-demo
    vswitchId: vsw-web
    vmId: i-web2
${web}
  - id: eni-db
    ips: [10.0.2.20]
    vpcId: vpc-demo
    vswitchId: vsw-db
    vmId: i-db
    securityGroups:
      - id: sg-db
        rules:
          - {priority: 1, direction: ingress, protocol: tcp, portRange: "5432/5432", cidr: 10.0.1.0/24, policy: accept}
  - {id: eni-ops, ips: [10.9.0.5], vpcId: vpc-ops, vswitchId: vsw-ops, vmId: i-bastion}
flowLogs:
  - {id: fl-demo, resourceType: vpc, resourceId: vpc-demo, aggregationInterval: 1, sink: {type: stdout}}
  - {id: fl-ops, resourceType: eni, resourceId: eni-ops, aggregationInterval: 1, sink: {type: stdout}}
`;
}

/** Generates the capture and replays it into `dir`/records.jsonl (replay --output). */
export async function replayScenario(dir: string): Promise<{ file: string; packets: number; stderr: string }> {
  const capture = join(dir, 'scenario.pcap');
  const packets = writeScenarioCapture(capture);
  const configPath = writeConfig(dir, scenarioConfig(dir), 'scenario.yaml');
  const file = join(dir, 'records.jsonl');
  const err = new TextSink();
  const { code } = await runReplay({
    pcaps: [capture],
    configPath,
    output: file,
    maxGapWindows: 1440,
    flushTimeoutMs: 5000,
    err,
  });
  if (code !== 0) throw new Error(`replay the report scenario: exit ${code}: ${err.text}`);
  return { file, packets, stderr: err.text };
}
