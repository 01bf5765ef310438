'use strict';
// The installed tree both packages carry (tools/package-deb.js, tools/package-rpm.js) and the
// container image installs (Dockerfile), staged from this built checkout (after `npm ci`):
//
//   /usr/lib/flowlog-agent/      node/bin/node (the pinned runtime, packaging/node-runtime.json),
//                                node/LICENSE, bin/flowlog-agent (the entry script, which that
//                                node runs: no #! line, not executable by itself), dist/
//                                (the bundled CLI), build/Release/ (flowlog_capture.node, the
//                                eBPF engine's flowlog_ebpf.node and its BPF object
//                                flow-tc.bpf.o: the engine looks for the object next to the
//                                addon), node_modules/ (production dependencies only,
//                                node-pcap's addon included), package.json, config/ examples
//   /usr/bin/flowlog-agent       sh: exec /usr/lib/flowlog-agent/node/bin/node .../bin/flowlog-agent
//                                (a #! naming the shipped node is what lintian calls a wrong
//                                interpreter path; the host's own node, if any, is never used)
//   /usr/lib/systemd/system/flowlog-agent.service
//   /etc/flowlog-agent/agent.yaml  (packaging/agent.yaml: not configured until edited or `init`)
//   /usr/share/man/man1/flowlog-agent.1.gz  from the CLI's --help
//
// The three addons are compiled here, from their sources, against the headers the runtime's
// registry package carries (node-gyp --nodedir): node-pcap uses V8's C++ API (nan), so it loads
// only in the Node it was built for, and nothing is downloaded for it. The BPF object comes from
// the same node-gyp run (binding.gyp's action, tools/build-bpf.js), so it matches the addon's
// drain layout.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const { join, relative, dirname } = require('node:path');
const zlib = require('node:zlib');

const root = join(__dirname, '..');
const NAME = 'flowlog-agent';
const LIB = `/usr/lib/${NAME}`;
const NODE = `${LIB}/node/bin/node`;
/** docs/ files shipped beside the README under /usr/share/doc/flowlog-agent: the operator's references. */
const SHIPPED_DOCS = ['configuration.md', 'operations.md'];

function fail(message) {
  process.stderr.write(`package: ${message}\n`);
  process.exit(1);
}

/** Files a package has no use for: build leftovers and the dotfiles of npm packages' repos. */
function keep(path) {
  const base = path.split('/').pop();
  if (/\.(o|a|mk|gypi?)$/.test(base) || base === 'Makefile' || base === 'binding.Makefile') return false;
  // Dependencies' documentation (the package's docs live in /usr/share/doc; pino's docsify page
  // loads scripts from CDNs); their licences stay beside their code.
  if (
    path.includes('/node_modules/') &&
    /\.(html|md|markdown)$/i.test(base) &&
    !/^(licen[cs]e|copying|notice)/i.test(base)
  )
    return false;
  // Dependencies' type declarations and addon sources: only the compiler reads them.
  if (
    path.includes('/node_modules/') &&
    (/\.d\.[cm]?ts$/.test(base) || /\.(c|cc|cpp|h|hh)$/.test(base) || base.startsWith('.'))
  )
    return false;
  return !/^\.(npmignore|eslintrc.*|gitattributes|gitignore|travis\.yml|editorconfig|prettierrc.*|jshintrc|nycrc|airtap\.yml|taprc)$/.test(
    base,
  );
}

function isScript(path) {
  const fd = fs.openSync(path, 'r');
  const head = Buffer.alloc(2);
  fs.readSync(fd, head, 0, 2, 0);
  fs.closeSync(fd);
  return head.toString() === '#!';
}

/** Ships an ELF object stripped (debug symbols are most of its size; lintian refuses them). */
function strip(path) {
  execFileSync('strip', ['--strip-unneeded', '--remove-section=.comment', '--remove-section=.note', path]);
}

/**
 * A dependency's command-line scripts (its package.json `bin`): npm links them into
 * node_modules/.bin, which is not shipped, and nothing runs them (their #! names a `node` the
 * host may not have).
 */
function dependencyCommands(dir) {
  let bin;
  try {
    bin = JSON.parse(fs.readFileSync(join(dir, 'package.json'), 'utf8')).bin;
  } catch {
    return [];
  }
  const paths = typeof bin === 'string' ? [bin] : bin && typeof bin === 'object' ? Object.values(bin) : [];
  return paths.map((p) => join(dir, p));
}
const skipped = new Set();

/** Copies a file or tree, skipping build intermediates and what the runtime never loads. */
function copy(from, to) {
  const st = fs.lstatSync(from);
  if (st.isDirectory()) {
    const base = from.split('/').pop();
    if (base === 'obj.target' || base === '.deps' || base === '.bin' || base === '.husky') return;
    // Dependencies' repository files (.github and the like) and type packages (@types).
    if (from.includes('/node_modules/') && (base.startsWith('.') || base === '@types')) return;
    if (from.includes('/node_modules/') && ['doc', 'docs', 'test', 'tests', 'spec', 'examples'].includes(base)) return;
    // nan: C++ headers for compiling node-pcap; protobufjs's code generator (pbjs/pbts with 20 MB
    // of its own dependencies: @alicloud/log loads only the protobufjs runtime).
    if (from.endsWith('node_modules/protobufjs/cli') || from.endsWith('node_modules/nan')) return;
    fs.mkdirSync(to, { recursive: true });
    for (const e of fs.readdirSync(from)) copy(join(from, e), join(to, e));
  } else if (st.isSymbolicLink()) {
    fs.symlinkSync(fs.readlinkSync(from), to);
  } else if (keep(from) && !skipped.has(from)) {
    fs.mkdirSync(dirname(to), { recursive: true });
    fs.copyFileSync(from, to);
    // Scripts (a #! line) stay executable; everything else, addons included, is 0644.
    fs.chmodSync(to, st.mode & 0o111 && isScript(from) ? 0o755 : 0o644);
    if (from.endsWith('.node')) strip(to);
  }
}

/** The pinned runtime's directory (fetched into the cache on first use). */
function runtimeDir() {
  const out = execFileSync(process.execPath, [join(root, 'tools', 'node-runtime.js')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return out.trim();
}

/** node-gyp: npm's own (npm names it to scripts it runs), else the one inside the npm on PATH. */
function nodeGyp() {
  const named = process.env.npm_config_node_gyp;
  if (named && fs.existsSync(named)) return named;
  const npm = execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim();
  // npm's executable is a link into its package (.../npm/bin/npm-cli.js).
  const bundled = join(dirname(dirname(fs.realpathSync(npm))), 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (!fs.existsSync(bundled)) fail(`build addons: no node-gyp (looked for ${bundled})`);
  return bundled;
}

/**
 * Compiles the agent's addons (libpcap capture, eBPF engine and its BPF object) and node-pcap's
 * against `runtime`'s headers in a scratch directory; returns their paths by file name. `node` on
 * PATH is the runtime, so nan's include path and node-gyp's checks see the Node the addons will
 * load in.
 */
function buildAddons(runtime, scratch) {
  const gyp = nodeGyp();
  const env = { ...process.env, PATH: `${join(runtime, 'bin')}:${process.env.PATH}`, npm_config_nodedir: runtime };
  const agent = join(scratch, 'agent');
  fs.mkdirSync(join(agent, 'src', 'capture'), { recursive: true });
  fs.copyFileSync(join(root, 'binding.gyp'), join(agent, 'binding.gyp'));
  fs.cpSync(join(root, 'src', 'capture', 'native'), join(agent, 'src', 'capture', 'native'), { recursive: true });
  // binding.gyp also builds the eBPF engine: its sources and the BPF object's compile script.
  fs.cpSync(join(root, 'src', 'capture', 'ebpf'), join(agent, 'src', 'capture', 'ebpf'), { recursive: true });
  fs.mkdirSync(join(agent, 'tools'), { recursive: true });
  fs.copyFileSync(join(root, 'tools', 'build-bpf.js'), join(agent, 'tools', 'build-bpf.js'));
  const modules = join(scratch, 'node_modules');
  for (const dep of ['pcap', 'nan']) {
    fs.cpSync(join(root, 'node_modules', dep), join(modules, dep), {
      recursive: true,
      filter: (p) => !p.startsWith(join(root, 'node_modules', dep, 'build')),
    });
  }
  const built = {};
  for (const [dir, files] of [
    [agent, ['flowlog_capture.node', 'flowlog_ebpf.node', 'flow-tc.bpf.o']],
    [join(modules, 'pcap'), ['pcap_binding.node']],
  ]) {
    execFileSync(join(runtime, 'bin', 'node'), [gyp, 'rebuild', `--nodedir=${runtime}`, '--jobs=2', '--silent'], {
      cwd: dir,
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    for (const file of files) {
      built[file] = join(dir, 'build', 'Release', file);
      if (!fs.existsSync(built[file])) fail(`build addons: node-gyp made no ${relative(scratch, built[file])}`);
    }
  }
  // Each must load in the runtime it was built for (a NODE_MODULE_VERSION mismatch throws here;
  // the eBPF addon also needs libbpf.so.1, which the builder has from libbpf-dev).
  for (const addon of Object.values(built).filter((p) => p.endsWith('.node'))) {
    execFileSync(join(runtime, 'bin', 'node'), ['-e', `process.dlopen({ exports: {} }, ${JSON.stringify(addon)})`], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
  return built;
}

/** flowlog-agent(1), from the CLI's own --help so it never disagrees with the binary. */
function manualPage(version, node, bin) {
  const help = (...args) =>
    execFileSync(node, [bin, ...args, '--help'], {
      encoding: 'utf8',
      env: { ...process.env, COLUMNS: '78', FLOWLOG_AGENT_CACHE_DIR: 'off' },
    });
  const roff = (text) =>
    text
      .replace(/\\/g, '\\e')
      .replace(/^([.'])/gm, '\\&$1')
      .replace(/-/g, '\\-');
  const commands = [...help().matchAll(/^ {2}flowlog-agent (\S+)/gm)].map((m) => m[1]);
  const sections = commands.map((c) => `.SS ${c}\n.nf\n${roff(help(c).trimEnd())}\n.fi`);
  return [
    `.TH FLOWLOG-AGENT 1 "" "${NAME} ${version}" "User Commands"`,
    '.SH NAME',
    `${NAME} \\- VPC flow logs from libpcap captures of a host's ENIs`,
    '.SH SYNOPSIS',
    `.B ${NAME}`,
    '.I command',
    '[options]',
    '.SH DESCRIPTION',
    '.nf',
    roff(help().trimEnd()),
    '.fi',
    '.SH COMMANDS',
    ...sections,
    '.SH FILES',
    '.TP',
    `/etc/${NAME}/agent.yaml`,
    `The daemon's configuration (\\fB${NAME} init\\fR writes one from this host's devices; \\fB${NAME} validate \\-\\-config\\fR checks it).`,
    '.TP',
    `/var/lib/${NAME}/`,
    'State: the delivery spool of records not yet delivered.',
    '.TP',
    `${LIB}/node/bin/node`,
    'The Node.js runtime the agent runs on, shipped with it.',
    '.SH SEE ALSO',
    `/usr/share/doc/${NAME}/ (README.md, configuration.md, operations.md), \\fBsystemctl\\fR(1)`,
    '',
  ].join('\n');
}

/**
 * Stages the installed tree in a new temporary directory and returns it with what the package
 * builders need. `version` goes into package.json and the man page.
 */
function stageTree(version) {
  for (const need of [
    'dist/flowlog-agent.js',
    'dist/cli/main.js',
    'node_modules/pcap/binding.gyp',
    'node_modules/nan',
  ]) {
    if (!fs.existsSync(join(root, need))) fail(`build ${NAME}: ${need} is missing: run \`npm ci\` first`);
  }
  const pkg = require(join(root, 'package.json'));
  const runtime = runtimeDir();
  const stage = fs.mkdtempSync(join(os.tmpdir(), 'flowlog-stage-'));
  const scratch = fs.mkdtempSync(join(os.tmpdir(), 'flowlog-addons-'));
  const lib = join(stage, LIB);
  try {
    const addons = buildAddons(runtime, scratch);
    copy(join(root, 'bin'), join(lib, 'bin'));
    // The program runs on the shipped runtime, whatever `node` the host has (or none).
    const bin = join(lib, 'bin', NAME);
    fs.writeFileSync(
      bin,
      fs.readFileSync(bin, 'utf8').replace(/^#!.*\n/, `// Run by /usr/bin/${NAME} with ${NODE}.\n`),
    );
    fs.chmodSync(bin, 0o644);
    copy(join(root, 'dist'), join(lib, 'dist'));
    for (const addon of ['flowlog_capture.node', 'flowlog_ebpf.node'])
      copy(addons[addon], join(lib, 'build/Release', addon));
    // The BPF object beside the eBPF addon, where ebpfBuildDir() finds it from dist/. Copied as
    // built: copy() drops *.o (build leftovers elsewhere) and binutils' strip does not know
    // machine BPF; tools/build-bpf.js already stripped its DWARF and kept the BTF the loader reads.
    fs.copyFileSync(addons['flow-tc.bpf.o'], join(lib, 'build/Release/flow-tc.bpf.o'));
    fs.chmodSync(join(lib, 'build/Release/flow-tc.bpf.o'), 0o644);
    copy(join(root, 'config'), join(lib, 'config'));
    fs.writeFileSync(
      join(lib, 'package.json'),
      JSON.stringify(
        { name: pkg.name, version, description: pkg.description, license: pkg.license, private: true, bin: pkg.bin },
        null,
        2,
      ) + '\n',
    );
    // Production dependencies, as npm resolved them (the exact tree `npm ci` installed).
    const prod = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: root, encoding: 'utf8' })
      .split('\n')
      .filter((p) => p.startsWith(join(root, 'node_modules') + '/'));
    for (const p of prod) dependencyCommands(p).forEach((c) => skipped.add(c));
    for (const p of new Set(prod)) {
      const rel = relative(root, p);
      if (rel === 'node_modules/pcap') {
        copy(p, join(lib, rel));
        fs.rmSync(join(lib, rel, 'build'), { recursive: true, force: true });
        copy(addons['pcap_binding.node'], join(lib, rel, 'build/Release/pcap_binding.node'));
      } else if (!fs.existsSync(join(lib, rel))) {
        copy(p, join(lib, rel));
      }
    }
    fs.mkdirSync(join(lib, 'node', 'bin'), { recursive: true });
    fs.copyFileSync(join(runtime, 'bin', 'node'), join(lib, 'node', 'bin', 'node'));
    fs.chmodSync(join(lib, 'node', 'bin', 'node'), 0o755);
    strip(join(lib, 'node', 'bin', 'node'));
    fs.copyFileSync(join(runtime, 'LICENSE'), join(lib, 'node', 'LICENSE'));
    fs.chmodSync(join(lib, 'node', 'LICENSE'), 0o644);

    fs.mkdirSync(join(stage, 'usr/bin'), { recursive: true });
    fs.writeFileSync(
      join(stage, 'usr/bin', NAME),
      `#!/bin/sh\n# ${NAME} on the Node.js runtime shipped with it.\nexec ${NODE} ${LIB}/bin/${NAME} "$@"\n`,
      { mode: 0o755 },
    );
    copy(join(root, 'systemd/flowlog-agent.service'), join(stage, 'usr/lib/systemd/system/flowlog-agent.service'));
    copy(join(root, 'packaging/agent.yaml'), join(stage, 'etc', NAME, 'agent.yaml'));
    fs.mkdirSync(join(stage, 'usr/share/man/man1'), { recursive: true });
    const man = manualPage(version, join(lib, 'node', 'bin', 'node'), bin);
    fs.writeFileSync(join(stage, 'usr/share/man/man1', `${NAME}.1.gz`), zlib.gzipSync(man, { level: 9 }));
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  // Directories 0755 throughout (mkdtemp made the root 0700).
  (function dirs(dir) {
    fs.chmodSync(dir, 0o755);
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) dirs(join(dir, e.name));
  })(stage);
  return { stage, lib, runtime };
}

/** Every regular file under `dir`, as absolute paths. */
function filesUnder(dir) {
  const files = [];
  (function walk(d) {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) files.push(p);
    }
  })(dir);
  return files;
}

/** Whether a staged file is an ELF object (the runtime and the addons). */
function isElf(path) {
  const fd = fs.openSync(path, 'r');
  const head = Buffer.alloc(4);
  fs.readSync(fd, head, 0, 4, 0);
  fs.closeSync(fd);
  return head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
}

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
}

module.exports = { NAME, LIB, NODE, SHIPPED_DOCS, root, fail, stageTree, filesUnder, isElf, option };
