#!/usr/bin/env node
'use strict';
// Compiles the TC flow program (src/capture/ebpf/flow-tc.bpf.c) to a BPF object. binding.gyp runs
// it during `npm ci` (node-gyp rebuild) and writes build/Release/flow-tc.bpf.o, which the package
// ships next to the addon: hosts need no compiler. Built rather than committed because the build
// already needs a C toolchain and libbpf's headers for the addon, and an object compiled from the
// checked-out source can never be stale (clang versions differ in their bytes, so a committed
// object could not be checked against a rebuild on another machine).
//
// Usage: node tools/build-bpf.js OUT.o [-DNAME ...]   (CLANG overrides the compiler; the defines
// build variants, e.g. bench/ebpf-bench.js's -DFLOWLOG_BENCH_EMPTY)
const { execFileSync } = require('node:child_process');
const { mkdirSync, renameSync } = require('node:fs');
const { dirname, join, relative, resolve } = require('node:path');

const root = join(__dirname, '..');
const source = 'src/capture/ebpf/flow-tc.bpf.c';
const out = resolve(process.argv[2] ?? join(root, 'build', 'Release', 'flow-tc.bpf.o'));
const clang = process.env.CLANG ?? 'clang';

function multiarchInclude() {
  // <linux/types.h> needs <asm/types.h>, which Debian keeps under the host's multiarch directory.
  try {
    const triple = execFileSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).trim();
    return triple ? [`-I/usr/include/${triple}`] : [];
  } catch {
    return [];
  }
}

// -O2: the verifier needs the optimiser's constant offsets; -g: BTF for libbpf's map
// definitions (kept, DWARF stripped below); -mcpu=v2: instructions every kernel from 4.14 takes.
const defines = process.argv.slice(3).filter((a) => /^-D[A-Z0-9_]+$/.test(a));
const flags = [
  '-target',
  'bpf',
  '-O2',
  '-g',
  '-mcpu=v2',
  '-Wall',
  '-Werror',
  ...multiarchInclude(),
  ...defines,
  '-c',
  source,
];
mkdirSync(dirname(out), { recursive: true });
const tmp = `${out}.tmp`;
try {
  execFileSync(clang, [...flags, '-o', tmp], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
} catch (err) {
  const why =
    err.code === 'ENOENT'
      ? `${clang} not found (Debian: apt-get install clang libbpf-dev)`
      : `${clang} exited ${err.status}`;
  process.stderr.write(`build ${relative(root, out)}: ${why}\n`);
  process.exit(1);
}
try {
  // DWARF is for debuggers; BTF (.BTF, .BTF.ext) is what the loader reads, and llvm-strip -g keeps it.
  execFileSync(process.env.LLVM_STRIP ?? 'llvm-strip', ['-g', tmp], { stdio: ['ignore', 'inherit', 'inherit'] });
} catch {
  // no llvm-strip: ship the object with its DWARF (larger, loads the same)
}
renameSync(tmp, out);
