/**
 * Honest loss in the kernel. Two VMs on their own devices send many distinct UDP flows into a
 * deliberately small table: first with a flow quota on one ENI (the other keeps recording), then
 * with no quota until the table is full. Oracles: the senders' own counts (every datagram sent
 * is a flow packet or a loss packet of that ENI, exactly) and the program's global counter of
 * packets seen (flows + every loss reason = seen, over all slots).
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LossReason, STAT_NAMES, Stat } from '../../../src/capture/ebpf/drain-layout';
import { EbpfFlowEngine } from '../../../src/capture/ebpf/ebpf-engine';
import { FlowSums, ebpfCanRun, flowRows, ifindexOf, lossOf, macBytes, totalLossPackets } from '../../helpers/ebpf-lab';
import { NetnsLab } from '../../helpers/netns';

const canRun = ebpfCanRun();
const FLOW_CAPACITY = 64;
const QUOTA = 20;

/** `flows` UDP flows of `perFlow` datagrams from `src`, source ports from `firstPort`, to `dst`:9. */
function flowsScript(src: string, dst: string, flows: number, perFlow: number, firstPort: number): string {
  return [
    'import socket',
    `for i in range(${flows}):`,
    '  s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
    `  s.bind(("${src}", ${firstPort} + i))`,
    `  for _ in range(${perFlow}): s.sendto(b"z" * 50, ("${dst}", 9))`,
    '  s.close()',
  ].join('\n');
}

describe.skipIf(!canRun)('eBPF engine loss accounting', () => {
  const lab = new NetnsLab('flls');
  let engine: EbpfFlowEngine;
  const sinks: Socket[] = [];
  let vmA = '';
  let vmB = '';
  const cases: Record<
    'quota' | 'full',
    { sums: FlowSums; quotaA: number; fullA: number; fullB: number; allLoss: number; stats: Float64Array }
  > = {} as never;

  beforeAll(async () => {
    vmA = lab.namespace('a');
    vmB = lab.namespace('b');
    lab.uplink(vmA, 'a0', '10.80.1.2/24', 'fllsA', '10.80.1.1/24');
    lab.uplink(vmB, 'b0', '10.80.2.2/24', 'fllsB', '10.80.2.1/24');
    for (const addr of ['10.80.1.1', '10.80.2.1']) {
      const s = createSocket('udp4');
      await new Promise<void>((r) => s.bind(9, addr, r)); // a discard port: no ICMP replies
      sinks.push(s);
    }
    engine = EbpfFlowEngine.open({ flowCapacity: FLOW_CAPACITY, maxSlots: 2, maxDevices: 2 });
    engine.setMac(macBytes(lab.mac(vmA, 'a0')), 0);
    engine.setMac(macBytes(lab.mac(vmB, 'b0')), 1);
    await engine.attach(ifindexOf('fllsA'), { slot: 0, shared: false });
    await engine.attach(ifindexOf('fllsB'), { slot: 1, shared: false });
    const buf = engine.drainBuffers();
    // Let ARP settle so the measured intervals carry only the datagrams.
    lab.exec(vmA, 'python3', ['-c', flowsScript('10.80.1.2', '10.80.1.1', 1, 1, 29000)]);
    lab.exec(vmB, 'python3', ['-c', flowsScript('10.80.2.2', '10.80.2.1', 1, 1, 29000)]);

    for (const name of ['quota', 'full'] as const) {
      engine.setSlot(0, { flowQuota: name === 'quota' ? QUOTA : 0, onSharedDevices: false });
      engine.setSlot(1, { flowQuota: 0, onSharedDevices: false });
      await engine.drain(buf);
      const s0 = new Float64Array(STAT_NAMES.length);
      engine.readCounters(s0);
      if (name === 'quota') {
        lab.exec(vmA, 'python3', ['-c', flowsScript('10.80.1.2', '10.80.1.1', 100, 3, 20000)]);
        lab.exec(vmB, 'python3', ['-c', flowsScript('10.80.2.2', '10.80.2.1', 10, 2, 20000)]);
      } else {
        lab.exec(vmA, 'python3', ['-c', flowsScript('10.80.1.2', '10.80.1.1', 150, 2, 21000)]);
        lab.exec(vmB, 'python3', ['-c', flowsScript('10.80.2.2', '10.80.2.1', 40, 2, 21000)]);
      }
      await new Promise((r) => setTimeout(r, 200));
      const stats = new Float64Array(STAT_NAMES.length);
      engine.readCounters(stats);
      for (let i = 0; i < stats.length; i++) stats[i] -= s0[i];
      const res = await engine.drain(buf);
      const sums = new FlowSums();
      sums.add(flowRows(buf, res.flows));
      cases[name] = {
        sums,
        quotaA: lossOf(buf, 0, LossReason.Quota).packets,
        fullA: lossOf(buf, 0, LossReason.MapFull).packets,
        fullB: lossOf(buf, 1, LossReason.MapFull).packets,
        allLoss: totalLossPackets(buf),
        stats,
      };
    }
  }, 60_000);

  afterAll(async () => {
    for (const s of sinks) s.close();
    await engine?.close();
    lab.remove();
  });

  it('caps an ENI at its flow quota and counts the rest under quota, leaving the other ENI whole', () => {
    const c = cases.quota;
    const a = c.sums.total((r) => r.slot === 0 && r.protocol === 17 && r.out);
    const b = c.sums.total((r) => r.slot === 1 && r.protocol === 17 && r.out);
    expect(a.flows).toBeGreaterThanOrEqual(QUOTA);
    expect(a.flows).toBeLessThanOrEqual(QUOTA + 2); // CPUs racing past the check may overshoot by a few
    expect(a.packets + c.quotaA).toBe(300);
    expect(b).toEqual({ flows: 10, packets: 20, bytes: 20 * 78 });
  });

  it('counts what a full table cannot take under map_full, per ENI', () => {
    const c = cases.full;
    const a = c.sums.total((r) => r.slot === 0 && r.protocol === 17 && r.out);
    const b = c.sums.total((r) => r.slot === 1 && r.protocol === 17 && r.out);
    expect(a.flows + b.flows).toBeLessThanOrEqual(FLOW_CAPACITY);
    expect(c.fullA + c.fullB).toBeGreaterThan(0);
    expect(a.packets + c.fullA).toBe(300);
    expect(b.packets + c.fullB).toBe(80);
  });

  it('leaves no packet unaccounted: flows + losses = packets seen', () => {
    for (const c of [cases.quota, cases.full]) {
      const flows = c.sums.total(() => true).packets;
      expect(flows + c.allLoss + c.stats[Stat.NoDevice] + c.stats[Stat.NoReserved]).toBe(
        c.stats[Stat.PacketsSeen] + c.stats[Stat.DualPackets],
      );
      expect(c.stats[Stat.NoReserved]).toBe(0);
    }
  });
});
