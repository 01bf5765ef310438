/**
 * The eBPF engine on an ENI's own device (a veth whose VM end is in a namespace), once on TCX and
 * once on forced clsact: UDP both ways and a TCP exchange of known sizes, offloads off so every
 * skb is one wire packet. Oracles: tcpdump on the same device read by tshark (per 5-tuple
 * packets, L3 bytes, TCP flags), the wall clock around the traffic, and the program's own
 * counters (every packet seen is a flow packet or a loss, exactly). Hooks checked on the device.
 */
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LossReason, STAT_NAMES, Stat } from '../../../src/capture/ebpf/drain-layout';
import { EbpfFlowEngine, deviceHooks } from '../../../src/capture/ebpf/ebpf-engine';
import {
  FlowSums,
  ebpfCanRun,
  flowRows,
  ifindexOf,
  lossOf,
  macBytes,
  startTcpdump,
  stopTcpdump,
  totalLossPackets,
  tsharkFlows,
} from '../../helpers/ebpf-lab';
import { NetnsLab, udpSenderScript } from '../../helpers/netns';
import { tempDirForFile } from '../../helpers/temp-dir';

const canRun = ebpfCanRun();
const SLOT = 5;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe.skipIf(!canRun).each(['tcx', 'clsact'] as const)('eBPF engine on an own device (%s)', (mode) => {
  const dir = tempDirForFile(`ebpf-own-${mode}`);
  const lab = new NetnsLab(mode === 'tcx' ? 'fleot' : 'fleoc');
  const host = `${lab.prefix}0`;
  const pcap = join(dir, 'device.pcap');
  let vm = '';
  let vmMac = '';
  let engine: EbpfFlowEngine;
  const sums = new FlowSums();
  const before = new Float64Array(STAT_NAMES.length);
  const after = new Float64Array(STAT_NAMES.length);
  let lossPackets = 0;
  let unattributed = 0;
  let startUs = 0;
  let endUs = 0;
  let attachedMode = '';

  beforeAll(async () => {
    vm = lab.namespace('vm');
    lab.uplink(vm, 'vm0', '10.77.1.2/24', host, '10.77.1.1/24');
    vmMac = lab.mac(vm, 'vm0');
    for (const [ns, dev] of [
      [null, host],
      [vm, 'vm0'],
    ] as const) {
      const args = ['-K', dev, 'tso', 'off', 'gso', 'off', 'gro', 'off'];
      if (ns === null) execFileSync('ethtool', args, { stdio: 'ignore' });
      else lab.exec(ns, 'ethtool', args);
    }
    engine = EbpfFlowEngine.open({ flowCapacity: 1024, maxSlots: 16, maxDevices: 4 });
    engine.setSlot(SLOT, { flowQuota: 0, onSharedDevices: false });
    engine.setMac(macBytes(vmMac), SLOT);
    const res = await engine.attach(ifindexOf(host), { slot: SLOT, shared: false, mode });
    attachedMode = res.mode;
    const buf = engine.drainBuffers();
    await engine.drain(buf); // start from an empty table
    engine.readCounters(before);

    const tcpdump = await startTcpdump(null, ['-i', host, '-n', '-U', '-w', pcap, 'ip']);
    startUs = Date.now() * 1000;
    // UDP VM -> host (a receiver here) and host -> VM (a receiver there), TCP host -> VM server.
    const rx = createSocket('udp4');
    await new Promise<void>((r) => rx.bind(5001, '10.77.1.1', r));
    const vmRx = lab.spawn(vm, 'python3', [
      '-c',
      'import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(("10.77.1.2",40002))\ntime.sleep(120)',
    ]);
    const server = lab.spawn(vm, 'python3', [
      '-c',
      'import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(("10.77.1.2",7000))\ns.listen(1)\nc,_=s.accept()\nn=0\nwhile True:\n  b=c.recv(65536)\n  if not b: break\n  n+=len(b)\nc.sendall(b"y"*3000)\nc.close()',
    ]);
    await sleep(500);
    lab.exec(vm, 'python3', ['-c', udpSenderScript('10.77.1.1', 5001, 50, 100, 40001)]);
    const tx = createSocket('udp4');
    await new Promise<void>((r) => tx.bind(5002, '10.77.1.1', r));
    for (let i = 0; i < 30; i++)
      await new Promise<void>((r) => tx.send(Buffer.alloc(200, 1), 40002, '10.77.1.2', () => r()));
    await new Promise<void>((resolve, reject) => {
      const c = connect({ host: '10.77.1.2', port: 7000, localAddress: '10.77.1.1', localPort: 7001 }, () =>
        c.end(Buffer.alloc(20000, 2)),
      );
      c.on('data', () => {});
      c.on('close', () => resolve());
      c.on('error', reject);
    });
    await sleep(500);
    endUs = Date.now() * 1000;
    rx.close();
    tx.close();
    vmRx.kill();
    server.kill();
    await sleep(300);
    await stopTcpdump(tcpdump);

    const hooks = deviceHooks(ifindexOf(host));
    if (mode === 'tcx') expect(hooks.tcxIngress.length + hooks.tcxEgress.length).toBe(2);
    else expect(hooks.clsactIngress > 0 && hooks.clsactEgress > 0).toBe(true);
    await engine.detach(ifindexOf(host));
    engine.readCounters(after);
    const res2 = await engine.drain(buf);
    sums.add(flowRows(buf, res2.flows));
    lossPackets = totalLossPackets(buf);
    unattributed = lossOf(buf, SLOT, LossReason.Unattributed).packets;
  }, 60_000);

  afterAll(async () => {
    await engine?.close();
    lab.remove();
  });

  it('attaches in the mode asked and leaves no hook after detach', () => {
    expect(attachedMode).toBe(mode);
    const hooks = deviceHooks(ifindexOf(host));
    expect(hooks).toEqual({ tcxIngress: [], tcxEgress: [], clsactIngress: 0, clsactEgress: 0 });
  });

  it('gives every 5-tuple the packets, L3 bytes and TCP flags tcpdump saw on the device', () => {
    const oracle = tsharkFlows(pcap, vmMac);
    const ours = new Map<string, { packets: number; bytes: number; tcpFlags: number }>();
    for (const r of sums.rows.values()) {
      expect(r.slot).toBe(SLOT);
      ours.set(`${r.out ? 'out' : 'in'}|${r.protocol}|${r.src}|${r.srcPort}|${r.dst}|${r.dstPort}`, {
        packets: r.packets,
        bytes: r.bytes,
        tcpFlags: r.tcpFlags,
      });
    }
    expect(ours).toEqual(oracle);
    // and the arithmetic of the generated traffic
    expect(ours.get('out|17|10.77.1.2|40001|10.77.1.1|5001')).toEqual({ packets: 50, bytes: 50 * 128, tcpFlags: 0 });
    expect(ours.get('in|17|10.77.1.1|5002|10.77.1.2|40002')).toEqual({ packets: 30, bytes: 30 * 228, tcpFlags: 0 });
    const tcpIn = ours.get('in|6|10.77.1.1|7001|10.77.1.2|7000');
    expect(tcpIn?.tcpFlags).toBe(0x02 | 0x10 | 0x01 | 0x08); // SYN ACK FIN PSH (the client's side)
  });

  it('stamps flows with wall-clock times inside the traffic', () => {
    for (const r of sums.rows.values()) {
      expect(r.firstUs).toBeGreaterThanOrEqual(startUs - 1000);
      expect(r.lastUs).toBeLessThanOrEqual(endUs + 1000);
      expect(r.lastUs).toBeGreaterThanOrEqual(r.firstUs);
    }
  });

  it('accounts for every packet it saw: flows + losses = seen', () => {
    const d = (s: number) => after[s] - before[s];
    const flowPackets = sums.total(() => true).packets;
    expect(d(Stat.PacketsSeen)).toBeGreaterThan(0);
    expect(flowPackets + lossPackets + d(Stat.NoDevice) + d(Stat.NoReserved)).toBe(
      d(Stat.PacketsSeen) + d(Stat.DualPackets),
    );
    expect(d(Stat.NoReserved)).toBe(0);
    expect(unattributed).toBe(0); // every IP packet on the device is the ENI's
  });
});
