/**
 * The two capture engines side by side (issue 34): two daemons in one namespace capture the same
 * two ENI devices, one with `capture.engine: libpcap`, one with `ebpf`, offloads on (the
 * default). A peer namespace sends known UDP datagrams to one ENI and a bulk TCP upload (TSO/GSO
 * super-packets) to the other. Oracles: arithmetic for the UDP flow, the sender's own TCP
 * counters (nstat TcpOutSegs + TcpRetransSegs) for the upload, and the libpcap daemon's records
 * for everything: every window both daemons saw whole has the same records, flow by flow.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
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
import { probeEbpf } from '../../src/capture/ebpf/ebpf-probe';

const WINDOW_SEC = 5;
const DATAGRAMS = 60;
const PAYLOAD = 100;
const UPLOAD_BYTES = 8 * 1024 * 1024;
const canRun = NetnsLab.available() && probeEbpf().usable;

type Rec = Record<string, string>;
const FLOW_KEY = ['eni-id', 'srcaddr', 'srcport', 'dstaddr', 'dstport', 'protocol', 'direction', 'log-status'];

/** OK records of whole windows in [fromSec, toSec), keyed by flow and window: packets/bytes/start/end. */
function byFlow(records: readonly Rec[], fromSec: number, toSec: number): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of records) {
    if (r['log-status'] !== 'OK') continue;
    const start = Number(r.start);
    if (start < fromSec || start >= toSec) continue;
    const window = start - (start % WINDOW_SEC);
    out.set(`${window} ${FLOW_KEY.map((k) => r[k]).join(' ')}`, `${r.packets} ${r.bytes} ${r.start} ${r.end}`);
  }
  return out;
}

describe.skipIf(!canRun)('capture.engine ebpf against libpcap, same traffic', () => {
  const dir = tempDirForFile('daemon-ebpf');
  const lab = new NetnsLab('fleb');
  let nsA = '';
  let nsB = '';
  const daemons: Record<'libpcap' | 'ebpf', { d: DaemonProcess; out: string }> = {} as never;

  beforeAll(async () => {
    nsA = lab.namespace('a');
    nsB = lab.namespace('b');
    lab.veth(nsA, 'fleb0', '10.204.1.1/24', nsB, 'flebp0', '10.204.1.2/24');
    lab.veth(nsA, 'fleb1', '10.204.2.1/24', nsB, 'flebp1', '10.204.2.2/24');
    lab.exec(nsB, 'ip', ['neigh', 'replace', '10.204.1.1', 'lladdr', lab.mac(nsA, 'fleb0'), 'dev', 'flebp0']);
    const bundle = bundleDaemon(dir);
    for (const engine of ['libpcap', 'ebpf'] as const) {
      const sub = join(dir, engine);
      mkdirSync(sub, { recursive: true });
      const config = writeDaemonConfig(sub, [
        `capture: { engine: ${engine} }`,
        'discovery: { type: static, refreshIntervalSec: 2 }',
        'enis:',
        '  - { id: eni-e0, interface: fleb0, vpcId: vpc-e, vswitchId: vsw-e, vmId: i-e }',
        '  - { id: eni-e1, interface: fleb1, vpcId: vpc-e, vswitchId: vsw-e, vmId: i-e }',
        'flowLogs:',
        `  - { id: fl-e, resourceType: vpc, resourceId: vpc-e, aggregationInterval: "${WINDOW_SEC}s", sink: { type: file, path: unused.jsonl } }`,
      ]);
      const out = join(sub, 'records.jsonl');
      daemons[engine] = { d: DaemonProcess.start(lab, nsA, bundle, config, out), out };
    }
    for (const { d } of Object.values(daemons)) await d.waitForLog('daemon started', 20_000);
  });

  afterAll(async () => {
    for (const { d } of Object.values(daemons)) await d?.stop('SIGKILL');
    lab.remove();
  });

  it('says which engine captures each device', () => {
    const started = (d: DaemonProcess) =>
      d
        .logLines()
        .filter((l) => l.msg === 'capture started')
        .map((l) => [l.device, l.engine])
        .sort();
    expect(started(daemons.ebpf.d)).toEqual([
      ['fleb0', 'ebpf'],
      ['fleb1', 'ebpf'],
    ]);
    expect(started(daemons.libpcap.d)).toEqual([
      ['fleb0', 'libpcap'],
      ['fleb1', 'libpcap'],
    ]);
  });

  it('writes the same records as libpcap: exact UDP, TCP super-packets as the sender segmented them', async () => {
    const receiver = lab.spawn(nsA, 'python3', [
      '-c',
      [
        'import socket,time',
        'u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); u.bind(("10.204.1.1",7001))',
        't=socket.socket(); t.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); t.bind(("10.204.2.1",7002)); t.listen(1)',
        'c,_=t.accept()',
        'while c.recv(1<<20): pass',
        'time.sleep(1)',
      ].join('\n'),
    ]);
    await sleep(300);
    const first = await sleepUntilWindowOffset(WINDOW_SEC, 0.5);
    lab.exec(nsB, 'python3', ['-c', udpSenderScript('10.204.1.1', 7001, DATAGRAMS, PAYLOAD, 42001)]);
    const nstat = () => {
      const text = lab.exec(nsB, 'nstat', ['-az', 'TcpOutSegs', 'TcpRetransSegs']);
      return [...text.matchAll(/^(TcpOutSegs|TcpRetransSegs)\s+(\d+)/gm)].reduce((n, m) => n + Number(m[2]), 0);
    };
    const segsBefore = nstat();
    lab.exec(nsB, 'python3', [
      '-c',
      `import socket\ns=socket.create_connection(("10.204.2.1",7002),source_address=("10.204.2.2",42002))\ns.sendall(b"x"*${UPLOAD_BYTES})\ns.close()`,
    ]);
    // The receiver drains and closes; the sender's kernel ACKs its FIN: all of it before the count.
    await sleep(1500);
    receiver.kill();
    await sleep(300);
    const segsSent = nstat() - segsBefore;
    // A paced stream across a window boundary: 300 datagrams 2 ms apart from 0.3 s before it
    // (the sender waits for its moment itself: starting Python takes a while).
    const boundary = (Math.floor(Date.now() / 1000 / WINDOW_SEC) + 2) * WINDOW_SEC;
    await sleep((boundary - 2) * 1000 - Date.now());
    lab.exec(nsB, 'python3', [
      '-c',
      'import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(("10.204.1.2",42003))\n' +
        `time.sleep(max(0, ${boundary} - 0.3 - time.time()))\n` +
        'for i in range(300):\n  s.sendto(b"y"*40,("10.204.1.1",7001)); time.sleep(0.002)',
    ]);
    // Both daemons write the windows up to the one the traffic ended in, then stop.
    const last = Math.floor(Date.now() / 1000 / WINDOW_SEC) * WINDOW_SEC;
    await sleep((last + WINDOW_SEC + 3) * 1000 - Date.now());
    for (const { d } of Object.values(daemons)) expect(await d.stop('SIGTERM')).toBe(0);

    const recs = { libpcap: readRecords(daemons.libpcap.out), ebpf: readRecords(daemons.ebpf.out) };
    const udp = recs.ebpf.filter((r) => r.srcport === '42001' && r['log-status'] === 'OK');
    expect(udp.map((r) => [r['eni-id'], r.direction, r.packets, r.bytes])).toEqual([
      ['eni-e0', 'in', String(DATAGRAMS), String(DATAGRAMS * (28 + PAYLOAD))],
    ]);
    const upload = recs.ebpf
      .filter((r) => r.srcport === '42002' && r['log-status'] === 'OK')
      .reduce((n, r) => n + Number(r.packets), 0);
    expect(upload).toBe(segsSent);
    expect(recs.ebpf.filter((r) => r['log-status'] === 'SKIPDATA')).toEqual([]);
    // The paced stream: every datagram counted, in two windows, split as libpcap split it.
    const paced = recs.ebpf.filter((r) => r.srcport === '42003' && r['log-status'] === 'OK');
    expect(paced.reduce((n, r) => n + Number(r.packets), 0)).toBe(300);
    expect(paced.length).toBe(2);
    // Flow by flow, window by window, over the windows both captured whole.
    const ebpfFlows = byFlow(recs.ebpf, first, last + WINDOW_SEC);
    expect(ebpfFlows.size).toBeGreaterThanOrEqual(3);
    expect(ebpfFlows).toEqual(byFlow(recs.libpcap, first, last + WINDOW_SEC));
  });
});
