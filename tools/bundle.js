#!/usr/bin/env node
'use strict';
/**
 * Bundles the compiled CLI (dist/cli/main.js) and its pure-JS dependencies (yargs, yaml) into
 * one file, dist/flowlog-agent.js, which bin/flowlog-agent loads when it is up to date.
 *
 * Why: loading ~130 small modules (yaml alone is 72) means resolving, reading and wrapping each
 * one; a replay spent about 40 ms of its start-up on that, a measurable share of a 1-second run.
 * Lazy command and sink modules stay lazy inside the bundle (esbuild wraps each CommonJS module
 * and evaluates it on first require).
 *
 * Left outside the bundle, loaded from node_modules as before: the native libpcap addon (pcap),
 * and packages that find files of their own at run time or are only loaded by the daemon
 * (pino's transports, @alicloud/log, prom-client).
 */
const { readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { build } = require('esbuild');

const root = join(__dirname, '..');
const outfile = join(root, 'dist', 'flowlog-agent.js');
build({
  entryPoints: [join(root, 'dist', 'cli', 'main.js')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  external: ['pcap', 'pcap/*', 'pino', '@alicloud/log', 'prom-client'],
  charset: 'ascii',
  logLevel: 'warning',
})
  .then(() => {
    // esbuild escapes non-ASCII characters in code but leaves comments as they are; escaped
    // there too (\uXXXX is inert in a comment), the file is pure ASCII, which the loader reads
    // as latin1: a third of the time of decoding a megabyte of UTF-8 (2 ms of each start-up).
    const text = readFileSync(outfile, 'utf8');
    // eslint-disable-next-line no-control-regex -- every character outside ASCII, NUL included
    const ascii = text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    if (ascii !== text) writeFileSync(outfile, ascii);
  })
  .catch((err) => {
    process.stderr.write(`bundle dist/flowlog-agent.js: ${err.message}\n`);
    process.exit(1);
  });
