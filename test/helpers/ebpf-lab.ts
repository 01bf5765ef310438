import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { formatIpv6 } from '../../src/config/net-address';
import {
  BYTE_FLAGS,
  BYTE_PROTOCOL,
  BYTE_TCP_FLAGS,
  F64_BYTES,
  F64_FIRST_US,
  F64_LAST_US,
  F64_PACKETS,
  F64_PER_RECORD,
  LOSS_REASONS,
  RECORD_BYTES,
  RECORD_IPV6,
  RECORD_OUT,
  U16_DST_PORT,
  U16_PER_RECORD,
  U16_SLOT,
  U16_SRC_PORT,
  type DrainBuffers,
} from '../../src/capture/ebpf/drain-layout';
import { probeEbpf } from '../../src/capture/ebpf/ebpf-probe';
import { parseIpWords } from '../../src/enrich/ip-address';
import { NetnsLab } from './netns';
import { tsharkFields } from './tshark-fields';

/**
 * Helpers for the eBPF engine's live tests: decoding drains into rows (tests may allocate), the
 * bytes the engine takes for MACs and addresses, and a check that this process can run the engine.
 */

/** Root with namespaces, and a kernel and capabilities the engine runs on. */
export function ebpfCanRun(): boolean {
  return NetnsLab.available() && probeEbpf().usable;
}

export function ifindexOf(dev: string): number {
  return Number(readFileSync(`/sys/class/net/${dev}/ifindex`, 'utf8'));
}

export function macBytes(mac: string): Uint8Array {
  return Uint8Array.from(mac.split(':').map((x) => parseInt(x, 16)));
}

/** 16 bytes (IPv4 in the first 4) of a textual address. */
export function addressBytes(ip: string): { family: 4 | 6; bytes: Uint8Array } {
  const p = parseIpWords(ip);
  if (!p) throw new Error(`not an address: ${ip}`);
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < 4; i++) view.setUint32(i * 4, p.words[i]);
  return { family: p.family, bytes };
}

export interface FlowRow {
  slot: number;
  out: boolean;
  ipv6: boolean;
  protocol: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  tcpFlags: number;
  packets: number;
  bytes: number;
  firstUs: number;
  lastUs: number;
}

function addressText(b: Uint8Array, ipv6: boolean): string {
  return ipv6 ? formatIpv6([...b]) : `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** The first `count` records of a drain as rows. */
export function flowRows(buf: DrainBuffers, count: number): FlowRow[] {
  const rows: FlowRow[] = [];
  for (let i = 0; i < count; i++) {
    const o = i * RECORD_BYTES;
    const flags = buf.records[o + BYTE_FLAGS];
    const ipv6 = (flags & RECORD_IPV6) !== 0;
    const f = i * F64_PER_RECORD;
    const u = i * U16_PER_RECORD;
    rows.push({
      slot: buf.recordsU16[u + U16_SLOT],
      out: (flags & RECORD_OUT) !== 0,
      ipv6,
      protocol: buf.records[o + BYTE_PROTOCOL],
      src: addressText(buf.records.subarray(o, o + 16), ipv6),
      dst: addressText(buf.records.subarray(o + 16, o + 32), ipv6),
      srcPort: buf.recordsU16[u + U16_SRC_PORT],
      dstPort: buf.recordsU16[u + U16_DST_PORT],
      tcpFlags: buf.records[o + BYTE_TCP_FLAGS],
      packets: buf.recordsF64[f + F64_PACKETS],
      bytes: buf.recordsF64[f + F64_BYTES],
      firstUs: buf.recordsF64[f + F64_FIRST_US],
      lastUs: buf.recordsF64[f + F64_LAST_US],
    });
  }
  return rows;
}

/** Loss of one slot and reason in the last drain. */
export function lossOf(buf: DrainBuffers, slot: number, reason: number): { packets: number; bytes: number } {
  const at = (slot * LOSS_REASONS.length + reason) * 2;
  return { packets: buf.loss[at], bytes: buf.loss[at + 1] };
}

/** Packets of every reason except quota_used (which counts flows), over all slots, in the last drain. */
export function totalLossPackets(buf: DrainBuffers): number {
  let sum = 0;
  for (let i = 0; i < buf.loss.length; i += 2) if ((i / 2) % LOSS_REASONS.length !== 0) sum += buf.loss[i];
  return sum;
}

/** Packets of the reasons that are loss to the flow log (SKIPDATA), over all slots, in the last drain. */
export function skipdataLossPackets(buf: DrainBuffers): number {
  let sum = 0;
  for (let i = 0; i < buf.loss.length; i += 2)
    if (LOSS_REASONS[(i / 2) % LOSS_REASONS.length].skipdata) sum += buf.loss[i];
  return sum;
}

/** Sums rows across drains per (slot, direction, 5-tuple). */
export class FlowSums {
  readonly rows = new Map<string, FlowRow>();

  add(rows: FlowRow[]): void {
    for (const r of rows) {
      const k = keyOf(r);
      const have = this.rows.get(k);
      if (!have) {
        this.rows.set(k, { ...r });
        continue;
      }
      have.packets += r.packets;
      have.bytes += r.bytes;
      have.tcpFlags |= r.tcpFlags;
      have.firstUs = Math.min(have.firstUs, r.firstUs);
      have.lastUs = Math.max(have.lastUs, r.lastUs);
    }
  }

  get(
    slot: number,
    out: boolean,
    protocol: number,
    src: string,
    srcPort: number,
    dst: string,
    dstPort: number,
  ): FlowRow | undefined {
    return this.rows.get(`${slot}|${out ? 'out' : 'in'}|${protocol}|${src}|${srcPort}|${dst}|${dstPort}`);
  }

  /** Rows matching a predicate, summed. */
  total(match: (r: FlowRow) => boolean): { packets: number; bytes: number; flows: number } {
    let packets = 0;
    let bytes = 0;
    let flows = 0;
    for (const r of this.rows.values()) {
      if (!match(r)) continue;
      packets += r.packets;
      bytes += r.bytes;
      flows++;
    }
    return { packets, bytes, flows };
  }
}

export function keyOf(r: FlowRow): string {
  return `${r.slot}|${r.out ? 'out' : 'in'}|${r.protocol}|${r.src}|${r.srcPort}|${r.dst}|${r.dstPort}`;
}

/** A namespace's SNMP/netstat counter (nstat -az names, e.g. TcpOutSegs), read without resetting nstat's history. */
export function nstatCounter(lab: NetnsLab, ns: string, name: string): number {
  const text = lab.exec(ns, 'nstat', ['-asz', '--json']);
  const parsed = JSON.parse(text) as Record<string, Record<string, number>>;
  for (const table of Object.values(parsed)) if (name in table) return table[name];
  throw new Error(`nstat has no ${name}`);
}

export interface OracleFlow {
  packets: number;
  bytes: number;
  tcpFlags: number;
}

/**
 * Per (direction, protocol, 5-tuple) packets, L3 bytes and TCP flags of a capture, as tshark reads
 * it (no reassembly, so later fragments show no ports). Direction: `out` when the frame's source
 * MAC is `eniMac`, else `in`; `any` for every frame when `eniMac` is null. Keys:
 * `${direction}|proto|src|sport|dst|dport`.
 */
export function tsharkFlows(file: string, eniMac: string | null): Map<string, OracleFlow> {
  const rows = tsharkFields(
    file,
    [
      'eth.src',
      'ip.src',
      'ip.dst',
      'ip.proto',
      'ip.len',
      'ipv6.src',
      'ipv6.dst',
      'ipv6.plen',
      'tcp.srcport',
      'tcp.dstport',
      'udp.srcport',
      'udp.dstport',
      'tcp.flags',
    ],
    'ip || ipv6',
    ['-o', 'ip.defragment:FALSE', '-o', 'ipv6.defragment:FALSE'],
  );
  const out = new Map<string, OracleFlow>();
  for (const r of rows) {
    const v6 = r['ip.src'] === '';
    const src = v6 ? r['ipv6.src'] : r['ip.src'].split(',')[0];
    const dst = v6 ? r['ipv6.dst'] : r['ip.dst'].split(',')[0];
    const proto = v6 ? Number.NaN : Number(r['ip.proto'].split(',')[0]);
    const sport = Number(r['tcp.srcport'] || r['udp.srcport'] || 0);
    const dport = Number(r['tcp.dstport'] || r['udp.dstport'] || 0);
    const bytes = v6 ? 40 + Number(r['ipv6.plen'].split(',')[0]) : Number(r['ip.len'].split(',')[0]);
    const protocol = v6 ? (r['tcp.srcport'] ? 6 : r['udp.srcport'] ? 17 : -1) : proto;
    const dir = eniMac === null ? 'any' : r['eth.src'] === eniMac ? 'out' : 'in';
    const k = `${dir}|${protocol}|${src}|${sport}|${dst}|${dport}`;
    const f = out.get(k) ?? { packets: 0, bytes: 0, tcpFlags: 0 };
    f.packets++;
    f.bytes += bytes;
    if (r['tcp.flags']) f.tcpFlags |= parseInt(r['tcp.flags'], 16) & 0xff;
    out.set(k, f);
  }
  return out;
}

/**
 * Starts tcpdump (in `ns`, or here when null) in immediate mode and resolves once it is listening.
 * Immediate mode: with TPACKET_V3's default block timeout, a SIGINT would lose the frames of the
 * block not yet handed over.
 */
export async function startTcpdump(ns: string | null, userArgs: string[]): Promise<ChildProcess> {
  const args = ['--immediate-mode', ...userArgs];
  const p =
    ns === null
      ? spawn('tcpdump', args, { stdio: ['ignore', 'ignore', 'pipe'] })
      : spawn('ip', ['netns', 'exec', ns, 'tcpdump', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(
      () => reject(new Error(`tcpdump ${args.join(' ')}: not listening after 10 s: ${text}`)),
      10_000,
    );
    p.stderr?.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    p.once('exit', (code) => reject(new Error(`tcpdump ${args.join(' ')} exited ${code}: ${text}`)));
  });
  return p;
}

/** Stops tcpdump and waits until it has written its file. */
export async function stopTcpdump(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGINT');
  await exited;
}
