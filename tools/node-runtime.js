#!/usr/bin/env node
'use strict';
// Fetches the pinned Node.js runtime (packaging/node-runtime.json) from the npm registry into a
// cache directory, checks the tarball against the pinned integrity, unpacks it once, and prints
// the runtime's directory: bin/node, and include/node (the headers node-gyp builds the addons
// against with --nodedir, so nothing is fetched from anywhere else).
//
// Used by .ci/run (the suite runs on this binary), tools/package-deb.js and the Dockerfile. Runs
// on any Node from 18 on (the Dockerfile bootstraps it with Debian's nodejs and npm).
//
// Usage: node tools/node-runtime.js [--cache DIR]
//   DIR: --cache, else $FLOWLOG_RUNTIME_CACHE, else $XDG_CACHE_HOME/flowlog-agent/runtime, else
//   ~/.cache/flowlog-agent/runtime.
const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const { join } = require('node:path');

const pin = JSON.parse(fs.readFileSync(join(__dirname, '..', 'packaging', 'node-runtime.json'), 'utf8'));

function fail(message) {
  process.stderr.write(`node-runtime: ${message}\n`);
  process.exit(1);
}

function cacheRoot() {
  const i = process.argv.indexOf('--cache');
  if (i > 0 && process.argv[i + 1]) return process.argv[i + 1];
  if (process.env.FLOWLOG_RUNTIME_CACHE) return process.env.FLOWLOG_RUNTIME_CACHE;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.startsWith('/') ? xdg : join(os.homedir(), '.cache'), 'flowlog-agent', 'runtime');
}

/** The npm form of a tarball's integrity: sha512-<base64 digest>. */
function integrityOf(file) {
  return `sha512-${crypto.createHash('sha512').update(fs.readFileSync(file)).digest('base64')}`;
}

const root = cacheRoot();
const dir = join(root, `${pin.package}-${pin.version}`);
// The marker holds the integrity the tree was unpacked from: a changed pin never reuses it.
const marker = join(dir, '.integrity');
let ready;
try {
  ready = fs.readFileSync(marker, 'utf8') === pin.integrity && fs.statSync(join(dir, 'bin', 'node')).isFile();
} catch {
  ready = false;
}
if (!ready) {
  fs.mkdirSync(root, { recursive: true });
  const work = fs.mkdtempSync(join(root, '.fetch-'));
  try {
    // npm checks the registry's own integrity as it downloads; the pin is checked below, so a
    // registry that served other bytes under the same version is refused too.
    execFileSync('npm', ['pack', `${pin.package}@${pin.version}`, '--pack-destination', work, '--silent'], {
      cwd: work,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const tarball = join(work, `${pin.package}-${pin.version}.tgz`);
    if (!fs.existsSync(tarball)) fail(`fetch ${pin.package}@${pin.version}: npm pack wrote no ${tarball}`);
    const got = integrityOf(tarball);
    if (got !== pin.integrity)
      fail(`fetch ${pin.package}@${pin.version}: integrity ${got} is not the pinned ${pin.integrity}`);
    const unpacked = join(work, 'unpacked');
    fs.mkdirSync(unpacked);
    execFileSync('tar', ['-xzf', tarball, '-C', unpacked, '--strip-components=1', '--no-same-owner']);
    const version = execFileSync(join(unpacked, 'bin', 'node'), ['--version'], { encoding: 'utf8' }).trim();
    if (version !== `v${pin.version}`) fail(`fetch ${pin.package}@${pin.version}: its bin/node says ${version}`);
    if (!fs.existsSync(join(unpacked, 'include', 'node', 'node_api.h')))
      fail(`fetch ${pin.package}@${pin.version}: no include/node headers`);
    fs.writeFileSync(join(unpacked, '.integrity'), pin.integrity);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(unpacked, dir);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
process.stdout.write(dir + '\n');
