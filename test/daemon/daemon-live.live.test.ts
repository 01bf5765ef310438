/**
 * The daemon end to end in network namespaces: `run` captures veth ends inside namespace A while
 * a peer namespace B sends known traffic. One daemon run covers, in order: exact UDP counts and
 * bytes, a TCP exchange checked against tcpdump on the same device, NODATA for an idle ENI, an
 * interface created while the daemon runs, and SIGTERM writing the partial window.
 */
import type { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DaemonProcess,
  bundleDaemon,
  readRecords,
  sleep,
  sleepUntilWindowOffset,
  writeDaemonConfig,
} from '../helpers/daemon-process';
import { NetnsLab, udpSenderScript } from '../helpers/netns';
import { tempDirForFile } from '../helpers/temp-dir';

const WINDOW_SEC = 5;
const GRACE_SEC = 2;
const canRun = NetnsLab.available();

describe.skipIf(!canRun)('flowlog-agent run in network namespaces', () => {
  const dir = tempDirForFile('daemon-live');
  const lab = new NetnsLab('fldl');
  const out = join(dir, 'records.jsonl');
  const pcapPath = join(dir, 'oracle.pcap');
  let nsA = '';
  let nsB = '';
  let daemon: DaemonProcess;
  let tcpdump: ReturnType<typeof spawn> | null = null;
  const ENI0 = 'eni-live0';
  const ENI1 = 'eni-live1';
  const ENI2 = 'eni-live2';
  let mac0 = '';

  beforeAll(async () => {
    nsA = lab.namespace('a');
    nsB = lab.namespace('b');
    mac0 = lab.veth(nsA, 'fldl0', '10.201.1.1/24', nsB, 'fldlp0', '10.201.1.2/24').macA;
    lab.veth(nsA, 'fldl1', '10.201.2.1/24', nsB, 'fldlp1', '10.201.2.2/24');
    const config = writeDaemonConfig(dir, [
      'discovery: { type: static, refreshIntervalSec: 2 }',
      'enis:',
      ...[
        [ENI0, 'fldl0'],
        [ENI1, 'fldl1'],
        [ENI2, 'fldl2'],
      ].flatMap(([id, dev]) => [
        `  - id: ${id}`,
        `    interface: ${dev}`,
        '    vpcId: vpc-live',
        '    vswitchId: vsw-live',
        '    vmId: i-live',
      ]),
      'flowLogs:',
      '  - id: fl-live',
      '    resourceType: vpc',
      '    resourceId: vpc-live',
      `    aggregationInterval: "${WINDOW_SEC}s"`,
      '    sink: { type: file, path: unused.jsonl }',
    ]);
    tcpdump = lab.spawn(nsA, 'tcpdump', ['-i', 'fldl0', '-n', '-U', '-w', pcapPath, 'tcp']);
    daemon = DaemonProcess.start(lab, nsA, bundleDaemon(dir), config, out);
    await daemon.waitForLog('daemon started', 15_000);
  });

  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    tcpdump?.kill('SIGTERM');
    lab.remove();
  });

  let udpWindow = 0;
  it('writes exact UDP counts, tcpdump-equal TCP counts, direction and ids; NODATA for the idle ENI', async () => {
    udpWindow = await sleepUntilWindowOffset(WINDOW_SEC, 1);
    // 50 datagrams of 100 bytes payload: 50 packets, 50 * (20 IP + 8 UDP + 100) bytes, inbound.
    const receiver = lab.spawn(nsA, 'python3', [
      '-c',
      'import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(("10.201.1.1",5001))\ntime.sleep(4)',
    ]);
    await sleep(300);
    lab.exec(nsB, 'python3', ['-c', udpSenderScript('10.201.1.1', 5001, 50, 100, 40001)]);
    // A TCP exchange: 3000 bytes up, echoed back.
    const server = lab.spawn(nsA, 'python3', [
      '-c',
      'import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(("10.201.1.1",5002))\ns.listen(1)\nc,_=s.accept()\nn=0\nwhile n<3000:\n  d=c.recv(4096)\n  if not d: break\n  c.sendall(d); n+=len(d)\nc.close()',
    ]);
    await sleep(300);
    lab.exec(nsB, 'python3', [
      '-c',
      'import socket\nc=socket.create_connection(("10.201.1.1",5002))\nc.sendall(b"y"*3000)\nn=0\nwhile n<3000: n+=len(c.recv(4096))\nc.close()',
    ]);
    await new Promise((r) => server.on('exit', r));
    receiver.kill();
    await sleep((udpWindow + WINDOW_SEC + GRACE_SEC + 1) * 1000 - Date.now());

    const recs = readRecords(out).filter(
      (r) => Number(r.start) >= udpWindow && Number(r.end) <= udpWindow + WINDOW_SEC,
    );
    const udp = recs.filter((r) => r.protocol === '17');
    expect(udp).toEqual([
      expect.objectContaining({
        version: '1',
        'eni-id': ENI0,
        'vpc-id': 'vpc-live',
        'vswitch-id': 'vsw-live',
        'vm-id': 'i-live',
        'account-id': '1234567890123456',
        srcaddr: '10.201.1.2',
        srcport: '40001',
        dstaddr: '10.201.1.1',
        dstport: '5001',
        direction: 'in',
        packets: '50',
        bytes: String(50 * (28 + 100)),
        'log-status': 'OK',
        action: 'ACCEPT',
      }),
    ]);

    // The oracle: tcpdump on the same device, counted per direction by tshark. tshark counts
    // frames; a TSO frame larger than the veth's MTU (1500) is the segments it gives on the wire,
    // each with the frame's IP and TCP headers.
    tcpdump?.kill('SIGINT');
    await new Promise((r) => tcpdump?.on('exit', r));
    tcpdump = null;
    const fields = execFileSync(
      'tshark',
      [
        '-r',
        pcapPath,
        '-T',
        'fields',
        '-e',
        'eth.src',
        '-e',
        'ip.len',
        '-e',
        'frame.time_epoch',
        '-e',
        'ip.hdr_len',
        '-e',
        'tcp.hdr_len',
      ],
      { encoding: 'utf8' },
    )
      .trim()
      .split('\n')
      .map((l) => l.split('\t'));
    const inWindow = fields.filter((f) => Number(f[2]) >= udpWindow && Number(f[2]) < udpWindow + WINDOW_SEC);
    const wire = (f: string[]) => {
      const header = Number(f[3]) + Number(f[4] || 0);
      const payload = Number(f[1]) - header;
      const segments = Number(f[1]) > 1500 ? Math.ceil(payload / (1500 - header)) : 1;
      return { segments, bytes: payload + segments * header };
    };
    const expected = (out: boolean) => {
      const rows = inWindow.filter((f) => (f[0] === mac0) === out).map(wire);
      return { packets: rows.reduce((n, w) => n + w.segments, 0), bytes: rows.reduce((n, w) => n + w.bytes, 0) };
    };
    const tcp = (dir: string) => {
      const rows = recs.filter((r) => r.protocol === '6' && r.direction === dir);
      return {
        packets: rows.reduce((n, r) => n + Number(r.packets), 0),
        bytes: rows.reduce((n, r) => n + Number(r.bytes), 0),
      };
    };
    expect(expected(false).packets).toBeGreaterThan(4); // SYN, data, ACKs, FIN at least
    expect(tcp('in')).toEqual(expected(false));
    expect(tcp('out')).toEqual(expected(true));
    for (const r of recs.filter((r) => r.protocol === '6')) {
      expect(r.direction === 'in' ? [r.srcaddr, r.dstaddr, r.dstport] : [r.dstaddr, r.srcaddr, r.srcport]).toEqual([
        '10.201.1.2',
        '10.201.1.1',
        '5002',
      ]);
    }

    const idle = recs.filter((r) => r['eni-id'] === ENI1);
    expect(idle).toEqual([
      expect.objectContaining({
        'log-status': 'NODATA',
        start: String(udpWindow),
        end: String(udpWindow + WINDOW_SEC),
        packets: '-',
      }),
    ]);
    expect(readRecords(out).filter((r) => r['log-status'] === 'SKIPDATA')).toEqual([]);
  });

  it('captures an interface created while running, and SIGTERM writes the partial window', async () => {
    const created = Date.now();
    lab.veth(nsA, 'fldl2', '10.201.3.1/24', nsB, 'fldlp2', '10.201.3.2/24');
    await daemon.waitForLog('capture started', 10_000, (l) => l.device === 'fldl2');
    expect(Date.now() - created).toBeLessThan(10_000);

    const window = await sleepUntilWindowOffset(WINDOW_SEC, 1);
    const receiver = lab.spawn(nsA, 'python3', [
      '-c',
      'import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(("10.201.3.1",5003))\ntime.sleep(3)',
    ]);
    await sleep(200);
    lab.exec(nsB, 'python3', ['-c', udpSenderScript('10.201.3.1', 5003, 7, 10, 40003)]);
    await sleep(500);
    const stopSec = Math.floor(Date.now() / 1000);
    expect(await daemon.stop('SIGTERM')).toBe(0);
    receiver.kill();

    const partial = readRecords(out).filter((r) => Number(r.start) >= window);
    expect(partial).toContainEqual(
      expect.objectContaining({
        'eni-id': ENI2,
        srcaddr: '10.201.3.2',
        dstport: '5003',
        direction: 'in',
        packets: '7',
        bytes: String(7 * 38),
      }),
    );
    // fldl2 appearing changed nothing of the others' windows: their one NODATA is the stop's partial window.
    const nodata = partial.filter((r) => r['log-status'] === 'NODATA');
    expect(nodata.map((r) => r['eni-id']).sort()).toEqual([ENI0, ENI1]);
    for (const r of nodata) {
      expect(Number(r.end)).toBeGreaterThanOrEqual(stopSec);
      expect(Number(r.end)).toBeLessThan(window + WINDOW_SEC);
    }
  });
});
