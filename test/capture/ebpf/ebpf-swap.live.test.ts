/**
 * Swapping the tables under continuous traffic loses nothing: a VM sends a known number of UDP
 * datagrams as fast as it can while the test drains every few milliseconds; the flow's packets
 * summed over all drains are what the VM's stack handed to its device (sent minus the veth's own
 * drops, which happen before any hook), and the program recorded no loss.
 */
import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EbpfFlowEngine } from '../../../src/capture/ebpf/ebpf-engine';
import { FlowSums, ebpfCanRun, flowRows, ifindexOf, macBytes, skipdataLossPackets } from '../../helpers/ebpf-lab';
import { NetnsLab } from '../../helpers/netns';

const canRun = ebpfCanRun();
const SENT = 200_000;

describe.skipIf(!canRun)('eBPF engine swapping tables under traffic', () => {
  const lab = new NetnsLab('flsw');
  let engine: EbpfFlowEngine;
  let vm = '';
  const sums = new FlowSums();
  let drains = 0;
  let drainsWithFlow = 0;
  let lost = 0;
  let vmTxDropped = 0;

  beforeAll(async () => {
    vm = lab.namespace('vm');
    lab.uplink(vm, 'vm0', '10.81.1.2/24', 'flsw0', '10.81.1.1/24');
    const sink = createSocket('udp4');
    await new Promise<void>((r) => sink.bind(9, '10.81.1.1', r));
    engine = EbpfFlowEngine.open({ flowCapacity: 1024, maxSlots: 1, maxDevices: 1 });
    engine.setSlot(0, { flowQuota: 0, onSharedDevices: false });
    engine.setMac(macBytes(lab.mac(vm, 'vm0')), 0);
    await engine.attach(ifindexOf('flsw0'), { slot: 0, shared: false });
    const buf = engine.drainBuffers();
    const dropped = (): number => Number(lab.exec(vm, 'cat', ['/sys/class/net/vm0/statistics/tx_dropped']));
    const dropped0 = dropped();
    const sender = lab.spawn(vm, 'python3', [
      '-c',
      `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(("10.81.1.2",30000))\np=b"q"*64\nfor _ in range(${SENT}): s.sendto(p,("10.81.1.1",9))`,
    ]);
    const done = new Promise<void>((r) => sender.once('exit', () => r()));
    let finished = false;
    void done.then(() => (finished = true));
    while (!finished) {
      const res = await engine.drain(buf);
      drains++;
      const rows = flowRows(buf, res.flows).filter((r) => r.protocol === 17);
      if (rows.length > 0) drainsWithFlow++;
      sums.add(rows);
      lost += skipdataLossPackets(buf);
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 100));
    const res = await engine.drain(buf);
    sums.add(flowRows(buf, res.flows).filter((r) => r.protocol === 17));
    lost += skipdataLossPackets(buf);
    vmTxDropped = dropped() - dropped0;
    sink.close();
  }, 120_000);

  afterAll(async () => {
    await engine?.close();
    lab.remove();
  });

  it('adds up, across consecutive drains, to what was sent', () => {
    expect(drainsWithFlow).toBeGreaterThan(10); // the swaps happened while packets flowed
    const flow = sums.get(0, true, 17, '10.81.1.2', 30000, '10.81.1.1', 9);
    expect(flow?.packets).toBe(SENT - vmTxDropped);
    expect(flow?.bytes).toBe((SENT - vmTxDropped) * 92);
    expect(lost).toBe(0);
    expect(drains).toBeGreaterThanOrEqual(drainsWithFlow);
  });
});
