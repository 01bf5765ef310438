import type { PacketView } from '../../packet/decode/packet-view';
import { parseIpWords } from '../ip-address';

/**
 * One flow as an operator writes it for `flowlog-agent check`:
 *   "tcp 10.0.0.5:51000 > 10.0.1.9:22 in", "udp [2001:db8::5]:53 > [2001:db8::9]:5353 out",
 *   "icmp 10.0.0.5 > 10.0.1.9 in" (no ports for icmp, icmpv6 and numeric protocols).
 * The direction is the ENI's view: `in` enters the ENI, `out` leaves it.
 */
export interface FlowSpec {
  protocol: number;
  family: 4 | 6;
  src: Uint32Array;
  dst: Uint32Array;
  srcPort: number;
  dstPort: number;
  direction: 'in' | 'out';
  /** TCP flags of the packet (0 unless given as a trailing "syn", "syn-ack", ...); tests use it. */
  tcpFlags: number;
}

export class FlowSpecError extends Error {
  override readonly name = 'FlowSpecError';
}

const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58 };
const FLAGS: Record<string, number> = { syn: 2, 'syn-ack': 18, ack: 16, rst: 4, fin: 1 };

/** Parses a flow; throws FlowSpecError naming the part that is wrong. */
export function parseFlowSpec(text: string): FlowSpec {
  const parts = text.trim().split(/\s+/);
  if (parts.length < 5 || parts[2] !== '>') {
    throw new FlowSpecError(
      `parse flow "${text}": expected "<protocol> <src>[:port] > <dst>[:port] <in|out>", e.g. "tcp 10.0.0.5:51000 > 10.0.1.9:22 in"`,
    );
  }
  const [protoText, srcText, , dstText, direction, flagText] = parts;
  const protocol =
    PROTOCOLS[protoText.toLowerCase()] ??
    (/^\d{1,3}$/.test(protoText) && Number(protoText) < 256 ? Number(protoText) : -1);
  if (protocol < 0)
    throw new FlowSpecError(
      `parse flow "${text}": unknown protocol "${protoText}" (tcp, udp, icmp, icmpv6 or a number)`,
    );
  if (direction !== 'in' && direction !== 'out')
    throw new FlowSpecError(`parse flow "${text}": direction must be "in" or "out", got "${direction}"`);
  const hasPorts = protocol === 6 || protocol === 17;
  const src = endpoint(srcText, hasPorts, text);
  const dst = endpoint(dstText, hasPorts, text);
  if (src.family !== dst.family)
    throw new FlowSpecError(`parse flow "${text}": source and destination are of different IP versions`);
  const tcpFlags = flagText === undefined ? 0 : FLAGS[flagText];
  if (tcpFlags === undefined) throw new FlowSpecError(`parse flow "${text}": unknown TCP flags "${flagText}"`);
  return {
    protocol,
    family: src.family,
    src: src.words,
    dst: dst.words,
    srcPort: src.port,
    dstPort: dst.port,
    direction,
    tcpFlags,
  };
}

function endpoint(text: string, hasPorts: boolean, whole: string): { family: 4 | 6; words: Uint32Array; port: number } {
  let host = text;
  let portText: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracket) {
    host = bracket[1];
    portText = bracket[2];
  } else if (text.split(':').length === 2) {
    [host, portText] = text.split(':');
  }
  const addr = parseIpWords(host);
  if (!addr)
    throw new FlowSpecError(
      `parse flow "${whole}": not an IP address: "${host}" (write IPv6 with a port as [2001:db8::1]:22)`,
    );
  if (hasPorts && portText === undefined) throw new FlowSpecError(`parse flow "${whole}": "${text}" needs a port`);
  const port = portText === undefined ? 0 : Number(portText);
  if (!hasPorts && port !== 0) throw new FlowSpecError(`parse flow "${whole}": only tcp and udp have ports`);
  if (port > 65535) throw new FlowSpecError(`parse flow "${whole}": port above 65535 in "${text}"`);
  return { family: addr.family, words: addr.words, port };
}

/** Writes a flow into a view as the decoder would (timestamp `tsSec`, 0 bytes). */
export function fillView(v: PacketView, f: FlowSpec, tsSec: number): PacketView {
  v.tsSec = tsSec;
  v.family = f.family;
  v.src.set(f.src);
  v.dst.set(f.dst);
  v.protocol = f.protocol;
  v.srcPort = f.srcPort;
  v.dstPort = f.dstPort;
  v.tcpFlags = f.tcpFlags;
  v.hasSrcMac = false;
  v.hasDstMac = false;
  return v;
}
