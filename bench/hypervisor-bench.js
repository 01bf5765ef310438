#!/usr/bin/env node
'use strict';
/**
 * Hypervisor scale: the daemon on a host with N ENIs, in two shapes, for each N:
 *   veth    N veth pairs, one device per ENI (the VM ends in a peer namespace), 20 UDP packets
 *           sent out of each VM
 *   bridge  one Linux bridge (capture.devices) carrying N VM MACs: a generated capture of N
 *           MAC/address pairs, 20 packets each, sent with tcpreplay through one bridge port
 * Reports per run: time from spawn to "daemon started" (every device open), daemon RSS, idle CPU
 * over 10 s (no traffic), capture drops (SKIPDATA), and how many ENIs got exactly their 20
 * packets. Needs root (network namespaces); traffic stays inside the namespaces made here.
 *
 *   node bench/hypervisor-bench.js [--enis 100,500] [--shapes veth,bridge] [--json]
 * FLOWLOG_BENCH_DEBUG=1 prints each run's SKIPDATA records and the ENIs whose count is off;
 * FLOWLOG_BENCH_AGENT_NODE_ARGS passes node flags to the agent (e.g. --cpu-prof).
 * Exported: runHypervisorBench(options) -> results (bench/run.js calls it).
 */
const { execFileSync, spawn } = require('node:child_process');
const { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const { treeCpuNs, waitFor } = require('./live-contenders');

const REPO = resolve(__dirname, '..');
const NS_HOST = 'fhv-host';
const NS_VM = 'fhv-vms';
const PACKETS = 20;
const PAYLOAD = 32;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const netns = require('./netns-lab');

const { ipBatch, inNs } = netns;
const namespaces = () => netns.namespaces([NS_HOST, NS_VM]);
const tearDown = () => netns.tearDown([NS_HOST, NS_VM]);
/** Address `host` of VM i's /29 (.2 the VM, .3 a phantom peer with a static neighbour entry). */
const addr = (i, host) => netns.vmAddress(0x0a640000, i, host);
const mac = (i, kind) =>
  `02:${kind}:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}:01`;

/** N veth pairs: fhv<i> in the host namespace (the ENI's device), fhp<i> in the VM namespace. */
function setUpVeth(n) {
  namespaces();
  const links = [];
  const vm = [];
  for (let i = 0; i < n; i++) {
    links.push(
      `link add fhv${i} netns ${NS_HOST} address ${mac(i, 'aa')} type veth peer name fhp${i} netns ${NS_VM} address ${mac(i, 'bb')}`,
    );
    vm.push(
      `addr add ${addr(i, 2)}/29 dev fhp${i}`,
      `link set fhp${i} up`,
      `neigh add ${addr(i, 3)} lladdr 02:cc:00:00:00:01 dev fhp${i}`,
    );
  }
  ipBatch(links);
  ipBatch(
    Array.from({ length: n }, (_, i) => `link set fhv${i} up`),
    NS_HOST,
  );
  ipBatch(vm, NS_VM);
  return Array.from(
    { length: n },
    (_, i) =>
      `  - { id: eni-hv${i}, interface: fhv${i}, mac: "${mac(i, 'bb')}", ips: [${addr(i, 2)}], vpcId: vpc-hv, vswitchId: vsw-hv, vmId: i-hv${i} }`,
  );
}

/** One bridge fhbr0 with one port (fhbp0, its peer fhbv0 in the VM namespace); ENIs by MAC. */
function setUpBridge(n) {
  namespaces();
  ipBatch([`link add fhbp0 netns ${NS_HOST} type veth peer name fhbv0 netns ${NS_VM}`]);
  ipBatch(
    ['link add fhbr0 type bridge', 'link set fhbr0 up', 'link set fhbp0 master fhbr0', 'link set fhbp0 up'],
    NS_HOST,
  );
  ipBatch(['link set fhbv0 up'], NS_VM);
  return Array.from(
    { length: n },
    (_, i) =>
      `  - { id: eni-br${i}, mac: "${mac(i, 'bb')}", ips: [${addr(i, 2)}], vpcId: vpc-hv, vswitchId: vsw-hv, vmId: i-br${i} }`,
  );
}

/** A pcap of PACKETS UDP frames from each of N VMs (MAC and address of VM i) to a phantom peer. */
function bridgePcap(path, n) {
  const frameLen = 14 + 20 + 8 + PAYLOAD;
  const buf = Buffer.alloc(24 + n * PACKETS * (16 + frameLen));
  buf.writeUInt32LE(0xa1b2c3d4, 0);
  buf.writeUInt16LE(2, 4);
  buf.writeUInt16LE(4, 6);
  buf.writeUInt32LE(65535, 16);
  buf.writeUInt32LE(1, 20);
  let off = 24;
  for (let k = 0; k < PACKETS; k++) {
    for (let i = 0; i < n; i++) {
      buf.writeUInt32LE(1, off);
      buf.writeUInt32LE(k * n + i, off + 4);
      buf.writeUInt32LE(frameLen, off + 8);
      buf.writeUInt32LE(frameLen, off + 12);
      const f = off + 16;
      Buffer.from('02cc00000001', 'hex').copy(buf, f);
      Buffer.from(mac(i, 'bb').replace(/:/g, ''), 'hex').copy(buf, f + 6);
      buf.writeUInt16BE(0x0800, f + 12);
      const h = f + 14;
      buf[h] = 0x45;
      buf.writeUInt16BE(20 + 8 + PAYLOAD, h + 2);
      buf[h + 8] = 64;
      buf[h + 9] = 17;
      buf.writeUInt32BE(0x0a640000 + i * 8 + 2, h + 12);
      buf.writeUInt32BE(0x0a640000 + i * 8 + 3, h + 16);
      // A valid header checksum: with br_netfilter loaded the bridge drops frames without one.
      let sum = 0;
      for (let w = 0; w < 20; w += 2) sum += buf.readUInt16BE(h + w);
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      buf.writeUInt16BE(~sum & 0xffff, h + 10);
      buf.writeUInt16BE(40000, h + 20);
      buf.writeUInt16BE(7000, h + 22);
      buf.writeUInt16BE(8 + PAYLOAD, h + 24);
      off += 16 + frameLen;
    }
  }
  writeFileSync(path, buf);
}

/** PACKETS datagrams out of every VM device (each socket bound to its VM's address). */
function sendVeth(n) {
  const script = [
    'import socket, time',
    `for i in range(${n}):`,
    '    base = 0x0a640000 + i * 8',
    '    a = lambda v: socket.inet_ntoa(v.to_bytes(4, "big"))',
    '    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
    '    s.bind((a(base + 2), 40000))',
    `    for _ in range(${PACKETS}): s.sendto(b"x" * ${PAYLOAD}, (a(base + 3), 7000))`,
    '    time.sleep(0.001)  # paced: a burst over many veths overflows the backlog (netdev_max_backlog) and the veths drop',
    '    s.close()',
  ].join('\n');
  execFileSync('ip', inNs(NS_VM, 'python3', ['-c', script]));
}

function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function runShape(shape, n, dir) {
  const enis = shape === 'veth' ? setUpVeth(n) : setUpBridge(n);
  const pcap = join(dir, 'bridge.pcap');
  if (shape === 'bridge') bridgePcap(pcap, n);
  const config = join(dir, `agent-${shape}-${n}.yaml`);
  const out = join(dir, `records-${shape}-${n}.jsonl`);
  rmSync(out, { force: true });
  writeFileSync(
    config,
    [
      'region: cn-hangzhou',
      'accountId: "1234567890123456"',
      `stateDir: ${dir}/state`,
      ...(shape === 'bridge' ? ['capture: { devices: [fhbr0] }'] : []),
      'enis:',
      ...enis,
      'flowLogs:',
      '  - { id: fl-hv, resourceType: vpc, resourceId: vpc-hv, aggregationInterval: "60s", sink: { type: file, path: unused.jsonl } }',
      '',
    ].join('\n'),
  );
  const daemonJs = join(dir, 'daemon.js');
  const env = {
    ...process.env,
    NODE_PATH: join(REPO, 'node_modules'),
    FLOWLOG_CAPTURE_ADDON: join(REPO, 'build', 'Release', 'flowlog_capture.node'),
  };
  const t0 = Date.now();
  // FLOWLOG_BENCH_AGENT_NODE_ARGS: node flags for the agent alone (e.g. --cpu-prof).
  const nodeArgs = (process.env.FLOWLOG_BENCH_AGENT_NODE_ARGS || '').split(' ').filter(Boolean);
  const agent = spawn('ip', inNs(NS_HOST, process.execPath, [...nodeArgs, daemonJs, config, out]), {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  agent.stderr.on('data', (d) => (log += d));
  try {
    await waitFor(agent, /"daemon started"/, 120000);
    const readySec = (Date.now() - t0) / 1000;
    const opened = (log.match(/"capture started"/g) || []).length;
    await sleep(2000);
    const idle0 = treeCpuNs(agent.pid);
    await sleep(10000);
    const idleCpuPct = ((treeCpuNs(agent.pid) - idle0) / 1e9 / 10) * 100;
    if (shape === 'veth') sendVeth(n);
    else execFileSync('ip', inNs(NS_VM, 'tcpreplay', ['--pps', '20000', '-i', 'fhbv0', pcap]), { stdio: 'ignore' });
    await sleep(1500);
    const rss = rssMiB(agent.pid);
    agent.kill('SIGTERM');
    await new Promise((r) => agent.on('exit', r));
    const recs = existsSync(out)
      ? readFileSync(out, 'utf8')
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : [];
    const perEni = new Map();
    for (const r of recs)
      if (r['log-status'] === 'OK' && r.protocol === '17')
        perEni.set(r['eni-id'], (perEni.get(r['eni-id']) || 0) + Number(r.packets));
    const exact = [...perEni.values()].filter((p) => p === PACKETS).length;
    if (process.env.FLOWLOG_BENCH_DEBUG)
      console.error(
        JSON.stringify(recs.filter((r) => r['log-status'] === 'SKIPDATA')),
        JSON.stringify([...perEni].filter(([, p]) => p !== PACKETS)),
        perEni.size,
      );
    const skip = recs.filter((r) => r['log-status'] === 'SKIPDATA').reduce((s, r) => s + (Number(r.packets) || 0), 0);
    return {
      shape,
      enis: n,
      devicesOpened: opened,
      readySec,
      rssMiB: Math.round(rss),
      idleCpuPct: Number(idleCpuPct.toFixed(2)),
      drops: skip,
      exactEnis: exact,
    };
  } finally {
    if (agent.exitCode === null) agent.kill('SIGKILL');
    tearDown();
  }
}

async function runHypervisorBench({ enis = [100, 500], shapes = ['veth', 'bridge'] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'flowlog-hv-bench-'));
  try {
    require('esbuild').buildSync({
      entryPoints: [join(REPO, 'test/helpers/daemon-entry.ts')],
      bundle: true,
      platform: 'node',
      target: 'node20',
      packages: 'external',
      outfile: join(dir, 'daemon.js'),
      logLevel: 'error',
    });
    const results = [];
    for (const n of enis) for (const shape of shapes) results.push(await runShape(shape, n, dir));
    return results;
  } finally {
    tearDown();
    rmSync(dir, { recursive: true, force: true });
  }
}

function hypervisorLines(results) {
  return [
    'hypervisor scale (bench/hypervisor-bench.js): ENIs, shape, ready after start, daemon RSS, idle CPU over 10 s, drops, ENIs with exact counts',
    ...results.map(
      (r) =>
        `  ${String(r.enis).padStart(4)} ${r.shape.padEnd(6)}: ready ${r.readySec.toFixed(2)} s (${r.devicesOpened} devices), RSS ${r.rssMiB} MiB, idle ${r.idleCpuPct}% of a core, drops ${r.drops}, exact ${r.exactEnis}/${r.enis}`,
    ),
  ];
}

module.exports = { runHypervisorBench, hypervisorLines };

if (require.main === module) {
  const opt = (name) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const enis = (opt('enis') || '100,500').split(',').map(Number);
  const shapes = (opt('shapes') || 'veth,bridge').split(',');
  runHypervisorBench({ enis, shapes }).then(
    (r) => {
      if (process.argv.includes('--json')) return console.log(JSON.stringify(r, null, 2));
      for (const line of hypervisorLines(r)) console.log(line);
    },
    (e) => {
      console.error(`hypervisor bench: ${e.message}`);
      tearDown();
      process.exit(1);
    },
  );
}
