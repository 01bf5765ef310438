#!/usr/bin/env node
'use strict';
// `npm run package`: builds flowlog-agent_<version>_amd64.deb with dpkg-deb from this built
// checkout (after `npm ci`), so hosts install the agent without a compiler:
//
//   /usr/lib/flowlog-agent/      bin/, dist/ (the bundled CLI), build/Release/flowlog_capture.node,
//                                node_modules/ (production dependencies only, with node-pcap's
//                                and cap's compiled addons), package.json, config/ examples
//   /usr/bin/flowlog-agent       -> ../lib/flowlog-agent/bin/flowlog-agent
//   /lib/systemd/system/flowlog-agent.service
//   /etc/flowlog-agent/agent.yaml  conffile (packaging/agent.yaml)
//   /usr/share/doc/flowlog-agent/  copyright, changelog.gz, README.md.gz
//   /usr/share/man/man1/flowlog-agent.1.gz  from the CLI's --help
//
// Depends: what dpkg-shlibdeps finds for the three addons, and nodejs 20.x: node-pcap and cap are
// built against V8's C++ API, not N-API, so they load only in the Node major they were built for.
// Usage: node tools/package-deb.js [--out DIR] [--version X.Y.Z]   (prints the path of the .deb)
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const { join, relative, dirname } = require('node:path');
const zlib = require('node:zlib');
const crypto = require('node:crypto');

const root = join(__dirname, '..');
const pkg = require(join(root, 'package.json'));
const NAME = 'flowlog-agent';
const ARCH = 'amd64';
function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
}
const outDir = option('--out', root);
// --version: a package version other than package.json's (the upgrade test builds a newer one).
const version = option('--version', pkg.version);
const nodeMajor = Number(process.versions.node.split('.')[0]);

/** Files a package has no use for: build leftovers and the dotfiles of npm packages' repos. */
function keep(path) {
  const base = path.split('/').pop();
  if (/\.(o|a|mk|gypi?)$/.test(base) || base === 'Makefile' || base === 'binding.Makefile') return false;
  // Dependencies' documentation (the package's docs live in /usr/share/doc; pino's docsify page
  // loads scripts from CDNs); their licences stay beside their code.
  if (path.includes('/node_modules/') && /\.(html|md|markdown)$/i.test(base) && !/^(licen[cs]e|copying|notice)/i.test(base)) return false;
  return !/^\.(npmignore|eslintrc.*|gitattributes|gitignore|travis\.yml|editorconfig|prettierrc.*|jshintrc|nycrc|airtap\.yml|taprc)$/.test(base);
}

function isScript(path) {
  const fd = fs.openSync(path, 'r');
  const head = Buffer.alloc(2);
  fs.readSync(fd, head, 0, 2, 0);
  fs.closeSync(fd);
  return head.toString() === '#!';
}

function fail(message) {
  process.stderr.write(`package: ${message}\n`);
  process.exit(1);
}

for (const need of ['dist/flowlog-agent.js', 'dist/cli/main.js', 'build/Release/flowlog_capture.node']) {
  if (!fs.existsSync(join(root, need))) fail(`build ${NAME}: ${need} is missing: run \`npm ci\` first`);
}

const stage = fs.mkdtempSync(join(require('node:os').tmpdir(), 'flowlog-deb-'));
const lib = join(stage, 'usr/lib', NAME);

/** Copies a file or tree, skipping build intermediates (object files, gyp's obj.target). */
function copy(from, to) {
  const st = fs.lstatSync(from);
  if (st.isDirectory()) {
    const base = from.split('/').pop();
    // Build intermediates, cap's bundled WinPcap (Windows only), dependencies' docs and git hooks,
    // and protobufjs's code generator
    // (pbjs/pbts with its own 20 MB of jsdoc/underscore/bluebird: @alicloud/log loads only the
    // protobufjs runtime).
    if (base === 'obj.target' || base === '.deps' || base === '.bin' || base === '.husky') return;
    if (from.includes('/node_modules/') && ['doc', 'docs', 'test', 'tests'].includes(base)) return;
    // nan: C++ headers for compiling the addons, never loaded at run time.
    if (from.endsWith('cap/deps') || from.endsWith('node_modules/protobufjs/cli') || from.endsWith('node_modules/nan')) return;
    fs.mkdirSync(to, { recursive: true });
    for (const e of fs.readdirSync(from)) copy(join(from, e), join(to, e));
  } else if (st.isSymbolicLink()) {
    fs.symlinkSync(fs.readlinkSync(from), to);
  } else if (keep(from)) {
    fs.mkdirSync(dirname(to), { recursive: true });
    fs.copyFileSync(from, to);
    // Scripts (a #! line) stay executable; everything else, addons included, is 0644.
    fs.chmodSync(to, st.mode & 0o111 && isScript(from) ? 0o755 : 0o644);
    // Addons ship stripped (debug symbols are 60% of their size; lintian refuses them unstripped).
    if (from.endsWith('.node')) execFileSync('strip', ['--strip-unneeded', '--remove-section=.comment', '--remove-section=.note', to]);
  }
}

copy(join(root, 'bin'), join(lib, 'bin'));
copy(join(root, 'dist'), join(lib, 'dist'));
copy(join(root, 'build/Release/flowlog_capture.node'), join(lib, 'build/Release/flowlog_capture.node'));
copy(join(root, 'config'), join(lib, 'config'));
fs.writeFileSync(join(lib, 'package.json'), JSON.stringify({ name: pkg.name, version, description: pkg.description, license: pkg.license, private: true, bin: pkg.bin }, null, 2) + '\n');
// Production dependencies, as npm resolved them (the exact tree `npm ci` installed).
const prod = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: root, encoding: 'utf8' })
  .split('\n')
  .filter((p) => p.startsWith(join(root, 'node_modules') + '/'));
for (const p of new Set(prod)) {
  const rel = relative(root, p);
  if (!fs.existsSync(join(lib, rel))) copy(p, join(lib, rel));
}

fs.mkdirSync(join(stage, 'usr/bin'), { recursive: true });
fs.symlinkSync(`../lib/${NAME}/bin/${NAME}`, join(stage, 'usr/bin', NAME));
copy(join(root, 'systemd/flowlog-agent.service'), join(stage, 'lib/systemd/system/flowlog-agent.service'));
copy(join(root, 'packaging/agent.yaml'), join(stage, 'etc', NAME, 'agent.yaml'));

const doc = join(stage, 'usr/share/doc', NAME);
fs.mkdirSync(doc, { recursive: true });
fs.copyFileSync(join(root, 'packaging/copyright'), join(doc, 'copyright'));
const gz = (text) => zlib.gzipSync(text, { level: 9 });
const date = new Date(Number(process.env.SOURCE_DATE_EPOCH ?? Math.floor(Date.now() / 1000)) * 1000).toUTCString().replace('GMT', '+0000');
const changelog = `${NAME} (${version}) unstable; urgency=medium\n\n  * Release ${version}: see /usr/share/doc/${NAME}/README.md.gz.\n\n -- flowlog-agent maintainers <flowlog-agent@users.noreply.github.com>  ${date}\n`;
fs.writeFileSync(join(doc, 'changelog.gz'), gz(changelog));
fs.writeFileSync(join(doc, 'README.md.gz'), gz(fs.readFileSync(join(root, 'README.md'))));
fs.mkdirSync(join(stage, 'usr/share/man/man1'), { recursive: true });
fs.writeFileSync(join(stage, 'usr/share/man/man1', `${NAME}.1.gz`), gz(manualPage()));

/** flowlog-agent(1), from the CLI's own --help so it never disagrees with the binary. */
function manualPage() {
  const help = (...args) => execFileSync(process.execPath, [join(root, 'bin', NAME), ...args, '--help'], { encoding: 'utf8', env: { ...process.env, COLUMNS: '78' } });
  const roff = (text) => text.replace(/\\/g, '\\e').replace(/^([.'])/gm, '\\&$1').replace(/-/g, '\\-');
  const commands = [...help().matchAll(/^  flowlog-agent (\S+)/gm)].map((m) => m[1]);
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
    `The daemon's configuration (\\fB${NAME} validate \\-\\-config\\fR checks it).`,
    '.TP',
    `/var/lib/${NAME}/`,
    'State: the delivery spool of records not yet delivered.',
    '.SH SEE ALSO',
    `/usr/share/doc/${NAME}/README.md.gz, \\fBsystemctl\\fR(1)`,
    '',
  ].join('\n');
}

// ---- control area ----
const debian = join(stage, 'DEBIAN');
fs.mkdirSync(debian);
for (const script of ['postinst', 'prerm', 'postrm']) {
  fs.copyFileSync(join(root, 'packaging', script), join(debian, script));
  fs.chmodSync(join(debian, script), 0o755);
}
fs.writeFileSync(join(debian, 'conffiles'), `/etc/${NAME}/agent.yaml\n`);

const addons = [];
const files = [];
(function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (p === debian) continue;
    if (e.isDirectory()) walk(p);
    else if (e.isFile()) {
      files.push(p);
      if (p.endsWith('.node')) addons.push(p);
    }
  }
})(stage);
fs.writeFileSync(join(debian, 'md5sums'), files.filter((p) => !p.startsWith(join(stage, 'etc'))).map((p) => `${crypto.createHash('md5').update(fs.readFileSync(p)).digest('hex')}  ${relative(stage, p)}`).join('\n') + '\n');

// The shared libraries the addons link, as dpkg-shlibdeps names them (it wants a debian/control).
const shl = fs.mkdtempSync(join(require('node:os').tmpdir(), 'flowlog-shlibs-'));
fs.mkdirSync(join(shl, 'debian'));
fs.writeFileSync(join(shl, 'debian/control'), `Source: ${NAME}\n\nPackage: ${NAME}\nArchitecture: ${ARCH}\n`);
const shlibs = execFileSync('dpkg-shlibdeps', ['-O', ...addons.flatMap((a) => ['-e', a])], { cwd: shl, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  .trim()
  .replace(/^shlibs:Depends=/, '');
fs.rmSync(shl, { recursive: true, force: true });
const installedKiB = Math.ceil(files.reduce((n, p) => n + fs.statSync(p).size, 0) / 1024);
const control = [
  `Package: ${NAME}`,
  `Version: ${version}`,
  `Architecture: ${ARCH}`,
  'Maintainer: flowlog-agent maintainers <flowlog-agent@users.noreply.github.com>',
  `Installed-Size: ${installedKiB}`,
  `Depends: nodejs (>= 20.19), nodejs (<< ${nodeMajor + 1}), ${shlibs}`,
  'Section: net',
  'Priority: optional',
  `Description: VPC flow logs from libpcap captures of a host's ENIs`,
  ' flowlog-agent captures the traffic of a host\'s elastic network interfaces',
  ' with libpcap, aggregates it into unidirectional 5-tuple flows per ENI and',
  ' aggregation window, and writes one VPC flow log record per flow to Alibaba',
  ' Cloud Log Service, a file or stdout. It runs as a hardened systemd service.',
  '',
].join('\n');
fs.writeFileSync(join(debian, 'control'), control);

// Directories 0755 throughout (mkdtemp made the root 0700).
(function dirs(dir) {
  fs.chmodSync(dir, 0o755);
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) dirs(join(dir, e.name));
})(stage);

const deb = join(outDir, `${NAME}_${version}_${ARCH}.deb`);
execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', stage, deb], { stdio: ['ignore', 'ignore', 'inherit'] });
fs.rmSync(stage, { recursive: true, force: true });
process.stdout.write(deb + '\n');
