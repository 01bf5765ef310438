/**
 * An overlay device live (overlay.devices): two "hypervisors" (namespaces) joined by an underlay
 * veth, with Linux VXLAN devices over it (VNI 1001 and 1002 on port 4789, 1003 on Linux's old
 * port 8472; this kernel has no Geneve module, so Geneve is proven on replay against tshark). The daemon runs
 * on hypervisor 1 and captures only the underlay veth, so every ENI packet it sees is inside a
 * tunnel. Two ENIs share the inner address 10.0.1.5 in different VPCs: only the VNI tells which
 * one sent. Expected counts are the datagrams sent, with the inner IP length.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProcess, bundleDaemon, readRecords, sleep, writeDaemonConfig } from '../helpers/daemon-process';
import { NetnsLab, udpSenderScript } from '../helpers/netns';
import { tempDirForFile } from '../helpers/temp-dir';

const canRun = NetnsLab.available();
const PAYLOAD = 60;
const TUNNELS = [
  {
    dev: 'flovx0',
    kind: 'vxlan',
    vni: 1001,
    port: 4789,
    local: '10.0.0.5',
    remote: '10.0.0.99',
    count: 30,
    srcPort: 42000,
  },
  {
    dev: 'flovx1',
    kind: 'vxlan',
    vni: 1002,
    port: 4789,
    local: '10.0.1.5',
    remote: '10.0.1.99',
    count: 20,
    srcPort: 42001,
  },
  {
    dev: 'flovx2',
    kind: 'vxlan',
    vni: 1003,
    port: 8472,
    local: '10.0.2.5',
    remote: '10.0.2.99',
    count: 10,
    srcPort: 42002,
  },
] as const;

describe.skipIf(!canRun)('an overlay device (VXLAN on the underlay)', () => {
  const dir = tempDirForFile('daemon-overlay');
  const lab = new NetnsLab('flo');
  const out = join(dir, 'records.jsonl');
  let daemon: DaemonProcess;
  let hv1 = '';
  let hv2 = '';

  beforeAll(async () => {
    hv1 = lab.namespace('hv1');
    hv2 = lab.namespace('hv2');
    lab.veth(hv1, 'flou0', '192.168.77.1/24', hv2, 'flou1', '192.168.77.2/24');
    for (const [ns, me, peer, under, end] of [
      [hv1, '192.168.77.1', '192.168.77.2', 'flou0', 'local'],
      [hv2, '192.168.77.2', '192.168.77.1', 'flou1', 'remote'],
    ] as const) {
      for (const t of TUNNELS) {
        const args = [
          'type',
          t.kind,
          'id',
          String(t.vni),
          'local',
          me,
          'remote',
          peer,
          'dstport',
          String(t.port),
          'dev',
          under,
        ];
        lab.exec(ns, 'ip', ['link', 'add', t.dev, ...args]);
        // No IPv6 autoconfiguration chatter (DAD, MLD, router solicitations for seconds after up)
        // through the tunnels: a frame of it on the underlay while the daemon opens its capture is
        // a device gap, SKIPDATA for every ENI of the shared device, rightly, but not this test's.
        lab.exec(ns, 'sysctl', ['-qw', `net.ipv6.conf.${t.dev}.disable_ipv6=1`]);
        lab.exec(ns, 'ip', ['addr', 'add', `${end === 'local' ? t.local : t.remote}/24`, 'dev', t.dev]);
        lab.exec(ns, 'ip', ['link', 'set', t.dev, 'up']);
      }
    }
    const config = writeDaemonConfig(dir, [
      'overlay:',
      '  devices: [flou0]',
      '  vxlanPorts: [4789, 8472]',
      '  vpcs: [{ vpcId: vpc-a, vni: 1001 }, { vpcId: vpc-b, vni: 1002 }, { vpcId: vpc-c, vni: 1003 }]',
      'enis:',
      '  - { id: eni-a, ips: [10.0.0.5], vpcId: vpc-a, vswitchId: vsw-a, vmId: i-a }',
      '  - { id: eni-b, ips: [10.0.1.5], vpcId: vpc-b, vswitchId: vsw-b, vmId: i-b }',
      '  - { id: eni-c, ips: [10.0.2.5], vpcId: vpc-c, vswitchId: vsw-c, vmId: i-c }',
      '  - { id: eni-decoy, ips: [10.0.1.5], vpcId: vpc-a, vswitchId: vsw-a, vmId: i-d }', // vpc-a reuses vpc-b's address
      'flowLogs:',
      '  - { id: fl-all, resourceType: vswitch, resourceId: vsw-a, aggregationInterval: "10s", extraFields: [tunnel-srcaddr, tunnel-dstaddr, vni], sink: { type: file, path: unused.jsonl } }',
      '  - { id: fl-b, resourceType: vswitch, resourceId: vsw-b, aggregationInterval: "10s", extraFields: [tunnel-srcaddr, tunnel-dstaddr, vni], sink: { type: file, path: unused-b.jsonl } }',
      '  - { id: fl-c, resourceType: vswitch, resourceId: vsw-c, aggregationInterval: "10s", extraFields: [tunnel-srcaddr, tunnel-dstaddr, vni], sink: { type: file, path: unused-c.jsonl } }',
    ]);
    daemon = DaemonProcess.start(lab, hv1, bundleDaemon(dir), config, out);
    await daemon.waitForLog('daemon started', 20_000);
  });

  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    lab.remove();
  });

  it('counts each tunnel for the ENI of its VNI, with inner bytes, outer addresses and VNI', async () => {
    const started = await daemon.waitForLog('capture started', 5_000, (l) => l.device === 'flou0');
    expect(started).toMatchObject({ shared: true, overlay: true });
    const receivers = TUNNELS.map((t) =>
      lab.spawn(hv2, 'python3', [
        '-c',
        `import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(("${t.remote}",7000))\ntime.sleep(8)`,
      ]),
    );
    await sleep(300);
    for (const t of TUNNELS)
      lab.exec(hv1, 'python3', ['-c', udpSenderScript(t.remote, 7000, t.count, PAYLOAD, t.srcPort)]);
    await sleep(500);
    expect(await daemon.stop('SIGTERM')).toBe(0);
    for (const r of receivers) r.kill();

    const udp = readRecords(out).filter((r) => r.protocol === '17' && r['log-status'] === 'OK');
    const got = udp
      .map(
        (r) =>
          `${r['eni-id']} ${r.direction} ${r.srcaddr}:${r.srcport} ${r.dstaddr}:${r.dstport} ${r.packets} ${r.bytes} ${r['tunnel-srcaddr']} ${r['tunnel-dstaddr']} ${r.vni}`,
      )
      .sort();
    const eniOf = ['eni-a', 'eni-b', 'eni-c'];
    expect(got).toEqual(
      TUNNELS.map(
        (t, i) =>
          `${eniOf[i]} out ${t.local}:${t.srcPort} ${t.remote}:7000 ${t.count} ${t.count * (28 + PAYLOAD)} 192.168.77.1 192.168.77.2 ${t.vni}`,
      ).sort(),
    );
    expect(readRecords(out).filter((r) => r['log-status'] === 'SKIPDATA')).toEqual([]);
  });
});
