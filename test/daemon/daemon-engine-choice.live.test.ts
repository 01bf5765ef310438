/**
 * `capture.engine` where the eBPF engine cannot run: the daemon as user nobody with only the
 * capabilities the libpcap path needs (CAP_NET_RAW, CAP_NET_ADMIN), no CAP_BPF. `ebpf` refuses to
 * start in one line that names what is missing and exits 1; `auto` captures the ENI's device with
 * libpcap and says why in its `capture engine` line. The kernel's refusal is the oracle: the
 * probe loads the program, it does not guess from the capability set.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProcess, bundleDaemon, writeDaemonConfig } from '../helpers/daemon-process';
import { NetnsLab } from '../helpers/netns';
import { tempDirForFile } from '../helpers/temp-dir';

const REPO = join(__dirname, '..', '..');
const hasNobody = (() => {
  try {
    execFileSync('id', ['nobody'], { stdio: 'ignore' });
    execFileSync('capsh', ['--help'], { stdio: 'ignore' });
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
})();
const canRun = NetnsLab.available() && hasNobody;

describe.skipIf(!canRun)('capture.engine without CAP_BPF (user nobody, CAP_NET_RAW and CAP_NET_ADMIN)', () => {
  const dir = tempDirForFile('daemon-engine-choice');
  const lab = new NetnsLab('flec');
  let nsA = '';
  let bundle = '';

  beforeAll(() => {
    chmodSync(dir, 0o755);
    nsA = lab.namespace('a');
    const nsB = lab.namespace('b');
    lab.veth(nsA, 'flec0', '10.205.1.1/24', nsB, 'flecp0', '10.205.1.2/24');
    bundle = bundleDaemon(dir);
    chmodSync(bundle, 0o644);
  });

  afterAll(() => lab.remove());

  function start(engine: 'ebpf' | 'auto'): DaemonProcess {
    const sub = join(dir, engine);
    mkdirSync(sub, { recursive: true });
    chmodSync(sub, 0o777); // the daemon, as nobody, writes its state and records here
    const config = writeDaemonConfig(sub, [
      `capture: { engine: ${engine} }`,
      'enis:',
      '  - { id: eni-c0, interface: flec0, vpcId: vpc-c, vswitchId: vsw-c, vmId: i-c }',
      'flowLogs:',
      '  - { id: fl-c, resourceType: vpc, resourceId: vpc-c, aggregationInterval: "5s", sink: { type: file, path: unused.jsonl } }',
    ]);
    chmodSync(config, 0o644);
    const caps = 'cap_net_raw,cap_net_admin';
    const env = {
      PATH: process.env.PATH,
      NODE_PATH: join(REPO, 'node_modules'),
      FLOWLOG_CAPTURE_ADDON: join(REPO, 'build', 'Release', 'flowlog_capture.node'),
      FLOWLOG_EBPF_DIR: join(REPO, 'build', 'Release'),
      FLOWLOG_LOG_LEVEL: 'info',
    };
    return new DaemonProcess(
      lab.spawn(
        nsA,
        'capsh',
        [
          `--caps=${caps},cap_setuid,cap_setgid,cap_setpcap+eip`,
          '--keep=1',
          '--user=nobody',
          `--addamb=${caps}`,
          '--',
          '-c',
          `exec ${process.execPath} ${bundle} ${config} ${join(sub, 'records.jsonl')}`,
        ],
        env,
      ),
    );
  }

  it('ebpf: refuses to start in one line naming the missing capability, exit 1', async () => {
    const daemon = start('ebpf');
    const code = await Promise.race([daemon.exited, new Promise((r) => setTimeout(() => r('timeout'), 20_000))]);
    if (code === 'timeout') await daemon.stop('SIGKILL');
    expect(code).toBe(1);
    const lines = daemon.stderr.split('\n').filter((l) => l.startsWith('flowlog-agent run:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^flowlog-agent run: start daemon: capture\.engine is ebpf: eBPF unusable: .*CAP_BPF\): remove what the reason names .*or set capture\.engine to auto or libpcap$/,
    );
  });

  it('auto: captures the ENI device with libpcap and says why', async () => {
    const daemon = start('auto');
    try {
      await daemon.waitForLog('daemon started', 20_000);
      const engine = daemon.logLines().find((l) => String(l.msg).startsWith('capture engine'));
      expect(engine).toMatchObject({ engine: 'libpcap' });
      expect(String(engine?.reason)).toMatch(/CAP_BPF/);
      expect(daemon.logLines().find((l) => l.msg === 'capture started' && l.device === 'flec0')).toMatchObject({
        engine: 'libpcap',
      });
    } finally {
      expect(await daemon.stop('SIGTERM')).toBe(0);
    }
  });
});
