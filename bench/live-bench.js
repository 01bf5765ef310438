#!/usr/bin/env node
'use strict';
/**
 * Live capture bench: the same traffic (tcpreplay from a peer namespace into a veth, at top speed
 * and at a fixed rate) captured by one contender at a time, interleaved over rounds: the agent
 * (`run`, the real daemon), tcpdump -w /dev/null, softflowd, pmacctd, and two bare read loops
 * that count packets (node-pcap's binding; the agent's own addon) to show what the per-packet
 * crossing into JavaScript costs (bench/live-contenders.js). Needs root (network namespaces);
 * traffic stays inside the two namespaces. Then the million-flow case (bench/million-flow-case.js):
 * windows of 1.1 M flows flushed while tcpreplay keeps sending, with no packet lost
 * (--no-million skips it; --million-pps sets its rate).
 *
 *   node bench/live-bench.js [--packets 1000000] [--flows 10000] [--rounds 3] [--fixed-pps 100000 (0: top speed only)] [--only agent,tcpdump,...] [--settle-ms 10000] [--idle-ms 2000] [--no-million] [--million-pps 120000] [--million-stall-ms 0] [--json]
 * FLOWLOG_BENCH_AGENT_NODE_ARGS passes node flags to the agent (e.g. --cpu-prof);
 * FLOWLOG_BENCH_DAEMON_JS runs another daemon bundle in its place (an earlier commit's).
 * FLOWLOG_BENCH_THREADS=1 prints each run's CPU by thread (tid, name) to stderr.
 * Exported: runLiveBench(options) -> result object (bench/run.js calls it).
 */
const { execFileSync } = require('node:child_process');
const { mkdtempSync, writeFileSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const { runMillionFlowCase } = require('./million-flow-case');
const { runLiveContenders, contenderLines, treeCpuTicks, waitFor } = require('./live-contenders');

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
  for (const [ns, dev, cidr] of [
    [NS_A, DEV, '10.203.0.1/16'],
    [NS_B, PEER, '10.203.0.2/16'],
  ]) {
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
  buf.writeUInt32LE(0xa1b2c3d4, 0);
  buf.writeUInt16LE(2, 4);
  buf.writeUInt16LE(4, 6);
  buf.writeUInt32LE(65535, 16);
  buf.writeUInt32LE(1, 20);
  const mac = Buffer.from(dstMac.split(':').map((h) => parseInt(h, 16)));
  let off = 24;
  for (let i = 0; i < packets; i++) {
    buf.writeUInt32LE(1, off);
    buf.writeUInt32LE(i % 1000000, off + 4);
    buf.writeUInt32LE(frameLen, off + 8);
    buf.writeUInt32LE(frameLen, off + 12);
    const f = off + 16;
    mac.copy(buf, f);
    Buffer.from([2, 0, 0, 0, 0, 2]).copy(buf, f + 6);
    buf.writeUInt16BE(0x0800, f + 12);
    const h = f + 14;
    buf[h] = 0x45;
    buf.writeUInt16BE(46, h + 2);
    buf[h + 8] = 64;
    buf[h + 9] = 17;
    const flow = i % flows;
    buf.writeUInt32BE(0x0acb0002 + Math.floor(flow / 50000) * 256, h + 12);
    buf.writeUInt32BE(0x0acb0001, h + 16);
    let sum = 0;
    for (let k = 0; k < 20; k += 2) sum += buf.readUInt16BE(h + k);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    buf.writeUInt16BE(~sum & 0xffff, h + 10);
    buf.writeUInt16BE(1024 + (flow % 50000), h + 20);
    buf.writeUInt16BE(9, h + 22);
    buf.writeUInt16BE(26, h + 24);
    off += 16 + frameLen;
  }
  writeFileSync(path, buf);
}

/** Sends the capture from the peer: at top speed, or at `pps` packets a second. */
function tcpreplay(pcap, pps) {
  const rate = pps === undefined ? ['--topspeed'] : ['--pps', String(pps)];
  const out = execFileSync('ip', inNs(NS_B, 'tcpreplay', [...rate, '-i', PEER, pcap]), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const sent = Number((/Actual: (\d+) packets/.exec(out) || [])[1]);
  const rated = Number((/Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps/.exec(out) || [])[1]);
  return { packets: sent, pps: Math.round(rated) };
}

function bundle(dir) {
  const esbuild = require('esbuild');
  const outfile = join(dir, 'daemon.js');
  esbuild.buildSync({
    entryPoints: [join(REPO, 'test/helpers/daemon-entry.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    packages: 'external',
    outfile,
    logLevel: 'error',
  });
  return outfile;
}

async function runLiveBench({
  packets = 1000000,
  flows = 10000,
  bufferBytes = 32 * 1024 * 1024,
  rounds = 3,
  fixedPps = 100000,
  only,
  settleMs,
  idleMs,
  million = true,
  millionOptions = {},
} = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'flowlog-live-bench-'));
  try {
    const mac = setUp();
    const pcap = join(dir, 'traffic.pcap');
    writeTrafficPcap(pcap, packets, flows, mac);
    const ctx = { ns: NS_A, dev: DEV, dir, daemonJs: bundle(dir), bufferBytes, inNs };
    const contenders = await runLiveContenders(ctx, (pps) => tcpreplay(pcap, pps), {
      rounds,
      rates: fixedPps > 0 ? (process.argv.includes('--fixed-only') ? [fixedPps] : [undefined, fixedPps]) : [undefined],
      only,
      settleMs,
      idleMs,
    });
    const ns = {
      agentNs: NS_A,
      peerNs: NS_B,
      dev: DEV,
      peer: PEER,
      daemonJs: ctx.daemonJs,
      dir,
      waitFor,
      readCpu: treeCpuTicks,
    };
    const millionFlows = million ? await runMillionFlowCase(ns, millionOptions) : { skipped: '--no-million' };
    return { packets, flows, bufferBytes, contenders, millionFlows };
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
      `last record on disk at ${s(w.lastRecordWrittenAfterEndSec)}${w.agentCpuDuringFlush ? ` (agent CPU from close to then ${((w.agentCpuDuringFlush.cpuSec / w.agentCpuDuringFlush.wallSec) * 100).toFixed(0)}%)` : ''}`,
    `  agent  : ${m.agent.recorded}/${m.replay.sent} packets recorded, ${m.agent.skipdataRecords} SKIPDATA (${m.agent.skipdataPackets} packets), pcap drops ${m.agent.pcapDrops}, ${m.agent.cpuSec.toFixed(1)} s CPU`,
    `  tcpdump: ${m.tcpdump.captured} captured, ${m.tcpdump.dropped} dropped by kernel`,
    `  windows: ${m.windows.map((x) => `${new Date(x.startSec * 1000).toISOString().slice(11, 19)} ${x.ok} flows/${x.okPackets}p${x.skipdata ? `/SKIP${x.skipdata}` : ''}`).join(' ')}`,
  ];
}

module.exports = { runLiveBench, millionLines };

if (require.main === module) {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const million = !process.argv.includes('--no-million');
  const millionOptions = { pps: arg('million-pps', undefined), stallMs: arg('million-stall-ms', undefined) };
  for (const k of Object.keys(millionOptions)) if (millionOptions[k] === undefined) delete millionOptions[k];
  const onlyAt = process.argv.indexOf('--only');
  const only = onlyAt > 0 ? process.argv[onlyAt + 1].split(',') : undefined;
  runLiveBench({
    packets: arg('packets', 1000000),
    flows: arg('flows', 10000),
    rounds: arg('rounds', 3),
    fixedPps: arg('fixed-pps', 100000),
    only,
    settleMs: arg('settle-ms', undefined),
    idleMs: arg('idle-ms', undefined),
    million,
    millionOptions,
  }).then(
    (r) => {
      if (process.argv.includes('--json')) return console.log(JSON.stringify(r, null, 2));
      console.log(`live: ${r.packets} packets over ${r.flows} flows, tcpreplay into a veth, one contender at a time`);
      for (const line of contenderLines(r.contenders)) console.log(line);
      for (const line of millionLines(r.millionFlows)) console.log(line);
    },
    (e) => {
      console.error(`live bench: ${e.message}`);
      process.exit(1);
    },
  );
}
