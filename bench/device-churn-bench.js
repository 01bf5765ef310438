#!/usr/bin/env node
'use strict';
/**
 * Lifecycle figures of the daemon on a churning host (issue 30's table), one scenario per run:
 *   recreate  one veth ENI under 200 pps of UDP from its VM; the device is deleted and re-created
 *             `--cycles` times (down, 50 ms, delete, 300 ms, re-create). Reports how long after each
 *             re-creation capture was back, the packets the device carried (its own counters,
 *             sampled every 5 ms inside the namespace) against OK + SKIPDATA packets, and the
 *             windows whose OK count is short of the device's with no SKIPDATA.
 *   storm     N idle veth ENIs whose devices are deleted one by one 0.1 s apart: NODATA records
 *             per window and the most any ENI got in one window.
 *   reload    10 steady UDP flows on one ENI, 20 SIGHUPs in 20 s and two edits touching another
 *             ENI: OK records per flow and window, reloads applied.
 * Needs root (network namespaces); run it under /work/isolated (or on a host where the names
 * fdc-host / fdc-vm are free). Traffic stays inside the namespaces made here.
 *
 *   node bench/device-churn-bench.js --scenario recreate|storm|reload [--enis 50] [--cycles 4] [--json]
 */
const { spawn } = require('node:child_process');
const { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');

const REPO = resolve(__dirname, '..');
const NS_HOST = 'fdc-host';
const NS_VM = 'fdc-vm';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const netns = require('./netns-lab');

const { ip, ipBatch, inNs } = netns;
const namespaces = () => netns.namespaces([NS_HOST, NS_VM]);
const tearDown = () => netns.tearDown([NS_HOST, NS_VM]);
/** Address `host` of VM i's /29 (.2 the VM, .3 a phantom peer with a static neighbour entry). */
const addr = (i, host) => netns.vmAddress(0x0a6e0000, i, host);
const mac = (i, kind) =>
  `02:${kind}:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}:01`;

/** The `ip -batch` lines that create ENI i's veth: fdc<i> in the host namespace, fdp<i> in the VM's. */
function vethLines(i) {
  return {
    root: [
      `link add fdc${i} netns ${NS_HOST} address ${mac(i, 'aa')} type veth peer name fdp${i} netns ${NS_VM} address ${mac(i, 'bb')}`,
    ],
    host: [`link set fdc${i} up`],
    vm: [
      `addr add ${addr(i, 2)}/29 dev fdp${i}`,
      `link set fdp${i} up`,
      `neigh add ${addr(i, 3)} lladdr 02:cc:00:00:00:01 dev fdp${i}`,
    ],
  };
}
function createVeths(list) {
  const parts = list.map(vethLines);
  ipBatch(parts.flatMap((p) => p.root));
  ipBatch(
    parts.flatMap((p) => p.vm),
    NS_VM,
  );
  ipBatch(
    parts.flatMap((p) => p.host),
    NS_HOST,
  );
}
const eniLine = (i, extra = '') =>
  `  - { id: eni-dc${i}, interface: fdc${i}, mac: "${mac(i, 'bb')}", ips: [${addr(i, 2)}], vpcId: vpc-dc, vswitchId: vsw-dc, vmId: i-dc${i}${extra} }`;

function writeConfig(dir, enis, windowSec) {
  const path = join(dir, 'agent.yaml');
  writeFileSync(
    path,
    [
      'region: cn-hangzhou',
      'accountId: "1234567890123456"',
      `stateDir: ${dir}/state`,
      'discovery: { type: static, refreshIntervalSec: 10 }',
      'enis:',
      ...enis,
      'flowLogs:',
      `  - { id: fl-dc, resourceType: vpc, resourceId: vpc-dc, aggregationInterval: "${windowSec}s", sink: { type: file, path: unused.jsonl } }`,
      '',
    ].join('\n'),
  );
  return path;
}

class Daemon {
  constructor(dir, config, out) {
    const daemonJs = join(dir, 'daemon.js');
    if (!existsSync(daemonJs)) {
      require('esbuild').buildSync({
        entryPoints: [join(REPO, 'test/helpers/daemon-entry.ts')],
        bundle: true,
        platform: 'node',
        target: 'node20',
        packages: 'external',
        outfile: daemonJs,
        logLevel: 'error',
      });
    }
    const env = {
      ...process.env,
      NODE_PATH: join(REPO, 'node_modules'),
      FLOWLOG_CAPTURE_ADDON: join(REPO, 'build', 'Release', 'flowlog_capture.node'),
      FLOWLOG_LOG_LEVEL: 'info',
      FLOWLOG_LOG_FORMAT: 'json',
    };
    this.out = out;
    this.log = '';
    this.child = spawn('ip', inNs(NS_HOST, process.execPath, [daemonJs, config, out]), {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child.stderr.on('data', (d) => (this.log += d));
    this.exited = new Promise((r) => this.child.on('exit', r));
  }
  lines() {
    return this.log
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
  }
  async waitFor(msg, timeoutMs, where = () => true) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines().find((l) => l.msg === msg && where(l));
      if (hit) return hit;
      if (Date.now() > deadline)
        throw new Error(`"${msg}" not logged within ${timeoutMs} ms:\n${this.log.slice(-2000)}`);
      await sleep(20);
    }
  }
  async stop() {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    await this.exited;
  }
  records() {
    return existsSync(this.out)
      ? readFileSync(this.out, 'utf8')
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : [];
  }
}

/** Sleeps until `offsetSec` into the next window of `windowSec`; returns that window's start. */
async function untilWindowOffset(windowSec, offsetSec) {
  const now = Date.now() / 1000;
  const start = (Math.floor(now / windowSec) + 1) * windowSec;
  await sleep((start + offsetSec - now) * 1000);
  return start;
}

/** UDP from VM i to its phantom peer at `pps` for `seconds`, `flows` source ports, paced on an absolute schedule. */
function startSender(i, pps, seconds, flows = 1) {
  const script = [
    'import socket, time',
    `socks = []`,
    `for f in range(${flows}):`,
    '    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
    '    s.bind(("0.0.0.0", 40000 + f))',
    '    socks.append(s)',
    `t0 = time.time(); k = 0; end = t0 + ${seconds}`,
    'while True:',
    `    t = t0 + k / ${pps}`,
    '    if t >= end: break',
    '    d = t - time.time()',
    '    if d > 0: time.sleep(d)',
    '    try:',
    `        socks[k % ${flows}].sendto(b"x" * 32, ("${addr(i, 3)}", 7000))`,
    '    except OSError:',
    '        pass',
    '    k += 1',
  ].join('\n');
  const child = spawn('ip', inNs(NS_VM, 'python3', ['-c', script]), { stdio: 'ignore' });
  return new Promise((r) => child.on('exit', r));
}

/** Samples fdc<i>'s ifindex and rx+tx counters every 5 ms inside the host namespace: [[ms, ifindex, packets]]. */
function startSampler(i, seconds) {
  const script = [
    'import time, sys',
    `d = "/sys/class/net/fdc${i}"`,
    'def rd(p):',
    '    with open(p) as f: return int(f.read())',
    `end = time.time() + ${seconds}`,
    'last = None',
    'while time.time() < end:',
    '    try:',
    '        v = (rd(d + "/ifindex"), rd(d + "/statistics/rx_packets") + rd(d + "/statistics/tx_packets"))',
    '    except OSError:',
    '        v = (0, 0)',
    '    if v != last:',
    '        print("%d %d %d" % (int(time.time() * 1000), v[0], v[1]), flush=True)',
    '        last = v',
    '    time.sleep(0.005)',
  ].join('\n');
  const child = spawn('ip', inNs(NS_HOST, 'python3', ['-c', script]), { stdio: ['ignore', 'pipe', 'ignore'] });
  let text = '';
  child.stdout.on('data', (d) => (text += d));
  return new Promise((r) =>
    child.on('exit', () =>
      r(
        text
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split(' ').map(Number)),
      ),
    ),
  );
}

/**
 * Packets the device carried in [fromMs, toMs), from the sampler's series: each run of samples of
 * one device instance (same ifindex, present) counts from 0 at its first sample (a new device's
 * counters start at 0; the first 5 ms fall in the window of its creation), the value at a bound
 * being the last sample before it.
 */
function carried(samples, fromMs, toMs) {
  const runs = [];
  for (const [t, ix, n] of samples) {
    const run = runs[runs.length - 1];
    if (run === undefined || run.ifindex !== ix) runs.push({ ifindex: ix, points: [[t, n]] });
    else run.points.push([t, n]);
  }
  const at = (run, ms) => {
    if (ms <= run.points[0][0]) return 0;
    let v = 0;
    for (const [t, n] of run.points) if (t < ms && n > v) v = n; // a veth being deleted reads 0 for a moment
    return v;
  };
  return runs.filter((r) => r.ifindex > 0).reduce((sum, r) => sum + at(r, toMs) - at(r, fromMs), 0);
}

async function recreate({ cycles = 4, windowSec = 5 }, dir) {
  namespaces();
  createVeths([0]);
  const out = join(dir, 'records.jsonl');
  const daemon = new Daemon(dir, writeConfig(dir, [eniLine(0)], windowSec), out);
  try {
    await daemon.waitFor('daemon started', 30_000);
    const windows = cycles * 2 + 2;
    const first = await untilWindowOffset(windowSec, 0.2);
    const seconds = windows * windowSec - 0.4;
    const sampled = startSampler(0, seconds + 1);
    const sent = startSender(0, 200, seconds);
    const gaps = [];
    for (let c = 0; c < cycles; c++) {
      // Mid-window of every other window: down (what a VM's shutdown does first), delete, re-create.
      await sleep((first + (2 * c + 1) * windowSec + windowSec / 2 - Date.now() / 1000) * 1000);
      ip(['-n', NS_HOST, 'link', 'set', 'fdc0', 'down']);
      await sleep(50);
      ip(['-n', NS_HOST, 'link', 'del', 'fdc0']);
      const deletedMs = Date.now();
      await sleep(300);
      createVeths([0]);
      const upMs = Date.now();
      const started = await daemon.waitFor('capture started', 10_000, (l) => l.device === 'fdc0' && l.time > deletedMs);
      gaps.push(started.time - upMs);
    }
    await sent;
    const samples = await sampled;
    await sleep((windowSec + 3) * 1000);
    await daemon.stop();
    const recs = daemon.records().filter((r) => r['eni-id'] === 'eni-dc0');
    const rows = [];
    for (let w = 0; w < windows; w++) {
      const s = first + w * windowSec;
      const ok = recs
        .filter(
          (r) =>
            r['log-status'] === 'OK' &&
            r.protocol === '17' &&
            Math.floor(Number(r.start) / windowSec) * windowSec === s,
        )
        .reduce((n, r) => n + Number(r.packets), 0);
      const skip = recs
        .filter((r) => r['log-status'] === 'SKIPDATA' && Number(r.start) === s)
        .reduce((n, r) => n + (Number(r.packets) || 0), 0);
      const skipRecords = recs.filter(
        (r) => r['log-status'] === 'SKIPDATA' && Number(r.start) >= s && Number(r.start) < s + windowSec,
      ).length;
      rows.push({ window: s, device: carried(samples, s * 1000, (s + windowSec) * 1000), ok, skip, skipRecords });
    }
    const device = rows.reduce((n, r) => n + r.device, 0);
    const ok = rows.reduce((n, r) => n + r.ok, 0);
    const skip = rows.reduce((n, r) => n + r.skip, 0);
    return {
      scenario: 'recreate',
      cycles,
      captureBackMs: gaps,
      devicePackets: device,
      okPackets: ok,
      skipdataPackets: skip,
      notRecordedPct: Number((((device - ok) / device) * 100).toFixed(1)),
      shortWindowsWithoutSkipdata: rows.filter((r) => r.ok < r.device - 2 && r.skipRecords === 0).length,
      windows: rows.length,
      rows,
    };
  } finally {
    await daemon.stop();
    tearDown();
  }
}

async function storm({ enis = 50, windowSec = 10 }, dir) {
  namespaces();
  const all = Array.from({ length: enis }, (_, i) => i);
  createVeths(all);
  const out = join(dir, 'records.jsonl');
  const daemon = new Daemon(
    dir,
    writeConfig(
      dir,
      all.map((i) => eniLine(i)),
      windowSec,
    ),
    out,
  );
  try {
    await daemon.waitFor('daemon started', 120_000);
    const first = await untilWindowOffset(windowSec, 1);
    for (const i of all) {
      ip(['-n', NS_HOST, 'link', 'del', `fdc${i}`]);
      await sleep(100);
    }
    await sleep((first + 2 * windowSec + 3 - Date.now() / 1000) * 1000);
    await daemon.stop();
    const nodata = daemon.records().filter((r) => r['log-status'] === 'NODATA');
    const perWindow = new Map();
    const perEniWindow = new Map();
    for (const r of nodata) {
      const w = Math.floor(Number(r.start) / windowSec) * windowSec;
      perWindow.set(w, (perWindow.get(w) || 0) + 1);
      const k = `${r['eni-id']}@${w}`;
      perEniWindow.set(k, (perEniWindow.get(k) || 0) + 1);
    }
    return {
      scenario: 'storm',
      enis,
      nodataInDeletionWindow: perWindow.get(first) || 0,
      nodataPerWindow: Object.fromEntries([...perWindow].sort((a, b) => a[0] - b[0])),
      mostNodataForOneEniInOneWindow: Math.max(0, ...perEniWindow.values()),
    };
  } finally {
    await daemon.stop();
    tearDown();
  }
}

async function reload({ windowSec = 10 }, dir) {
  namespaces();
  createVeths([0, 1]);
  const out = join(dir, 'records.jsonl');
  const config = writeConfig(dir, [eniLine(0), eniLine(1)], windowSec);
  const daemon = new Daemon(dir, config, out);
  try {
    await daemon.waitFor('daemon started', 30_000);
    const first = await untilWindowOffset(windowSec, 0.1);
    const windows = 3;
    const sent = startSender(0, 200, windows * windowSec - 0.2, 10);
    const text = readFileSync(config, 'utf8');
    for (let k = 0; k < 20; k++) {
      await sleep((first + 3 + k - Date.now() / 1000) * 1000);
      // Two edits of the other ENI's vm-id (a record attribute); every second SIGHUP re-reads the same file.
      if (k === 4) writeFileSync(config, text.replace('vmId: i-dc1 }', 'vmId: i-dc1-a }'));
      if (k === 14) writeFileSync(config, text.replace('vmId: i-dc1 }', 'vmId: i-dc1-b }'));
      daemon.child.kill('SIGHUP');
    }
    await sent;
    await sleep((first + windows * windowSec + 3 - Date.now() / 1000) * 1000);
    await daemon.stop();
    const recs = daemon
      .records()
      .filter((r) => Number(r.start) >= first && Number(r.start) < first + windows * windowSec);
    const ok = recs.filter((r) => r['eni-id'] === 'eni-dc0' && r['log-status'] === 'OK' && r.protocol === '17');
    const perFlowWindow = new Map();
    for (const r of ok) {
      const k = `${r.srcport}@${Math.floor(Number(r.start) / windowSec) * windowSec}`;
      perFlowWindow.set(k, (perFlowWindow.get(k) || 0) + 1);
    }
    const nodata = recs.filter((r) => r['eni-id'] === 'eni-dc1' && r['log-status'] === 'NODATA');
    return {
      scenario: 'reload',
      flowWindows: 10 * windows,
      okRecords: ok.length,
      mostRecordsForOneFlowInOneWindow: Math.max(0, ...perFlowWindow.values()),
      nodataOfIdleEni: nodata.length,
      reloadsApplied: daemon.lines().filter((l) => l.msg === 'config reloaded').length,
      edits: 2,
      sighups: 20,
    };
  } finally {
    await daemon.stop();
    tearDown();
  }
}

async function main() {
  const opt = (name) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const scenario = opt('scenario') || 'recreate';
  const dir = mkdtempSync(join(tmpdir(), 'flowlog-churn-bench-'));
  try {
    const run = { recreate, storm, reload }[scenario];
    if (run === undefined) throw new Error(`unknown scenario ${scenario}`);
    const result = await run({ enis: Number(opt('enis') || 50), cycles: Number(opt('cycles') || 4) }, dir);
    if (process.argv.includes('--json')) console.log(JSON.stringify(result, null, 2));
    else {
      const { rows, ...rest } = result;
      console.log(JSON.stringify(rest));
      if (rows)
        for (const r of rows)
          console.log(
            `  window ${r.window}: device ${r.device}, OK ${r.ok}, SKIPDATA ${r.skip} (${r.skipRecords} records)`,
          );
    }
  } finally {
    tearDown();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module)
  main().catch((e) => {
    console.error(`device churn bench: ${e.message}`);
    tearDown();
    process.exit(1);
  });
