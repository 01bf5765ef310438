/**
 * The live fast path against the replay: generated traffic is sent with tcpreplay through a veth
 * to the daemon (chunked native capture, WebAssembly kernel, TypeScript for what it leaves) while
 * tcpdump writes the same device to a file; `flowlog-agent replay` of that file must give the same
 * OK records (5-tuple, direction, packets, bytes, start, end), and their packets must add up to
 * what tcpreplay sent. The traffic crosses a window boundary (the ahead table), is part IPv6 and
 * part 802.1Q-tagged (frames the kernel leaves to TypeScript). Both captures read the kernel's one
 * receive stamp of each frame (holdSharedRxTimestamps): stamped per socket, a frame near a second
 * boundary could fall in different seconds for tcpdump and the daemon.
 */
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DaemonProcess,
  bundleDaemon,
  readRecords,
  sleep,
  sleepUntilWindowOffset,
  writeDaemonConfig,
} from '../helpers/daemon-process';
import { NetnsLab } from '../helpers/netns';
import { holdSharedRxTimestamps } from '../helpers/shared-rx-timestamps';
import { tempDirForFile } from '../helpers/temp-dir';

const REPO = join(__dirname, '..', '..');
const BIN = join(REPO, 'bin', 'flowlog-agent');
const WINDOW_SEC = 5;
const canRun = NetnsLab.available();

type Rec = Record<string, string>;

/** OK records keyed by everything but the counts, counts as the value; duplicate keys add. */
function okFlows(recs: readonly Rec[]): Map<string, { packets: number; bytes: number }> {
  const m = new Map<string, { packets: number; bytes: number }>();
  for (const r of recs) {
    if (r['log-status'] !== 'OK') continue;
    const key = [
      r['eni-id'],
      r.srcaddr,
      r.srcport,
      r.dstaddr,
      r.dstport,
      r.protocol,
      r.direction,
      r.start,
      r.end,
      r['tcp-flags'],
    ].join(' ');
    const v = m.get(key) ?? { packets: 0, bytes: 0 };
    v.packets += Number(r.packets);
    v.bytes += Number(r.bytes);
    m.set(key, v);
  }
  return m;
}

describe.skipIf(!canRun)('live capture through the kernel equals the replay of the same frames', () => {
  const dir = tempDirForFile('daemon-live-replay');
  const lab = new NetnsLab('flr');
  let releaseTimestamps: (() => void) | undefined;
  afterAll(() => {
    releaseTimestamps?.();
    lab.remove();
  });

  it('gives the replay records of tcpdump file, and counts every frame tcpreplay sent', async () => {
    const nsA = lab.namespace('a');
    const nsB = lab.namespace('b');
    lab.veth(nsA, 'flr0', '10.211.0.1/24', nsB, 'flrp0', '10.211.0.2/24');
    // ENI 10.0.0.5 / 00:16:3e:00:00:05 (the generator's), IPv6 fd00::a00:5; a quarter of the flows IPv6.
    const plain = join(dir, 'plain.pcap');
    const tagged = join(dir, 'tagged.pcap');
    execFileSync(process.execPath, [
      BIN,
      'generate',
      '--out',
      plain,
      '--packets',
      '24000',
      '--flows',
      '600',
      '--ipv6-share',
      '0.25',
      '--seed',
      '7',
      '--snaplen',
      '128',
    ]);
    execFileSync(process.execPath, [
      BIN,
      'generate',
      '--out',
      tagged,
      '--packets',
      '3000',
      '--flows',
      '60',
      '--vlan',
      '10',
      '--seed',
      '8',
      '--snaplen',
      '128',
    ]);
    const config = writeDaemonConfig(dir, [
      // The ring and the WebAssembly kernel against replay: the eBPF engine uses neither.
      'capture: { engine: libpcap }',
      'enis:',
      '  - { id: eni-replay0, interface: flr0, mac: "00:16:3e:00:00:05", ips: [10.0.0.5, "fd00::a00:5"], vpcId: vpc-r, vswitchId: vsw-r, vmId: i-r }',
      'flowLogs:',
      `  - { id: fl-r, resourceType: vpc, resourceId: vpc-r, aggregationInterval: "${WINDOW_SEC}s", extraFields: [tcp-flags], sink: { type: file, path: unused.jsonl } }`,
    ]);
    const out = join(dir, 'records.jsonl');
    releaseTimestamps = await holdSharedRxTimestamps();
    const oracle = join(dir, 'oracle.pcap');
    const tcpdump = lab.spawn(nsA, 'tcpdump', ['-i', 'flr0', '-n', '-s', '128', '-B', '32768', '-w', oracle]);
    let tcpdumpText = '';
    tcpdump.stderr?.on('data', (d: Buffer) => (tcpdumpText += d.toString()));
    const daemon = DaemonProcess.start(lab, nsA, bundleDaemon(dir), config, out);
    try {
      await daemon.waitForLog('daemon started', 20_000);
      for (let i = 0; i < 100 && !tcpdumpText.includes('listening on'); i++) await sleep(50);
      expect(tcpdumpText).toContain('listening on');
      // 27,000 frames at 12,000 a second from offset 3.5 s: about 2.3 s, across a window boundary.
      await sleepUntilWindowOffset(WINDOW_SEC, 3.5);
      const replayed = lab.exec(nsB, 'tcpreplay', ['--pps', '12000', '-i', 'flrp0', plain, tagged]);
      const sent = Number(/Actual: (\d+) packets/.exec(replayed)?.[1]);
      expect(sent).toBe(27000);
      await sleep(1000);
      expect(await daemon.stop('SIGTERM')).toBe(0);
      const stopped = daemon.logLines().find((l) => l.msg === 'daemon stopped') as Record<string, number> | undefined;
      // Every frame read. The kernel took the common ones, those of the next window during the
      // grace too (its ahead table), all but the few new flows that grew a table's index; not
      // the 3,000 tagged ones.
      expect(stopped?.framesRead).toBeGreaterThanOrEqual(sent);
      expect(stopped?.kernelPackets).toBeGreaterThan(23000);
      expect(stopped?.kernelPackets).toBeLessThanOrEqual(sent - 3000);
    } finally {
      await daemon.stop('SIGKILL');
      const exited = new Promise((r) => tcpdump.on('exit', r));
      tcpdump.kill('SIGINT');
      await exited;
    }
    expect(tcpdumpText).toMatch(/\b0 packets dropped by kernel/);

    const live = readRecords(out) as Rec[];
    expect(live.filter((r) => r['log-status'] === 'SKIPDATA')).toEqual([]);
    const replayOut = join(dir, 'replay.jsonl');
    const replay = spawn(
      process.execPath,
      [BIN, 'replay', '--pcap', oracle, '--config', config, '--output', replayOut],
      { stdio: 'ignore' },
    );
    expect(await new Promise((r) => replay.on('exit', r))).toBe(0);
    const fromFile = okFlows(readRecords(replayOut));
    const fromLive = okFlows(live);
    expect(fromLive.size).toBeGreaterThan(600);
    expect([...fromLive.entries()].sort()).toEqual([...fromFile.entries()].sort());
    // Traffic spans two windows: some flows were split at the boundary.
    expect(
      new Set(live.filter((r) => r['log-status'] === 'OK').map((r) => Math.floor(Number(r.start) / WINDOW_SEC))).size,
    ).toBeGreaterThanOrEqual(2);
    const packets = [...fromLive.values()].reduce((n, v) => n + v.packets, 0);
    expect(packets).toBe(27000);
  }, 90_000);
});
