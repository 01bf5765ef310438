#!/usr/bin/env node
'use strict';
/**
 * The daemon's packet path without the capture: chunks laid out as the capture addon writes them
 * (pcap records of 60-byte Ethernet/IPv4/UDP frames, 1,700 a read as at tcpreplay's top speed in
 * bench/live-bench.js) handed to ChunkRecorder.record, which runs them through the WebAssembly
 * kernel (or, with the kernel off, the TypeScript path), flows round-robin onto one ENI's table.
 * The copy into the chunk (the addon's work) is not timed.
 *   warm: chunks back to back, the packet path's own cost
 *   gap:  one chunk every --gap-ms (7: a read of 1,700 packets at 250 k packets a second), so
 *         each read finds the tables and code as a live read does, cooled by whatever ran between
 * Reports ns per packet (best and median of 5 passes) and, over the warm passes, garbage
 * collections and heap growth per million packets. Uses the compiled dist/ (npm run build), or
 * $FLOWLOG_BENCH_DIST (another build's, to compare).
 *
 *   node --expose-gc bench/kernel-chunk-bench.js [--flows 10000] [--remotes 1] [--mpkt 2] [--gap-ms 7] [--gap-mpkt 0.3]
 * --remotes: distinct remote addresses the flows spread over (1, as in the live bench; one per
 * flow defeats the kernel's memory of the last ENI lookup on that side). Prints one JSON line.
 */
const { existsSync, mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { PerformanceObserver, performance } = require('node:perf_hooks');

const DIST = process.env.FLOWLOG_BENCH_DIST || join(__dirname, '..', 'dist');
/** The first of `paths` (under DIST) that exists: the tree's layout changed in issue 33, and DIST may be an older build. */
function fromDist(...paths) {
  for (const p of paths) if (existsSync(`${join(DIST, ...p)}.js`)) return require(join(DIST, ...p));
  throw new Error(`find ${paths.map((p) => p.join('/')).join(' or ')} under ${DIST}: build first (npm run build)`);
}
const { loadConfig } = fromDist(['config', 'load']);
const { buildPipeline } = fromDist(['agent', 'pipeline'], ['pipeline']);
const { ChunkRecorder } = fromDist(['packet', 'chunk-recorder'], ['flow', 'chunk-recorder']);

const PER_READ = 1700;
const FRAME = 60;
const START = 1_700_000_400;
const IMAGES = 12; // distinct chunk images, so each read starts at another flow

function pipelineOf(dir, kernel) {
  const cfg = join(dir, `agent-${kernel}.yaml`);
  writeFileSync(
    cfg,
    [
      'region: cn-hangzhou',
      'accountId: "1234567890123456"',
      `stateDir: ${dir}`,
      'enis:',
      '  - { id: eni-bench0, mac: "0a:00:00:00:00:01", ips: [10.203.0.1], vpcId: vpc-bench, vswitchId: vsw-bench, vmId: i-bench }',
      'flowLogs:',
      '  - { id: fl-bench, resourceType: vpc, resourceId: vpc-bench, aggregationInterval: 10, sink: { type: stdout } }',
      '',
    ].join('\n'),
  );
  const { config } = loadConfig(cfg);
  const p = buildPipeline(config, { submit: () => {} }, { maxGapWindows: 1, wallClock: true, kernel });
  p.recorder.tick(START);
  return new ChunkRecorder(p.recorder, p.kernel);
}

/** One read's chunk: PER_READ frames from 10.203.x.y (one of `remotes`) to the ENI, flows from `first` on. */
function chunkImage(first, flows, remotes) {
  const chunk = Buffer.alloc(PER_READ * (16 + FRAME));
  let pos = 0;
  for (let i = 0; i < PER_READ; i++) {
    const f = (first + i) % flows;
    chunk.writeUInt32LE(START + 1, pos);
    chunk.writeUInt32LE(i, pos + 4);
    chunk.writeUInt32LE(FRAME, pos + 8);
    chunk.writeUInt32LE(FRAME, pos + 12);
    const b = pos + 16;
    Buffer.from([0x0a, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]).copy(chunk, b);
    chunk.writeUInt16BE(0x0800, b + 12);
    const ip = b + 14;
    chunk[ip] = 0x45;
    chunk.writeUInt16BE(46, ip + 2);
    chunk[ip + 8] = 64;
    chunk[ip + 9] = 17;
    chunk.writeUInt32BE(0x0acb0100 + (f % remotes), ip + 12);
    chunk.writeUInt32BE(0x0acb0001, ip + 16);
    chunk.writeUInt16BE(1024 + Math.floor(f / remotes), ip + 20);
    chunk.writeUInt16BE(9, ip + 22);
    chunk.writeUInt16BE(26, ip + 24);
    pos += 16 + FRAME;
  }
  return chunk;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** ns per packet of `reads` reads, copying each image in first (untimed), sleeping `gapMs` after each. */
function pass(cr, images, reads, gapMs) {
  let timedMs = 0;
  let packets = 0;
  for (let r = 0; r < reads; r++) {
    const image = images[r % images.length];
    image.copy(cr.chunk, 0);
    const t0 = performance.now();
    packets += cr.record(0, 1, image.length);
    timedMs += performance.now() - t0;
    if (gapMs > 0) Atomics.wait(pause, 0, 0, gapMs);
  }
  if (packets !== reads * PER_READ) throw new Error(`record chunks: ${reads * PER_READ - packets} packets not taken`);
  return (timedMs * 1e6) / packets;
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { best: Math.round(s[0] * 10) / 10, median: Math.round(s[Math.floor(s.length / 2)] * 10) / 10 };
};

async function measure({ flows, remotes, mpkt, gapMs, gapMpkt }, kernel, dir) {
  const cr = pipelineOf(dir, kernel);
  const images = Array.from({ length: IMAGES }, (_, k) => chunkImage(k * PER_READ, flows, remotes));
  const reads = Math.ceil((mpkt * 1e6) / PER_READ);
  pass(cr, images, Math.ceil(flows / PER_READ) + 200, 0); // every flow in the table, code optimized
  let gcs = 0;
  const observer = new PerformanceObserver((list) => (gcs += list.getEntries().length));
  observer.observe({ entryTypes: ['gc'] });
  if (typeof global.gc === 'function') global.gc();
  const gcBase = gcs;
  const heapBefore = process.memoryUsage().heapUsed;
  const kernelBefore = cr.kernelPackets;
  const warm = [];
  for (let i = 0; i < 5; i++) warm.push(pass(cr, images, reads, 0));
  const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
  await new Promise((r) => setImmediate(r)); // gc entries arrive asynchronously
  observer.disconnect();
  const warmPackets = 5 * reads * PER_READ;
  const kernelShare = Math.round(((cr.kernelPackets - kernelBefore) / warmPackets) * 1000) / 1000;
  const gap = [];
  if (gapMs > 0) for (let i = 0; i < 5; i++) gap.push(pass(cr, images, Math.ceil((gapMpkt * 1e6) / PER_READ), gapMs));
  return {
    warmNsPerPacket: stats(warm),
    gapNsPerPacket: gapMs > 0 ? stats(gap) : null,
    gcPerMillionPackets: Math.round(((gcs - gcBase) / warmPackets) * 1e6 * 100) / 100,
    heapGrowthBytesPerMillionPackets: Math.round((heapGrowth / warmPackets) * 1e6),
    kernelShare,
  };
}

async function main() {
  const args = process.argv.slice(2);
  const num = (name, dflt) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? Number(args[i + 1]) : dflt;
  };
  const o = {
    flows: num('flows', 10000),
    remotes: num('remotes', 1),
    mpkt: num('mpkt', 2),
    gapMs: num('gap-ms', 7),
    gapMpkt: num('gap-mpkt', 0.3),
  };
  const dir = mkdtempSync(join(tmpdir(), 'flowlog-kernel-chunk-'));
  try {
    const kernel = await measure(o, true, dir);
    const typescript = await measure({ ...o, gapMs: 0 }, false, dir);
    console.log(JSON.stringify({ ...o, perRead: PER_READ, kernel, typescript }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`kernel chunk bench: ${e.message}`);
  process.exit(1);
});
