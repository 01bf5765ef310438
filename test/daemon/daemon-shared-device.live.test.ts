/**
 * A device shared by many ENIs (capture.devices): a Linux bridge with three VMs (namespaces) on
 * it. Two ENIs have no device of their own and are counted on the bridge by MAC; the third is
 * captured on its own bridge port, so the bridge must not count it again. Expected counts are the
 * datagrams sent, each counted once per ENI it leaves or enters.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProcess, bundleDaemon, readRecords, sleep, writeDaemonConfig } from '../helpers/daemon-process';
import { NetnsLab, udpSenderScript } from '../helpers/netns';
import { tempDirForFile } from '../helpers/temp-dir';

const canRun = NetnsLab.available();
const PAYLOAD = 50;

describe.skipIf(!canRun)('a shared capture device (Linux bridge)', () => {
  const dir = tempDirForFile('daemon-shared');
  const lab = new NetnsLab('fls');
  const out = join(dir, 'records.jsonl');
  let daemon: DaemonProcess;
  let host = '';
  const vms: string[] = [];
  const ips = ['10.212.0.11', '10.212.0.12', '10.212.0.13'];

  beforeAll(async () => {
    host = lab.namespace('host');
    lab.bridge(host, 'flsbr0');
    const macs = [0, 1, 2].map((i) => {
      vms.push(lab.namespace(`vm${i}`));
      return lab.bridgePort(host, `flsh${i}`, 'flsbr0', vms[i], `flsv${i}`, `${ips[i]}/24`);
    });
    const config = writeDaemonConfig(dir, [
      'capture: { devices: [flsbr0, flsgone0] }', // flsgone0 does not exist: logged, retried, the bridge counts on
      'enis:',
      `  - { id: eni-shared0, mac: "${macs[0]}", ips: [${ips[0]}], vpcId: vpc-s, vswitchId: vsw-s, vmId: i-0 }`,
      `  - { id: eni-shared1, mac: "${macs[1]}", ips: [${ips[1]}], vpcId: vpc-s, vswitchId: vsw-s, vmId: i-1 }`,
      `  - { id: eni-own2, interface: flsh2, mac: "${macs[2]}", ips: [${ips[2]}], vpcId: vpc-s, vswitchId: vsw-s, vmId: i-2 }`,
      'flowLogs:',
      '  - { id: fl-s, resourceType: vpc, resourceId: vpc-s, aggregationInterval: "10s", sink: { type: file, path: unused.jsonl } }',
    ]);
    daemon = DaemonProcess.start(lab, host, bundleDaemon(dir), config, out);
    await daemon.waitForLog('daemon started', 20_000);
  });

  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    lab.remove();
  });

  it('counts frames between ENIs once for each, and an ENI with its own device only there', async () => {
    const started = await daemon.waitForLog('capture started', 5_000, (l) => l.device === 'flsbr0');
    expect(started.shared).toBe(true);
    const missing = await daemon.waitForLog('open capture device flsgone0: No such device exists', 5_000);
    expect(missing).toMatchObject({ device: 'flsgone0', failures: 1 });
    // Receivers, so no ICMP port-unreachable joins the traffic.
    const receivers = [1, 2].map((i) =>
      lab.spawn(vms[i], 'python3', [
        '-c',
        `import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(("${ips[i]}",7000))\ntime.sleep(6)`,
      ]),
    );
    await sleep(300);
    lab.exec(vms[0], 'python3', ['-c', udpSenderScript(ips[1], 7000, 30, PAYLOAD, 41000)]); // shared0 -> shared1
    lab.exec(vms[0], 'python3', ['-c', udpSenderScript(ips[2], 7000, 20, PAYLOAD, 41001)]); // shared0 -> own2
    lab.exec(vms[2], 'python3', ['-c', udpSenderScript(ips[1], 7000, 10, PAYLOAD, 41002)]); // own2 -> shared1
    await sleep(500);
    expect(await daemon.stop('SIGTERM')).toBe(0);
    for (const r of receivers) r.kill();

    const udp = readRecords(out).filter((r) => r.protocol === '17' && r['log-status'] === 'OK');
    const got = udp
      .map((r) => `${r['eni-id']} ${r.direction} ${r.srcaddr}:${r.srcport} ${r.dstaddr} ${r.packets} ${r.bytes}`)
      .sort();
    const b = (n: number) => `${n} ${n * (28 + PAYLOAD)}`;
    expect(got).toEqual(
      [
        `eni-shared0 out ${ips[0]}:41000 ${ips[1]} ${b(30)}`,
        `eni-shared1 in ${ips[0]}:41000 ${ips[1]} ${b(30)}`,
        `eni-shared0 out ${ips[0]}:41001 ${ips[2]} ${b(20)}`,
        `eni-own2 in ${ips[0]}:41001 ${ips[2]} ${b(20)}`,
        `eni-own2 out ${ips[2]}:41002 ${ips[1]} ${b(10)}`,
        `eni-shared1 in ${ips[2]}:41002 ${ips[1]} ${b(10)}`,
      ].sort(),
    );
    expect(readRecords(out).filter((r) => r['log-status'] === 'SKIPDATA')).toEqual([]);
  });
});
