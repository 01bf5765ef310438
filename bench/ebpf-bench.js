#!/usr/bin/env node
'use strict';
/**
 * eBPF engine bench: the TC flow program (src/capture/ebpf) on a host of ENI devices, traffic
 * sent with tcpreplay from a peer namespace through a bridge whose static FDB delivers each frame
 * to one ENI's veth. The bench process runs inside the host namespace (the engine attaches by
 * ifindex in its own namespace). Measured, per case (top speed and a fixed rate; all packets to
 * one ENI, and the same packets spread round-robin over 200 ENIs):
 *   - kernel time per packet: the program's run_time_ns / run_cnt (BPF_ENABLE_STATS, on only
 *     during the cases: each run then costs two clock reads, included in the figure);
 *   - loss: packets tcpreplay sent, less the veths' own drops (before any hook), against the
 *     packets in the drained flows plus every loss counter;
 *   - the bench process's CPU (its drain loop, every --drain-ms) and the whole machine's busy CPU
 *     against the same replay with nothing attached; `tcpdump -i any -w /dev/null` on the same
 *     traffic for reference;
 *   - the drain: records, swap/read/clear times of the largest drain;
 *   - the floor: the same hooks and statistics with the program returning at once (built with
 *     -DFLOWLOG_BENCH_EMPTY; needs clang), and the program alone in BPF_PROG_TEST_RUN;
 * and 500 devices (200 on the bridge, 300 idle) attached: time until all are ready, RSS, close.
 *
 *   node bench/ebpf-bench.js [--devices 500] [--enis 200] [--packets 1000000] [--fixed-pps 100000] [--flows 10000] [--drain-ms 1000] [--json]
 * Needs root, the compiled dist/ (npm run build) and build/Release/flow-tc.bpf.o (npm ci).
 * Exported: runEbpfBench(options) -> result; ebpfLines(result) (bench/run.js calls both).
 */
const { execFileSync, spawn } = require('node:child_process');
const { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');

const REPO = resolve(__dirname, '..');
const NS_HOST = 'flbe-host';
const NS_PEER = 'flbe-peer';
const BRIDGE = 'flbebr';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function ip(args, ignore = false) {
  try {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    if (!ignore) throw e;
  }
}
function batch(tool, ns, lines) {
  execFileSync(tool, ['-n', ns, '-batch', '-'], { input: `${lines.join('\n')}\n`, stdio: ['pipe', 'ignore', 'pipe'] });
}
const hex2 = (n) => n.toString(16).padStart(2, '0');
/** Host end of ENI i (the device the engine attaches) and the VM MAC its frames come from. */
const hostMac = (i) => `02:be:00:00:${hex2(i >> 8)}:${hex2(i & 0xff)}`;
const vmMac = (i) => `02:ae:00:00:${hex2(i >> 8)}:${hex2(i & 0xff)}`;

function setUp(devices, enis) {
  tearDown();
  for (const ns of [NS_HOST, NS_PEER]) {
    ip(['netns', 'add', ns]);
    for (const k of ['all', 'default']) ip(['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${k}.disable_ipv6=1`]);
  }
  const peer = [
    `link add ${BRIDGE} type bridge`,
    `link set ${BRIDGE} up`,
    'link add inj type veth peer name injb',
    `link set injb master ${BRIDGE} up`,
    'link set inj up',
  ];
  const links = [];
  for (let i = 0; i < devices; i++)
    links.push(`link add he${i} netns ${NS_HOST} address ${hostMac(i)} type veth peer name ve${i}`);
  batch('ip', NS_PEER, [...peer, ...links]);
  // No netfilter on the bridge's path: its cost is no part of the engine's.
  for (const k of ['iptables', 'ip6tables', 'arptables'])
    ip(['netns', 'exec', NS_PEER, 'sysctl', '-qw', `net.bridge.bridge-nf-call-${k}=0`], true);
  const peerUp = [];
  const fdb = [];
  for (let i = 0; i < devices; i++) {
    peerUp.push(i < enis ? `link set ve${i} master ${BRIDGE} up` : `link set ve${i} up`);
    if (i < enis) fdb.push(`fdb add ${hostMac(i)} dev ve${i} master static`);
  }
  batch('ip', NS_PEER, peerUp);
  batch('bridge', NS_PEER, fdb);
  batch(
    'ip',
    NS_HOST,
    Array.from({ length: devices }, (_, i) => `link set he${i} up`),
  );
}

function tearDown() {
  ip(['netns', 'del', NS_HOST], true);
  ip(['netns', 'del', NS_PEER], true);
}

/** Ethernet/IPv4/UDP frames of 60 bytes over `flows` flows, to ENI 0 only or round-robin over `enis`. */
function writePcap(path, packets, flows, enis) {
  const frameLen = 60;
  const buf = Buffer.alloc(24 + packets * (16 + frameLen));
  buf.writeUInt32LE(0xa1b2c3d4, 0);
  buf.writeUInt16LE(2, 4);
  buf.writeUInt16LE(4, 6);
  buf.writeUInt32LE(65535, 16);
  buf.writeUInt32LE(1, 20);
  const macs = Array.from({ length: enis }, (_, i) => [
    Buffer.from(
      hostMac(i)
        .split(':')
        .map((h) => parseInt(h, 16)),
    ),
    Buffer.from(
      vmMac(i)
        .split(':')
        .map((h) => parseInt(h, 16)),
    ),
  ]);
  let off = 24;
  for (let p = 0; p < packets; p++) {
    const eni = p % enis;
    const flow = p % flows;
    buf.writeUInt32LE(1, off);
    buf.writeUInt32LE(frameLen, off + 8);
    buf.writeUInt32LE(frameLen, off + 12);
    const f = off + 16;
    macs[eni][0].copy(buf, f);
    macs[eni][1].copy(buf, f + 6);
    buf.writeUInt16BE(0x0800, f + 12);
    const h = f + 14;
    buf[h] = 0x45;
    buf.writeUInt16BE(46, h + 2);
    buf[h + 8] = 64;
    buf[h + 9] = 17;
    buf.writeUInt32BE((0x0a000000 | (eni << 8) | 2) >>> 0, h + 12); // 10.0.<eni>.2 (eni < 256)
    buf.writeUInt32BE(0x0a640001, h + 16); // 10.100.0.1
    let sum = 0;
    for (let k = 0; k < 20; k += 2) sum += buf.readUInt16BE(h + k);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    buf.writeUInt16BE(~sum & 0xffff, h + 10); // a bridge with br_netfilter drops bad IP checksums
    buf.writeUInt16BE(1024 + flow, h + 20);
    buf.writeUInt16BE(9, h + 22);
    buf.writeUInt16BE(26, h + 24);
    off += 16 + frameLen;
  }
  writeFileSync(path, buf);
}

function cpuTicks(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, clock ticks
}
function machineBusyTicks() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return f[0] + f[1] + f[2] + f[5] + f[6] + f[7]; // user nice system irq softirq steal
}
function vethDrops() {
  let sum = 0;
  const out = execFileSync('ip', ['-n', NS_PEER, '-s', '-j', 'link', 'show'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  for (const l of JSON.parse(out)) if (/^(ve\d+|injb?)$/.test(l.ifname) && l.stats64) sum += l.stats64.tx.dropped;
  return sum;
}

function tcpreplay(pcap, pps) {
  return new Promise((resolvePromise, reject) => {
    const rate = pps ? ['--pps', String(pps)] : ['--topspeed'];
    const p = spawn('ip', ['netns', 'exec', NS_PEER, 'tcpreplay', ...rate, '-i', 'inj', pcap], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`tcpreplay exited ${code}`));
      resolvePromise({
        sent: Number((/Actual: (\d+) packets/.exec(out) || [])[1]),
        pps: Math.round(Number((/([\d.]+) pps/.exec(out) || [])[1])),
      });
    });
  });
}

/** The part that runs inside the host namespace. */
async function inner(opts) {
  const { EbpfFlowEngine, setRunTimeStats } = require(join(REPO, 'dist/capture/ebpf/ebpf-engine.js'));
  const { LOSS_REASONS, F64_PACKETS, F64_PER_RECORD } = require(join(REPO, 'dist/capture/ebpf/drain-layout.js'));
  const dir = opts.dir;
  const result = {
    devices: opts.devices,
    enis: opts.enis,
    packets: opts.packets,
    flows: opts.flows,
    drainMs: opts.drainMs,
    cases: [],
  };
  const pcaps = { one: join(dir, 'one.pcap'), spread: join(dir, 'spread.pcap') };
  writePcap(pcaps.one, opts.packets, opts.flows, 1);
  writePcap(pcaps.spread, opts.packets, opts.flows, opts.enis);
  const rates = [0, opts.fixedPps];
  const ticksPerSec = 100;

  // nothing attached: the machine's CPU for the same replays
  const baseline = {};
  for (const pps of rates) {
    for (const shape of ['one', 'spread']) {
      const m0 = machineBusyTicks();
      const t0 = process.hrtime.bigint();
      const r = await tcpreplay(pcaps[shape], pps);
      baseline[`${shape}/${pps}`] = {
        machineCpuSec: (machineBusyTicks() - m0) / ticksPerSec,
        wallSec: Number(process.hrtime.bigint() - t0) / 1e9,
        sent: r.sent,
        pps: r.pps,
      };
    }
  }

  const rss0 = process.memoryUsage().rss;
  const t0 = process.hrtime.bigint();
  const engine = EbpfFlowEngine.open({ flowCapacity: 262144, maxSlots: 1024, maxDevices: 1024 });
  const openMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const mac = (m) => Uint8Array.from(m.split(':').map((h) => parseInt(h, 16)));
  const ifindex = (i) => Number(readFileSync(`/sys/class/net/he${i}/ifindex`, 'utf8'));
  for (let i = 0; i < opts.devices; i++) {
    engine.setSlot(i, { flowQuota: 0, onSharedDevices: false });
    engine.setMac(mac(vmMac(i)), i);
  }
  const modes = await Promise.all(
    Array.from({ length: opts.devices }, (_, i) => engine.attach(ifindex(i), { slot: i, shared: false })),
  );
  const attachMs = Number(process.hrtime.bigint() - t0) / 1e6;
  result.attach = {
    devices: opts.devices,
    openMs: Math.round(openMs),
    readyMs: Math.round(attachMs),
    mode: modes[0].mode,
    rssMiB: Math.round(process.memoryUsage().rss / 1048576),
    rssGrowthMiB: Math.round((process.memoryUsage().rss - rss0) / 1048576),
    tableEntries: engine.tableEntries,
  };

  const buf = engine.drainBuffers();
  const drainInto = async (acc) => {
    const r = await engine.drain(buf);
    let packets = 0;
    for (let i = 0; i < r.flows; i++) packets += buf.recordsF64[i * F64_PER_RECORD + F64_PACKETS];
    let loss = 0;
    for (let i = 0; i < buf.loss.length; i += 2) if ((i / 2) % LOSS_REASONS.length !== 0) loss += buf.loss[i];
    if (acc) {
      acc.packets += packets;
      acc.loss += loss;
      acc.drains++;
      if (r.flows >= acc.maxFlows) {
        acc.maxFlows = r.flows;
        acc.maxDrainMs = { swap: r.swapNs / 1e6, read: r.readNs / 1e6, clear: r.clearNs / 1e6 };
      }
    }
  };
  setRunTimeStats(true);
  for (const pps of rates) {
    for (const shape of ['one', 'spread']) {
      await drainInto(null);
      const acc = { packets: 0, loss: 0, drains: 0, maxFlows: 0, maxDrainMs: null };
      const p0 = engine.programStats();
      const c0 = process.cpuUsage();
      const m0 = machineBusyTicks();
      const d0 = vethDrops();
      let running = true;
      const loop = (async () => {
        while (running) {
          await sleep(opts.drainMs);
          if (running) await drainInto(acc);
        }
      })();
      const r = await tcpreplay(pcaps[shape], pps);
      running = false;
      await loop;
      await sleep(200);
      await drainInto(acc);
      const c = process.cpuUsage(c0);
      const p1 = engine.programStats();
      const runs = p1.runCount - p0.runCount;
      const drops = vethDrops() - d0;
      const base = baseline[`${shape}/${pps}`];
      result.cases.push({
        shape,
        rate: pps ? `${pps} pps` : 'top speed',
        sent: r.sent,
        sentPps: r.pps,
        vethDrops: drops,
        recorded: acc.packets,
        lossCounted: acc.loss,
        unaccounted: r.sent - drops - acc.packets - acc.loss,
        kernelNsPerPacket: runs > 0 ? Math.round(((p1.runTimeNs - p0.runTimeNs) / runs) * 10) / 10 : null,
        programRuns: runs,
        processCpuSec: Math.round(((c.user + c.system) / 1e6) * 1000) / 1000,
        machineCpuSec: (machineBusyTicks() - m0) / ticksPerSec,
        machineCpuBaselineSec: base.machineCpuSec,
        drains: acc.drains,
        maxFlowsPerDrain: acc.maxFlows,
        maxDrainMs: acc.maxDrainMs,
      });
    }
  }
  setRunTimeStats(false);
  const tc = process.hrtime.bigint();
  await engine.close();
  result.attach.closeMs = Math.round(Number(process.hrtime.bigint() - tc) / 1e6);

  // The floor: the same program returning at once (built with -DFLOWLOG_BENCH_EMPTY), so the
  // hook's and the statistics' own cost per packet on this machine can be told from the program's.
  result.floor = [];
  if (opts.emptyObject) {
    const floor = EbpfFlowEngine.open({
      flowCapacity: 1024,
      maxSlots: 1024,
      maxDevices: 1024,
      objectPath: opts.emptyObject,
    });
    await Promise.all(
      Array.from({ length: opts.enis }, (_, i) => floor.attach(ifindex(i), { slot: i, shared: false })),
    );
    setRunTimeStats(true);
    for (const shape of ['one', 'spread']) {
      const p0 = floor.programStats();
      await tcpreplay(pcaps[shape], 0);
      const p1 = floor.programStats();
      const runs = p1.runCount - p0.runCount;
      result.floor.push({
        shape,
        kernelNsPerPacket: runs > 0 ? Math.round(((p1.runTimeNs - p0.runTimeNs) / runs) * 10) / 10 : null,
      });
    }
    setRunTimeStats(false);
    await floor.close();
  }
  // The program on one packet in a kernel loop (BPF_PROG_TEST_RUN): no hook, no statistics, hot caches.
  {
    const e = EbpfFlowEngine.open({ flowCapacity: 1024, maxSlots: 4, maxDevices: 4 });
    e.setSlot(0, { flowQuota: 0, onSharedDevices: false });
    e.setMac(mac(vmMac(0)), 0);
    const frame = readFileSync(pcaps.one).subarray(24 + 16, 24 + 16 + 60);
    const runs = [1, 2, 3].map(() => e.testRun(frame, 1000000));
    result.testRun = {
      nsPerRun: Math.min(...runs.map((r) => r.nsPerRun)),
      emptyNsPerRun: Math.min(...runs.map((r) => r.emptyNsPerRun)),
    };
    await e.close();
  }
  // tcpdump on the same traffic, for reference (capture only, no aggregation)
  result.tcpdump = [];
  for (const shape of ['one', 'spread']) {
    const td = spawn('tcpdump', ['-i', 'any', '-n', '-w', '/dev/null', '--immediate-mode'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    await new Promise((r) => td.stderr.once('data', r));
    const t = cpuTicks(td.pid);
    const r = await tcpreplay(pcaps[shape], 0);
    const cpuSec = (cpuTicks(td.pid) - t) / ticksPerSec;
    let err = '';
    td.stderr.on('data', (d) => (err += d));
    td.kill('SIGINT');
    await new Promise((res) => td.once('exit', res));
    result.tcpdump.push({
      shape,
      sent: r.sent,
      cpuSec,
      captured: Number((/(\d+) packets captured/.exec(err) || [])[1]),
      dropped: Number((/(\d+) packets dropped by kernel/.exec(err) || [])[1]),
    });
  }
  return result;
}

async function runEbpfBench({
  devices = 500,
  enis = 200,
  packets = 1000000,
  fixedPps = 100000,
  flows = 10000,
  drainMs = 1000,
} = {}) {
  if (!existsSync(join(REPO, 'build/Release/flow-tc.bpf.o')))
    return { skipped: 'build/Release/flow-tc.bpf.o missing (npm ci)' };
  if (!existsSync(join(REPO, 'dist/capture/ebpf/ebpf-engine.js'))) return { skipped: 'dist/ missing (npm run build)' };
  const dir = mkdtempSync(join(tmpdir(), 'flowlog-ebpf-bench-'));
  try {
    setUp(devices, enis);
    const load = require('node:os').loadavg();
    let emptyObject = join(dir, 'flow-tc-empty.bpf.o');
    try {
      execFileSync(process.execPath, [join(REPO, 'tools/build-bpf.js'), emptyObject, '-DFLOWLOG_BENCH_EMPTY'], {
        stdio: 'ignore',
      });
    } catch {
      emptyObject = ''; // no clang here: no floor figures
    }
    const opts = { devices, enis, packets, fixedPps, flows, drainMs, dir, emptyObject };
    const out = execFileSync(
      'ip',
      ['netns', 'exec', NS_HOST, process.execPath, __filename, '--inner', JSON.stringify(opts)],
      {
        encoding: 'utf8',
        env: { ...process.env, UV_THREADPOOL_SIZE: '16' },
        maxBuffer: 1 << 24,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const result = JSON.parse(out.trim().split('\n').pop());
    result.loadAverageBefore = load.map((x) => Math.round(x * 100) / 100);
    result.loadAverageAfter = require('node:os')
      .loadavg()
      .map((x) => Math.round(x * 100) / 100);
    result.cpus = require('node:os').cpus().length;
    return result;
  } finally {
    tearDown();
    rmSync(dir, { recursive: true, force: true });
  }
}

function ebpfLines(r) {
  if (!r || r.skipped || r.error)
    return [`eBPF engine: ${r ? (r.skipped ? `skipped: ${r.skipped}` : `FAILED: ${r.error}`) : 'not run'}`];
  const lines = [
    `eBPF engine (bench/ebpf-bench.js): ${r.packets} packets of ${r.flows} flows per case, drain every ${r.drainMs} ms; ${r.cpus} CPUs, load ${r.loadAverageBefore.join(' ')} before, ${r.loadAverageAfter.join(' ')} after`,
    `  attach: ${r.attach.devices} devices ready ${r.attach.readyMs} ms after open (load ${r.attach.openMs} ms), ${r.attach.mode}; RSS ${r.attach.rssMiB} MiB (+${r.attach.rssGrowthMiB}); tables ${r.attach.tableEntries} entries each; close (detach all) ${r.attach.closeMs} ms`,
    '  case               sent      pps   veth drops  recorded  loss  unaccounted  ns/pkt  process CPU  machine CPU (none attached)  drains  max flows  max drain (swap/read/clear ms)',
  ];
  for (const c of r.cases) {
    const d = c.maxDrainMs
      ? `${c.maxDrainMs.swap.toFixed(2)}/${c.maxDrainMs.read.toFixed(2)}/${c.maxDrainMs.clear.toFixed(2)}`
      : '-';
    lines.push(
      `  ${`${c.shape} ${c.rate}`.padEnd(18)} ${String(c.sent).padStart(8)} ${String(c.sentPps).padStart(8)} ${String(c.vethDrops).padStart(11)} ${String(c.recorded).padStart(9)} ${String(c.lossCounted).padStart(5)} ${String(c.unaccounted).padStart(12)} ${String(c.kernelNsPerPacket).padStart(7)} ${`${c.processCpuSec.toFixed(3)} s`.padStart(12)} ${`${c.machineCpuSec.toFixed(2)} s (${c.machineCpuBaselineSec.toFixed(2)} s)`.padStart(28)} ${String(c.drains).padStart(7)} ${String(c.maxFlowsPerDrain).padStart(10)}  ${d}`,
    );
  }
  for (const f of r.floor)
    lines.push(
      `  floor (the program returning at once, same hook and statistics), ${f.shape} top speed: ${f.kernelNsPerPacket} ns/pkt`,
    );
  if (r.testRun)
    lines.push(
      `  BPF_PROG_TEST_RUN, one UDP packet of an existing flow, 1e6 runs: ${r.testRun.nsPerRun} ns/run (an empty program: ${r.testRun.emptyNsPerRun} ns/run)`,
    );
  for (const t of r.tcpdump)
    lines.push(
      `  tcpdump -i any -w /dev/null, ${t.shape} top speed: ${t.cpuSec.toFixed(2)} s CPU, ${t.captured} of ${t.sent} captured, ${t.dropped} dropped`,
    );
  return lines;
}

module.exports = { runEbpfBench, ebpfLines };

if (require.main === module) {
  if (process.argv[2] === '--inner') {
    inner(JSON.parse(process.argv[3])).then(
      (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
      (e) => {
        process.stderr.write(`ebpf bench: ${e.stack}\n`);
        process.exit(1);
      },
    );
  } else {
    const arg = (name, dflt) => {
      const i = process.argv.indexOf(`--${name}`);
      return i > 0 ? Number(process.argv[i + 1]) : dflt;
    };
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      process.stderr.write('ebpf bench: needs root (network namespaces, bpf())\n');
      process.exit(1);
    }
    runEbpfBench({
      devices: arg('devices', 500),
      enis: arg('enis', 200),
      packets: arg('packets', 1000000),
      fixedPps: arg('fixed-pps', 100000),
      flows: arg('flows', 10000),
      drainMs: arg('drain-ms', 1000),
    }).then(
      (r) => {
        for (const line of ebpfLines(r)) process.stdout.write(`${line}\n`);
        if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(r)}\n`);
      },
      (e) => {
        process.stderr.write(`ebpf bench: ${e.stack}\n`);
        process.exit(1);
      },
    );
  }
}
