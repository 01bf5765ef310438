#!/usr/bin/env node
'use strict';
// `npm run package:rpm`: builds flowlog-agent-<version>-1.x86_64.rpm with rpmbuild (Debian's rpm
// package) from the tree of tools/package-stage.js: the .deb's layout and runtime, for Alibaba
// Cloud Linux 3 and the RHEL family. packaging/flowlog-agent.spec says how.
//
// One difference from the .deb: the addons link libpcap by the soname the RHEL family gives it,
// libpcap.so.1; Debian names the same library ABI libpcap.so.0.8 (a historical soname), which
// those hosts do not have. patchelf rewrites the one NEEDED entry.
// Usage: node tools/package-rpm.js [--out DIR] [--version X.Y.Z]   (prints the path of the .rpm)
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const { join } = require('node:path');
const { NAME, SHIPPED_DOCS, root, stageTree, filesUnder, isElf, option } = require('./package-stage');

const pkg = require(join(root, 'package.json'));
const outDir = option('--out', root);
const version = option('--version', pkg.version);
// RPM versions cannot hold '-' (the release separator); '+' marks a local build as in Debian.
if (!/^[0-9][0-9A-Za-z.+~^]*$/.test(version)) {
  process.stderr.write(`package: build ${NAME} rpm: version ${version} is not an RPM version\n`);
  process.exit(1);
}

const { stage, lib } = stageTree(version);
for (const addon of filesUnder(lib).filter((p) => p.endsWith('.node') && isElf(p))) {
  const needed = execFileSync('patchelf', ['--print-needed', addon], { encoding: 'utf8' }).split('\n');
  if (needed.includes('libpcap.so.0.8'))
    execFileSync('patchelf', ['--replace-needed', 'libpcap.so.0.8', 'libpcap.so.1', addon]);
}
const doc = join(stage, 'usr/share/doc', NAME);
const licenses = join(stage, 'usr/share/licenses', NAME);
fs.mkdirSync(doc, { recursive: true, mode: 0o755 });
fs.mkdirSync(licenses, { recursive: true, mode: 0o755 });
fs.copyFileSync(join(root, 'README.md'), join(doc, 'README.md'));
for (const f of SHIPPED_DOCS) fs.copyFileSync(join(root, 'docs', f), join(doc, f));
// The Apache License's text, as the builder's Debian base-files carries it.
fs.copyFileSync('/usr/share/common-licenses/Apache-2.0', join(licenses, 'LICENSE'));
fs.copyFileSync(join(lib, 'node', 'LICENSE'), join(licenses, 'NODE-LICENSE'));
for (const d of [join(stage, 'usr/share/doc'), join(stage, 'usr/share/licenses')]) fs.chmodSync(d, 0o755);

/** The %changelog date form ("Mon Dec 07 2026"), from SOURCE_DATE_EPOCH when set. */
function changelogDate() {
  const d = new Date(Number(process.env.SOURCE_DATE_EPOCH ?? Math.floor(Date.now() / 1000)) * 1000);
  // toUTCString: "Mon, 07 Dec 2026 13:20:00 GMT"
  const [weekday, day, month, year] = d.toUTCString().replace(',', '').split(' ');
  return `${weekday} ${month} ${day} ${year}`;
}

const top = fs.mkdtempSync(join(os.tmpdir(), 'flowlog-rpmbuild-'));
try {
  execFileSync(
    'rpmbuild',
    [
      '-bb',
      '--quiet',
      '--define',
      `_topdir ${top}`,
      '--define',
      `stage ${stage}`,
      '--define',
      `pkg_version ${version}`,
      '--define',
      `changelog_date ${changelogDate()}`,
      '--define',
      '_binary_payload w6.gzdio',
      join(root, 'packaging', 'flowlog-agent.spec'),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const built = filesUnder(join(top, 'RPMS')).filter((p) => p.endsWith('.rpm'));
  if (built.length !== 1) throw new Error(`rpmbuild made ${built.length} packages`);
  const rpm = join(outDir, built[0].split('/').pop());
  fs.copyFileSync(built[0], rpm);
  process.stdout.write(rpm + '\n');
} finally {
  fs.rmSync(top, { recursive: true, force: true });
  fs.rmSync(stage, { recursive: true, force: true });
}
