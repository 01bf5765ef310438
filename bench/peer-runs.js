'use strict';
/**
 * The contenders of the file benchmark, each run as its own measured child process over the
 * same capture: the agent's replay, the bare node-pcap loop, pmacctd and softflowd.
 * Each returns the measurement plus the packets the contender says it processed.
 */
const { execFileSync } = require('node:child_process');
const { existsSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { runMeasured } = require('./measured-run');

const ROOT = join(__dirname, '..');
const TIMEOUT_MS = 180_000;

function which(cmd) {
  try {
    return execFileSync('bash', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

function failed(name, run) {
  const tail = (run.stderr || run.stdout).trim().split('\n').slice(-5).join('\n');
  return new Error(`run ${name}: exit ${run.code}: ${tail}`);
}

/**
 * Environment of the node contenders (agent, bare loop): this process's, without
 * NODE_EXTRA_CA_CERTS. Node reads and parses every certificate of that file at start-up, before
 * any JavaScript runs (0.05 s of CPU for the 144 certificates of the machine the README's figures
 * come from), and neither contender opens a TLS connection. `nodeStartCostOfExtraCerts` measures
 * what the variable costs, and run.js prints it beside the table.
 */
const CONTENDER_ENV = (() => {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
})();

/** Seconds of CPU that NODE_EXTRA_CA_CERTS adds to a node start (`node -e 0`, least of 5 each), or null when unset. */
async function nodeStartCostOfExtraCerts() {
  if (!process.env.NODE_EXTRA_CA_CERTS) return null;
  const least = async (env) => {
    let min = Infinity;
    for (let i = 0; i < 5; i++) min = Math.min(min, (await runMeasured(process.execPath, ['-e', '0'], { env })).cpuSec);
    return min;
  };
  return Math.max(0, (await least(process.env)) - (await least(CONTENDER_ENV)));
}

/** `flowlog-agent replay --pcap FILE --config FILE --output FILE [extra...]` (`--no-kernel`: TypeScript only). */
async function runAgent(capture, configPath, recordsPath, extra = []) {
  rmSync(recordsPath, { force: true });
  const bin = join(ROOT, 'bin', 'flowlog-agent');
  const run = await runMeasured(
    process.execPath,
    [bin, 'replay', '--pcap', capture, '--config', configPath, '--output', recordsPath, ...extra],
    { env: CONTENDER_ENV, timeoutMs: TIMEOUT_MS },
  );
  if (run.code !== 0) throw failed('agent replay', run);
  const m = /(\d+) packets\b/.exec(run.stderr); // "replay: 1 of 1 files read, N packets, M flows in T s"
  return { ...run, packets: m ? Number(m[1]) : NaN };
}

/** bench/bare-loop.js: the binding's read loop with a counting callback. */
async function runBare(capture) {
  const run = await runMeasured(process.execPath, [join(__dirname, 'bare-loop.js'), capture], {
    cwd: ROOT,
    env: CONTENDER_ENV,
    timeoutMs: TIMEOUT_MS,
  });
  if (run.code !== 0) throw failed('bare loop', run);
  return { ...run, packets: JSON.parse(run.stdout.trim()).packets };
}

/**
 * pmacctd aggregating the same 5-tuples per minute from the file (print plugin, CSV), exiting at
 * the end of the file (pcap_savefile_wait false). The core waits for its plugin, so the plugin's
 * CPU is in the measured rusage. Note pmacctd sleeps 2 s before reading a savefile (its own
 * start-up delay for plugins), which is in its wall time but not its CPU time.
 */
async function runPmacctd(capture, workDir) {
  const exe = which('pmacctd');
  if (!exe) return { skipped: 'pmacctd not installed' };
  const out = join(workDir, 'pmacctd-out.csv');
  rmSync(out, { force: true });
  const conf = join(workDir, 'pmacctd.conf');
  writeFileSync(
    conf,
    [
      'daemonize: false',
      `pcap_savefile: ${capture}`,
      'pcap_savefile_wait: false',
      'aggregate: src_host,dst_host,src_port,dst_port,proto',
      'plugins: print',
      'print_output: csv',
      `print_output_file: ${out}`,
      'print_refresh_time: 60',
      'print_history: 1m',
      'print_history_roundoff: m',
      // The plugin may purge more than once (cache pressure): append, so the file holds every purge.
      'print_output_file_append: true',
      // A pipe large enough that the core does not drop towards the plugin; a cache of 64 k
      // buckets (1 M would cost pmacctd 4 GB of memset, which is not what is compared here).
      'plugin_buffer_size: 102400',
      'plugin_pipe_size: 102400000',
      'print_cache_entries: 65537',
      '',
    ].join('\n'),
  );
  const run = await runMeasured(exe, ['-f', conf], { timeoutMs: TIMEOUT_MS });
  if (run.code !== 0) throw failed('pmacctd', run);
  let packets = 0;
  if (existsSync(out)) {
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    const col = lines[0].split(',').indexOf('PACKETS');
    for (const l of lines.slice(1)) packets += Number(l.split(',')[col]);
  }
  return { ...run, packets };
}

/** softflowd -r FILE (optional peer): NetFlow export to a closed loopback port, control socket off. */
async function runSoftflowd(capture, workDir) {
  const exe = which('softflowd');
  if (!exe) return { skipped: 'softflowd not installed' };
  const run = await runMeasured(
    exe,
    ['-r', capture, '-n', '127.0.0.1:9', '-c', 'none', '-p', join(workDir, 'softflowd.pid'), '-m', '1000000', '-6'],
    {
      timeoutMs: TIMEOUT_MS,
    },
  );
  if (run.code !== 0) throw failed('softflowd', run);
  const m = /Packets processed: (\d+)/.exec(run.stdout + run.stderr);
  return { ...run, packets: m ? Number(m[1]) : NaN };
}

module.exports = { runAgent, runBare, runPmacctd, runSoftflowd, nodeStartCostOfExtraCerts };
