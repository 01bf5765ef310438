#!/usr/bin/env node
'use strict';
/**
 * Hypervisor scale: the daemon on a host with N ENIs, in two shapes, for each N and each capture
 * engine (`capture.engine`: libpcap, ebpf):
 *   veth    N veth pairs, one device per ENI (the VM ends in a peer namespace), 20 UDP packets
 *           sent out of each VM; then the busy phase: `busyPackets` datagrams at `busyPps` spread
 *           round-robin over all N ENIs, and the same count all to ENI 0 (bench/hypervisor-busy.js),
 *           the daemon's process CPU over each (send and a 2.5 s tail: the eBPF engine drains once
 *           a second), every packet checked in the records against the sender and the ENI devices'
 *           rx_packets; `tcpdump -i any -w /dev/null` alone on the same traffic as the reference
 *   bridge  one Linux bridge (capture.devices) carrying N VM MACs: a generated capture of N
 *           MAC/address pairs, 20 packets each, sent with tcpreplay through one bridge port
 * Reports per run: time from spawn to "daemon started" (every device open), daemon RSS, idle CPU
 * over 10 s (no traffic), capture drops (SKIPDATA), and how many ENIs got exactly their 20
 * packets. Needs root (network namespaces); traffic stays inside the namespaces made here.
 * Engines default to both when probeEbpf() (dist/) says the eBPF engine is usable, else libpcap
 * (the row says why). Rounds alternate the engines' order (and the busy phases' order).
 *
 *   node bench/hypervisor-bench.js [--enis 100,500] [--shapes veth,bridge] [--engines libpcap,ebpf]
 *     [--rounds 1] [--busy-packets 300000] [--busy-pps 30000] [--no-busy] [--no-tcpdump] [--json]
 * FLOWLOG_BENCH_DEBUG=1 prints each run's SKIPDATA records and the ENIs whose count is off;
 * FLOWLOG_BENCH_AGENT_NODE_ARGS passes node flags to the agent (e.g. --cpu-prof).
 * Exported: runHypervisorBench(options) -> results (bench/run.js calls it).
 */
const { execFileSync, spawn } = require('node:child_process');
const { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const { treeCpuNs, waitFor } = require('./live-contenders');
const { PORT, busyPhases, checkBusy, okPackets } = require('./hypervisor-busy');
const { hypervisorLines } = require('./hypervisor-table');

const REPO = resolve(__dirname, '..');
const NS_HOST = 'fhv-host';
const NS_VM = 'fhv-vms';
const LAB = { hostNs: NS_HOST, vmNs: NS_VM };
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

async function runShape(shape, n, dir, engine, busy) {
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
      `capture: { engine: ${engine}${shape === 'bridge' ? ', devices: [fhbr0]' : ''} }`,
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
    FLOWLOG_EBPF_DIR: join(REPO, 'build', 'Release'),
  };
  const t0 = Date.now();
  // FLOWLOG_BENCH_AGENT_NODE_ARGS: node flags for the agent alone (e.g. --cpu-prof).
  const nodeArgs = (process.env.FLOWLOG_BENCH_AGENT_NODE_ARGS || '').split(' ').filter(Boolean);
  const agent = spawn('ip', inNs(NS_HOST, process.execPath, [...nodeArgs, daemonJs, config, out]), {
    env,
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  agent.stderr.on('data', (d) => (log += d));
  try {
    await Promise.race([
      waitFor(agent, /"daemon started"/, 120000),
      new Promise((_, rej) =>
        agent.on('exit', (code) => rej(new Error(`${engine} daemon exited ${code}: ${log.trim().slice(-400)}`))),
      ),
    ]);
    const readySec = (Date.now() - t0) / 1000;
    const opened = (log.match(/"capture started"/g) || []).length;
    const ebpfDevices = (
      log.match(/"capture started"[^\n]*"engine":"ebpf"|"engine":"ebpf"[^\n]*"capture started"/g) || []
    ).length;
    await sleep(2000);
    const idle0 = treeCpuNs(agent.pid);
    await sleep(10000);
    const idleCpuPct = ((treeCpuNs(agent.pid) - idle0) / 1e9 / 10) * 100;
    if (shape === 'veth') sendVeth(n);
    else execFileSync('ip', inNs(NS_VM, 'tcpreplay', ['--pps', '20000', '-i', 'fhbv0', pcap]), { stdio: 'ignore' });
    await sleep(1500);
    const phases = shape === 'veth' && busy.packets > 0 ? await busyPhases(agent.pid, n, LAB, busy) : null;
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
    const by = okPackets(recs);
    const prefix = shape === 'veth' ? 'eni-hv' : 'eni-br';
    let exact = 0;
    for (let i = 0; i < n; i++) if (by.get(`${prefix}${i} ${PORT.exact}`) === PACKETS) exact++;
    const misses = [];
    if (phases !== null) checkBusy(phases, by, n, prefix, misses);
    const skipRecs = recs.filter((r) => r['log-status'] === 'SKIPDATA');
    if (process.env.FLOWLOG_BENCH_DEBUG)
      console.error(
        JSON.stringify(skipRecs),
        JSON.stringify([...by].filter(([k, p]) => k.endsWith(` ${PORT.exact}`) && p !== PACKETS)),
        JSON.stringify(misses),
        by.size,
      );
    return {
      engine,
      shape,
      enis: n,
      devicesOpened: opened,
      ebpfDevices,
      readySec,
      rssMiB: Math.round(rss),
      idleCpuPct: Number(idleCpuPct.toFixed(2)),
      drops: skipRecs.reduce((s, r) => s + (Number(r.packets) || 0), 0),
      skipdataRecords: skipRecs.length,
      exactEnis: exact,
      ...(phases === null ? {} : { busy: phases, busyMisses: misses, skipdataSample: skipRecs.slice(0, 3) }),
    };
  } finally {
    if (agent.exitCode === null) agent.kill('SIGKILL');
    tearDown();
  }
}

/** `tcpdump -i any -w /dev/null` alone on the veth lab's busy traffic (the C reference's CPU). */
async function runTcpdump(n, busy) {
  setUpVeth(n);
  const child = spawn(
    'ip',
    inNs(NS_HOST, 'tcpdump', ['-i', 'any', '-n', '-p', '-s', '128', '-B', '8192', '-w', '/dev/null', 'udp']),
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let text = '';
  child.stderr.on('data', (d) => (text += d));
  try {
    await waitFor(child, /listening on/, 10000);
    await sleep(2000);
    const phases = await busyPhases(child.pid, n, LAB, busy);
    child.kill('SIGINT');
    await new Promise((r) => child.on('exit', r));
    const captured = Number((/(\d+) packets captured/.exec(text) || [])[1]);
    const dropped = Number((/(\d+) packets dropped by kernel/.exec(text) || [])[1]);
    return { engine: 'tcpdump', shape: 'veth', enis: n, busy: phases, captured, drops: dropped };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    tearDown();
  }
}

/** The engines to compare: as asked, else both when the eBPF engine is usable here. */
function chooseEngines(asked) {
  if (asked) return { engines: asked, skipped: null };
  const probePath = join(REPO, 'dist', 'capture', 'ebpf', 'ebpf-probe.js');
  if (!existsSync(probePath)) return { engines: ['libpcap'], skipped: `${probePath} missing (npm run build)` };
  const probe = require(probePath).probeEbpf({ loadProgram: true });
  return probe.usable
    ? { engines: ['libpcap', 'ebpf'], skipped: null }
    : { engines: ['libpcap'], skipped: probe.reason };
}

async function runHypervisorBench({
  enis = [100, 500],
  shapes = ['veth', 'bridge'],
  engines: asked,
  rounds = 1,
  busyPackets = 300000,
  busyPps = 30000,
  tcpdump = true,
} = {}) {
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
    const { engines, skipped } = chooseEngines(asked);
    const results = skipped === null ? [] : [{ engine: 'ebpf', skipped }];
    for (let round = 0; round < rounds; round++) {
      // Odd rounds run the engines, and the busy phases, in the other order.
      const order = round % 2 === 0 ? engines : [...engines].reverse();
      const busy = {
        packets: busyPackets,
        pps: busyPps,
        order: round % 2 === 0 ? ['spread', 'one'] : ['one', 'spread'],
      };
      for (const n of enis)
        for (const shape of shapes) {
          for (const engine of order) results.push({ round, ...(await runShape(shape, n, dir, engine, busy)) });
          if (shape === 'veth' && tcpdump && busyPackets > 0) results.push({ round, ...(await runTcpdump(n, busy)) });
        }
    }
    return results;
  } finally {
    tearDown();
    rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { runHypervisorBench, hypervisorLines };

if (require.main === module) {
  const opt = (name) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const has = (name) => process.argv.includes(`--${name}`);
  const enis = (opt('enis') || '100,500').split(',').map(Number);
  const shapes = (opt('shapes') || 'veth,bridge').split(',');
  const engines = opt('engines') ? opt('engines').split(',') : undefined;
  runHypervisorBench({
    enis,
    shapes,
    engines,
    rounds: Number(opt('rounds') || 1),
    busyPackets: has('no-busy') ? 0 : Number(opt('busy-packets') || 300000),
    busyPps: Number(opt('busy-pps') || 30000),
    tcpdump: !has('no-tcpdump'),
  }).then(
    (r) => {
      if (has('json')) return console.log(JSON.stringify(r, null, 2));
      for (const line of hypervisorLines(r)) console.log(line);
    },
    (e) => {
      console.error(`hypervisor bench: ${e.message}`);
      tearDown();
      process.exit(1);
    },
  );
}
