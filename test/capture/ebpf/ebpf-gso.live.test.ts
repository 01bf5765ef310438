/**
 * Offloads on (the default): iperf3 TCP bulk from a client namespace through the test's namespace
 * (forwarding between two veths) to a server namespace. The engine is attached to the client's
 * ENI device, where TSO super-packets arrive whole. Oracles:
 *  - the client's own TcpOutSegs + TcpRetransSegs (nstat; TcpOutSegs leaves retransmissions out)
 *    is the packets of its out flows, and the server's the packets of its in flows: segments,
 *    not skbs;
 *  - the onward device has TSO/GSO off, so the kernel cuts the super-packets there and tcpdump
 *    on it sees the segments the wire carries: per 5-tuple their count and summed IP lengths are
 *    the engine's packets and bytes (the bytes check the (gso_segs - 1) x headers arithmetic).
 * The GSO skb counter proves super-packets went through the program.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STAT_NAMES, Stat } from '../../../src/capture/ebpf/drain-layout';
import { EbpfFlowEngine } from '../../../src/capture/ebpf/ebpf-engine';
import {
  FlowSums,
  ebpfCanRun,
  flowRows,
  ifindexOf,
  macBytes,
  nstatCounter,
  startTcpdump,
  stopTcpdump,
  skipdataLossPackets,
  tsharkFlows,
} from '../../helpers/ebpf-lab';
import { NetnsLab } from '../../helpers/netns';
import { tempDirForFile } from '../../helpers/temp-dir';

const canRun = ebpfCanRun();
const SLOT = 1;

describe.skipIf(!canRun)('eBPF engine with TSO/GSO super-packets (iperf3)', () => {
  const dir = tempDirForFile('ebpf-gso');
  const lab = new NetnsLab('flgs');
  const eniDev = 'flgsA';
  const onward = 'flgsB';
  const segments = join(dir, 'segments.pcap');
  let cl = '';
  let srv = '';
  let clientMac = '';
  let engine: EbpfFlowEngine;
  const sums = new FlowSums();
  const before = new Float64Array(STAT_NAMES.length);
  const after = new Float64Array(STAT_NAMES.length);
  let clientSegs = 0;
  let serverSegs = 0;
  let lossPackets = 0;
  let tcpdumpDropped = -1;

  beforeAll(async () => {
    cl = lab.namespace('cl');
    srv = lab.namespace('srv');
    lab.uplink(cl, 'cl0', '10.78.1.2/24', eniDev, '10.78.1.1/24');
    lab.uplink(srv, 'srv0', '10.78.2.2/24', onward, '10.78.2.1/24');
    lab.exec(cl, 'ip', ['route', 'add', 'default', 'via', '10.78.1.1']);
    lab.exec(srv, 'ip', ['route', 'add', 'default', 'via', '10.78.2.1']);
    // Forwarding on these two devices only (IPv4 decides by the receiving device).
    for (const dev of [eniDev, onward]) execFileSync('sysctl', ['-qw', `net.ipv4.conf.${dev}.forwarding=1`]);
    execFileSync('ethtool', ['-K', onward, 'tso', 'off', 'gso', 'off']);
    clientMac = lab.mac(cl, 'cl0');

    engine = EbpfFlowEngine.open({ flowCapacity: 1024, maxSlots: 4, maxDevices: 4 });
    engine.setSlot(SLOT, { flowQuota: 0, onSharedDevices: false });
    engine.setMac(macBytes(clientMac), SLOT);
    await engine.attach(ifindexOf(eniDev), { slot: SLOT, shared: false });
    const buf = engine.drainBuffers();
    const server = lab.spawn(srv, 'iperf3', ['-s', '-1', '-B', '10.78.2.2']);
    const serverDone = new Promise<void>((r) => server.once('exit', () => r()));
    await new Promise((r) => setTimeout(r, 500));
    const tcpdump = await startTcpdump(null, ['-i', onward, '-n', '-s', '128', '-B', '65536', '-w', segments, 'tcp']);
    await engine.drain(buf);
    engine.readCounters(before);
    const segs = (ns: string) => nstatCounter(lab, ns, 'TcpOutSegs') + nstatCounter(lab, ns, 'TcpRetransSegs');
    const c0 = segs(cl);
    const s0 = segs(srv);
    lab.exec(cl, 'iperf3', ['-c', '10.78.2.2', '-B', '10.78.1.2', '-t', '2', '-b', '200M', '-l', '64K']);
    // The server's FIN (and the client's last ACK) follow the server's exit, which a loaded
    // machine delays; then read once nothing moves, so no segment falls between the counters
    // and the drain.
    await Promise.race([serverDone, new Promise((r) => setTimeout(r, 20_000))]);
    server.kill(); // (gone already, unless it hung)
    let last = '';
    for (let i = 0; i < 40; i++) {
      await new Promise((r) => setTimeout(r, 250));
      const now = `${segs(cl)}/${segs(srv)}`;
      if (now === last) break;
      last = now;
    }
    clientSegs = segs(cl) - c0;
    serverSegs = segs(srv) - s0;
    engine.readCounters(after);
    const res = await engine.drain(buf);
    sums.add(flowRows(buf, res.flows));
    lossPackets = skipdataLossPackets(buf);
    let stderr = '';
    tcpdump.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await stopTcpdump(tcpdump);
    tcpdumpDropped = Number(/(\d+) packets dropped by kernel/.exec(stderr)?.[1] ?? -1);
  }, 60_000);

  afterAll(async () => {
    await engine?.close();
    lab.remove();
  });

  it('saw super-packets: the test exercised GSO', () => {
    expect(after[Stat.GsoSkbs] - before[Stat.GsoSkbs]).toBeGreaterThan(100);
    expect(after[Stat.PacketsSeen] - before[Stat.PacketsSeen]).toBeGreaterThan(
      after[Stat.SkbsSeen] - before[Stat.SkbsSeen],
    );
  });

  it("counts the client's TCP segments as its TcpOutSegs + TcpRetransSegs, and the server's likewise", () => {
    const out = sums.total((r) => r.protocol === 6 && r.out);
    const inbound = sums.total((r) => r.protocol === 6 && !r.out);
    expect(clientSegs).toBeGreaterThan(10_000);
    expect(out.packets).toBe(clientSegs);
    expect(inbound.packets).toBe(serverSegs);
    expect(lossPackets).toBe(0); // no map, quota or parse loss
  });

  it('gives each flow the packets and L3 bytes of the segments the onward device carried', () => {
    expect(tcpdumpDropped).toBe(0);
    // On the onward device every frame's source MAC is the host's: the client's frames are the
    // ones from its address.
    const oracle = tsharkFlows(segments, null);
    for (const r of sums.rows.values()) {
      if (!r.out || r.protocol !== 6) continue;
      const seen = oracle.get(`any|6|${r.src}|${r.srcPort}|${r.dst}|${r.dstPort}`);
      expect({ flow: `${r.srcPort}->${r.dstPort}`, packets: r.packets, bytes: r.bytes }).toEqual({
        flow: `${r.srcPort}->${r.dstPort}`,
        packets: seen?.packets,
        bytes: seen?.bytes,
      });
    }
  });
});
