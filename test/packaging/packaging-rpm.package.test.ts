/**
 * The RPM for Alibaba Cloud Linux 3 and the RHEL family (issue 32): rpmlint (Debian's) passes it
 * with packaging/rpmlint.toml; its requirements are what an EL8 host provides (glibc up to 2.28,
 * libpcap by RHEL's soname libpcap.so.1, no Node); its scriptlets are the platform's systemd ones;
 * `rpm --root` installs it into a scratch root and the installed binary runs from there.
 *
 * The scratch root is a throwaway copy of a Debian 12 root with libpcap (tools/debian-root.sh):
 * no RHEL root can be made here. rpm installs with --nodeps because that root's libraries are
 * Debian packages its rpm database does not know; libpcap.so.1 is added there as a link to
 * Debian's libpcap.so.0.8, the same library ABI under Debian's historical soname.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { builtPackage, canTestPackages, debianRoot, inRoot, PACKAGE_VERSION, run } from '../helpers/built-packages';
import { tempDirForFile } from '../helpers/temp-dir';

const ROOT = join(__dirname, '..', '..');
const canRun = canTestPackages(['rpmbuild', 'rpm', 'rpmlint', 'patchelf', 'debootstrap', 'unshare']);

it.runIf(process.env.FLOWLOG_CI_PACKAGE === '1')('runs in CI', () => {
  expect(canRun).toBe(true);
});

/** GLIBC_x.y versions as comparable numbers (2.28 -> 2028). */
const glibcVersion = (v: string) =>
  v
    .split('.')
    .map(Number)
    .reduce((n, part, i) => n + part * (i === 0 ? 1000 : i === 1 ? 1 : 0), 0);

describe.skipIf(!canRun)('the RPM (npm run package:rpm)', { timeout: 1_200_000 }, () => {
  const dir = tempDirForFile('rpm');
  let rpm = '';
  beforeAll(async () => {
    rpm = await builtPackage('rpm', dir);
  }, 900_000);

  it('passes rpmlint, requires what EL8 provides, and carries the systemd scriptlets', async () => {
    expect(basename(rpm)).toBe(`flowlog-agent-${PACKAGE_VERSION}-1.x86_64.rpm`);
    const lint = await run('rpmlint', ['-c', join(ROOT, 'packaging/rpmlint.toml'), rpm]);
    expect(lint.stdout, lint.stderr).toMatch(/1 packages and 0 specfiles checked; 0 errors, 0 warnings/);
    const requires = (await run('rpm', ['-qp', '--requires', rpm])).stdout.trim().split('\n');
    expect(requires).toContain('libpcap.so.1()(64bit)');
    // The eBPF engine's libbpf.so.1 is no requirement (EL8 has libbpf.so.0 only): auto falls back to libpcap.
    expect(requires.filter((r) => r.startsWith('libbpf'))).toEqual([]);
    expect((await run('rpm', ['-qp', '--recommends', rpm])).stdout.trim().split('\n')).toContain('libbpf');
    expect(requires.filter((r) => /libpcap\.so\.0\.8|node/.test(r))).toEqual([]);
    const glibc = requires.flatMap((r) => /^libc\.so\.6\(GLIBC_([\d.]+)\)/.exec(r)?.[1] ?? []);
    expect(Math.max(...glibc.map(glibcVersion))).toBeLessThanOrEqual(glibcVersion('2.28')); // EL8's glibc
    expect((await run('rpm', ['-qp', '--provides', rpm])).stdout.trim().split('\n').sort()).toEqual(
      [
        `config(flowlog-agent) = ${PACKAGE_VERSION}-1`,
        `flowlog-agent = ${PACKAGE_VERSION}-1`,
        `flowlog-agent(x86-64) = ${PACKAGE_VERSION}-1`,
      ].sort(),
    );
    const scripts = (await run('rpm', ['-qp', '--scripts', rpm])).stdout;
    expect(scripts).toMatch(
      /postinstall scriptlet[^]*if \[ \$1 -eq 1 \] ; then[^]*systemctl --no-reload preset flowlog-agent\.service/,
    );
    expect(scripts).toMatch(
      /preuninstall scriptlet[^]*if \[ \$1 -eq 0 \] ; then[^]*systemctl --no-reload disable --now flowlog-agent\.service/,
    );
    expect(scripts).toMatch(
      /postuninstall scriptlet[^]*if \[ \$1 -ge 1 \] ; then[^]*systemctl try-restart flowlog-agent\.service/,
    );
    const files = (await run('rpm', ['-qpl', rpm])).stdout.split('\n');
    for (const f of [
      '/usr/lib/systemd/system/flowlog-agent.service',
      '/usr/lib/flowlog-agent/node/bin/node',
      '/usr/bin/flowlog-agent',
      '/etc/flowlog-agent/agent.yaml',
      '/usr/lib/flowlog-agent/build/Release/flowlog_capture.node',
      '/usr/lib/flowlog-agent/build/Release/flowlog_ebpf.node',
      '/usr/lib/flowlog-agent/build/Release/flow-tc.bpf.o',
    ])
      expect(files).toContain(f);
    expect((await run('rpm', ['-qp', '--configfiles', rpm])).stdout.trim()).toBe('/etc/flowlog-agent/agent.yaml');
  });

  it('installs into a scratch root with rpm --root; the installed binary runs there', async () => {
    const root = await debianRoot('bookworm', 'libpcap0.8');
    const out = join(dir, 'out');
    mkdirSync(out, { recursive: true });
    const start = Math.floor(Date.now() / 60_000) * 60 - 600;
    writeFileSync(
      join(out, 'replay.yaml'),
      `region: cn-hangzhou\naccountId: "1234567890123456"\nenis:\n  - {id: eni-rpm, ips: [10.0.0.5], vpcId: vpc-rpm, vswitchId: vsw-rpm, vmId: i-rpm}\n` +
        'flowLogs:\n  - {id: fl-rpm, resourceType: eni, resourceId: eni-rpm, aggregationInterval: 1, sink: {type: file, path: /tmp/records.jsonl}}\nstateDir: /tmp/state\n',
    );
    // rpm runs outside the root (--root), each command inside it (chroot), as on the host.
    const inside = 'chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root';
    const script = `
set -u
R=$FLOWLOG_ROOT
O=$R/out  # /out inside the root
ln -s libpcap.so.0.8 "$R/usr/lib/x86_64-linux-gnu/libpcap.so.1"
rpm --root "$R" --initdb
rpm --root "$R" -i --nodeps ${rpm} > $O/install.log 2>&1; echo $? > $O/install.status
rpm --root "$R" -qf /usr/lib/systemd/system/flowlog-agent.service > $O/qf.txt 2>&1
rpm --root "$R" -V --nodeps flowlog-agent > $O/verify.txt 2>&1; echo $? > $O/verify.status
${inside} flowlog-agent --version > $O/version.txt 2>&1
${inside} flowlog-agent validate --config /etc/flowlog-agent/agent.yaml > /dev/null 2> $O/validate.err; echo $? > $O/validate.status
${inside} sh -c 'cd /tmp && flowlog-agent generate --out capture.pcap --packets 3000 --flows 30 --start ${start} --duration 120 > /dev/null && flowlog-agent replay --pcap capture.pcap --config /out/replay.yaml' > $O/replay.txt 2>&1; echo $? > $O/replay.status
cp "$R/tmp/records.jsonl" $O/records.jsonl
rpm --root "$R" -e flowlog-agent > $O/erase.log 2>&1; echo $? > $O/erase.status
ls -d "$R/usr/lib/flowlog-agent" "$R/usr/bin/flowlog-agent" "$R/usr/lib/systemd/system/flowlog-agent.service" "$R/etc/flowlog-agent" > $O/left.txt 2>/dev/null || true
`;
    const r = await inRoot(root, script, [`${out}:/out`], { outside: true });
    expect(r.status, r.stderr).toBe(0);
    const read = (name: string) => readFileSync(join(out, name), 'utf8');
    expect(read('install.status').trim(), read('install.log')).toBe('0');
    // The post scriptlet ran in the root (systemctl is absent there: the platform's `|| :`).
    expect(read('install.log')).toContain("flowlog-agent: not configured yet: run 'flowlog-agent init --force'");
    expect(read('qf.txt').trim()).toBe(`flowlog-agent-${PACKAGE_VERSION}-1.x86_64`);
    expect(read('verify.status').trim(), read('verify.txt')).toBe('0');
    expect(read('version.txt').trim()).toBe(PACKAGE_VERSION);
    expect(read('validate.status').trim()).toBe('2');
    expect(read('validate.err')).toContain('enis: at least one ENI is required');
    expect(read('replay.status').trim(), read('replay.txt')).toBe('0');
    const records = read('records.jsonl')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, string>);
    expect(records.filter((x) => x['log-status'] === 'OK').reduce((n, x) => n + Number(x.packets), 0)).toBe(3000);
    expect(read('erase.status').trim(), read('erase.log')).toBe('0');
    expect(read('left.txt')).toBe('');
  });
});
