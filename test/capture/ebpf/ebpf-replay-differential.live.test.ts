/**
 * Differential against the repo's own replay: live traffic through an ENI's device (UDP both
 * ways, a TCP transfer, IPv6, IPv4 and IPv6 datagrams the sender fragments), counted by the eBPF
 * engine while tcpdump writes the same device; then that capture through `flowlog-agent replay`
 * must give the same per-5-tuple packets and bytes. (VLAN-tagged frames take the same comparison
 * in ebpf-decode.test.ts: this test machine's kernel has no 802.1Q device type.)
 *
 * Offloads are off on the device: the libpcap path does not yet count GSO super-packets as
 * segments (the engine does, see ebpf-gso.test.ts), so with offloads on the two would differ by
 * design. Only the generated TCP/UDP flows are compared: neighbour discovery and MLD chatter may
 * fall between tcpdump's start and the first drain.
 */
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EbpfFlowEngine } from '../../../src/capture/ebpf/ebpf-engine';
import {
  FlowSums,
  ebpfCanRun,
  flowRows,
  ifindexOf,
  keyOf,
  macBytes,
  startTcpdump,
  stopTcpdump,
} from '../../helpers/ebpf-lab';
import { NetnsLab } from '../../helpers/netns';
import { replayToRecords, writeConfig } from '../../helpers/replay-run';
import { tempDirForFile } from '../../helpers/temp-dir';

const canRun = ebpfCanRun();
const SLOT = 3;

function udpScript(
  src: string,
  dst: string,
  family: 4 | 6,
  sport: number,
  dport: number,
  count: number,
  size: number,
): string {
  const af = family === 4 ? 'AF_INET' : 'AF_INET6';
  return `import socket\ns=socket.socket(socket.${af},socket.SOCK_DGRAM)\ns.bind(("${src}",${sport}))\nfor _ in range(${count}): s.sendto(b"d"*${size},("${dst}",${dport}))`;
}

describe.skipIf(!canRun)('eBPF engine against flowlog-agent replay of the same device', () => {
  const dir = tempDirForFile('ebpf-differential');
  const lab = new NetnsLab('fldf');
  const host = 'fldf0';
  const pcap = join(dir, 'device.pcap');
  let vm = '';
  let vmMac = '';
  let engine: EbpfFlowEngine;
  const ours = new FlowSums();

  beforeAll(async () => {
    vm = lab.namespace('vm');
    lab.uplink(vm, 'vm0', '10.84.1.2/24', host, '10.84.1.1/24');
    vmMac = lab.mac(vm, 'vm0');
    execFileSync('ethtool', ['-K', host, 'tso', 'off', 'gso', 'off', 'gro', 'off']);
    lab.exec(vm, 'ethtool', ['-K', 'vm0', 'tso', 'off', 'gso', 'off', 'gro', 'off']);
    // IPv6 on this pair only, without duplicate address detection
    execFileSync('sysctl', ['-qw', `net.ipv6.conf.${host}.disable_ipv6=0`]);
    lab.exec(vm, 'sysctl', ['-qw', 'net.ipv6.conf.vm0.disable_ipv6=0']);
    execFileSync('ip', ['addr', 'add', 'fd00:84::1/64', 'dev', host, 'nodad']);
    lab.exec(vm, 'ip', ['addr', 'add', 'fd00:84::2/64', 'dev', 'vm0', 'nodad']);
    engine = EbpfFlowEngine.open({ flowCapacity: 1024, maxSlots: 4, maxDevices: 2 });
    engine.setSlot(SLOT, { flowQuota: 0, onSharedDevices: false });
    engine.setMac(macBytes(vmMac), SLOT);
    await engine.attach(ifindexOf(host), { slot: SLOT, shared: false });
    const buf = engine.drainBuffers();

    // receivers on both sides (no ICMP unreachables), a TCP sink here
    const sinks = [
      spawn('python3', [
        '-c',
        'import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(("10.84.1.1",9))\nt=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM); t.bind(("fd00:84::1",9))\ntime.sleep(120)',
      ]),
      spawn('python3', [
        '-c',
        'import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(("10.84.1.1",5555))\ns.listen(1)\nc,_=s.accept()\nwhile c.recv(65536): pass\nc.close()',
      ]),
      lab.spawn(vm, 'python3', [
        '-c',
        'import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(("10.84.1.2",9))\nt=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\nt.bind(("fd00:84::2",9))\ntime.sleep(120)',
      ]),
    ];
    await new Promise((r) => setTimeout(r, 1500));
    const tcpdump = await startTcpdump(null, ['-i', host, '-n', '-U', '-w', pcap]);
    await engine.drain(buf);
    lab.exec(vm, 'python3', ['-c', udpScript('10.84.1.2', '10.84.1.1', 4, 31000, 9, 40, 300)]);
    execFileSync('python3', ['-c', udpScript('10.84.1.1', '10.84.1.2', 4, 31001, 9, 25, 1000)]);
    lab.exec(vm, 'python3', ['-c', udpScript('10.84.1.2', '10.84.1.1', 4, 31002, 9, 10, 3000)]); // 3 fragments each
    lab.exec(vm, 'python3', ['-c', udpScript('fd00:84::2', 'fd00:84::1', 6, 31003, 9, 20, 500)]);
    lab.exec(vm, 'python3', ['-c', udpScript('fd00:84::2', 'fd00:84::1', 6, 31004, 9, 10, 4000)]); // IPv6 fragments
    execFileSync('python3', ['-c', udpScript('fd00:84::1', 'fd00:84::2', 6, 31005, 9, 15, 100)]);
    lab.exec(vm, 'python3', [
      '-c',
      'import socket\nc=socket.create_connection(("10.84.1.1",5555),source_address=("10.84.1.2",31007))\nc.sendall(b"t"*300000)\nc.close()',
    ]);
    await new Promise((r) => setTimeout(r, 500));
    const res = await engine.drain(buf);
    ours.add(flowRows(buf, res.flows).filter((r) => r.protocol === 6 || r.protocol === 17));
    await stopTcpdump(tcpdump);
    for (const s of sinks) s.kill();
  }, 90_000);

  afterAll(async () => {
    await engine?.close();
    lab.remove();
  });

  it('gives every TCP and UDP 5-tuple the packets and bytes replay gives', async () => {
    const config = writeConfig(
      dir,
      `region: cn-hangzhou
accountId: "1234567890123456"
stateDir: ${dir}/state
enis:
  - { id: eni-diff, mac: "${vmMac}", ips: ["10.84.1.2", "fd00:84::2"], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-1 }
flowLogs:
  - { id: fl-diff, resourceType: eni, resourceId: eni-diff, aggregationInterval: 1, sink: { type: stdout } }
`,
    );
    const replay = await replayToRecords([pcap], config, dir);
    expect(replay.code).toBe(0);
    const theirs = new Map<string, { packets: number; bytes: number }>();
    for (const r of replay.records) {
      if (r['log-status'] !== 'OK' || (r.protocol !== '6' && r.protocol !== '17')) continue;
      const k = `${SLOT}|${r.direction}|${r.protocol}|${r.srcaddr}|${r.srcport}|${r.dstaddr}|${r.dstport}`;
      const have = theirs.get(k) ?? { packets: 0, bytes: 0 };
      theirs.set(k, { packets: have.packets + Number(r.packets), bytes: have.bytes + Number(r.bytes) });
    }
    const mine = new Map<string, { packets: number; bytes: number }>();
    for (const r of ours.rows.values()) mine.set(keyOf(r), { packets: r.packets, bytes: r.bytes });
    expect(mine).toEqual(theirs);
    // the traffic really had what the test claims
    expect(mine.get(`${SLOT}|out|17|10.84.1.2|31002|10.84.1.1|9`)).toEqual({
      packets: 30,
      bytes: 10 * (3028 + 2 * 20),
    });
    expect(mine.get(`${SLOT}|out|17|fd00:84::2|31004|fd00:84::1|9`)?.packets).toBe(30);
    expect(mine.get(`${SLOT}|out|6|10.84.1.2|31007|10.84.1.1|5555`)?.packets).toBeGreaterThan(200);
  });
});
