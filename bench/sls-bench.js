'use strict';

/**
 * Log Service delivery bench: records/s for encode + compress + sign + send of 4096-record
 * batches into the local Log Service-compatible server (test/sls-server/server.js, run in a
 * child process so its decoding does not count against the agent), per compression; then the
 * same through the delivery layer (spool, batching) as the daemon sends them.
 *
 * Needs a build (`npx tsc -p .`): uses dist/output/sls/sls-sink.js.
 *   node bench/sls-bench.js [--batches N] [--concurrency C] [--json]
 * Exports runSlsBench(options) for bench/run.js.
 */

const { fork } = require('node:child_process');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const RECORDS_PER_BATCH = 4096;

const { prng } = require('./prng');

/**
 * Realistic flow records, built the way src/flow/record-builder.ts builds them: ids shared per
 * ENI (one string each), addresses formatted per record, numbers through String().
 */
function makeBatches(count, windowStartSec, seed = 0) {
  const rnd = prng(42 + seed);
  const enis = [0, 1, 2, 3].map((e) => ({
    vswitchId: `vsw-bp1${e}k2c4h7ee0f3qmp6x9`,
    vmId: `i-bp1${e}d2kq0yx6zmcw9v7a`,
    eniId: `eni-bp1${e}g8ekexrf0xt9u7qy`,
    local: `10.0.${e}.${10 + e}`,
  }));
  const batches = [];
  for (let b = 0; b < count; b++) {
    const records = [];
    for (let i = 0; i < RECORDS_PER_BATCH; i++) {
      const e = enis[rnd(4)];
      const out = rnd(2) === 0;
      const peer =
        rnd(4) === 0 ? `172.16.${rnd(256)}.${rnd(256)}` : `${1 + rnd(223)}.${rnd(256)}.${rnd(256)}.${rnd(256)}`;
      const port = [443, 80, 53, 22, 3306, 6379][rnd(6)];
      const eph = String(32768 + rnd(28232));
      const packets = 1 + rnd(rnd(10) === 0 ? 100000 : 50);
      const start = windowStartSec + rnd(60);
      records.push({
        version: '1',
        'vswitch-id': e.vswitchId,
        'vm-id': e.vmId,
        'vpc-id': 'vpc-bp1qpo0kug3a20qqe3afs',
        'account-id': '1234567890123456',
        'eni-id': e.eniId,
        srcaddr: out ? e.local : peer,
        srcport: out ? eph : String(port),
        dstaddr: out ? peer : e.local,
        dstport: out ? String(port) : eph,
        protocol: port === 53 ? '17' : '6',
        direction: out ? 'out' : 'in',
        packets: String(packets),
        bytes: String(packets * (40 + rnd(1460))),
        start: String(start),
        end: String(start + rnd(60)),
        'log-status': 'OK',
        action: rnd(50) === 0 ? 'REJECT' : 'ACCEPT',
      });
    }
    batches.push({ flowLogId: 'fl-bench', windowStartSec, windowEndSec: windowStartSec + 60, records });
  }
  return batches;
}

function startServerProcess() {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(ROOT, 'test/sls-server/server.js'), ['--count-only'], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    child.once('error', reject);
    child.once('message', (m) => resolve({ child, url: m.url }));
  });
}

function serverCount(child) {
  return new Promise((resolve) => {
    const on = (m) => {
      if (m && typeof m.count === 'number') {
        child.off('message', on);
        resolve(m.count);
      }
    };
    child.on('message', on);
    child.send('count');
  });
}

async function sendAll(sink, batches, concurrency) {
  let next = 0;
  const failures = [];
  const worker = async () => {
    while (next < batches.length) {
      const b = batches[next++];
      const r = await sink.write(b);
      if (r.kind !== 'ok') failures.push(r.reason);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  if (failures.length) throw new Error(`send batches: ${failures.length} failed, first: ${failures[0]}`);
}

/**
 * @param {{ batches?: number, concurrency?: number, compressions?: string[] }} [o]
 * @returns {Promise<Array<{ compression: string, records: number, seconds: number, recordsPerSec: number,
 *   cpuSeconds: number, recordsPerCpuSec: number, rawBytesPerRecord: number, sentBytesPerRecord: number, ratio: number }>>}
 */
async function runSlsBench(o = {}) {
  const built = path.join(ROOT, 'dist/output/sls/sls-sink.js');
  if (!require('node:fs').existsSync(built)) throw new Error(`find ${built}: build first (npx tsc -p .)`);
  const { SlsSink } = require(built);
  const { EnvCredentialsProvider } = require(path.join(ROOT, 'dist/output/sls/sls-credentials.js'));
  const batchCount = o.batches ?? 60;
  const concurrency = o.concurrency ?? 2;
  const credentials = new EnvCredentialsProvider({
    ALIBABA_CLOUD_ACCESS_KEY_ID: 'test-access-key-id',
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'test-access-key-secret',
  });
  const results = [];
  results.push(encodeOnly(batchCount));
  const { child, url } = await startServerProcess();
  try {
    for (const compression of o.compressions ?? ['deflate', 'lz4', 'none']) {
      const sink = new SlsSink({
        sink: { type: 'sls', project: 'test-project', logstore: 'flowlog', endpoint: url },
        credentials,
        compression,
        hostname: 'bench-host',
      });
      const windowStartSec = Math.floor(Date.now() / 1000) - 120;
      await sendAll(sink, makeBatches(8, windowStartSec), concurrency); // warm-up: JIT, sockets
      const before = await serverCount(child);
      const c0 = { ...sink.counters };
      // As in the agent, each batch is sent soon after its records were built: batches are made
      // `concurrency` at a time, untimed, then sent, timed (wall and this process's CPU, which
      // includes deflate on libuv's thread pool).
      let seconds = 0;
      let cpuSeconds = 0;
      for (let done = 0; done < batchCount; done += concurrency) {
        const chunk = makeBatches(Math.min(concurrency, batchCount - done), windowStartSec, done);
        const cpu0 = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        await sendAll(sink, chunk, concurrency);
        seconds += Number(process.hrtime.bigint() - t0) / 1e9;
        const cpu = process.cpuUsage(cpu0);
        cpuSeconds += (cpu.user + cpu.system) / 1e6;
      }
      const records = batchCount * RECORDS_PER_BATCH;
      const stored = (await serverCount(child)) - before;
      if (stored !== records) throw new Error(`bench ${compression}: server stored ${stored} logs, sent ${records}`);
      const raw = sink.counters.rawBytes - c0.rawBytes;
      const sent = sink.counters.sentBytes - c0.sentBytes;
      results.push(result(compression, records, seconds, cpuSeconds, raw, sent));
      await sink.close();
    }
    if (o.delivery !== false) results.push(await throughDelivery(url, credentials, batchCount, child));
  } finally {
    child.kill('SIGTERM');
  }
  return results;
}

/**
 * The whole path a daemon's records take: Delivery (write-ahead spool with fsync, batching,
 * retry) in front of the SLS sink with deflate, `concurrency` 2 as above. Batches are submitted
 * as a window drain would, all at once; timed until the server has stored every record.
 */
async function throughDelivery(url, credentials, batchCount, child) {
  const { SlsSink } = require(path.join(ROOT, 'dist/output/sls/sls-sink.js'));
  const { Delivery } = require(path.join(ROOT, 'dist/output/delivery/delivery.js'));
  const fs = require('node:fs');
  const spoolDir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'sls-bench-spool-'));
  const options = {
    lingerMs: 0,
    maxBatchRecords: RECORDS_PER_BATCH,
    maxBatchBytes: 3 * 1024 * 1024,
    concurrency: 2,
    retryInitialMs: 100,
    retryMaxMs: 1000,
    requestTimeoutMs: 10000,
    spoolMaxBytes: 1e10,
  };
  const windowStartSec = Math.floor(Date.now() / 1000) - 120;
  try {
    const sink = new SlsSink({
      sink: { type: 'sls', project: 'test-project', logstore: 'flowlog', endpoint: url },
      credentials,
      compression: 'deflate',
      hostname: 'bench-host',
    });
    const delivery = await Delivery.open(sink, spoolDir, options);
    for (const b of makeBatches(8, windowStartSec)) delivery.submit(b); // warm-up
    await delivery.flush(Date.now() + 60_000);
    const before = await serverCount(child);
    const batches = makeBatches(batchCount, windowStartSec, 1000);
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (const b of batches) delivery.submit(b);
    await delivery.flush(Date.now() + 120_000);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    await delivery.close();
    const records = batchCount * RECORDS_PER_BATCH;
    const stored = (await serverCount(child)) - before;
    if (stored !== records) throw new Error(`bench delivery: server stored ${stored} logs, sent ${records}`);
    return result('delivery+deflate', records, seconds, cpuSeconds);
  } finally {
    fs.rmSync(spoolDir, { recursive: true, force: true });
  }
}

/** The encoder alone (no compression, no HTTP), on batches built just before, as above. */
function encodeOnly(batchCount) {
  const { LogGroupEncoder } = require(path.join(ROOT, 'dist/output/sls/sls-log-group.js'));
  const encoder = new LogGroupEncoder();
  const meta = { topic: 'flow_log', source: 'bench-host', tags: [['hostname', 'bench-host']] };
  const nowSec = Math.floor(Date.now() / 1000);
  for (const b of makeBatches(8, nowSec - 120)) encoder.encode(b, meta, nowSec); // warm-up
  let seconds = 0;
  let cpuSeconds = 0;
  let raw = 0;
  for (let done = 0; done < batchCount; done++) {
    const [b] = makeBatches(1, nowSec - 120, done);
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    raw += encoder.encode(b, meta, nowSec).body.length;
    seconds += Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    cpuSeconds += (cpu.user + cpu.system) / 1e6;
  }
  const records = batchCount * RECORDS_PER_BATCH;
  return result('encode-only', records, seconds, cpuSeconds, raw);
}

/** One row of the bench's results; byte figures 0 where a row has none. */
function result(compression, records, seconds, cpuSeconds, rawBytes = 0, sentBytes = 0) {
  return {
    compression,
    records,
    seconds: round(seconds, 3),
    recordsPerSec: Math.round(records / seconds),
    cpuSeconds: round(cpuSeconds, 3),
    recordsPerCpuSec: Math.round(records / cpuSeconds),
    rawBytesPerRecord: round(rawBytes / records, 1),
    sentBytesPerRecord: round(sentBytes / records, 1),
    ratio: rawBytes > 0 ? round(sentBytes / rawBytes, 3) : 0,
  };
}

function round(v, digits) {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const num = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : dflt;
  };
  runSlsBench({ batches: num('--batches', 60), concurrency: num('--concurrency', 2) })
    .then((results) => {
      if (args.includes('--json')) {
        process.stdout.write(`${JSON.stringify(results)}\n`);
        return;
      }
      process.stdout.write(
        'sls delivery (encode + compress + sign + PutLogs to a local server), batches of 4096 records\n',
      );
      for (const r of results) {
        if (r.compression === 'delivery+deflate') {
          process.stdout.write(
            `  through the delivery layer (spool, batching), deflate: ${r.recordsPerSec.toLocaleString('en')} records/s wall, ${r.recordsPerCpuSec.toLocaleString('en')} records per CPU-second\n`,
          );
          continue;
        }
        if (r.compression === 'encode-only') {
          process.stdout.write(
            `  encode   ${r.recordsPerSec.toLocaleString('en').padStart(9)} records/s (LogGroup encoding alone)\n`,
          );
          continue;
        }
        process.stdout.write(
          `  ${r.compression.padEnd(8)} ${r.recordsPerSec.toLocaleString('en').padStart(9)} records/s wall, ` +
            `${r.recordsPerCpuSec.toLocaleString('en').padStart(9)} records per CPU-second, ` +
            `${r.rawBytesPerRecord} B/record raw, ${r.sentBytesPerRecord} B/record sent (ratio ${r.ratio})\n`,
        );
      }
    })
    .catch((err) => {
      process.stderr.write(`sls-bench: ${err.message}\n`);
      process.exitCode = 1;
    });
}

module.exports = { runSlsBench };
