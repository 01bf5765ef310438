import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDirForFile } from '../helpers/temp-dir';

const ROOT = join(__dirname, '..', '..');
const LOADER = join(ROOT, 'dist/cli/bundle-loader.js');
const BUNDLE = join(ROOT, 'dist/flowlog-agent.js');
const tmp = tempDirForFile('bundle-loader');

/** Runs `loadBundle(bundle, command).main(['x'])` in a fresh node with the cache in `cacheDir`. */
function load(bundle: string, command: string, cacheDir: string) {
  const code = `require(${JSON.stringify(LOADER)}).loadBundle(${JSON.stringify(bundle)}, ${JSON.stringify(command)}).main(['x'])`;
  return spawnSync(process.execPath, ['-e', code], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, FLOWLOG_AGENT_CACHE_DIR: cacheDir },
  });
}

const cacheFiles = (dir: string) =>
  existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.v8cache'))
        .sort()
    : [];

describe.skipIf(!existsSync(LOADER))('bundle loader (V8 code cache)', () => {
  const bundle = join(tmp, 'cli.js');
  // Enough functions for V8 to have bytecode worth caching; `main` prints what it computed.
  const body = (n: number) =>
    `'use strict';\n${Array.from({ length: 50 }, (_, i) => `function f${i}(x) { return x * ${i + n} + ${i}; }`).join('\n')}\n` +
    `exports.main = (argv) => { let s = 0; ${Array.from({ length: 50 }, (_, i) => `s += f${i}(argv.length);`).join(' ')} console.log('sum', s, __filename === ${JSON.stringify(bundle)}); };\n`;

  it('runs the bundle, writes one cache file per command at exit, and reuses it', () => {
    writeFileSync(bundle, body(1));
    const dir = join(tmp, 'cache-a');
    const first = load(bundle, 'replay', dir);
    expect(first.stderr).toBe('');
    expect(first.stdout).toBe(
      `sum ${Array.from({ length: 50 }, (_, i) => i + 1 + i).reduce((a, b) => a + b, 0)} true\n`,
    );
    const files = cacheFiles(dir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^replay-v\d+\.\d+\.\d+-\d+-\d+\.v8cache$/);
    const written = statSync(join(dir, files[0])).mtimeMs;

    // The second run reads the cache, accepts it and so does not write it again.
    const second = load(bundle, 'replay', dir);
    expect(second.stdout).toBe(first.stdout);
    expect(statSync(join(dir, files[0])).mtimeMs).toBe(written);

    // Another command gets its own file; words that are no command share one, `other`.
    load(bundle, 'validate', dir);
    expect(cacheFiles(dir)).toHaveLength(2);
    for (const typo of ['replya', 'nosuch', '--version', 'toString']) load(bundle, typo, dir);
    expect(cacheFiles(dir).map((f) => f.split('-v')[0])).toEqual(['other', 'replay', 'validate']);
  });

  it('never reads the cache of another bundle, and replaces it', () => {
    const dir = join(tmp, 'cache-b');
    writeFileSync(bundle, body(1));
    load(bundle, 'replay', dir);
    const [old] = cacheFiles(dir);
    writeFileSync(bundle, body(22)); // another size: another cache name
    const r = load(bundle, 'replay', dir);
    expect(r.stdout).toBe(`sum ${Array.from({ length: 50 }, (_, i) => i + 22 + i).reduce((a, b) => a + b, 0)} true\n`);
    const now = cacheFiles(dir);
    expect(now).toHaveLength(1);
    expect(now[0]).not.toBe(old);
  });

  it("uses systemd's CACHE_DIRECTORY (the unit's CacheDirectory=) when no directory is named", () => {
    writeFileSync(bundle, body(4));
    const dir = join(tmp, 'cache-systemd');
    const env: NodeJS.ProcessEnv = { ...process.env, CACHE_DIRECTORY: `${dir}:/nonexistent-second` };
    delete env.FLOWLOG_AGENT_CACHE_DIR;
    const code = `require(${JSON.stringify(LOADER)}).loadBundle(${JSON.stringify(bundle)}, 'run').main([])`;
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 20_000, env });
    expect(r.status).toBe(0);
    expect(cacheFiles(dir).map((f) => f.split('-v')[0])).toEqual(['run']);
  });

  it('rewrites a cache that V8 rejects, and writes nothing when turned off', () => {
    const dir = join(tmp, 'cache-c');
    writeFileSync(bundle, body(3));
    load(bundle, 'replay', dir);
    const [name] = cacheFiles(dir);
    writeFileSync(join(dir, name), Buffer.alloc(4096, 7)); // not V8 data
    const r = load(bundle, 'replay', dir);
    expect(r.status).toBe(0);
    expect(statSync(join(dir, name)).size).not.toBe(4096);

    const off = load(bundle, 'replay', 'off');
    expect(off.status).toBe(0);
    expect(existsSync(join(process.cwd(), 'off'))).toBe(false);
  });

  it('the built bin runs the real bundle the same as the unbundled CLI', () => {
    if (!existsSync(BUNDLE)) return;
    const dir = join(tmp, 'cache-d');
    const viaBin = spawnSync(process.execPath, [join(ROOT, 'bin/flowlog-agent'), 'replay', '--help'], {
      encoding: 'utf8',
      env: { ...process.env, FLOWLOG_AGENT_CACHE_DIR: dir },
    });
    const direct = spawnSync(
      process.execPath,
      ['-e', `require(${JSON.stringify(join(ROOT, 'dist/cli/main.js'))}).main(['replay', '--help'])`],
      { encoding: 'utf8' },
    );
    expect(viaBin.status).toBe(0);
    expect(viaBin.stdout).toBe(direct.stdout.replace(/\[eval\]/g, 'flowlog-agent'));
    expect(cacheFiles(dir)).toHaveLength(1);
  });
});
