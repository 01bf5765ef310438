#!/usr/bin/env node
'use strict';
// `npm run package`: builds flowlog-agent_<version>_amd64.deb with dpkg-deb from this built
// checkout (after `npm ci`): the tree of tools/package-stage.js (the pinned Node runtime under
// /usr/lib/flowlog-agent/node, the addons built against its headers), plus
//   /usr/share/doc/flowlog-agent/  copyright, changelog.gz, README.md.gz, configuration.md.gz, operations.md.gz
//   DEBIAN/  control, conffiles, md5sums, postinst, prerm, postrm
//
// Depends: only what dpkg-shlibdeps finds the runtime and the addons link (libc6, libstdc++6,
// libgcc-s1, libpcap0.8): the package brings its own Node, so the host's (or none) never matters.
// Build it on the oldest release it targets (Debian 12): dpkg-shlibdeps names that release's
// library packages and versions, which later releases satisfy (trixie's libpcap0.8t64 provides
// libpcap0.8); built on Debian 13 it would ask for libpcap0.8t64, which Debian 12 lacks.
// Usage: node tools/package-deb.js [--out DIR] [--version X.Y.Z]   (prints the path of the .deb)
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const { join, relative } = require('node:path');
const zlib = require('node:zlib');
const crypto = require('node:crypto');
const os = require('node:os');
const { NAME, SHIPPED_DOCS, root, stageTree, filesUnder, isElf, option } = require('./package-stage');

const pkg = require(join(root, 'package.json'));
const runtimePin = require(join(root, 'packaging/node-runtime.json'));
const ARCH = 'amd64';
const outDir = option('--out', root);
// --version: a package version other than package.json's (the upgrade test builds a newer one).
const version = option('--version', pkg.version);

const { stage } = stageTree(version);

const doc = join(stage, 'usr/share/doc', NAME);
fs.mkdirSync(doc, { recursive: true });
fs.copyFileSync(join(root, 'packaging/copyright'), join(doc, 'copyright'));
const gz = (text) => zlib.gzipSync(text, { level: 9 });
const date = new Date(Number(process.env.SOURCE_DATE_EPOCH ?? Math.floor(Date.now() / 1000)) * 1000)
  .toUTCString()
  .replace('GMT', '+0000');
const changelog = `${NAME} (${version}) unstable; urgency=medium\n\n  * Release ${version}: see /usr/share/doc/${NAME}/README.md.gz.\n\n -- flowlog-agent maintainers <flowlog-agent@users.noreply.github.com>  ${date}\n`;
fs.writeFileSync(join(doc, 'changelog.gz'), gz(changelog));
fs.writeFileSync(join(doc, 'README.md.gz'), gz(fs.readFileSync(join(root, 'README.md'))));
// The operator's references beside it (the config's header points at configuration.md).
for (const f of SHIPPED_DOCS) fs.writeFileSync(join(doc, `${f}.gz`), gz(fs.readFileSync(join(root, 'docs', f))));
// Lintian's view of what is deliberate here (each override says why).
fs.mkdirSync(join(stage, 'usr/share/lintian/overrides'), { recursive: true });
fs.copyFileSync(join(root, 'packaging/lintian-overrides'), join(stage, 'usr/share/lintian/overrides', NAME));
for (const d of [doc, join(stage, 'usr/share/lintian'), join(stage, 'usr/share/lintian/overrides')])
  fs.chmodSync(d, 0o755);
for (const f of filesUnder(doc).concat(join(stage, 'usr/share/lintian/overrides', NAME))) fs.chmodSync(f, 0o644);

// ---- control area ----
const debian = join(stage, 'DEBIAN');
fs.mkdirSync(debian, { mode: 0o755 });
for (const script of ['postinst', 'prerm', 'postrm']) {
  fs.copyFileSync(join(root, 'packaging', script), join(debian, script));
  fs.chmodSync(join(debian, script), 0o755);
}
fs.writeFileSync(join(debian, 'conffiles'), `/etc/${NAME}/agent.yaml\n`);

const files = filesUnder(stage).filter((p) => !p.startsWith(debian + '/'));
const elves = files.filter(isElf);
fs.writeFileSync(
  join(debian, 'md5sums'),
  files
    .filter((p) => !p.startsWith(join(stage, 'etc')))
    .map((p) => `${crypto.createHash('md5').update(fs.readFileSync(p)).digest('hex')}  ${relative(stage, p)}`)
    .join('\n') + '\n',
);

// The shared libraries the runtime and the addons link, as dpkg-shlibdeps names them (it wants a
// debian/control).
const shl = fs.mkdtempSync(join(os.tmpdir(), 'flowlog-shlibs-'));
fs.mkdirSync(join(shl, 'debian'));
fs.writeFileSync(join(shl, 'debian/control'), `Source: ${NAME}\n\nPackage: ${NAME}\nArchitecture: ${ARCH}\n`);
const shlibs = execFileSync('dpkg-shlibdeps', ['-O', ...elves.flatMap((a) => ['-e', a])], {
  cwd: shl,
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'ignore'],
})
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
  `Depends: ${shlibs}`,
  'Section: net',
  'Priority: optional',
  `Description: VPC flow logs from libpcap captures of a host's ENIs`,
  " flowlog-agent captures the traffic of a host's elastic network interfaces",
  ' with libpcap, aggregates it into unidirectional 5-tuple flows per ENI and',
  ' aggregation window, and writes one VPC flow log record per flow to Alibaba',
  ' Cloud Log Service, a file or stdout. It runs as a hardened systemd service,',
  ` on the Node.js ${runtimePin.version} runtime it ships.`,
  '',
].join('\n');
fs.writeFileSync(join(debian, 'control'), control);

// gzip, not xz: the runtime is 104 MiB; xz took 80 s (-1) to 345 s (-6) for it on the loaded
// 2-core CI machine, gzip 9 s (40 MB instead of 27-32). zstd (2 s, 39 MB) is refused by lintian.
const deb = join(outDir, `${NAME}_${version}_${ARCH}.deb`);
execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', stage, deb], {
  stdio: ['ignore', 'ignore', 'inherit'],
});
fs.rmSync(stage, { recursive: true, force: true });
process.stdout.write(deb + '\n');
