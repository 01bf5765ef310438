/**
 * The .deb as an operator on a clean host meets it (issue 32): on debootstrap roots of Debian 12
 * (bookworm) and 13 (trixie), made from Debian's own repositories and cached between runs
 * (tools/debian-root.sh), `apt-get install ./flowlog-agent.deb` resolves every dependency from
 * that release alone; the installed binary (on the Node runtime the package ships: the roots have
 * none) reports its version, refuses the shipped config saying what to do (validate and status
 * alike), replays a generated capture to the generator's totals; every ELF file's libraries
 * resolve; the unit under /usr/lib/systemd/system belongs to the package and passes that
 * release's `systemd-analyze verify` without procps; `apt-get purge --autoremove` leaves no new
 * file. That release's own lintian (in a root of its own) reports no error or warning.
 *
 * Each run starts from a throwaway overlay of the cached root, so the cache stays clean.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { builtPackage, canTestPackages, debianRoot, inRoot, PACKAGE_VERSION } from '../helpers/built-packages';
import { tempDirForFile } from '../helpers/temp-dir';

const canRun = canTestPackages(['debootstrap', 'unshare', 'chroot', 'dpkg-deb', 'dpkg-shlibdeps']);

/**
 * Run by the installed runtime in the root: where the installed dist/ finds the eBPF addon, and
 * the probe with the program loaded (open() with the default object path, then closed).
 */
const EBPF_PROBE = [
  "const d = '/usr/lib/flowlog-agent/dist/capture/ebpf/';",
  "const probe = require(d + 'ebpf-probe.js').probeEbpf({ loadProgram: true });",
  "process.stdout.write(JSON.stringify({ dir: require(d + 'ebpf-binding.js').ebpfBuildDir(), ...probe }));",
].join(' ');

it.runIf(process.env.FLOWLOG_CI_PACKAGE === '1')('runs in CI', () => {
  expect(canRun).toBe(true);
});

describe.skipIf(!canRun)('the .deb on clean Debian roots', { timeout: 1_200_000 }, () => {
  const dir = tempDirForFile('roots');
  let deb = '';
  beforeAll(async () => {
    deb = await builtPackage('deb', dir);
  }, 900_000);

  describe.each(['bookworm', 'trixie'])('Debian %s', (release) => {
    it("that release's lintian reports no error or warning", async () => {
      const root = await debianRoot(release, 'lintian');
      const r = await inRoot(
        root,
        `lintian --version; lintian --tag-display-limit 0 /pkg/${basename(deb)}; echo "lintian exit $?"`,
        [`${dirname(deb)}:/pkg`],
      );
      expect(r.stdout, r.stderr).toMatch(/^Lintian v\d/m);
      expect(r.stdout.split('\n').filter((l) => /^[EW]: /.test(l))).toEqual([]);
      expect(r.stdout).toContain('lintian exit 0');
    });

    it("installs from that release's repositories, runs, verifies, and purges to nothing", async () => {
      const root = await debianRoot(release, 'systemd');
      const out = join(dir, `out-${release}`);
      mkdirSync(out, { recursive: true });
      const start = Math.floor(Date.now() / 60_000) * 60 - 600;
      writeFileSync(
        join(out, 'replay.yaml'),
        `region: cn-hangzhou\naccountId: "1234567890123456"\nenis:\n  - {id: eni-root, ips: [10.0.0.5], vpcId: vpc-root, vswitchId: vsw-root, vmId: i-root}\n` +
          'flowLogs:\n  - {id: fl-root, resourceType: eni, resourceId: eni-root, aggregationInterval: 1, sink: {type: file, path: /tmp/records.jsonl}}\nstateDir: /tmp/state\n',
      );
      // Every step writes its output and status to /out; the test reads them below.
      const script = `
set -u
listing() { find / -xdev \\( -path /out -o -path /pkg -o -path /var/lib/apt -o -path /var/lib/dpkg -o -path /var/log -o -path /var/cache/apt -o -path /var/cache/debconf -o -path /var/cache/ldconfig \\) -prune -o -print | sort; }
listing > /out/before.txt
dpkg-query -W -f='\${Package}\n' | sort > /out/packages-before.txt
apt-get update -qq > /out/apt.log 2>&1
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends /pkg/${basename(deb)} >> /out/apt.log 2>&1; echo $? > /out/apt.status
command -v node > /out/host-node.txt || true
test -e /bin/kill && echo present > /out/kill.txt || echo absent > /out/kill.txt
dpkg -S /usr/lib/systemd/system/flowlog-agent.service > /out/dpkg-S.txt 2>&1
flowlog-agent --version > /out/version.txt 2>&1
flowlog-agent validate --config /etc/flowlog-agent/agent.yaml > /out/validate.out 2> /out/validate.err; echo $? > /out/validate.status
flowlog-agent status --config /etc/flowlog-agent/agent.yaml > /out/status.out 2> /out/status.err; echo $? > /out/status.status
systemd-analyze verify --man=no /usr/lib/systemd/system/flowlog-agent.service > /out/verify.txt 2>&1; echo $? > /out/verify.status
test -f /usr/share/man/man1/flowlog-agent.1.gz && echo present > /out/man.txt
for f in $(find /usr/lib/flowlog-agent -name '*.node') /usr/lib/flowlog-agent/node/bin/node; do echo "== $f"; ldd "$f"; done > /out/ldd.txt 2>&1
/usr/lib/flowlog-agent/node/bin/node -e "${EBPF_PROBE}" > /out/ebpf-probe.json 2>&1; echo $? > /out/ebpf-probe.status
cd /tmp && flowlog-agent generate --out capture.pcap --packets 4000 --flows 40 --start ${start} --duration 120 --expected /out/expected.jsonl --window 60 > /dev/null
flowlog-agent replay --pcap capture.pcap --config /out/replay.yaml > /out/replay.txt 2>&1; echo $? > /out/replay.status
cp /tmp/records.jsonl /out/records.jsonl
DEBIAN_FRONTEND=noninteractive apt-get purge -y --autoremove flowlog-agent > /out/purge.log 2>&1; echo $? > /out/purge.status
listing > /out/after.txt
comm -13 /out/before.txt /out/after.txt > /out/remains.txt
# Packages the install brought that autoremove kept, each with what the root already had that
# depends on, recommends or suggests it (apt keeps those), and their files.
dpkg-query -W -f='\${Package}\n' | sort | comm -13 /out/packages-before.txt - > /out/kept.txt
for p in $(cat /out/kept.txt); do
  echo "$p: $(dpkg-query -W -f='\${Package} \${Depends}, \${Recommends}, \${Suggests}\n' $(cat /out/packages-before.txt) | grep -E "[ ,]$p([ ,:]|$)" | cut -d' ' -f1 | tr '\n' ' ')"
  dpkg -L "$p" >> /out/kept-files.txt
done > /out/kept-why.txt
touch /out/kept-files.txt
`;
      const r = await inRoot(root, script, [`${dirname(deb)}:/pkg`, `${out}:/out`]);
      expect(r.status, r.stderr).toBe(0);
      const read = (name: string) => readFileSync(join(out, name), 'utf8');
      expect(read('apt.status').trim(), read('apt.log')).toBe('0');
      expect(read('host-node.txt')).toBe(''); // no Node in the root: the package brings its own
      expect(read('kill.txt').trim()).toBe('absent'); // minbase has no procps
      expect(read('dpkg-S.txt').trim()).toBe('flowlog-agent: /usr/lib/systemd/system/flowlog-agent.service');
      expect(read('version.txt').trim()).toBe(PACKAGE_VERSION);

      // The shipped config is refused until configured, and both commands say so the same way.
      expect(read('validate.status').trim()).toBe('2');
      const problems = read('validate.err').trim().split('\n');
      expect(problems).toContain(
        "/etc/flowlog-agent/agent.yaml:22: enis: at least one ENI is required unless discovery.type is ecs-metadata (`flowlog-agent init` lists this host's taps and veths)",
      );
      expect(problems.filter((l) => l.includes('is a placeholder'))).toHaveLength(3);
      expect(read('status.status').trim()).toBe('2');
      expect(read('status.err')).toBe(read('validate.err'));

      expect(read('verify.status').trim(), read('verify.txt')).toBe('0');
      expect(read('verify.txt').trim()).toBe('');
      expect(read('man.txt').trim()).toBe('present');
      const ldd = read('ldd.txt');
      expect(ldd.match(/^== /gm)).toHaveLength(4); // the runtime and the three addons
      expect(ldd).not.toMatch(/not found/);
      expect(ldd).toMatch(/libpcap\.so\.0\.8 =>/);
      expect(ldd).toMatch(/libbpf\.so\.1 =>/); // libbpf1, from that release through Depends

      // The installed dist/ finds the eBPF addon and its object by itself (no FLOWLOG_EBPF_DIR),
      // and the program passes this kernel's verifier with that release's libbpf.
      expect(read('ebpf-probe.status').trim(), read('ebpf-probe.json')).toBe('0');
      const probe = JSON.parse(read('ebpf-probe.json')) as {
        dir: string;
        usable: boolean;
        reason: string;
        libbpf: string;
      };
      expect(probe).toMatchObject({ dir: '/usr/lib/flowlog-agent/build/Release', usable: true, reason: '' });
      expect(probe.libbpf).toMatch(/^1\.\d+/);

      // The generator's totals (per flow and minute) are what the installed binary recorded.
      expect(read('replay.status').trim(), read('replay.txt')).toBe('0');
      const records = read('records.jsonl')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, string>)
        .filter((x) => x['log-status'] === 'OK');
      const expected = read('expected.jsonl')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { packets: number; bytes: number });
      expect(records.reduce((n, x) => n + Number(x.packets), 0)).toBe(4000);
      expect(records.length).toBe(expected.length);
      expect(records.reduce((n, x) => n + Number(x.bytes), 0)).toBe(expected.reduce((n, x) => n + x.bytes, 0));

      expect(read('purge.status').trim(), read('purge.log')).toBe('0');
      // Autoremove keeps a dependency that a package of the root still suggests or recommends
      // (APT::AutoRemove::SuggestsImportant): on trixie, libsystemd-shared suggests libbpf1 and
      // libelf1t64. Each kept package names such a package; its files are apt's, not ours.
      const why = read('kept-why.txt').trim();
      for (const line of why === '' ? [] : why.split('\n')) expect(line, why).toMatch(/^\S+: \S+/);
      expect(why.split('\n').filter(Boolean)).toHaveLength(read('kept.txt').trim().split('\n').filter(Boolean).length);
      const kept = new Set(read('kept-files.txt').split('\n'));
      // Only the code cache of the user who ran the commands (root's ~/.cache, as any program's
      // there): purge never touches home directories.
      const remains = read('remains.txt')
        .trim()
        .split('\n')
        .filter((p) => p !== '' && !kept.has(p));
      expect(
        remains.filter((p) => !/^\/root\/\.cache(\/flowlog-agent(\/[a-z]+-v[\d.]+-\d+-\d+\.v8cache)?)?$/.test(p)),
      ).toEqual([]);
    });
  });
});
