#!/usr/bin/env node
'use strict';
/**
 * Flow table memory and GC pressure, on the compiled FlowTable (dist/flow/flow-table.js):
 *   1. bytes per flow: (arrayBuffers + heapUsed) after filling `flows` distinct flows into a
 *      table of that capacity, minus the same before creating it, divided by `flows`;
 *   2. GC pressure of recording: `packets` more packets onto the existing flows, counting the
 *      collections (perf_hooks 'gc' entries) and the heap growth, per million packets.
 * Needs --expose-gc (run.js passes it). Prints one JSON line.
 *
 *   node --expose-gc bench/flow-memory.js [--flows 1000000] [--packets 5000000]
 */
const { PerformanceObserver } = require('node:perf_hooks');
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const DIST = join(__dirname, '..', 'dist');

function load(rel) {
  const file = join(DIST, rel);
  if (!existsSync(file)) throw new Error(`find ${file}: build first (npm run build)`);
  return require(file);
}

function fullGc() {
  if (typeof global.gc !== 'function') throw new Error('run with node --expose-gc');
  global.gc();
  global.gc();
}

/** IPv4 flow i: 10.0.0.5:(i % 28232 + 32768) -> 198.18.0.0 + floor(i / 28232):443, TCP, out. */
function setFlow(view, i) {
  view.family = 4;
  view.src[0] = 0x0a000005;
  view.dst[0] = (0xc6120000 + Math.floor(i / 28232)) >>> 0;
  view.srcPort = 32768 + (i % 28232);
  view.dstPort = 443;
  view.protocol = 6;
  view.l3Bytes = 40 + (i % 1400);
  view.tcpFlags = 0x10;
}

function measureFlowMemory({ flows = 1_000_000, packets = 5_000_000 } = {}) {
  const { FlowTable, FLAG_OUT } = load('flow/flow-table.js');
  const { PacketView } = load('packet/decode/packet-view.js');
  const view = new PacketView();
  const tsSec = 1_700_000_000;

  fullGc();
  const before = process.memoryUsage();
  const table = new FlowTable(flows);
  let fillFailures = 0;
  const fillStart = process.hrtime.bigint();
  for (let i = 0; i < flows; i++) {
    setFlow(view, i);
    if (!((view.tsSec = tsSec), table.record(view, 0, FLAG_OUT))) fillFailures++;
  }
  const fillNs = Number(process.hrtime.bigint() - fillStart);
  fullGc();
  const after = process.memoryUsage();
  const heldBytes = after.arrayBuffers - before.arrayBuffers + (after.heapUsed - before.heapUsed);

  // Recording onto existing flows (the steady state of a window): count GCs and heap growth.
  let gcCount = 0;
  const observer = new PerformanceObserver((list) => (gcCount += list.getEntries().length));
  observer.observe({ entryTypes: ['gc'] });
  fullGc();
  const heapBefore = process.memoryUsage().heapUsed;
  const gcBaseline = gcCount;
  const recordStart = process.hrtime.bigint();
  let stride = 0;
  for (let p = 0; p < packets; p++) {
    // A fixed odd stride visits the flows in a cache-unfriendly order, as real traffic does.
    stride = (stride + 7919) % flows;
    setFlow(view, stride);
    ((view.tsSec = tsSec + (p & 63)), table.record(view, 0, FLAG_OUT));
  }
  const recordNs = Number(process.hrtime.bigint() - recordStart);
  const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
  // PerformanceObserver callbacks run asynchronously: read the count after a turn of the loop.
  return new Promise((resolve) =>
    setImmediate(() => {
      observer.disconnect();
      const gcs = gcCount - gcBaseline;
      resolve({
        flows,
        capacity: table.capacity,
        size: table.size,
        fillFailures,
        bytesPerFlow: Math.round((heldBytes / flows) * 10) / 10,
        tableArrayBytes: table.allocatedBytes,
        fillNsPerFlow: Math.round(fillNs / flows),
        packetsRecorded: packets,
        recordNsPerPacket: Math.round((recordNs / packets) * 10) / 10,
        gcPerMillionPackets: Math.round((gcs / packets) * 1e6 * 100) / 100,
        heapGrowthBytesPerMillionPackets: Math.round((heapGrowth / packets) * 1e6),
      });
    }),
  );
}

module.exports = { measureFlowMemory };

if (require.main === module) {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  measureFlowMemory({ flows: arg('flows', 1_000_000), packets: arg('packets', 5_000_000) }).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (e) => {
      process.stderr.write(`flow-memory: ${e.message}\n`);
      process.exitCode = 1;
    },
  );
}
