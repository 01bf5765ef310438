/**
 * The Debian package end to end on this host (issues 16 and 32; test/packaging/packaging-roots.package.test.ts installs
 * it on clean Debian 12 and 13 roots): `npm run package` builds it,
 * `dpkg -i` installs it, the installed agent validates its shipped config and
 * captures live on a veth and replays a generated capture, an upgrade restarts a running agent once and keeps the spool and
 * the operator's config, and `dpkg -P` leaves nothing behind.
 *
 * This host has no systemd as PID 1, so dpkg runs inside a mount namespace whose /run carries
 * /run/systemd/system (what maintainer scripts test for "systemd is running") and with
 * `systemctl`/`deb-systemd-invoke` shims that record each call: the maintainer scripts run for
 * real, and the test reads what they asked systemd to do.
 *
 * Root only (it installs a package on this machine); skipped where flowlog-agent is already
 * installed or /var/lib/flowlog-agent exists, so it never touches an operator's agent.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlsServer } from '../sls-server/server.js';
import { DaemonProcess, readRecords, sleep } from '../helpers/daemon-process.js';
import { NetnsLab, udpSenderScript } from '../helpers/netns.js';
import { tempDirForFile } from '../helpers/temp-dir.js';
import { builtPackage } from '../helpers/built-packages.js';

const ROOT = join(__dirname, '..', '..');
const INSTALLED = '/usr/bin/flowlog-agent';
const CONFFILE = '/etc/flowlog-agent/agent.yaml';
const STATE = '/var/lib/flowlog-agent';
const UNIT = '/usr/lib/systemd/system/flowlog-agent.service';
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const NEWER = `${VERSION}+upgrade1`;

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const alreadyInstalled = spawnSync('dpkg-query', ['-W', '-f=${Status}', 'flowlog-agent'], {
  encoding: 'utf8',
}).stdout.includes('installed');
const canRun =
  process.getuid?.() === 0 &&
  ['dpkg-deb', 'dpkg-shlibdeps', 'unshare', 'systemd-analyze', 'python3', 'md5sum'].every(has) &&
  NetnsLab.available() &&
  existsSync(join(ROOT, 'dist', 'cli', 'main.js')) &&
  !alreadyInstalled &&
  !existsSync(STATE);

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}
/** Asynchronous: the local Log Service server answers from this process while a child runs. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}
async function ok(r: Promise<Ran>): Promise<string> {
  const done = await r;
  if (done.status !== 0) throw new Error(`exit ${done.status}: ${done.stderr || done.stdout}`);
  return done.stdout;
}

// CI (.ci/run) installs what this needs: there a skip would hide a broken package.
it.runIf(process.env.FLOWLOG_CI_PACKAGE === '1')('runs in CI', () => {
  expect({ root: process.getuid?.() === 0, alreadyInstalled, stateDirExists: existsSync(STATE), canRun }).toMatchObject(
    { root: true, alreadyInstalled: false, stateDirExists: false, canRun: true },
  );
});

describe.skipIf(!canRun)('Debian package (npm run package)', { timeout: 600_000 }, () => {
  const dir = tempDirForFile('deb');
  const calls = join(dir, 'systemd-calls.log');
  const shims = join(dir, 'shims');
  const keys = {
    ALIBABA_CLOUD_ACCESS_KEY_ID: 'test-access-key-id',
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'test-access-key-secret',
  };
  let deb = '';
  let server: Awaited<ReturnType<typeof startSlsServer>> | undefined;

  /** dpkg as on a host running systemd; returns the systemctl/deb-systemd-invoke calls it made. */
  async function dpkg(...args: string[]): Promise<string[]> {
    writeFileSync(calls, '');
    const script = 'mount -t tmpfs flowlog-test-run /run && mkdir -p /run/systemd/system && exec dpkg "$@"';
    await ok(
      run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', ...args], {
        PATH: `${shims}:${process.env.PATH}`,
        DEBIAN_FRONTEND: 'noninteractive',
      }),
    );
    return readFileSync(calls, 'utf8').split('\n').filter(Boolean);
  }
  const agent = (args: string[], env: NodeJS.ProcessEnv = {}) => run(INSTALLED, args, env);

  beforeAll(() => {
    mkdirSync(shims, { recursive: true });
    for (const name of ['systemctl', 'deb-systemd-invoke']) {
      writeFileSync(join(shims, name), `#!/bin/sh\necho "${name} $*" >> ${calls}\n`);
      chmodSync(join(shims, name), 0o755);
    }
  });

  afterAll(async () => {
    await server?.close();
    if (spawnSync('dpkg-query', ['-W', 'flowlog-agent']).status === 0) await run('dpkg', ['-P', 'flowlog-agent']);
    rmSync(STATE, { recursive: true, force: true });
  });

  // Lintian runs in packaging-roots.test.ts, with each target release's own.
  it('builds a package depending only on what its runtime and addons link', async () => {
    deb = await builtPackage('deb', dir);
    expect(deb.endsWith(`/flowlog-agent_${VERSION}_amd64.deb`)).toBe(true);
    const depends = (await ok(run('dpkg-deb', ['-f', deb, 'Depends']))).trim().split(', ');
    // Shared libraries only (dpkg-shlibdeps): the package brings its own Node. libbpf1: the eBPF
    // engine's addon links libbpf.so.1.
    expect(depends.map((d) => d.split(' ')[0]).sort()).toEqual([
      'libbpf1',
      'libc6',
      'libgcc-s1',
      'libpcap0.8',
      'libstdc++6',
    ]);
    // The eBPF engine's addon and its BPF object beside the libpcap addon (ebpfBuildDir() finds
    // both from dist/, the object next to the addon).
    const listed = (await ok(run('dpkg-deb', ['-c', deb]))).split('\n').map((l) => l.split(/\s+/).at(-1));
    for (const f of ['flowlog_capture.node', 'flowlog_ebpf.node', 'flow-tc.bpf.o'])
      expect(listed).toContain(`./usr/lib/flowlog-agent/build/Release/${f}`);
  });

  it('installs: the agent runs on its own Node, refuses the shipped config until configured, and its unit verifies', async () => {
    expect(await dpkg('-i', deb)).toEqual(['systemctl --system daemon-reload']); // no start before the config is edited
    expect((await ok(agent(['--version']))).trim()).toBe(VERSION);
    const validate = await agent(['validate', '--config', CONFFILE]);
    expect(validate.status).toBe(2);
    expect(validate.stderr).toContain('`flowlog-agent init` lists this host');
    const verify = await run('systemd-analyze', ['verify', UNIT]);
    expect(verify.stderr.trim()).toBe('');
    expect(verify.status).toBe(0);
    // The eBPF engine's capability and, for 5.10's map accounting, the memlock limit.
    const unitLines = readFileSync(UNIT, 'utf8').split('\n');
    for (const line of ['AmbientCapabilities=CAP_BPF', 'CapabilityBoundingSet=CAP_BPF', 'LimitMEMLOCK=infinity'])
      expect(unitLines).toContain(line);
    // Every shared library the runtime and the three addons link resolves on this host.
    const addons = (await ok(run('find', ['/usr/lib/flowlog-agent', '-name', '*.node']))).trim().split('\n');
    expect(addons).toHaveLength(3);
    addons.push('/usr/lib/flowlog-agent/node/bin/node');
    for (const a of addons) expect(await ok(run('ldd', [a]))).not.toMatch(/not found/);
    expect(existsSync('/usr/share/man/man1/flowlog-agent.1.gz')).toBe(true);
  });

  it('the installed daemon captures live: exact counts on a veth, the partial window on SIGTERM, exit 0', async () => {
    const lab = new NetnsLab('fldeb');
    try {
      const nsA = lab.namespace('a');
      const nsB = lab.namespace('b');
      lab.veth(nsA, 'fldeb0', '10.203.1.1/24', nsB, 'fldebp0', '10.203.1.2/24');
      const out = join(dir, 'live.jsonl');
      const config = join(dir, 'live.yaml');
      writeFileSync(
        config,
        `region: cn-hangzhou\naccountId: "1234567890123456"\nstateDir: ${join(dir, 'live-state')}\n` +
          'enis:\n  - {id: eni-deb, interface: fldeb0, vpcId: vpc-deb, vswitchId: vsw-deb, vmId: i-deb}\n' +
          `flowLogs:\n  - {id: fl-live, resourceType: eni, resourceId: eni-deb, aggregationInterval: 1, sink: {type: file, path: ${out}}}\n`,
      );
      // No FLOWLOG_CAPTURE_ADDON or NODE_PATH: the package finds its own addons.
      const daemon = new DaemonProcess(
        lab.spawn(nsA, INSTALLED, ['run', '--config', config], { PATH: process.env.PATH, FLOWLOG_LOG_LEVEL: 'info' }),
      );
      await daemon.waitForLog('daemon started', 15_000);
      // capture.engine auto, as root on this kernel: the shipped eBPF engine hooks the ENI's device.
      expect(daemon.logLines().find((l) => l.msg === 'capture started' && l.device === 'fldeb0')?.engine).toBe('ebpf');
      // /usr/bin/flowlog-agent execs the runtime the package ships, whatever node the host has.
      expect(readlinkSync(`/proc/${daemon.child.pid}/exe`)).toBe('/usr/lib/flowlog-agent/node/bin/node');
      // 50 datagrams of 100 bytes of payload: 50 packets, 50 * (20 IP + 8 UDP + 100) bytes, inbound.
      lab.exec(nsB, 'python3', ['-c', udpSenderScript('10.203.1.1', 5001, 50, 100, 40001)]);
      await sleep(1500);
      daemon.child.kill('SIGTERM');
      expect(await daemon.exited, daemon.stderr).toBe(0);
      const udp = readRecords(out).filter((r) => r.protocol === '17' && r.direction === 'in');
      expect(udp.every((r) => r['eni-id'] === 'eni-deb' && r.srcaddr === '10.203.1.2' && r.dstport === '5001')).toBe(
        true,
      );
      expect(udp.reduce((n, r) => n + Number(r.packets), 0)).toBe(50);
      expect(udp.reduce((n, r) => n + Number(r.bytes), 0)).toBe(50 * 128);
    } finally {
      lab.remove();
    }
  });

  let spooled = 0;
  it('replays a generated capture with the installed binary; an unreachable sink spools under /var/lib', async () => {
    const start = Math.floor(Date.now() / 60_000) * 60 - 600; // 10 min ago, minute-aligned
    const capture = join(dir, 'capture.pcap');
    await ok(
      agent([
        'generate',
        '--out',
        capture,
        '--packets',
        '4000',
        '--flows',
        '40',
        '--start',
        String(start),
        '--duration',
        '120',
      ]),
    );
    const config = join(dir, 'replay.yaml');
    writeFileSync(config, replayConfig('http://127.0.0.1:9'));
    const replay = await agent(['replay', '--pcap', capture, '--config', config, '--flush-timeout', '1'], keys);
    expect(replay.status, replay.stderr).toBe(1); // records spooled, not delivered
    const records = readFileSync(join(dir, 'records.jsonl'), 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, string>);
    // Every generated packet has the ENI (10.0.0.5) on exactly one side.
    expect(records.filter((r) => r['log-status'] === 'OK').reduce((n, r) => n + Number(r.packets), 0)).toBe(4000);
    spooled = await spoolRecords(config);
    expect(spooled).toBe(records.length);
  });

  it('upgrades: one try-restart, the edited conffile and the spool kept, the spool drains', async () => {
    appendFileSync(CONFFILE, '# edited by the operator\n');
    const newer = await repackAs(deb, NEWER);
    expect(await dpkg('-i', newer)).toEqual([
      'systemctl --system daemon-reload',
      'deb-systemd-invoke try-restart flowlog-agent.service',
    ]);
    expect((await ok(agent(['--version']))).trim()).toBe(NEWER);
    expect(readFileSync(CONFFILE, 'utf8')).toMatch(/# edited by the operator\n$/);
    const config = join(dir, 'replay.yaml');
    expect(await spoolRecords(config)).toBe(spooled);
    server = await startSlsServer({ projects: { 'test-project': ['flowlog'] } });
    writeFileSync(config, replayConfig(server.url));
    const drain = await agent(['spool', 'drain', '--config', config], keys);
    expect(drain.status, drain.stderr + drain.stdout).toBe(0);
    expect(server.count('test-project', 'flowlog')).toBe(spooled);
  });

  it('purges to nothing: agent stopped, every packaged path, the config and the state gone', async () => {
    const paths = (await ok(run('dpkg-deb', ['-c', deb])))
      .split('\n')
      .filter((l) => /^[-l]/.test(l))
      .map((l) => l.split(/\s+/)[5].replace(/^\./, ''));
    expect(paths.length).toBeGreaterThan(100);
    const asked = await dpkg('-P', 'flowlog-agent');
    expect(asked.filter((c) => c.startsWith('deb-systemd-invoke'))).toEqual([
      'deb-systemd-invoke stop flowlog-agent.service',
    ]);
    expect(asked).toContain('systemctl --system daemon-reload');
    expect(paths.filter((p) => existsSync(p))).toEqual([]);
    for (const p of ['/usr/lib/flowlog-agent', '/etc/flowlog-agent', STATE, '/usr/share/doc/flowlog-agent'])
      expect(existsSync(p), p).toBe(false);
    expect(spawnSync('dpkg-query', ['-W', 'flowlog-agent']).status).not.toBe(0);
  });

  /**
   * The same package under another version (control, the program's package.json, md5sums):
   * what an upgrade needs, in seconds instead of a rebuild's minute and a half.
   */
  async function repackAs(from: string, version: string): Promise<string> {
    const tree = join(dir, `repack-${version}`);
    await ok(run('dpkg-deb', ['-R', from, tree]));
    const control = join(tree, 'DEBIAN/control');
    writeFileSync(control, readFileSync(control, 'utf8').replace(/^Version: .*$/m, `Version: ${version}`));
    const pkgJson = 'usr/lib/flowlog-agent/package.json';
    const meta = JSON.parse(readFileSync(join(tree, pkgJson), 'utf8')) as { version: string };
    meta.version = version;
    writeFileSync(join(tree, pkgJson), JSON.stringify(meta, null, 2) + '\n');
    const md5 = (await ok(run('md5sum', [join(tree, pkgJson)]))).split(' ')[0];
    const sums = join(tree, 'DEBIAN/md5sums');
    writeFileSync(sums, readFileSync(sums, 'utf8').replace(new RegExp(`^\\w+(  ${pkgJson})$`, 'm'), `${md5}$1`));
    const out = join(dir, `flowlog-agent_${version}_amd64.deb`);
    await ok(run('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', tree, out]));
    rmSync(tree, { recursive: true, force: true });
    return out;
  }

  /** Two flow logs of one ENI: a file sink in the scratch dir, and Log Service at `endpoint`. */
  function replayConfig(endpoint: string): string {
    return `region: cn-hangzhou
accountId: "1234567890123456"
enis:
  - {id: eni-quick, ips: [10.0.0.5], vpcId: vpc-quick, vswitchId: vsw-quick, vmId: i-quick}
flowLogs:
  - {id: fl-file, resourceType: eni, resourceId: eni-quick, aggregationInterval: 1, sink: {type: file, path: ${join(dir, 'records.jsonl')}}}
  - {id: fl-sls, resourceType: eni, resourceId: eni-quick, aggregationInterval: 1, sink: {type: sls, project: test-project, logstore: flowlog, endpoint: "${endpoint}"}}
stateDir: ${STATE}
delivery: {retryInitialMs: 100, retryMaxMs: 200}
`;
  }

  /** The RECORDS column of `spool status` for fl-sls. */
  async function spoolRecords(config: string): Promise<number> {
    const out = await ok(agent(['spool', 'status', '--config', config]));
    const row = out.split('\n').find((l) => l.trim().startsWith('fl-sls'));
    if (row === undefined) throw new Error(`spool status: no fl-sls row in\n${out}`);
    expect(readdirSync(join(STATE, 'spool', 'fl-sls')).some((n) => n.endsWith('.seg'))).toBe(true);
    return Number(row.trim().split(/\s{2,}/)[2]);
  }
});
