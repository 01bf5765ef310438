'use strict';
/**
 * The live bench's million-flow case (issue 3: "flushing a window must not stall capture"). A
 * capture of 1.1 M packets with distinct 5-tuples, generated once by `flowlog-agent generate`
 * into the bench cache, is looped by tcpreplay at a fixed rate into the veth while the daemon
 * captures with 10-second windows. A pass over the file is shorter than a window, so every window
 * spent wholly inside the traffic holds all 1.1 M flows, and the traffic keeps arriving across
 * its close and its drain. Proof: packets recorded = packets sent, no SKIPDATA, no pcap drops.
 *
 * Called by live-bench.js inside the namespaces it created (the context `ns` carries them).
 */
const { execFile, execFileSync, spawn } = require('node:child_process');
const { createHash } = require('node:crypto');
const {
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} = require('node:fs');
const { createInterface } = require('node:readline');
const { join, resolve } = require('node:path');
const { cacheDir } = require('./bench-capture');

const REPO = resolve(__dirname, '..');
/** The generator's default MAC for 10.203.0.1 (00:16:3e + low 24 bits); given to the ENI in the config. */
const ENI = { ip: '10.203.0.1', mac: '00:16:3e:cb:00:01' };
const METRICS_LISTEN = '127.0.0.1:9917';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Hash of the compiled generator, so a changed generator never reuses a stale capture. */
function generatorHash() {
  const dist = join(REPO, 'dist', 'synth');
  const h = createHash('sha256');
  for (const f of readdirSync(dist)
    .filter((n) => n.endsWith('.js'))
    .sort())
    h.update(f).update(readFileSync(join(dist, f)));
  return h.digest('hex').slice(0, 10);
}

/** `flows` packets, one per conversation (so one unidirectional flow each), cached by parameters. */
function ensureCapture(flows) {
  const dir = cacheDir();
  mkdirSync(dir, { recursive: true });
  const stem = `million-${flows}f-snap128-`;
  const path = join(dir, `${stem}${generatorHash()}.pcap`);
  if (existsSync(path)) return { path, generateSec: 0 };
  for (const f of readdirSync(dir)) if (f.startsWith(stem)) rmSync(join(dir, f), { force: true });
  const started = Date.now();
  const partial = `${path}.partial`;
  execFileSync(
    process.execPath,
    [
      join(REPO, 'bin', 'flowlog-agent'),
      'generate',
      '--out',
      partial,
      '--packets',
      String(flows),
      '--flows',
      String(flows),
      '--snaplen',
      '128',
      '--eni-ip',
      ENI.ip,
      '--start',
      '1700000000',
      '--duration',
      '10',
      '--seed',
      '1',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  renameSync(partial, path);
  return { path, generateSec: (Date.now() - started) / 1000 };
}

function writeConfig(dir, dev, o) {
  const path = join(dir, 'million.yaml');
  writeFileSync(
    path,
    [
      'region: cn-hangzhou',
      'accountId: "1234567890123456"',
      `stateDir: ${dir}`,
      'enis:',
      `  - { id: eni-million0, interface: ${dev}, mac: "${ENI.mac}", ips: [${ENI.ip}], vpcId: vpc-bench, vswitchId: vsw-bench, vmId: i-bench }`,
      'flowLogs:',
      `  - { id: fl-million, resourceType: vpc, resourceId: vpc-bench, aggregationInterval: "${o.windowSec}s", sink: { type: file, path: ${o.records} } }`,
      `flowTable: { capacity: ${o.capacity} }`,
      `capture: { snaplenBytes: 128, bufferBytes: ${o.bufferBytes} }`,
      `metrics: { listen: "${METRICS_LISTEN}" }`,
      '',
    ].join('\n'),
  );
  return path;
}

/** Flush histogram and drop counters from the daemon's /metrics (inside the agent namespace). */
function scrape(ns) {
  return new Promise((res) => {
    execFile(
      'ip',
      ['netns', 'exec', ns, 'curl', '-s', '--max-time', '2', `http://${METRICS_LISTEN}/metrics`],
      { encoding: 'utf8' },
      (err, out) => {
        if (err) return res(null);
        const sum = (name) =>
          out
            .split('\n')
            .filter((l) => l.startsWith(name))
            .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
        res({
          atMs: Date.now(),
          flushCount: sum('flowlog_window_flush_seconds_count'),
          flushSec: sum('flowlog_window_flush_seconds_sum'),
          kernelDrops: sum('flowlog_capture_kernel_drops_total'),
          interfaceDrops: sum('flowlog_capture_interface_drops_total'),
        });
      },
    );
  });
}

/** Per window (by record start, floored to the window): OK records and packets, SKIPDATA, NODATA, end offset in the file. */
async function readWindows(path, windowSec) {
  const windows = new Map();
  let offset = 0;
  const rl = createInterface({ input: createReadStream(path, { encoding: 'latin1' }), crlfDelay: Infinity });
  for await (const line of rl) {
    offset += line.length + 1;
    const m = /"packets":"(\d+)".*"start":"(\d+)".*"log-status":"(\w+)"/.exec(line);
    if (m === null) continue;
    const start = Math.floor(Number(m[2]) / windowSec) * windowSec;
    let w = windows.get(start);
    if (w === undefined)
      windows.set(
        start,
        (w = { startSec: start, ok: 0, okPackets: 0, skipdata: 0, skipPackets: 0, nodata: 0, endOffset: 0 }),
      );
    if (m[3] === 'OK') {
      w.ok++;
      w.okPackets += Number(m[1]);
    } else if (m[3] === 'SKIPDATA') {
      w.skipdata++;
      w.skipPackets += Number(m[1]);
    } else w.nodata++;
    w.endOffset = offset;
  }
  return [...windows.values()].sort((a, b) => a.startSec - b.startSec);
}

/** Agent CPU (user+sys, s) between two times, from the samples. */
function cpuBetween(samples, fromMs, toMs) {
  const a = samples.filter((x) => x.atMs <= fromMs).pop();
  const b = samples.find((x) => x.atMs >= toMs) || samples[samples.length - 1];
  return a && b && b.atMs > a.atMs
    ? { cpuSec: (b.cpuTicks - a.cpuTicks) / 100, wallSec: (b.atMs - a.atMs) / 1000 }
    : null;
}

/**
 * Packets and drops the agent's namespace has seen on `dev` (/proc/PID/net/dev shows the
 * namespace of PID: no process to spawn, so it can be polled finely).
 */
function rxOf(pid, dev) {
  const line = readFileSync(`/proc/${pid}/net/dev`, 'utf8')
    .split('\n')
    .find((l) => l.trim().startsWith(`${dev}:`));
  const f = line.split(':')[1].trim().split(/\s+/).map(Number);
  return { packets: f[1], dropped: f[3] };
}

/**
 * Runs the case. `ns`: { agentNs, peerNs, dev, peer, daemonJs, dir, waitFor, readCpu }.
 * Options: pps (tcpreplay's fixed rate: --topspeed on 2 shared cores varies too much to plan
 * windows by), windowSec, graceSec (the daemon's: a window closes that long after its end),
 * tailSec (traffic goes on this long after the first whole window closed), bufferBytes (the
 * agent's default: 16 MiB hold well under a second of this traffic, so a stalled flush would
 * show as drops), stallMs (control run: the agent is stopped that long mid-window, which must
 * show as drops, or the case could not see a stall either).
 */
async function runMillionFlowCase(
  ns,
  {
    flows = 1_100_000,
    pps = 120_000,
    windowSec = 10,
    graceSec = 2,
    tailSec = 10,
    bufferBytes = 16 * 1024 * 1024,
    stallMs = 0,
  } = {},
) {
  if (flows / pps > windowSec * 0.95)
    throw new RangeError(
      `run million-flow case: a pass of ${flows} packets at ${pps} pps must fit in a ${windowSec} s window`,
    );
  const capture = ensureCapture(flows);
  const records = join(ns.dir, 'million-records.jsonl');
  const config = writeConfig(ns.dir, ns.dev, {
    windowSec,
    capacity: Math.max(1_200_000, Math.ceil(flows * 1.1)),
    bufferBytes,
    records,
  });
  const env = {
    ...process.env,
    NODE_PATH: join(REPO, 'node_modules'),
    FLOWLOG_CAPTURE_ADDON: join(REPO, 'build', 'Release', 'flowlog_capture.node'),
  };
  const agent = spawn('ip', ['netns', 'exec', ns.agentNs, process.execPath, ns.daemonJs, config], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tcpdump = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns.agentNs,
      'tcpdump',
      '-i',
      ns.dev,
      '-n',
      '-s',
      '128',
      '-B',
      String(bufferBytes >> 10),
      '-w',
      '/dev/null',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let tdText = '';
  tcpdump.stderr.on('data', (d) => (tdText += d));
  let agentLog = '';
  agent.stderr.on('data', (d) => (agentLog += d));
  const agentExited = new Promise((r) => agent.on('exit', () => r(Date.now())));
  let replay = null;
  try {
    await Promise.all([ns.waitFor(agent, /daemon started/, 20000), ns.waitFor(tcpdump, /listening on/, 10000)]);
    // Loop until stopped. One pass fits in a window at `pps`, so the first window wholly inside
    // the traffic holds every flow; the traffic goes on `tailSec` after that window closed.
    const rx0 = rxOf(agent.pid, ns.dev);
    replay = spawn(
      'ip',
      ['netns', 'exec', ns.peerNs, 'tcpreplay', '-K', '--pps', String(pps), '--loop', '0', '-i', ns.peer, capture.path],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let replayText = '';
    replay.stdout.on('data', (d) => (replayText += d));
    replay.stderr.on('data', (d) => (replayText += d));
    let replayEndMs = 0;
    const replayDone = new Promise((r) => replay.on('exit', () => r((replayEndMs = Date.now()))));
    const windowMs = windowSec * 1000;
    const replayStartMs = await (async () => {
      // tcpreplay preloads the file first (seconds)
      for (const until = Date.now() + 30000; Date.now() < until && replayEndMs === 0; await sleep(10))
        if (rxOf(agent.pid, ns.dev).packets > rx0.packets) return Date.now();
      throw new Error(`run million-flow case: tcpreplay sent nothing: ${replayText.slice(-300)}`);
    })();
    const wholeStartMs = Math.ceil(replayStartMs / windowMs) * windowMs;
    const stopTimer = setTimeout(
      () => replay.kill('SIGINT'),
      wholeStartMs + windowMs + (graceSec + tailSec) * 1000 - Date.now(),
    );
    if (stallMs > 0) {
      setTimeout(
        () => {
          agent.kill('SIGSTOP');
          setTimeout(() => agent.kill('SIGCONT'), stallMs);
        },
        wholeStartMs + windowMs / 2 - Date.now(),
      );
    }
    // Until the agent exits: file size and agent CPU every 200 ms (when did a window's last record
    // land, how busy was the agent meanwhile), /metrics every second while it serves.
    const samples = [];
    const scrapes = [];
    let exited = false;
    void agentExited.then(() => (exited = true));
    const sampled = (async () => {
      while (!exited) {
        let cpuTicks = NaN;
        try {
          cpuTicks = ns.readCpu(agent.pid);
        } catch {
          /* exited meanwhile */
        }
        let rx = NaN;
        try {
          rx = rxOf(agent.pid, ns.dev).packets;
        } catch {
          /* exited meanwhile */
        }
        samples.push({ atMs: Date.now(), bytes: existsSync(records) ? statSync(records).size : 0, cpuTicks, rx });
        if (samples.length % 5 === 0 && replayEndMs === 0) scrapes.push(await scrape(ns.agentNs));
        await sleep(200);
      }
    })();
    await replayDone;
    clearTimeout(stopTimer);
    const rx1 = rxOf(agent.pid, ns.dev);
    // tcpreplay takes a while to exit after SIGINT: the traffic ended when the veth stopped receiving.
    replayEndMs = samples.find((x) => x.rx >= rx1.packets)?.atMs ?? replayEndMs;
    await sleep(1000);
    const lastScrape = await scrape(ns.agentNs);
    tcpdump.kill('SIGINT');
    agent.kill('SIGTERM');
    await Promise.all([new Promise((r) => tcpdump.on('exit', r)), agentExited, sampled]);

    const sent = Number((/Actual: (\d+) packets/.exec(replayText) || [])[1]);
    const sendSec = Number((/packets \(\d+ bytes\) sent in ([\d.]+) seconds/.exec(replayText) || [])[1]);
    const failed = Number((/Failed packets:\s+(\d+)/.exec(replayText) || [0, 0])[1]);
    const windows = await readWindows(records, windowSec);
    if (windows.length === 0) throw new Error(`run million-flow case: no records: ${agentLog.slice(-500)}`);
    // The earliest of the fullest windows: the most traffic after its close.
    const largest = windows.reduce((a, w) => (w.ok > a.ok ? w : a), windows[0]);
    const endMs = (largest.startSec + windowSec) * 1000;
    const written = samples.find((x) => x.bytes >= largest.endOffset);
    const live = scrapes.filter((x) => x !== null);
    const before = live.filter((x) => x.atMs <= endMs).pop();
    const after = before && live.find((x) => x.flushCount > before.flushCount);
    const flushSec = after ? (after.flushSec - before.flushSec) / (after.flushCount - before.flushCount) : null;
    const closeMs = endMs + graceSec * 1000;
    const busy = written
      ? cpuBetween(
          samples.filter((x) => Number.isFinite(x.cpuTicks)),
          closeMs,
          written.atMs,
        )
      : null;
    return {
      flows,
      pps,
      windowSec,
      bufferBytes,
      captureGenerateSec: capture.generateSec,
      replay: {
        sent,
        failed,
        sendSec,
        rate: Math.round(sent / sendSec),
        vethReceived: rx1.packets - rx0.packets,
        vethDropped: rx1.dropped - rx0.dropped,
      },
      largestWindow: {
        startSec: largest.startSec,
        flows: largest.ok,
        packets: largest.okPackets,
        wholeWindowInTraffic: replayStartMs <= largest.startSec * 1000 && replayEndMs >= endMs,
        flushSec, // the pipeline's own drain time (flowlog_window_flush_seconds); null if it ended after the last scrape
        // Times after the window's end: its drain seen done (next /metrics scrape), traffic end, last record on disk.
        drainDoneAfterEndSec: after ? (after.atMs - endMs) / 1000 : null,
        trafficEndAfterEndSec: (replayEndMs - endMs) / 1000,
        lastRecordWrittenAfterEndSec: written ? (written.atMs - endMs) / 1000 : null,
        // Positive: packets kept arriving for that long after the window's last record was written.
        trafficAfterLastRecordSec: written ? (replayEndMs - written.atMs) / 1000 : null,
        agentCpuDuringFlush: busy,
      },
      windows: windows.map((w) => ({
        startSec: w.startSec,
        ok: w.ok,
        okPackets: w.okPackets,
        skipdata: w.skipdata,
        nodata: w.nodata,
      })),
      agent: {
        recorded: windows.reduce((n, w) => n + w.okPackets, 0),
        skipdataRecords: windows.reduce((n, w) => n + w.skipdata, 0),
        skipdataPackets: windows.reduce((n, w) => n + w.skipPackets, 0),
        pcapDrops: lastScrape ? lastScrape.kernelDrops + lastScrape.interfaceDrops : null,
        cpuSec: (samples.filter((x) => Number.isFinite(x.cpuTicks)).pop().cpuTicks - samples[0].cpuTicks) / 100,
        errors: agentLog
          .split('\n')
          .filter((l) => /"level":(50|60)/.test(l))
          .slice(0, 3),
      },
      tcpdump: {
        captured: Number((/(\d+) packets captured/.exec(tdText) || [])[1]),
        dropped: Number((/(\d+) packets dropped by kernel/.exec(tdText) || [])[1]),
      },
    };
  } finally {
    for (const child of [agent, tcpdump, replay])
      if (child !== null) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(records, { force: true });
  }
}

module.exports = { runMillionFlowCase };
