/**
 * Capture loss tells the truth: with the smallest kernel buffer and the daemon frozen (SIGSTOP)
 * while a burst arrives, the ring overflows; the packets that made it are OK records and the
 * rest are a SKIPDATA record, so together they account for every datagram sent. A window
 * without loss has no SKIPDATA.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DaemonProcess,
  bundleDaemon,
  readRecords,
  sleep,
  sleepUntilWindowOffset,
  writeDaemonConfig,
} from '../helpers/daemon-process';
import { NetnsLab, udpSenderScript } from '../helpers/netns';
import { tempDirForFile } from '../helpers/temp-dir';

const WINDOW_SEC = 5;
const BURST = 20_000;
const canRun = NetnsLab.available();

describe.skipIf(!canRun)('capture loss becomes SKIPDATA', () => {
  const dir = tempDirForFile('daemon-loss');
  const lab = new NetnsLab('fldx');
  const out = join(dir, 'records.jsonl');
  let nsA = '';
  let nsB = '';
  let daemon: DaemonProcess;
  let config = '';
  let configText = '';

  beforeAll(async () => {
    nsA = lab.namespace('a');
    nsB = lab.namespace('b');
    lab.veth(nsA, 'fldx0', '10.202.1.1/24', nsB, 'fldxp0', '10.202.1.2/24');
    // Static neighbour: no ARP exchange inside the burst.
    lab.exec(nsB, 'ip', ['neigh', 'replace', '10.202.1.1', 'lladdr', lab.mac(nsA, 'fldx0'), 'dev', 'fldxp0']);
    config = writeDaemonConfig(dir, [
      'enis:',
      '  - { id: eni-loss0, interface: fldx0, vpcId: vpc-loss, vswitchId: vsw-loss, vmId: i-loss }',
      'flowLogs:',
      `  - { id: fl-loss, resourceType: eni, resourceId: eni-loss0, aggregationInterval: "${WINDOW_SEC}s", sink: { type: file, path: unused.jsonl } }`,
      // The ring's overflow is what this tests: the eBPF engine has no ring (it counts in the kernel).
      'capture: { engine: libpcap, snaplenBytes: 128, bufferBytes: 65536 }',
    ]);
    configText = readFileSync(config, 'utf8');
    daemon = DaemonProcess.start(lab, nsA, bundleDaemon(dir), config, out);
    await daemon.waitForLog('daemon started', 15_000);
  });

  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    lab.remove();
  });

  it('refuses an invalid config on SIGHUP with the validate messages and keeps running', async () => {
    writeFileSync(config, configText.replace('region: cn-hangzhou', 'region: mars-1'));
    daemon.child.kill('SIGHUP');
    await daemon.waitForLog('reload refused: config invalid, keeping the running one', 5000);
    expect(daemon.stderr).toContain(`${config}:1: region: `);
    expect(daemon.child.exitCode).toBeNull();
    // The running content back: nothing to reload (the refused edit never applied).
    writeFileSync(config, configText);
    daemon.child.kill('SIGHUP');
    await daemon.waitForLog('config unchanged: nothing to reload', 5000);
  });

  it('counts every datagram of a burst that overflowed the ring as OK or SKIPDATA', async () => {
    // A quiet window first: 5 datagrams, no loss, no SKIPDATA.
    // Listeners, so namespace A answers nothing (no ICMP port unreachable joins the ring).
    const receiver = lab.spawn(nsA, 'python3', [
      '-c',
      'import socket,time\nss=[socket.socket(socket.AF_INET,socket.SOCK_DGRAM) for _ in range(2)]\nss[0].bind(("10.202.1.1",6000))\nss[1].bind(("10.202.1.1",6001))\ntime.sleep(30)',
    ]);
    await sleep(300);
    const quiet = await sleepUntilWindowOffset(WINDOW_SEC, 1);
    lab.exec(nsB, 'python3', ['-c', udpSenderScript('10.202.1.1', 6000, 5, 20, 41000)]);
    const burstWindow = await sleepUntilWindowOffset(WINDOW_SEC, 1);
    daemon.child.kill('SIGSTOP');
    try {
      lab.exec(nsB, 'python3', ['-c', udpSenderScript('10.202.1.1', 6001, BURST, 18, 41001)]);
    } finally {
      daemon.child.kill('SIGCONT');
    }
    await sleep((burstWindow + WINDOW_SEC + 3) * 1000 - Date.now());
    expect(await daemon.stop('SIGTERM')).toBe(0);
    receiver.kill();

    const recs = readRecords(out);
    const quietRecs = recs.filter(
      (r) => r.start === String(quiet) || (Number(r.start) >= quiet && Number(r.end) <= quiet + WINDOW_SEC),
    );
    expect(quietRecs.filter((r) => r['log-status'] === 'SKIPDATA')).toEqual([]);
    expect(quietRecs).toContainEqual(expect.objectContaining({ dstport: '6000', packets: '5', bytes: String(5 * 48) }));

    const burstOk = recs.filter((r) => r.dstport === '6001').reduce((n, r) => n + Number(r.packets), 0);
    const skip = recs.filter((r) => r['log-status'] === 'SKIPDATA');
    const skipped = skip.reduce((n, r) => n + Number(r.packets), 0);
    expect(skipped).toBeGreaterThan(0);
    expect(skip.every((r) => r['eni-id'] === 'eni-loss0' && r.bytes === '-' && Number(r.start) >= burstWindow)).toBe(
      true,
    );
    expect(burstOk + skipped).toBe(BURST);
  });
});
