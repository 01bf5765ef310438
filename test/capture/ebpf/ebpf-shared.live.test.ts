/**
 * A shared device: a Linux bridge with four VMs. ENI0 and ENI1 have no device of their own and
 * count on the bridge by MAC; ENI2 has its own device (a bridge port, attached as such) and must
 * never count on the bridge; VM3 is no ENI. The engine holds the bridge promiscuous (forwarded
 * frames reach the bridge's own hooks only then) and releases it at detach. Oracle: the
 * arithmetic of the datagrams each VM sends, per ENI and direction.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LossReason, STAT_NAMES, Stat } from '../../../src/capture/ebpf/drain-layout';
import { EbpfFlowEngine } from '../../../src/capture/ebpf/ebpf-engine';
import { FlowSums, ebpfCanRun, flowRows, ifindexOf, lossOf, macBytes, totalLossPackets } from '../../helpers/ebpf-lab';
import { NetnsLab, udpSenderScript } from '../../helpers/netns';
import { execFileSync } from 'node:child_process';

const canRun = ebpfCanRun();
const BRIDGE_SLOT = 10;
const IFF_PROMISC = 0x100;

function flags(dev: string): number {
  return Number(readFileSync(`/sys/class/net/${dev}/flags`, 'utf8'));
}

describe.skipIf(!canRun)('eBPF engine on a shared bridge', () => {
  const lab = new NetnsLab('flsh');
  const br = 'flshbr';
  const ips = ['10.82.0.10', '10.82.0.11', '10.82.0.12', '10.82.0.13'];
  const vms: string[] = [];
  let engine: EbpfFlowEngine;
  const sums = new FlowSums();
  let unattributed = 0;
  let promiscWhileAttached = false;
  let promiscAfter = true;
  let allLoss = 0;
  let allFlowPackets = 0;
  const stats = new Float64Array(STAT_NAMES.length);

  beforeAll(async () => {
    execFileSync('ip', ['link', 'add', br, 'type', 'bridge']);
    execFileSync('sysctl', ['-qw', `net.ipv6.conf.${br}.disable_ipv6=1`]);
    execFileSync('ip', ['link', 'set', br, 'up']);
    const macs: string[] = [];
    for (let i = 0; i < 4; i++) {
      vms.push(lab.namespace(`vm${i}`));
      execFileSync('ip', ['link', 'add', `flshp${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vms[i]]);
      execFileSync('ip', ['link', 'set', `flshp${i}`, 'master', br, 'up']);
      lab.exec(vms[i], 'sysctl', ['-qw', 'net.ipv6.conf.eth0.disable_ipv6=1']);
      lab.exec(vms[i], 'ip', ['addr', 'add', `${ips[i]}/24`, 'dev', 'eth0']);
      lab.exec(vms[i], 'ip', ['link', 'set', 'eth0', 'up']);
      macs.push(lab.mac(vms[i], 'eth0'));
    }
    engine = EbpfFlowEngine.open({ flowCapacity: 256, maxSlots: 16, maxDevices: 4 });
    for (let i = 0; i < 3; i++) {
      engine.setSlot(i, { flowQuota: 0, onSharedDevices: i < 2 });
      engine.setMac(macBytes(macs[i]), i);
    }
    engine.setSlot(BRIDGE_SLOT, { flowQuota: 0, onSharedDevices: false });
    await engine.attach(ifindexOf(br), { slot: BRIDGE_SLOT, shared: true, promiscuous: true });
    await engine.attach(ifindexOf('flshp2'), { slot: 2, shared: false });
    promiscWhileAttached = (flags(br) & IFF_PROMISC) !== 0;
    // receivers everywhere, so no ICMP unreachable crosses the bridge
    const rx = vms.map((ns, i) =>
      lab.spawn(ns, 'python3', [
        '-c',
        `import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(("${ips[i]}",7000))\ntime.sleep(120)`,
      ]),
    );
    await new Promise((r) => setTimeout(r, 700));
    // resolve ARP first, outside the measured interval
    for (const [from, to] of [
      [0, 1],
      [0, 2],
      [2, 1],
      [3, 2],
    ])
      lab.exec(vms[from], 'python3', ['-c', udpSenderScript(ips[to], 7000, 1, 1, 42999)]);
    const buf = engine.drainBuffers();
    await engine.drain(buf);
    const s0 = new Float64Array(STAT_NAMES.length);
    engine.readCounters(s0);
    lab.exec(vms[0], 'python3', ['-c', udpSenderScript(ips[1], 7000, 30, 100, 43000)]); // ENI0 -> ENI1: both on the bridge
    lab.exec(vms[0], 'python3', ['-c', udpSenderScript(ips[2], 7000, 20, 100, 43001)]); // ENI0 -> ENI2
    lab.exec(vms[2], 'python3', ['-c', udpSenderScript(ips[1], 7000, 10, 100, 43002)]); // ENI2 -> ENI1
    lab.exec(vms[3], 'python3', ['-c', udpSenderScript(ips[2], 7000, 5, 100, 43003)]); // no ENI -> ENI2
    await new Promise((r) => setTimeout(r, 300));
    engine.readCounters(stats);
    for (let i = 0; i < stats.length; i++) stats[i] -= s0[i];
    const res = await engine.drain(buf);
    const rows = flowRows(buf, res.flows);
    allFlowPackets = rows.reduce((n, r) => n + r.packets, 0);
    sums.add(rows.filter((r) => r.protocol === 17));
    unattributed = lossOf(buf, BRIDGE_SLOT, LossReason.Unattributed).packets;
    allLoss = totalLossPackets(buf);
    for (const p of rx) p.kill();
    await engine.detach(ifindexOf(br));
    promiscAfter = (flags(br) & IFF_PROMISC) !== 0;
  }, 60_000);

  afterAll(async () => {
    await engine?.close();
    lab.remove();
    execFileSync('ip', ['link', 'del', br], { stdio: 'ignore' });
  });

  it('holds the bridge promiscuous only while attached', () => {
    expect(promiscWhileAttached).toBe(true);
    expect(promiscAfter).toBe(false);
  });

  it('counts each ENI without a device of its own by MAC on the bridge, the ENI with one on its device only', () => {
    const t = (slot: number, out: boolean, sport: number) =>
      sums.total((r) => r.slot === slot && r.out === out && r.srcPort === sport);
    expect(t(0, true, 43000)).toEqual({ flows: 1, packets: 30, bytes: 30 * 128 });
    expect(t(1, false, 43000)).toEqual({ flows: 1, packets: 30, bytes: 30 * 128 });
    expect(t(0, true, 43001)).toEqual({ flows: 1, packets: 20, bytes: 20 * 128 });
    expect(t(2, false, 43001)).toEqual({ flows: 1, packets: 20, bytes: 20 * 128 }); // on its own device
    expect(t(1, false, 43002)).toEqual({ flows: 1, packets: 10, bytes: 10 * 128 });
    expect(t(2, true, 43002)).toEqual({ flows: 1, packets: 10, bytes: 10 * 128 });
    expect(t(2, false, 43003)).toEqual({ flows: 1, packets: 5, bytes: 5 * 128 });
    expect(sums.rows.size).toBe(7);
  });

  it('counts frames of no ENI counted there under the bridge slot, and every packet once per ENI', () => {
    // VM3 -> ENI2 crosses the bridge naming no ENI counted there: unattributed on the bridge
    expect(unattributed).toBe(5);
    expect(stats[Stat.DualPackets]).toBe(30); // ENI0 -> ENI1 counted for both
    expect(allFlowPackets + allLoss).toBe(stats[Stat.PacketsSeen] + stats[Stat.DualPackets]);
  });
});
