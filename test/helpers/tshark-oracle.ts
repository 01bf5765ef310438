import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * tshark as an independent oracle: what flow-log records a capture must produce, derived from
 * tshark's dissection (not from the agent's decoder). One row per IP packet, then aggregation by
 * (direction, 5-tuple, window) with arithmetic in this file.
 *
 * Rules applied to tshark's fields, straight from the flow-log definition:
 * - addresses, protocol and length of the OUTER IP header (first occurrence); tunnels count
 *   under it. IPv6's protocol follows its extension-header chain as tshark parsed it.
 * - bytes = ip.len, or 40 + ipv6.plen.
 * - ports for TCP, UDP, UDP-Lite, SCTP of the outer packet; 0 otherwise; a non-first fragment takes
 *   the ports of its first fragment seen earlier (same src, dst, protocol, id), else 0.
 * - window = floor(time / interval) * interval; start/end = min/max whole second.
 */
export interface OraclePacket {
  timeSec: number;
  family: 4 | 6;
  src: string;
  dst: string;
  protocol: number;
  srcPort: number;
  dstPort: number;
  bytes: number;
  tcpFlags: number;
  ethSrc: string;
  ethDst: string;
}

export interface OracleFlow {
  packets: number;
  bytes: number;
  start: number;
  end: number;
}

const FIELDS = [
  'frame.time_epoch',
  'eth.src',
  'eth.dst',
  'ip.src',
  'ip.dst',
  'ip.proto',
  'ip.len',
  'ip.id',
  'ip.frag_offset',
  'ipv6.src',
  'ipv6.dst',
  'ipv6.plen',
  'ipv6.nxt',
  'ipv6.hopopts.nxt',
  'ipv6.routing.nxt',
  'ipv6.fraghdr.nxt',
  'ipv6.dstopts.nxt',
  'ah.next_header',
  'ipv6.fraghdr.offset',
  'ipv6.fraghdr.ident',
  'tcp.srcport',
  'tcp.dstport',
  'tcp.flags',
  'udp.srcport',
  'udp.dstport',
  'sctp.srcport',
  'sctp.dstport',
  'frame.protocols',
  'ipv6.opt.jumbo',
  'frame.len',
] as const;
type Field = (typeof FIELDS)[number];

/**
 * Layers below IP the agent decodes: link types (PPP, Cisco HDLC among them), 802.1Q/802.1ad
 * tags, 802.1BR E-Tag, VN-Tag, FabricPath (tshark: cfp), NSH, PPPoE sessions, MPLS stacks.
 */
const LINK_LAYERS = new Set([
  'frame',
  'eth',
  'ethertype',
  'vlan',
  'ieee8021ad',
  'mpls',
  'sll',
  'null',
  'loop',
  'raw',
  'nflog',
  'llc',
  'snap',
  'etag',
  'vntag',
  'cfp',
  'nsh',
  'pppoes',
  'ppp',
  'chdlc',
]);
/** Of those, the layers whose header length is not fixed by their name (see linkHeaderBytes). */
const VARIABLE_LAYERS = new Set([
  'mpls',
  'nsh',
  'ppp',
  'chdlc',
  'pppoes',
  'cfp',
  'etag',
  'vntag',
  'ieee8021ad',
  'llc',
  'snap',
]);
const PORT_PROTOCOLS = new Set([6, 17, 132, 136]);
const IPV6_EXT: Record<number, Field> = {
  0: 'ipv6.hopopts.nxt',
  43: 'ipv6.routing.nxt',
  44: 'ipv6.fraghdr.nxt',
  60: 'ipv6.dstopts.nxt',
  51: 'ah.next_header',
};

/** Runs tshark on a capture and returns its IP packets as the oracle sees them (in file order). */
export async function tsharkPackets(file: string): Promise<OraclePacket[]> {
  const args = [
    '-r',
    file,
    '-n',
    '-o',
    'ip.defragment:FALSE',
    '-o',
    'ipv6.defragment:FALSE',
    '-o',
    'ip.check_checksum:FALSE',
    '-T',
    'fields',
    '-E',
    'separator=/t',
    '-E',
    'occurrence=a',
    '-E',
    'aggregator=,',
  ];
  for (const f of FIELDS) args.push('-e', f);
  const { stdout } = await execFileAsync('tshark', args, { maxBuffer: 1 << 30, env: { ...process.env, LC_ALL: 'C' } });
  const out: OraclePacket[] = [];
  const firstFragments = new Map<string, [number, number]>();
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    const cols = line.split('\t');
    const all = (f: Field): string[] => {
      const v = cols[FIELDS.indexOf(f)] ?? '';
      return v === '' ? [] : v.split(',');
    };
    const first = (f: Field): string | undefined => all(f)[0];
    const layers = (first('frame.protocols') ?? '').split(':');
    const ipLayer = layers.findIndex((l) => l === 'ip' || l === 'ipv6');
    if (ipLayer < 0) continue;
    // IP reached through an encapsulation the flow-log definition does not read (an Ethernet
    // pseudowire, ...) is not an IP packet of this link: the agent skips it as not IP.
    if (!layers.slice(0, ipLayer).every((l) => LINK_LAYERS.has(l))) continue;
    const family = layers[ipLayer] === 'ip' ? 4 : 6;
    const timeSec = Math.floor(Number(first('frame.time_epoch')));
    let src: string | undefined;
    let dst: string | undefined;
    let protocol: number;
    let bytes: number;
    let fragKey: string | null = null;
    let nonFirstFragment = false;
    if (family === 4) {
      src = first('ip.src');
      dst = first('ip.dst');
      protocol = Number(first('ip.proto'));
      bytes = Number(first('ip.len'));
      const off = Number(first('ip.frag_offset') ?? '0');
      nonFirstFragment = off > 0;
      fragKey = `${src}|${dst}|${protocol}|${first('ip.id')}`;
    } else {
      src = first('ipv6.src');
      dst = first('ipv6.dst');
      bytes = 40 + Number(first('ipv6.plen'));
      if (bytes === 40) {
        // Payload length 0: a jumbogram carries its length in the hop-by-hop jumbo option; without
        // one (BIG TCP, GSO captures) the packet is what the link carried after its own header.
        const jumbo = first('ipv6.opt.jumbo');
        const link = linkHeaderBytes(layers.slice(0, ipLayer));
        if (jumbo !== undefined) bytes = 40 + Number(jumbo);
        else if (link !== null) bytes = Number(first('frame.len')) - link;
      }
      protocol = Number(first('ipv6.nxt'));
      const used: Partial<Record<Field, number>> = {};
      let isFragment = false;
      for (let hops = 0; hops < 16 && IPV6_EXT[protocol] !== undefined; hops++) {
        const field = IPV6_EXT[protocol];
        if (protocol === 44) isFragment = true;
        const i = used[field] ?? 0;
        const next = all(field)[i];
        if (next === undefined) break;
        used[field] = i + 1;
        protocol = Number(next);
      }
      if (isFragment) {
        nonFirstFragment = Number(first('ipv6.fraghdr.offset') ?? '0') > 0;
        fragKey = `${src}|${dst}|${protocol}|${first('ipv6.fraghdr.ident')}`;
      }
    }
    if (src === undefined || dst === undefined || Number.isNaN(protocol) || Number.isNaN(bytes)) continue;
    let srcPort = 0;
    let dstPort = 0;
    let tcpFlags = 0;
    if (PORT_PROTOCOLS.has(protocol)) {
      if (nonFirstFragment) {
        [srcPort, dstPort] = (fragKey && firstFragments.get(fragKey)) || [0, 0];
      } else {
        const p = protocol === 6 ? 'tcp' : protocol === 132 ? 'sctp' : 'udp';
        srcPort = Number(first(`${p}.srcport` as Field) ?? '0');
        dstPort = Number(first(`${p}.dstport` as Field) ?? '0');
        if (protocol === 6) tcpFlags = Number(first('tcp.flags') ?? '0') & 0x3f;
        if (fragKey) firstFragments.set(fragKey, [srcPort, dstPort]);
      }
    }
    out.push({
      timeSec,
      family,
      src,
      dst,
      protocol,
      srcPort,
      dstPort,
      bytes,
      tcpFlags,
      ethSrc: first('eth.src') ?? '',
      ethDst: first('eth.dst') ?? '',
    });
  }
  return out;
}

/** Bytes of the link header before IP for the layers tshark reports, or null when not fixed. */
function linkHeaderBytes(layers: string[]): number | null {
  let n = 0;
  for (const l of layers) {
    if (l === 'eth') n += 14;
    else if (l === 'vlan') n += 4;
    else if (VARIABLE_LAYERS.has(l)) return null;
    else if (l === 'sll') n += 16;
    else if (l === 'null' || l === 'loop') n += 4;
  }
  return n;
}

/** Aggregation key used by oracle tests: the fields of a record that identify a flow in a window. */
export function flowKey(
  eniId: string,
  direction: string,
  p: { src: string; srcPort: number; dst: string; dstPort: number; protocol: number },
  windowStart: number,
): string {
  return [eniId, direction, p.src, p.srcPort, p.dst, p.dstPort, p.protocol, windowStart].join(' ');
}

/**
 * Expected OK records: every packet is attributed by `attribute` to (eni, direction) pairs and
 * added to its flow of the window it falls in.
 */
export function expectedFlows(
  packets: OraclePacket[],
  intervalSec: number,
  attribute: (p: OraclePacket) => Array<[string, 'in' | 'out']>,
): Map<string, OracleFlow> {
  const flows = new Map<string, OracleFlow>();
  for (const p of packets) {
    const w = p.timeSec - (p.timeSec % intervalSec);
    for (const [eni, dir] of attribute(p)) {
      const k = flowKey(eni, dir, p, w);
      const f = flows.get(k);
      if (f) {
        f.packets++;
        f.bytes += p.bytes;
        f.start = Math.min(f.start, p.timeSec);
        f.end = Math.max(f.end, p.timeSec);
      } else flows.set(k, { packets: 1, bytes: p.bytes, start: p.timeSec, end: p.timeSec });
    }
  }
  return flows;
}

/** The agent's OK records in the same keyed form. */
export function recordFlows(
  records: Array<Record<string, string>>,
  windowOf: (r: Record<string, string>) => number,
): Map<string, OracleFlow> {
  const flows = new Map<string, OracleFlow>();
  for (const r of records) {
    if (r['log-status'] !== 'OK') continue;
    const k = flowKey(
      r['eni-id'],
      r.direction,
      {
        src: r.srcaddr,
        srcPort: Number(r.srcport),
        dst: r.dstaddr,
        dstPort: Number(r.dstport),
        protocol: Number(r.protocol),
      },
      windowOf(r),
    );
    if (flows.has(k)) throw new Error(`duplicate record for ${k}`);
    flows.set(k, { packets: Number(r.packets), bytes: Number(r.bytes), start: Number(r.start), end: Number(r.end) });
  }
  return flows;
}
