'use strict';
/**
 * Runs a child process to completion and measures it: wall time (monotonic clock, from spawn
 * to exit) and the CPU user/system time and peak RSS from its resource usage, as reported by
 * GNU time (wait4 rusage of the child and every descendant it waited for). Falls back to bash's
 * `times` (also the children's rusage, without RSS) when /usr/bin/time is missing.
 */
const { spawn } = require('node:child_process');
const { existsSync, mkdtempSync, readFileSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const GNU_TIME = '/usr/bin/time';

/**
 * @param {string} cmd
 * @param {string[]} args
 * @param {{cwd?: string, env?: NodeJS.ProcessEnv, timeoutMs?: number}} [opts]
 * @returns {Promise<{code: number|null, wallSec: number, userSec: number, sysSec: number, cpuSec: number, maxRssKb: number|null, stdout: string, stderr: string}>}
 */
function runMeasured(cmd, args, opts = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'flowlog-bench-usage-'));
  const usageFile = join(dir, 'usage');
  const viaTime = existsSync(GNU_TIME);
  const [file, argv] = viaTime
    ? [GNU_TIME, ['-f', '%U %S %M', '-o', usageFile, cmd, ...args]]
    : ['bash', ['-c', '"$@"; rc=$?; times > "$0"; exit $rc', usageFile, cmd, ...args]];
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(file, argv, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          stderr += `\n[bench: killed after ${opts.timeoutMs} ms]`;
          child.kill('SIGKILL');
        }, opts.timeoutMs)
      : null;
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      reject(new Error(`run ${cmd}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      const wallSec = Number(process.hrtime.bigint() - started) / 1e9;
      let userSec = NaN;
      let sysSec = NaN;
      let maxRssKb = null;
      try {
        const text = readFileSync(usageFile, 'utf8').trim().split('\n');
        if (viaTime) {
          // GNU time prefixes "Command exited with non-zero status N" on failure: take the last line.
          const [u, s, m] = text[text.length - 1].split(' ').map(Number);
          [userSec, sysSec, maxRssKb] = [u, s, m];
        } else {
          // Second line of `times`: children's user and system time, e.g. "0m1.234s 0m0.056s".
          const sec = (t) => {
            const m = /^(\d+)m([\d.]+)s$/.exec(t);
            return m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
          };
          [userSec, sysSec] = text[1].split(' ').map(sec);
        }
      } catch {
        // no usage file: the child was killed before it could be written
      }
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, wallSec, userSec, sysSec, cpuSec: userSec + sysSec, maxRssKb, stdout, stderr });
    });
  });
}

module.exports = { runMeasured };
