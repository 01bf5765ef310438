'use strict';

/**
 * JSON Lines encoder micro-bench: time per record of JsonLinesEncoder.encode over the record
 * count of the replay bench (issue #2), records built the way src/flow/record-builder.ts builds
 * them (one object literal per record with the ENI's shared id strings and the PLAIN_TEXT mark,
 * then String() numbers and formatted addresses; 10% IPv6), in batches of 4096 (the drain slice);
 * with --enis E > 1 the ENIs are interleaved at random. Records are rebuilt for every batch
 * outside the timed part, so every encode sees fresh strings as in the agent. Checks the bytes
 * against formatBatchLines first. (A replay to a file now writes its OK records through
 * SliceJsonLinesEncoder; this encoder serves file sinks, status records and extra fields.)
 *
 * Needs a build (`npx tsc -p .`): uses dist/output/format/json-lines.js, or the compiled tree given by --dir
 * (the directory holding output/ and flow/; sink/ before the issue 33 layout), to compare two versions.
 *   node bench/json-lines-bench.js [--dir DIR] [--records N] [--enis E] [--batch B] [--runs R] [--no-check] [--json]
 */

const fs = require('node:fs');
const path = require('node:path');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const DIR = path.resolve(opt('dir', path.join(__dirname, '..', 'dist')));
const RECORDS = Number(opt('records', 134218));
const ENIS = Number(opt('enis', 1));
const RUNS = Number(opt('runs', 5));
const BATCH = Number(opt('batch', 4096));

const { JsonLinesEncoder, formatBatchLines } = require(
  fs.existsSync(path.join(DIR, 'output', 'format', 'json-lines.js'))
    ? path.join(DIR, 'output', 'format', 'json-lines.js')
    : path.join(DIR, 'sink', 'json-lines.js'),
);
const { PLAIN_TEXT } = require(path.join(DIR, 'flow', 'record.js'));

const { prng } = require('./prng');

// Per ENI, the id strings are built once (config load), so every record shares them.
const enis = Array.from({ length: ENIS }, (_, i) => {
  const n = String(i + 1).padStart(4, '0');
  return {
    id: `eni-bench00000000000${n}`,
    vpcId: `vpc-bench0000000000${n}`,
    vswitchId: `vsw-bench0000000000${n}`,
    vmId: `i-bench00000000000${n}`,
  };
});
const accountId = '1234567890123456';

function ipv4(w) {
  return `${w >>> 24}.${(w >>> 16) & 0xff}.${(w >>> 8) & 0xff}.${w & 0xff}`;
}
function ipv6(rand) {
  return `fd00::${rand(0x10000).toString(16)}:${rand(0x10000).toString(16)}`;
}

/** As RecordBuilder.base + addFlows: literal with '-' placeholders, then the flow's values. */
function buildRecord(rand, eniIndex) {
  const e = enis[eniIndex];
  const rec = {
    version: '1',
    'vswitch-id': e.vswitchId,
    'vm-id': e.vmId,
    'vpc-id': e.vpcId,
    'account-id': accountId,
    'eni-id': e.id,
    srcaddr: '-',
    srcport: '-',
    dstaddr: '-',
    dstport: '-',
    protocol: '-',
    direction: '-',
    packets: '-',
    bytes: '-',
    start: '-',
    end: '-',
    'log-status': '-',
    action: '-',
  };
  rec[PLAIN_TEXT] = true;
  const v6 = rand(10) === 0;
  const out = rand(2) === 0;
  rec['srcaddr'] = v6 ? ipv6(rand) : ipv4(out ? 0x0a000005 : (0xc0a80000 | rand(0x10000)) >>> 0);
  rec['srcport'] = String(out ? 1024 + rand(60000) : 443);
  rec['dstaddr'] = v6 ? ipv6(rand) : ipv4(out ? (0xc0a80000 | rand(0x10000)) >>> 0 : 0x0a000005);
  rec['dstport'] = String(out ? 443 : 1024 + rand(60000));
  const proto = rand(5) === 0 ? 17 : 6;
  rec['protocol'] = String(proto);
  rec['direction'] = out ? 'out' : 'in';
  const packets = 1 + rand(200);
  rec['packets'] = String(packets);
  rec['bytes'] = String(packets * (60 + rand(1400)));
  const start = 1700000000 + rand(60);
  rec['start'] = String(start);
  rec['end'] = String(start + rand(60));
  rec['log-status'] = 'OK';
  rec['action'] = rand(50) === 0 ? 'REJECT' : 'ACCEPT';
  return rec;
}

function buildBatch(rand, count) {
  const records = new Array(count);
  for (let i = 0; i < count; i++) records[i] = buildRecord(rand, rand(ENIS));
  return { flowLogId: 'fl-bench', windowStartSec: 1700000000, windowEndSec: 1700000060, records };
}

/**
 * One pass over RECORDS records: wall and process CPU time spent in encode only. The CPU time is
 * steadier on a shared machine (time waiting for a core does not count in it).
 */
function run(encoder) {
  const rand = prng(42);
  let ns = 0n;
  let cpuUs = 0;
  let bytes = 0;
  for (let done = 0; done < RECORDS; done += BATCH) {
    const batch = buildBatch(rand, Math.min(BATCH, RECORDS - done));
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    bytes += encoder.encode(batch).length;
    ns += process.hrtime.bigint() - t0;
    const c = process.cpuUsage(c0);
    cpuUs += c.user + c.system;
  }
  return { nsPerRecord: Number(ns) / RECORDS, cpuNsPerRecord: (cpuUs * 1000) / RECORDS, bytes };
}

function check() {
  const rand = prng(7);
  const batch = buildBatch(rand, BATCH);
  const got = new JsonLinesEncoder().encode(batch).toString('utf8');
  if (got !== formatBatchLines(batch)) throw new Error('check encoder bytes: they differ from formatBatchLines');
}

if (!args.includes('--no-check')) check();
const encoder = new JsonLinesEncoder();
run(encoder); // warm-up: JIT and the buffer's final size
const results = [];
for (let i = 0; i < RUNS; i++) results.push(run(encoder));
const sorted = (key) => results.map((r) => r[key]).sort((a, b) => a - b);
const wall = sorted('nsPerRecord');
const cpu = sorted('cpuNsPerRecord');
const mid = Math.floor(RUNS / 2);
const summary = {
  dir: DIR,
  records: RECORDS,
  enis: ENIS,
  bytes: results[0].bytes,
  runsNsPerRecord: results.map((r) => Math.round(r.nsPerRecord)),
  bestNsPerRecord: Math.round(wall[0]),
  medianNsPerRecord: Math.round(wall[mid]),
  bestCpuNsPerRecord: Math.round(cpu[0]),
  medianCpuNsPerRecord: Math.round(cpu[mid]),
};
if (args.includes('--json')) process.stdout.write(`${JSON.stringify(summary)}\n`);
else {
  process.stdout.write(
    `json-lines encode, ${RECORDS} records, ${ENIS} ENI(s), ${summary.bytes} bytes: best ${summary.bestNsPerRecord} ns/record, ` +
      `median ${summary.medianNsPerRecord} ns/record (runs: ${summary.runsNsPerRecord.join(', ')}); ` +
      `CPU time: best ${summary.bestCpuNsPerRecord}, median ${summary.medianCpuNsPerRecord} ns/record\n`,
  );
}
