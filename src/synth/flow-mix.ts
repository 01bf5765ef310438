import { formatIpv4, formatIpv6, parseIpv4, parseIpv6, parseMac } from './address-codec';
import { PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP } from './frame-builder';
import type { SeededRandom } from './seeded-random';

/** One ENI the synthetic traffic talks to. */
export interface EniEndpoint {
  /** IPv4 address, dotted quad. */
  ip: string;
  /** MAC, "00:16:3e:00:00:05". */
  mac: string;
  /** IPv6 address for IPv6 flows; default fd00:: followed by the IPv4 address as the last 32 bits. */
  ipv6?: string;
}

/**
 * One synthetic conversation: a 5-tuple between an ENI address and a remote address, carrying
 * packets in both directions (a flow of one packet has only the initiator's direction).
 */
export interface SynthFlow {
  index: number;
  eniIndex: number;
  family: 4 | 6;
  /** PROTO_TCP, PROTO_UDP, PROTO_ICMP or PROTO_ICMPV6. */
  protocol: number;
  /** Text forms as the records print them (RFC 5952 for IPv6). */
  eniAddr: string;
  remoteAddr: string;
  eniIp: Uint8Array;
  remoteIp: Uint8Array;
  /** Ports; 0 for ICMP, as the decoder reports them. */
  eniPort: number;
  remotePort: number;
  /** Whether the ENI opened the conversation (its first packet is outbound). */
  eniInitiated: boolean;
  /** ICMP echo identifier (ICMP flows only). */
  icmpId: number;
  /** Packets of this flow in the capture. */
  packets: number;
  /** First packet and span of the flow, microseconds after the capture start. */
  firstOffsetUs: number;
  spanUs: number;
}

/** Remote IPv4 hosts come from 198.18.0.0/15 (RFC 2544 benchmarking range): 2^17 addresses. */
const REMOTE_V4_HOSTS = 1 << 17;
const EPHEMERAL_BASE = 32768;
const EPHEMERAL_COUNT = 60999 - 32768 + 1;
const SERVER_TCP_PORTS = [80, 443, 3306, 5432, 6379, 8080];
const SERVER_UDP_PORTS = [7777, 8125, 9999];
const CLIENT_TCP_PORTS = [443, 443, 443, 80, 8443];
const CLIENT_UDP_PORTS = [443, 8125, 9999];

/** Default ENI IPv6 address: fd00::/64 with the IPv4 address as the interface id's low 32 bits. */
export function defaultEniIpv6(ipv4: string): string {
  const b = parseIpv4(ipv4);
  const v6 = new Uint8Array(16);
  v6[0] = 0xfd;
  v6.set(b, 12);
  return formatIpv6(v6);
}

/** Parsed ENI addresses, in the order given. */
export interface EniAddresses {
  ipv4: Uint8Array;
  ipv6: Uint8Array;
  mac: Uint8Array;
}

export function parseEnis(enis: readonly EniEndpoint[]): EniAddresses[] {
  return enis.map((e) => ({
    ipv4: parseIpv4(e.ip),
    ipv6: parseIpv6(e.ipv6 ?? defaultEniIpv6(e.ip)),
    mac: parseMac(e.mac),
  }));
}

/**
 * Draw `flowCount` flows with distinct 5-tuples. Uniqueness holds by construction: within each
 * block of 2^17 flows the remote host index is a permutation of the block, and blocks differ
 * in the ephemeral port (IPv4) or in the address itself (IPv6), so no set of keys is needed.
 * ICMP (which has no ports) is only drawn in the first block, where hosts are distinct.
 */
export function drawFlows(
  rng: SeededRandom,
  flowCount: number,
  ipv6Share: number,
  enis: readonly EniAddresses[],
  durationUs: number,
): SynthFlow[] {
  const multiplier = (rng.nextInt(REMOTE_V4_HOSTS / 2) << 1) | 1; // odd: a bijection mod 2^17
  const shift = rng.nextInt(REMOTE_V4_HOSTS);
  const ipv6Target = Math.round(flowCount * ipv6Share);
  let ipv6Left = ipv6Target;
  const flows: SynthFlow[] = [];
  for (let i = 0; i < flowCount; i++) {
    // Selection sampling: exactly ipv6Target of the flows are IPv6, spread at random.
    const family: 4 | 6 = rng.nextFloat() * (flowCount - i) < ipv6Left ? 6 : 4;
    if (family === 6) ipv6Left--;
    const block = Math.floor(i / REMOTE_V4_HOSTS);
    const host = ((i % REMOTE_V4_HOSTS) * multiplier + shift) % REMOTE_V4_HOSTS;
    const eniIndex = i % enis.length;
    const eni = enis[eniIndex];
    const r = rng.nextFloat();
    let protocol = r < 0.7 ? PROTO_TCP : r < 0.95 || block > 0 ? PROTO_UDP : PROTO_ICMP;
    if (protocol === PROTO_ICMP && family === 6) protocol = PROTO_ICMPV6;
    const eniInitiated = rng.nextFloat() < 0.5;
    const ephemeral = EPHEMERAL_BASE + ((block + ((host * 40503) % EPHEMERAL_COUNT)) % EPHEMERAL_COUNT);
    let eniPort = 0;
    let remotePort = 0;
    if (protocol === PROTO_TCP || protocol === PROTO_UDP) {
      const tcp = protocol === PROTO_TCP;
      const wellKnown = eniInitiated
        ? pick(rng, tcp ? CLIENT_TCP_PORTS : CLIENT_UDP_PORTS)
        : pick(rng, tcp ? SERVER_TCP_PORTS : SERVER_UDP_PORTS);
      eniPort = eniInitiated ? ephemeral : wellKnown;
      remotePort = eniInitiated ? wellKnown : ephemeral;
    }
    let remoteIp: Uint8Array;
    if (family === 4) {
      remoteIp = Uint8Array.of(198, 18 + (host >> 16), (host >> 8) & 0xff, host & 0xff);
    } else {
      // 2001:db8:0:<block>::<host>: the documentation prefix, distinct per flow.
      remoteIp = new Uint8Array(16);
      remoteIp.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, block >> 8, block & 0xff]);
      remoteIp[13] = host >> 16;
      remoteIp[14] = (host >> 8) & 0xff;
      remoteIp[15] = host & 0xff;
    }
    const eniIp = family === 4 ? eni.ipv4 : eni.ipv6;
    // 30% long-lived flows span most of the capture; the rest are short bursts.
    const longLived = rng.nextFloat() < 0.3;
    const firstOffsetUs = Math.floor(rng.nextFloat() * (longLived ? 0.2 : 1) * durationUs);
    const room = durationUs - firstOffsetUs;
    const spanUs = longLived ? room : Math.max(1, Math.min(room, Math.floor(durationUs * 0.1 * rng.nextExponential())));
    flows.push({
      index: i,
      eniIndex,
      family,
      protocol,
      eniAddr: family === 4 ? formatIpv4(eniIp) : formatIpv6(eniIp),
      remoteAddr: family === 4 ? formatIpv4(remoteIp) : formatIpv6(remoteIp),
      eniIp,
      remoteIp,
      eniPort,
      remotePort,
      eniInitiated,
      icmpId: (i * 2654435761) >>> 16,
      packets: 0,
      firstOffsetUs,
      spanUs,
    });
  }
  return flows;
}

/**
 * Split `packetCount` over the flows: one each, the rest in proportion to heavy-tailed
 * (Pareto, alpha 1.2) weights, the rounding remainder one by one from the first flow.
 */
export function apportionPackets(rng: SeededRandom, flows: SynthFlow[], packetCount: number): void {
  const weights = new Float64Array(flows.length);
  let total = 0;
  for (let i = 0; i < flows.length; i++) {
    weights[i] = Math.min(1000, Math.pow(1 - rng.nextFloat(), -1 / 1.2));
    total += weights[i];
  }
  const spare = packetCount - flows.length;
  let given = 0;
  for (let i = 0; i < flows.length; i++) {
    flows[i].packets = 1 + Math.floor((spare * weights[i]) / total);
    given += flows[i].packets;
  }
  for (let i = 0; given < packetCount; i = (i + 1) % flows.length, given++) flows[i].packets++;
}

function pick(rng: SeededRandom, from: readonly number[]): number {
  return from[rng.nextInt(from.length)];
}
