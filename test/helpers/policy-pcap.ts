import { FrameBuilder, newFrameSpec, PROTO_TCP, PROTO_UDP } from '../../src/synth/frame-builder';
import { openCaptureWriter } from '../../src/synth/pcap-writer';

/** One packet of a policy scenario: "tcp 10.9.9.9:51000 > 10.0.0.5:22" with TCP flags. */
export interface ScenarioPacket {
  proto: 'tcp' | 'udp';
  src: string;
  sport: number;
  dst: string;
  dport: number;
  tcpFlags?: number;
  /** Seconds after the scenario start. */
  at: number;
  payloadBytes?: number;
}

const ipBytes = (ip: string) => Uint8Array.from(ip.split('.').map(Number));

/** Writes an Ethernet/IPv4 pcap of the packets; returns the L3 bytes of each packet, in order. */
export function writeScenarioPcap(path: string, startSec: number, packets: readonly ScenarioPacket[]): number[] {
  const writer = openCaptureWriter(path);
  const builder = new FrameBuilder();
  const spec = newFrameSpec();
  const l3: number[] = [];
  for (const p of packets) {
    spec.protocol = p.proto === 'tcp' ? PROTO_TCP : PROTO_UDP;
    spec.srcIp = ipBytes(p.src);
    spec.dstIp = ipBytes(p.dst);
    spec.srcPort = p.sport;
    spec.dstPort = p.dport;
    spec.tcpFlags = p.tcpFlags ?? 0x10;
    spec.payloadBytes = p.payloadBytes ?? 0;
    const built = builder.build(spec);
    writer.writePacket(startSec + p.at, 0, builder.frame, built.capLen, built.wireLen);
    l3.push(built.l3Bytes);
  }
  writer.close();
  return l3;
}

/**
 * The scenario of the policy tests on ENI 10.0.0.5 whose one security group accepts inbound
 * tcp/22 only (default: ingress drop, egress accept):
 *  - an SSH connection from 10.9.9.9 (3 in, 2 out): ACCEPT both ways (the replies statefully);
 *  - 4 SYNs from 10.9.9.9 to port 23 (a client retrying): REJECT;
 *  - a DNS query out and its answer: ACCEPT both ways.
 */
export const POLICY_SCENARIO: ScenarioPacket[] = [
  { proto: 'tcp', src: '10.9.9.9', sport: 51000, dst: '10.0.0.5', dport: 22, tcpFlags: 0x02, at: 0 },
  { proto: 'tcp', src: '10.0.0.5', sport: 22, dst: '10.9.9.9', dport: 51000, tcpFlags: 0x12, at: 0 },
  { proto: 'tcp', src: '10.9.9.9', sport: 51000, dst: '10.0.0.5', dport: 22, at: 1 },
  { proto: 'tcp', src: '10.9.9.9', sport: 51001, dst: '10.0.0.5', dport: 23, tcpFlags: 0x02, at: 1 },
  { proto: 'tcp', src: '10.9.9.9', sport: 51001, dst: '10.0.0.5', dport: 23, tcpFlags: 0x02, at: 2 },
  { proto: 'tcp', src: '10.0.0.5', sport: 22, dst: '10.9.9.9', dport: 51000, at: 2, payloadBytes: 100 },
  { proto: 'tcp', src: '10.9.9.9', sport: 51000, dst: '10.0.0.5', dport: 22, at: 3 },
  { proto: 'tcp', src: '10.9.9.9', sport: 51001, dst: '10.0.0.5', dport: 23, tcpFlags: 0x02, at: 4 },
  { proto: 'tcp', src: '10.9.9.9', sport: 51001, dst: '10.0.0.5', dport: 23, tcpFlags: 0x02, at: 8 },
  { proto: 'udp', src: '10.0.0.5', sport: 5353, dst: '10.9.9.9', dport: 53, at: 9, payloadBytes: 30 },
  { proto: 'udp', src: '10.9.9.9', sport: 53, dst: '10.0.0.5', dport: 5353, at: 9, payloadBytes: 60 },
];

/** The ENI and security group of the scenario, as YAML lines under `enis:`. */
export const POLICY_SCENARIO_ENI = `  - id: eni-a
    ips: [10.0.0.5]
    vpcId: vpc-1
    vswitchId: vsw-1
    vmId: i-1
    securityGroups:
      - id: sg-ssh
        rules:
          - {priority: 1, direction: ingress, protocol: tcp, portRange: "22/22", cidr: 0.0.0.0/0, policy: accept}
`;
