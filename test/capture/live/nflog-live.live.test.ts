import type { ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsLab } from '../../helpers/netns';
import { scratchDir, writeConfig } from '../../helpers/replay-run';

// Proof of issue 5 with a real kernel: a server namespace whose nftables input chain logs
// tcp/23 to NFLOG group 7 and then drops it; a client namespace retries a connection to port 23
// until the kernel gives up (tcp_syn_retries 1; recent kernels retransmit SYNs at linear 1 s
// intervals within that budget, so the count is measured, not assumed) and completes one to the
// open port 2222. The SYNs are counted by tshark on the client's interface and by nftables
// counters on the server, both independent of the agent.

const REPO = resolve(__dirname, '..', '..', '..');
const SRV = '10.77.0.2';
const CLI = '10.77.0.1';
const available = NetnsLab.available();

function bundle(dir: string): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const esbuild = require('esbuild') as typeof import('esbuild');
  const outfile = join(dir, 'nflog-entry.js');
  esbuild.buildSync({
    entryPoints: [join(REPO, 'test/fixtures/policy/nflog-entry.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    packages: 'external',
    outfile,
    logLevel: 'error',
  });
  return outfile;
}

const RULESET = `table inet flowlog_nflog_test {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 23 log group 7
    tcp dport 23 counter drop
    tcp dport 2222 counter accept
  }
}
`;

const CONNECT_CLIENT = `
import socket, sys
s = socket.socket()
try:
    s.connect(("${SRV}", 23))
    print("connected")
except OSError as e:
    print("refused", e.errno)
c = socket.create_connection(("${SRV}", 2222), timeout=5)
c.sendall(b"hello flow log\\n")
c.shutdown(socket.SHUT_WR)
c.recv(100)
c.close()
`;

const SERVER = `
import socket
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("${SRV}", 2222))
l.listen(1)
print("listening", flush=True)
c, _ = l.accept()
while c.recv(100):
    pass
c.close()
`;

function waitForLine(child: ChildProcess, text: string, timeoutMs: number): Promise<void> {
  return new Promise((res, rej) => {
    let seen = '';
    const timer = setTimeout(() => rej(new Error(`wait for "${text}": timed out; got ${seen}`)), timeoutMs);
    child.stdout?.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes(text)) {
        clearTimeout(timer);
        res();
      }
    });
  });
}

function waitForStderr(child: ChildProcess, text: string, timeoutMs: number): Promise<void> {
  return new Promise((res, rej) => {
    let seen = '';
    const timer = setTimeout(() => rej(new Error(`wait for "${text}": timed out; got ${seen}`)), timeoutMs);
    child.stderr?.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes(text)) {
        clearTimeout(timer);
        res();
      }
    });
  });
}

type Rec = Record<string, string>;

describe.skipIf(!available)('NFLOG drops become REJECT records (network namespaces, nftables)', () => {
  const lab = new NetnsLab('nfl');
  const dir = scratchDir('nflog-live');
  let records: Rec[] = [];
  let rejectCounter = 0;
  let synCount = 0;
  let acceptCounter = 0;
  let agentStderr = '';

  beforeAll(async () => {
    const srv = lab.namespace('srv');
    const cli = lab.namespace('cli');
    lab.veth(srv, 'nfl-s0', `${SRV}/24`, cli, 'nfl-c0', `${CLI}/24`);
    lab.exec(cli, 'sysctl', ['-qw', 'net.ipv4.tcp_syn_retries=1']);
    lab.exec(srv, 'nft', ['-f', '-'], RULESET);
    const config = writeConfig(
      dir,
      `region: cn-hangzhou
accountId: "1234567890123456"
stateDir: ${dir}
enis:
  - {id: eni-srv, interface: nfl-s0, ips: [${SRV}], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-1, nflogGroups: [7]}
flowLogs:
  - {id: fl-all, resourceType: eni, resourceId: eni-srv, aggregationInterval: 10, sink: {type: stdout}}
  - {id: fl-reject, resourceType: eni, resourceId: eni-srv, trafficType: reject, aggregationInterval: 10, sink: {type: stdout}}
`,
    );
    const out = join(dir, 'records.jsonl');
    const env = {
      ...process.env,
      NODE_PATH: join(REPO, 'node_modules'),
      FLOWLOG_CAPTURE_ADDON: join(REPO, 'build', 'Release', 'flowlog_capture.node'),
    };
    const agent = lab.spawn(srv, process.execPath, [bundle(dir), config, out], env);
    agent.stderr?.on('data', (d: Buffer) => (agentStderr += d.toString()));
    const agentExit = new Promise((r) => agent.on('exit', r));
    await waitForLine(agent, 'ready', 20_000);
    const server = lab.spawn(srv, 'python3', ['-u', '-c', SERVER]);
    await waitForLine(server, 'listening', 10_000);
    const synFile = join(dir, 'syns.pcap');
    const tshark = lab.spawn(cli, 'tshark', ['-i', 'nfl-c0', '-f', 'tcp dst port 23', '-w', synFile]);
    await waitForStderr(tshark, 'Capturing on', 20_000);
    const client = lab.exec(cli, 'python3', ['-c', CONNECT_CLIENT]);
    await new Promise((r) => setTimeout(r, 300));
    const tsharkExit = new Promise((r) => tshark.on('exit', r));
    tshark.kill('SIGINT');
    await tsharkExit;
    synCount = lab
      .exec(cli, 'tshark', ['-r', synFile, '-Y', 'tcp.flags.syn == 1 && tcp.flags.ack == 0'])
      .trim()
      .split('\n')
      .filter((l) => l !== '').length;
    expect(client).toMatch(/refused 110/); // ETIMEDOUT after the SYN retries
    await new Promise((r) => setTimeout(r, 300));
    agent.kill('SIGTERM');
    await agentExit;
    server.kill();
    const counters = lab.exec(srv, 'nft', ['list', 'table', 'inet', 'flowlog_nflog_test']);
    rejectCounter = Number(/dport 23 counter packets (\d+)/.exec(counters)?.[1]);
    acceptCounter = Number(/dport 2222 counter packets (\d+)/.exec(counters)?.[1]);
    records = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Rec);
  }, 60_000);

  afterAll(() => {
    lab.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  const sum = (rs: Rec[], field: string) => rs.reduce((n, r) => n + Number(r[field]), 0);
  const of = (flowLogId: string, port: string, action: string) =>
    records.filter(
      (r) => r.flowLogId === flowLogId && r['log-status'] === 'OK' && r.dstport === port && r.action === action,
    );

  it('the SYNs to the blocked port are REJECT, as many as the kernel sent and nftables dropped', () => {
    expect(synCount, agentStderr).toBeGreaterThanOrEqual(2); // the first SYN and at least one retry
    expect(rejectCounter).toBe(synCount);
    const rejected = of('fl-all', '23', 'REJECT');
    expect(rejected.length).toBeGreaterThan(0);
    expect(sum(rejected, 'packets')).toBe(rejectCounter);
    expect(sum(rejected, 'bytes')).toBe(rejectCounter * 60); // IPv4 20 + TCP 20 + options 20 (Linux SYN)
    expect(
      rejected.every(
        (r) => r.direction === 'in' && r.srcaddr === CLI && r.dstaddr === SRV && r['eni-id'] === 'eni-srv',
      ),
    ).toBe(true);
    expect(of('fl-all', '23', 'ACCEPT')).toEqual([]);
  });

  it('the connection to the open port is ACCEPT both ways, with the packets nftables counted', () => {
    const inbound = of('fl-all', '2222', 'ACCEPT');
    expect(sum(inbound, 'packets')).toBe(acceptCounter);
    expect(inbound.every((r) => r.direction === 'in')).toBe(true);
    const replies = records.filter((r) => r.flowLogId === 'fl-all' && r.srcport === '2222');
    expect(replies.length).toBeGreaterThan(0);
    expect(replies.every((r) => r.action === 'ACCEPT' && r.direction === 'out')).toBe(true);
    expect(records.filter((r) => r.flowLogId === 'fl-all' && r.action === 'REJECT' && r.dstport !== '23')).toEqual([]);
  });

  it('trafficType reject writes only the REJECT flow', () => {
    const written = records.filter((r) => r.flowLogId === 'fl-reject' && r['log-status'] === 'OK');
    expect(written.length).toBeGreaterThan(0);
    expect(written.every((r) => r.action === 'REJECT' && r.dstport === '23')).toBe(true);
    expect(sum(written, 'packets')).toBe(rejectCounter);
  });
});
