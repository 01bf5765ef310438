#!/usr/bin/env node
'use strict';
/**
 * Live capture bench: tcpreplay at top speed into a veth while the agent (`run`, the real daemon
 * with its pipeline) captures the other end, next to tcpdump on the same device in the same run.
 * Also compares the two libpcap bindings (node-pcap, cap) counting packets only, each on its own
 * run of the same traffic. Needs root (network namespaces). Traffic stays inside two namespaces.
 * Then the million-flow case (bench/million-flow-case.js): windows of 1.1 M flows flushed while
 * tcpreplay keeps sending, with no packet lost (--no-million skips it; --million-pps sets its rate).
 *
 *   node bench/live-bench.js [--packets 200000] [--flows 1000] [--no-million] [--million-pps 120000] [--million-stall-ms 0] [--json]
 * Exported: runLiveBench(options) -> result object (bench/run.js calls it).
 */
const { execFileSync, spawn } = require('node:child_process');
const { mkdtempSync, writeFileSync, readFileSync, rmSync, existsSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const { runMillionFlowCase } = require('./million-flow-case');

const REPO = resolve(__dirname, '..');
const NS_A = 'flb-agent';
const NS_B = 'flb-peer';
const DEV = 'flb0';
const PEER = 'flbp0';

function ip(args, ignore = false) {
  try {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    if (!ignore) throw e;
  }
}
const inNs = (ns, cmd, args) => ['netns', 'exec', ns, cmd, ...args];

function setUp() {
  for (const ns of [NS_A, NS_B]) {
    ip(['netns', 'del', ns], true);
    ip(['netns', 'add', ns]);
  }
  ip(inNs(NS_A, 'ip', ['link', 'set', 'lo', 'up'])); // the million-flow case scrapes the agent's /metrics
  ip(['link', 'add', DEV, 'netns', NS_A, 'type', 'veth', 'peer', 'name', PEER, 'netns', NS_B]);
  for (const [ns, dev, cidr] of [[NS_A, DEV, '10.203.0.1/16'], [NS_B, PEER, '10.203.0.2/16']]) {
    ip(inNs(ns, 'sysctl', ['-qw', `net.ipv6.conf.${dev}.disable_ipv6=1`]));
    ip(inNs(ns, 'ip', ['addr', 'add', cidr, 'dev', dev]));
    ip(inNs(ns, 'ip', ['link', 'set', dev, 'up']));
  }
  return execFileSync('ip', inNs(NS_A, 'cat', [`/sys/class/net/${DEV}/address`]), { encoding: 'utf8' }).trim();
}
function tearDown() {
  ip(['netns', 'del', NS_A], true);
  ip(['netns', 'del', NS_B], true);
}

/** A pcap of `packets` Ethernet/IPv4/UDP frames (18-byte payload) over `flows` source ports, to `dstMac`. */
function writeTrafficPcap(path, packets, flows, dstMac) {
  const frameLen = 14 + 20 + 8 + 18;
  const buf = Buffer.alloc(24 + packets * (16 + frameLen));
  buf.writeUInt32LE(0xa1b2c3d4, 0); buf.writeUInt16LE(2, 4); buf.writeUInt16LE(4, 6);
  buf.writeUInt32LE(65535, 16); buf.writeUInt32LE(1, 20);
  const mac = Buffer.from(dstMac.split(':').map((h) => parseInt(h, 16)));
  let off = 24;
  for (let i = 0; i < packets; i++) {
    buf.writeUInt32LE(1, off); buf.writeUInt32LE(i % 1000000, off + 4);
    buf.writeUInt32LE(frameLen, off + 8); buf.writeUInt32LE(frameLen, off + 12);
    const f = off + 16;
    mac.copy(buf, f); Buffer.from([2, 0, 0, 0, 0, 2]).copy(buf, f + 6); buf.writeUInt16BE(0x0800, f + 12);
    const h = f + 14;
    buf[h] = 0x45; buf.writeUInt16BE(46, h + 2); buf[h + 8] = 64; buf[h + 9] = 17;
    const flow = i % flows;
    buf.writeUInt32BE(0x0acb0002 + Math.floor(flow / 50000) * 256, h + 12); buf.writeUInt32BE(0x0acb0001, h + 16);
    let sum = 0;
    for (let k = 0; k < 20; k += 2) sum += buf.readUInt16BE(h + k);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    buf.writeUInt16BE(~sum & 0xffff, h + 10);
    buf.writeUInt16BE(1024 + (flow % 50000), h + 20); buf.writeUInt16BE(9, h + 22); buf.writeUInt16BE(26, h + 24);
    off += 16 + frameLen;
  }
  writeFileSync(path, buf);
}

function tcpreplay(pcap) {
  const out = execFileSync('ip', inNs(NS_B, 'tcpreplay', ['--topspeed', '-i', PEER, pcap]), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const sent = Number((/Actual: (\d+) packets/.exec(out) || [])[1]);
  const pps = Number((/Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps/.exec(out) || [])[1]);
  return { packets: sent, pps: Math.round(pps) };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function waitFor(child, pattern, timeoutMs) {
  return new Promise((res, rej) => {
    let text = '';
    const t = setTimeout(() => rej(new Error(`timeout waiting for ${pattern}: ${text}`)), timeoutMs);
    const on = (d) => { text += d; if (pattern.test(text)) { clearTimeout(t); res(); } };
    child.stderr.on('data', on);
    child.stdout.on('data', on);
  });
}

function bundle(dir) {
  const esbuild = require('esbuild');
  const outfile = join(dir, 'daemon.js');
  esbuild.buildSync({ entryPoints: [join(REPO, 'test/helpers/daemon-entry.ts')], bundle: true, platform: 'node', target: 'node20', packages: 'external', outfile, logLevel: 'error' });
  return outfile;
}

/** The agent and tcpdump on the same run. */
async function agentVsTcpdump(dir, pcap, bufferBytes) {
  const config = join(dir, 'agent.yaml');
  const out = join(dir, 'records.jsonl');
  writeFileSync(config, [
    'region: cn-hangzhou', 'accountId: "1234567890123456"', `stateDir: ${dir}`,
    'enis:', `  - { id: eni-bench0, interface: ${DEV}, ips: [10.203.0.1], vpcId: vpc-bench, vswitchId: vsw-bench, vmId: i-bench }`,
    'flowLogs:', '  - { id: fl-bench, resourceType: vpc, resourceId: vpc-bench, aggregationInterval: 1, sink: { type: file, path: unused.jsonl } }',
    `capture: { snaplenBytes: 128, bufferBytes: ${bufferBytes} }`, '',
  ].join('\n'));
  const env = { ...process.env, NODE_PATH: join(REPO, 'node_modules'), FLOWLOG_CAPTURE_ADDON: join(REPO, 'build', 'Release', 'flowlog_capture.node') };
  const agent = spawn('ip', inNs(NS_A, process.execPath, [bundle(dir), config, out]), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const tcpdump = spawn('ip', inNs(NS_A, 'tcpdump', ['-i', DEV, '-n', '-s', '128', '-B', String(bufferBytes >> 10), '-w', '/dev/null', 'udp']), { stdio: ['ignore', 'pipe', 'pipe'] });
  let tdText = '';
  tcpdump.stderr.on('data', (d) => (tdText += d));
  await Promise.all([waitFor(agent, /daemon started/, 20000), waitFor(tcpdump, /listening on/, 10000)]);
  const cpu0 = readCpu(agent.pid);
  const replay = tcpreplay(pcap);
  await sleep(1500);
  const cpuSec = (readCpu(agent.pid) - cpu0) / 100;
  tcpdump.kill('SIGINT');
  agent.kill('SIGTERM');
  await Promise.all([new Promise((r) => tcpdump.on('exit', r)), new Promise((r) => agent.on('exit', r))]);
  const recs = existsSync(out) ? readFileSync(out, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  const recorded = recs.filter((r) => r.protocol === '17').reduce((n, r) => n + Number(r.packets), 0);
  const dropped = recs.filter((r) => r['log-status'] === 'SKIPDATA').reduce((n, r) => n + Number(r.packets), 0);
  return {
    replay,
    agent: { recorded, dropped, cpuSec },
    tcpdump: { captured: Number((/(\d+) packets captured/.exec(tdText) || [])[1]), dropped: Number((/(\d+) packets dropped by kernel/.exec(tdText) || [])[1]) },
  };
}

/** utime+stime of a process in clock ticks (ip netns exec execs the command: same pid). */
function readCpu(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** One binding counting packets only (no decode), to compare the bindings' own cost and drops. */
async function bindingOnly(which, pcap, bufferBytes) {
  const script = which === 'pcap'
    ? `const b=require('pcap/build/Release/pcap_binding');const s=new b.PcapSession();const fr=Buffer.alloc(65536),h=Buffer.alloc(16);let n=0;
       s.open_live('${DEV}','udp',${bufferBytes},128,'',()=>{n++},false,100,()=>{},false);s.read_callback=()=>s.dispatch(fr,h);s.start_polling();
       process.on('SIGTERM',()=>{const st=s.stats();console.log(JSON.stringify({captured:n,dropped:st.ps_drop+st.ps_ifdrop}));process.exit(0)});console.log('ready')`
    : `const {Cap}=require('cap');const c=new Cap();const fr=Buffer.alloc(65535);let n=0;
       c.open('${DEV}','udp',${bufferBytes},fr);c.on('packet',()=>{n++});
       process.on('SIGTERM',()=>{console.log(JSON.stringify({captured:n,dropped:null}));process.exit(0)});console.log('ready')`;
  const env = { ...process.env, NODE_PATH: join(REPO, 'node_modules'), FLOWLOG_CAPTURE_ADDON: join(REPO, 'build', 'Release', 'flowlog_capture.node') };
  const child = spawn('ip', inNs(NS_A, process.execPath, ['-e', script]), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (d) => (text += d));
  await waitFor(child, /ready/, 10000);
  const cpu0 = readCpu(child.pid);
  const replay = tcpreplay(pcap);
  await sleep(1500);
  const cpuSec = (readCpu(child.pid) - cpu0) / 100;
  child.kill('SIGTERM');
  await new Promise((r) => child.on('exit', r));
  const res = JSON.parse(text.split('\n').find((l) => l.startsWith('{')) || '{}');
  return { binding: which, sent: replay.packets, pps: replay.pps, ...res, cpuSec };
}

async function runLiveBench({ packets = 200000, flows = 1000, bufferBytes = 32 * 1024 * 1024, million = true, millionOptions = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'flowlog-live-bench-'));
  try {
    const mac = setUp();
    const pcap = join(dir, 'traffic.pcap');
    writeTrafficPcap(pcap, packets, flows, mac);
    const run = await agentVsTcpdump(dir, pcap, bufferBytes);
    const bindings = [await bindingOnly('pcap', pcap, bufferBytes), await bindingOnly('cap', pcap, bufferBytes)];
    const ns = { agentNs: NS_A, peerNs: NS_B, dev: DEV, peer: PEER, daemonJs: join(dir, 'daemon.js'), dir, waitFor, readCpu };
    const millionFlows = million ? await runMillionFlowCase(ns, millionOptions) : { skipped: '--no-million' };
    return { packets, flows, bufferBytes, ...run, bindings, millionFlows };
  } finally {
    tearDown();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Report lines of the million-flow case (bench/run.js may print them too). */
function millionLines(m) {
  if (!m || m.skipped) return [`million flows: skipped (${m ? m.skipped : 'not run'})`];
  const w = m.largestWindow;
  const s = (v) => (v === null ? 'n/a' : `${v.toFixed(2)} s`);
  return [
    `million flows: tcpreplay ${m.replay.sent} packets (${m.flows} distinct flows, looped) at ${m.replay.rate} pps, ${m.replay.failed} failed; veth received ${m.replay.vethReceived}, dropped ${m.replay.vethDropped}; ${m.windowSec} s windows`,
    `  largest window ${new Date(w.startSec * 1000).toISOString()}: ${w.flows} flows (OK records), ${w.packets} packets; whole window inside the traffic: ${w.wholeWindowInTraffic}`,
    `  its flush: drained in ${s(w.flushSec)} (flowlog_window_flush_seconds), done by ${s(w.drainDoneAfterEndSec)} after the window end; traffic until ${s(w.trafficEndAfterEndSec)}; ` +
      `last record on disk at ${s(w.lastRecordWrittenAfterEndSec)}${w.agentCpuDuringFlush ? ` (agent CPU from close to then ${(w.agentCpuDuringFlush.cpuSec / w.agentCpuDuringFlush.wallSec * 100).toFixed(0)}%)` : ''}`,
    `  agent  : ${m.agent.recorded}/${m.replay.sent} packets recorded, ${m.agent.skipdataRecords} SKIPDATA (${m.agent.skipdataPackets} packets), pcap drops ${m.agent.pcapDrops}, ${m.agent.cpuSec.toFixed(1)} s CPU`,
    `  tcpdump: ${m.tcpdump.captured} captured, ${m.tcpdump.dropped} dropped by kernel`,
    `  windows: ${m.windows.map((x) => `${new Date(x.startSec * 1000).toISOString().slice(11, 19)} ${x.ok} flows/${x.okPackets}p${x.skipdata ? `/SKIP${x.skipdata}` : ''}`).join(' ')}`,
  ];
}

module.exports = { runLiveBench, millionLines };

if (require.main === module) {
  const arg = (name, dflt) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? Number(process.argv[i + 1]) : dflt; };
  const million = !process.argv.includes('--no-million');
  const millionOptions = { pps: arg('million-pps', undefined), stallMs: arg('million-stall-ms', undefined) };
  for (const k of Object.keys(millionOptions)) if (millionOptions[k] === undefined) delete millionOptions[k];
  runLiveBench({ packets: arg('packets', 200000), flows: arg('flows', 1000), million, millionOptions }).then((r) => {
    if (process.argv.includes('--json')) return console.log(JSON.stringify(r, null, 2));
    console.log(`live: tcpreplay ${r.replay.packets} packets at ${r.replay.pps} pps into a veth (${r.flows} flows)`);
    console.log(`  agent  : ${r.agent.recorded} recorded, ${r.agent.dropped} dropped (SKIPDATA), ${r.agent.cpuSec.toFixed(2)} s CPU`);
    console.log(`  tcpdump: ${r.tcpdump.captured} captured, ${r.tcpdump.dropped} dropped by kernel`);
    for (const b of r.bindings) console.log(`  binding ${b.binding.padEnd(4)}: ${b.captured}/${b.sent} at ${b.pps} pps, dropped ${b.dropped ?? 'n/a (no stats)'}, ${b.cpuSec.toFixed(2)} s CPU`);
    for (const line of millionLines(r.millionFlows)) console.log(line);
  }, (e) => { console.error(`live bench: ${e.message}`); process.exit(1); });
}
