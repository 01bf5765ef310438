'use strict';
/**
 * The benchmark's capture: generated once with the project's own generator (dist/synth) into a
 * cache directory outside the repository, and reused while the parameters and the generator's
 * compiled code are unchanged (their hash is part of the file name). Also writes the agent's
 * configuration for it and computes the expected per-flow totals for the sanity check.
 */
const { createHash } = require('node:crypto');
const { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { homedir } = require('node:os');
const { join } = require('node:path');

const ROOT = join(__dirname, '..');
const DIST_SYNTH = join(ROOT, 'dist', 'synth');

const ENI = { id: 'eni-bench0000000000000001', ip: '10.0.0.5', mac: '00:16:3e:00:00:05', ipv6: 'fd00::a00:5' };

/** Default parameters: 2 M packets of 50 k conversations over 90 s, 10% IPv6, one ENI. */
const DEFAULT_CAPTURE = {
  packets: 2_000_000,
  flows: 50_000,
  seed: 1,
  // Minute-aligned start: one full 1-minute window and a half one.
  startSec: 1_699_999_980,
  durationSec: 90,
  ipv6Share: 0.1,
  // The agent's default capture.snaplenBytes: a live agent would see frames cut like this.
  snapLen: 128,
};

function cacheDir() {
  return process.env.FLOWLOG_BENCH_CACHE || join(homedir(), '.cache', 'flowlog-agent-bench');
}

function requireDist(name) {
  const file = join(DIST_SYNTH, `${name}.js`);
  if (!existsSync(file)) throw new Error(`find ${file}: build first (npm run build)`);
  return require(file);
}

/** Hash of the compiled generator, so a changed generator never reuses a stale capture. */
function generatorHash() {
  const h = createHash('sha256');
  for (const f of readdirSync(DIST_SYNTH)
    .filter((n) => n.endsWith('.js'))
    .sort())
    h.update(f).update(readFileSync(join(DIST_SYNTH, f)));
  return h.digest('hex').slice(0, 10);
}

function trafficOptions(p) {
  return {
    packets: p.packets,
    flows: p.flows,
    seed: p.seed,
    startSec: p.startSec,
    durationSec: p.durationSec,
    ipv6Share: p.ipv6Share,
    enis: [{ ip: ENI.ip, mac: ENI.mac, ipv6: ENI.ipv6 }],
  };
}

/**
 * Returns { path, plan, summary, reused, generateSec } for the capture of `params`, generating
 * it when absent. The plan (cheap: no frames) is rebuilt every time for the expected totals.
 */
function ensureCapture(params = DEFAULT_CAPTURE) {
  const { planTraffic } = requireDist('traffic');
  const dir = cacheDir();
  mkdirSync(dir, { recursive: true });
  const stem = `capture-${params.packets}p-${params.flows}f-s${params.seed}-snap${params.snapLen}-`;
  const tag = `${stem.slice('capture-'.length)}${generatorHash()}`;
  const path = join(dir, `capture-${tag}.pcap`);
  const metaPath = `${path}.json`;
  const plan = planTraffic(trafficOptions(params));
  if (existsSync(path) && existsSync(metaPath)) {
    return { path, plan, summary: JSON.parse(readFileSync(metaPath, 'utf8')), reused: true, generateSec: 0 };
  }
  // Captures of the same parameters from an older generator are stale and large: remove them.
  for (const f of readdirSync(dir)) if (f.startsWith(stem)) rmSync(join(dir, f), { force: true });
  const started = process.hrtime.bigint();
  const partial = `${path}.partial`;
  const summary = plan.writeCapture(partial, { snapLen: params.snapLen });
  renameSync(partial, path);
  summary.path = path;
  writeFileSync(metaPath, `${JSON.stringify(summary)}\n`);
  return { path, plan, summary, reused: false, generateSec: Number(process.hrtime.bigint() - started) / 1e9 };
}

/** The agent's configuration for the bench capture: one ENI by address and MAC, one 1-minute flow log. */
function writeAgentConfig(dir, recordsPath) {
  const path = join(dir, 'bench-agent.yaml');
  writeFileSync(
    path,
    [
      'region: cn-hangzhou',
      'accountId: "1234567890123456"',
      `stateDir: ${join(dir, 'state')}`,
      'enis:',
      `  - id: ${ENI.id}`,
      `    ips: [${ENI.ip}, "${ENI.ipv6}"]`,
      `    mac: ${ENI.mac}`,
      '    vpcId: vpc-bench0000000000000001',
      '    vswitchId: vsw-bench0000000000000001',
      '    vmId: i-bench00000000000001',
      'flowLogs:',
      '  - id: fl-bench-1m',
      '    resourceType: eni',
      `    resourceId: ${ENI.id}`,
      '    aggregationInterval: 1',
      `    sink: { type: file, path: ${recordsPath} }`,
      '',
    ].join('\n'),
  );
  return path;
}

/** Compares the agent's records with the generator's expected totals (1-minute windows). */
function checkRecords(plan, recordsText, windowSec = 60) {
  const { expectedFlowTotals, flowTotalKey } = requireDist('expected-totals');
  const expected = new Map();
  for (const t of expectedFlowTotals(plan, windowSec)) expected.set(flowTotalKey(t), t);
  let packets = 0;
  let okRecords = 0;
  let otherRecords = 0;
  let mismatched = 0;
  for (const line of recordsText.split('\n')) {
    if (line === '') continue;
    const r = JSON.parse(line);
    if (r['log-status'] !== 'OK') {
      otherRecords++;
      continue;
    }
    okRecords++;
    packets += Number(r.packets);
    const start = Number(r.start);
    const key = flowTotalKey({ ...r, windowStartSec: start - (start % windowSec) });
    const t = expected.get(key);
    if (!t || t.packets !== Number(r.packets) || t.bytes !== Number(r.bytes)) mismatched++;
    expected.delete(key);
  }
  return { packets, okRecords, otherRecords, mismatched, missing: expected.size };
}

module.exports = { DEFAULT_CAPTURE, ENI, cacheDir, ensureCapture, writeAgentConfig, checkRecords };
