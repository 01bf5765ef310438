import { isAscii } from 'node:buffer';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';
import { COMMAND_NAMES } from './command-names';

/** What bin/flowlog-agent calls in the CLI module. */
export interface CliModule {
  main(argv: string[]): void;
}

/**
 * Loads the bundled CLI (dist/flowlog-agent.js, see tools/bundle.js) with a V8 code cache.
 *
 * Why: a replay parses and compiles about a megabyte of JavaScript before its first packet; with
 * the bytecode of the previous run of the same command that start-up took about 40 ms less.
 * Why not Node's own `module.enableCompileCache` (22.1+): it caches a script's code as compiled
 * when it is loaded, the top level only (76 KB for the bundle), not the functions a command then
 * compiles as it runs (810 KB for a replay); measured on Node 24.22 over 40 interleaved runs of a
 * 2,000-packet replay, median CPU: none 297 ms, Node's cache 292-304 ms, this one 260 ms.
 *
 * The cache is one file per command (`replay`, `run`, ...) in `$FLOWLOG_AGENT_CACHE_DIR`, else
 * systemd's `$CACHE_DIRECTORY` (the unit's `CacheDirectory=`: the daemon's user has no home),
 * else `$XDG_CACHE_HOME/flowlog-agent`, else `~/.cache/flowlog-agent`, never in a shared directory
 * (the file holds code). Its name carries the bundle's size and time and the Node version, so a
 * rebuilt bundle or another Node never reads an old cache, and V8 itself rejects data from
 * another V8 or other flags. The first run of a command (or one whose cache was rejected) writes
 * it at exit; every failure to read or write it only means running without it.
 * `FLOWLOG_AGENT_CACHE_DIR=off` turns it off.
 */
export function loadBundle(bundlePath: string, command: string): CliModule {
  const dir = cacheDir();
  // tools/bundle.js writes the bundle as pure ASCII, read as latin1 (faster than UTF-8);
  // anything else (a bundle built another way) is decoded as UTF-8.
  const bytes = readFileSync(bundlePath);
  const source = bytes.toString(isAscii(bytes) ? 'latin1' : 'utf8');
  const st = statSync(bundlePath);
  const prefix = `${(COMMAND_NAMES as readonly string[]).includes(command) ? command : 'other'}-`;
  const name = `${prefix}${process.version}-${st.size}-${Math.floor(st.mtimeMs)}.v8cache`;
  let cached: Buffer | undefined;
  if (dir !== null) {
    try {
      cached = readFileSync(join(dir, name));
    } catch {
      cached = undefined;
    }
  }
  // The CommonJS wrapper, as Node's own loader builds it.
  const wrapped = `(function (exports, require, module, __filename, __dirname) { ${source}\n})`;
  const script = new Script(wrapped, { filename: bundlePath, cachedData: cached });
  if (dir !== null && (cached === undefined || script.cachedDataRejected === true)) {
    process.once('exit', () => writeCache(dir, prefix, name, script));
  }
  const mod = { exports: {} as CliModule };
  const fn = script.runInThisContext() as (e: object, r: NodeJS.Require, m: object, f: string, d: string) => void;
  fn.call(mod.exports, mod.exports, nodeModule.createRequire(bundlePath), mod, bundlePath, dirname(bundlePath));
  return mod.exports;
}

function cacheDir(): string | null {
  const env = process.env.FLOWLOG_AGENT_CACHE_DIR;
  if (env === 'off') return null;
  if (env !== undefined && env !== '') return env;
  // systemd lists the unit's cache directories separated by colons; the unit names one.
  const systemd = process.env.CACHE_DIRECTORY?.split(':')[0];
  if (systemd !== undefined && systemd.startsWith('/')) return systemd;
  const xdg = process.env.XDG_CACHE_HOME;
  if (xdg !== undefined && xdg.startsWith('/')) return join(xdg, 'flowlog-agent');
  let home: string;
  try {
    home = homedir();
  } catch {
    return null;
  }
  return home === '' || home === '/' ? null : join(home, '.cache', 'flowlog-agent');
}

/** Writes the code compiled by this run (atomically) and removes the command's older caches. */
function writeCache(dir: string, prefix: string, name: string, script: Script): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = join(dir, `.${name}.${process.pid}`);
    writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
    renameSync(tmp, join(dir, name));
    for (const f of readdirSync(dir)) {
      if (f.startsWith(prefix) && f.endsWith('.v8cache') && f !== name) unlinkSync(join(dir, f));
    }
  } catch {
    // a read-only home or a full disk: the next run compiles as this one did
  }
}
