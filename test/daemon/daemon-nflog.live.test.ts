/**
 * NFLOG in the daemon: `run` captures the ENI's device and the NFLOG groups of the config next to
 * it. The daemon's namespace has an nftables input chain that logs UDP to port 5009 to group 7
 * and drops it; a peer sends datagrams to the blocked port and to an open one. The blocked ones
 * must come out as one REJECT record with the count nftables dropped (and no ACCEPT twin), the
 * others as ACCEPT. Group 9 is held by tcpdump when the daemon starts: the daemon names it as
 * down (log and /healthz) and opens it once tcpdump lets go.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bundleDaemon,
  readRecords,
  sleep,
  sleepUntilWindowOffset,
  writeDaemonConfig,
  type DaemonProcess,
} from '../helpers/daemon-process';
import { httpGetInNamespace, startDaemonWithSinks } from '../helpers/daemon-scrape';
import { NetnsLab, udpSenderScript } from '../helpers/netns';
import { tempDirForFile } from '../helpers/temp-dir';

const WINDOW_SEC = 2;
const GRACE_SEC = 2;
const DROPPED = 20;
const ACCEPTED = 10;
const PAYLOAD = 50;
const SRV = '10.204.1.1';
const CLI = '10.204.1.2';
const canRun = NetnsLab.available();

const RULESET = `table inet flowlog_daemon_nflog {
  chain input {
    type filter hook input priority 0; policy accept;
    udp dport 5009 log group 7
    udp dport 5009 counter drop
    udp dport 5001 counter accept
  }
}
`;

describe.skipIf(!canRun)('NFLOG drops in the daemon become REJECT records', () => {
  const dir = tempDirForFile('daemon-nflog');
  const lab = new NetnsLab('fldn');
  const allPath = join(dir, 'all.jsonl');
  const rejectPath = join(dir, 'reject.jsonl');
  let nsA = '';
  let nsB = '';
  let daemon: DaemonProcess;
  let holder: ReturnType<NetnsLab['spawn']> | null = null;

  beforeAll(async () => {
    nsA = lab.namespace('a');
    nsB = lab.namespace('b');
    lab.veth(nsA, 'fldn0', `${SRV}/24`, nsB, 'fldnp0', `${CLI}/24`);
    lab.exec(nsB, 'ip', ['neigh', 'replace', SRV, 'lladdr', lab.mac(nsA, 'fldn0'), 'dev', 'fldnp0']);
    lab.exec(nsA, 'nft', ['-f', '-'], RULESET);
    // Another process bound to group 9: the daemon cannot open nflog:9 until it exits.
    holder = lab.spawn(nsA, 'tcpdump', ['-i', 'nflog:9', '-w', '/dev/null']);
    let holderErr = '';
    holder.stderr?.on('data', (d: Buffer) => (holderErr += d.toString()));
    for (let i = 0; i < 50 && !holderErr.includes('listening on'); i++) await sleep(100);
    expect(holderErr).toContain('listening on');
    const config = writeDaemonConfig(dir, [
      'metrics: { listen: "127.0.0.1:9466" }',
      'delivery: { lingerMs: 100 }',
      'enis:',
      `  - { id: eni-n0, interface: fldn0, ips: [${SRV}], vpcId: vpc-n, vswitchId: vsw-n, vmId: i-n }`,
      // Group 7 tied to no ENI: the daemon finds the ENI by the hook's input interface.
      'nflog: { groups: [ { group: 7 }, { group: 9, eni: eni-n0 } ] }',
      'flowLogs:',
      `  - { id: fl-all, resourceType: eni, resourceId: eni-n0, aggregationInterval: "${WINDOW_SEC}s", sink: { type: file, path: ${allPath} } }`,
      `  - { id: fl-reject, resourceType: eni, resourceId: eni-n0, trafficType: reject, aggregationInterval: "${WINDOW_SEC}s", sink: { type: file, path: ${rejectPath} } }`,
    ]);
    daemon = startDaemonWithSinks(lab, nsA, bundleDaemon(dir), config);
    await daemon.waitForLog('daemon started', 15_000);
  });

  afterAll(async () => {
    holder?.kill('SIGKILL');
    await daemon?.stop('SIGKILL');
    lab.remove();
  });

  it('names a group it cannot open, and opens it on retry once it is free', async () => {
    const started = daemon.logLines().find((l) => l.msg === 'daemon started') as { nflog: string[] };
    expect(started.nflog).toEqual(['nflog:7']);
    const failure = daemon.logLines().find((l) => l.device === 'nflog:9' && l.level === 40) as { msg: string };
    expect(failure.msg).toMatch(/^open capture device nflog:9: /);
    const health = httpGetInNamespace(lab, nsA, 'http://127.0.0.1:9466/healthz');
    expect(health.status).toBe(503);
    expect(JSON.parse(health.body).problems).toEqual([
      expect.objectContaining({ kind: 'capture', device: 'nflog:9', eni: 'eni-n0' }),
    ]);

    holder?.kill('SIGTERM');
    holder = null;
    await daemon.waitForLog('capture started', 10_000, (l) => l.device === 'nflog:9');
    expect(httpGetInNamespace(lab, nsA, 'http://127.0.0.1:9466/healthz').status).toBe(200);
  });

  it('writes the dropped datagrams as one REJECT record with the count nftables dropped, the others as ACCEPT', async () => {
    const receiver = lab.spawn(nsA, 'python3', [
      '-c',
      `import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(("${SRV}",5001))\ntime.sleep(5)`,
    ]);
    await sleep(300);
    const window = await sleepUntilWindowOffset(WINDOW_SEC, 0.3);
    lab.exec(nsB, 'python3', ['-c', udpSenderScript(SRV, 5009, DROPPED, PAYLOAD, 42009)]);
    lab.exec(nsB, 'python3', ['-c', udpSenderScript(SRV, 5001, ACCEPTED, PAYLOAD, 42001)]);
    const windowDone = (window + WINDOW_SEC + GRACE_SEC) * 1000;
    const inWindow = (path: string) =>
      readRecords(path).filter(
        (r) => Number(r.start) >= window && Number(r.end) <= window + WINDOW_SEC && r['log-status'] === 'OK',
      );
    const deadline = windowDone + 8000;
    while (
      (Date.now() < windowDone || inWindow(allPath).length < 2 || inWindow(rejectPath).length < 1) &&
      Date.now() < deadline
    )
      await sleep(200);
    receiver.kill();

    const counters = lab.exec(nsA, 'nft', ['list', 'table', 'inet', 'flowlog_daemon_nflog']);
    const droppedByKernel = Number(/dport 5009 counter packets (\d+)/.exec(counters)?.[1]);
    expect(droppedByKernel).toBe(DROPPED);
    expect(Number(/dport 5001 counter packets (\d+)/.exec(counters)?.[1])).toBe(ACCEPTED);

    const common = {
      'eni-id': 'eni-n0',
      srcaddr: CLI,
      dstaddr: SRV,
      protocol: '17',
      direction: 'in',
      'log-status': 'OK',
    };
    const rejected = {
      ...common,
      srcport: '42009',
      dstport: '5009',
      packets: String(droppedByKernel),
      bytes: String(droppedByKernel * (28 + PAYLOAD)),
      action: 'REJECT',
    };
    const accepted = {
      ...common,
      srcport: '42001',
      dstport: '5001',
      packets: String(ACCEPTED),
      bytes: String(ACCEPTED * (28 + PAYLOAD)),
      action: 'ACCEPT',
    };
    const sortByPort = (rs: Array<Record<string, string>>) =>
      [...rs].sort((a, b) => Number(a.dstport) - Number(b.dstport));
    // The device saw the dropped datagrams before the input hook too: that ACCEPT twin is netted away.
    expect(sortByPort(inWindow(allPath))).toEqual([
      expect.objectContaining(accepted),
      expect.objectContaining(rejected),
    ]);
    expect(inWindow(rejectPath)).toEqual([expect.objectContaining(rejected)]);
  });
});
