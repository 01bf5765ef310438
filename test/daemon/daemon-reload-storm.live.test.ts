/**
 * Reloads that keep flows whole (issue 30): a VM sends 10 steady UDP flows while the daemon gets
 * 20 SIGHUPs in 20 s, two of them after edits of another ENI (its vm-id), the file watcher seeing
 * the same edits. Every flow must come out as one OK record per window with every packet the
 * device carried (its own counters, sampled every 5 ms), the idle ENI as one NODATA per window
 * and vm-id, and the config reloaded once per edit.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRIC_NAMES } from '../../src/metrics/metric-registry';
import { bundleDaemon, DaemonProcess, readRecords, sleep, writeDaemonConfig } from '../helpers/daemon-process';
import { sampleValue, scrapeMetrics } from '../helpers/daemon-scrape';
import { carried, VmVeths } from '../helpers/device-churn';
import { NetnsLab } from '../helpers/netns';
import { tempDirForFile } from '../helpers/temp-dir';

const WINDOW_SEC = 10;
const WINDOWS = 3;
const FLOWS = 10;
const GRACE_SEC = 2;
const canRun = NetnsLab.available();

describe.skipIf(!canRun)('a reload storm under steady traffic', () => {
  const dir = tempDirForFile('daemon-reload-storm');
  const lab = new NetnsLab('fldr');
  const out = join(dir, 'records.jsonl');
  let vms: VmVeths;
  let daemon: DaemonProcess;
  let configPath = '';

  beforeAll(async () => {
    const host = lab.namespace('h');
    const vm = lab.namespace('v');
    VmVeths.quietNamespaces(lab, [host, vm]);
    vms = new VmVeths(lab, host, vm, 'fldr', 213);
    vms.create([0, 1]);
    configPath = writeDaemonConfig(dir, [
      'metrics: { listen: "127.0.0.1:9472" }',
      'enis:',
      ...[0, 1].map(
        (i) =>
          `  - { id: eni-r${i}, interface: ${vms.device(i)}, mac: "${vms.vmMac(i)}", ips: [${vms.vmAddress(i)}], vpcId: vpc-r, vswitchId: vsw-r, vmId: i-r${i} }`,
      ),
      'flowLogs:',
      `  - { id: fl-r, resourceType: vpc, resourceId: vpc-r, aggregationInterval: "${WINDOW_SEC}s", sink: { type: file, path: unused.jsonl } }`,
    ]);
    daemon = DaemonProcess.start(lab, host, bundleDaemon(dir), configPath, out);
    await daemon.waitForLog('daemon started', 15_000);
  });

  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    lab.remove();
  });

  it('writes one OK record per flow per window and one NODATA per idle ENI per window, and reloads once per edit', async () => {
    const first = (Math.floor(Date.now() / 1000 / WINDOW_SEC) + 1) * WINDOW_SEC;
    const seconds = first + WINDOWS * WINDOW_SEC - Date.now() / 1000;
    const sampled = vms.sample(0, seconds + 0.5);
    const sender = vms.send(0, 200, seconds, WINDOW_SEC, 60, FLOWS);
    const sent = new Promise((r) => sender.on('exit', r));
    const text = readFileSync(configPath, 'utf8');
    for (let k = 0; k < 20; k++) {
      await sleep((first + 3 + k) * 1000 - Date.now());
      if (k === 4) writeFileSync(configPath, text.replace('vmId: i-r1 }', 'vmId: i-r1-a }'));
      if (k === 14) writeFileSync(configPath, text.replace('vmId: i-r1 }', 'vmId: i-r1-b }'));
      daemon.child.kill('SIGHUP');
    }
    await sent;
    const samples = await sampled;
    await sleep((first + WINDOWS * WINDOW_SEC + GRACE_SEC + 1) * 1000 - Date.now());

    const recs = readRecords(out).filter(
      (r) => Number(r.start) >= first && Number(r.start) < first + WINDOWS * WINDOW_SEC,
    );
    for (let w = 0; w < WINDOWS; w++) {
      const s = first + w * WINDOW_SEC;
      const ok = recs.filter(
        (r) =>
          r['eni-id'] === 'eni-r0' &&
          r['log-status'] === 'OK' &&
          Number(r.start) >= s &&
          Number(r.start) < s + WINDOW_SEC,
      );
      // Each flow once, with every packet the device carried in the window between them.
      expect(ok.map((r) => r.srcport).sort()).toEqual(
        Array.from({ length: FLOWS }, (_, f) => String(40000 + f)).sort(),
      );
      expect(ok.reduce((n, r) => n + Number(r.packets), 0)).toBe(carried(samples, s * 1000, (s + WINDOW_SEC) * 1000));
      expect(recs.filter((r) => r['eni-id'] === 'eni-r0' && r['log-status'] !== 'OK' && Number(r.start) === s)).toEqual(
        [],
      );
    }
    // The idle ENI: one NODATA per window under each vm-id it had in it (the edits at 7 s and
    // 17 s give windows 0 and 1 two: an ENI whose record attributes change is another ENI).
    const nodata = recs
      .filter((r) => r['eni-id'] === 'eni-r1')
      .map((r) => [r['log-status'], String(Number(r.start) - first), r['vm-id']]);
    expect(nodata.sort()).toEqual(
      [
        ['NODATA', '0', 'i-r1'],
        ['NODATA', '0', 'i-r1-a'],
        ['NODATA', '10', 'i-r1-a'],
        ['NODATA', '10', 'i-r1-b'],
        ['NODATA', '20', 'i-r1-b'],
      ].sort(),
    );
    // One reload per edit: the other SIGHUPs and the file watcher found the content applied.
    expect(daemon.logLines().filter((l) => l.msg === 'config reloaded')).toHaveLength(2);
    expect(
      daemon.logLines().filter((l) => l.msg === 'config unchanged: nothing to reload').length,
    ).toBeGreaterThanOrEqual(18);
    expect(
      sampleValue(scrapeMetrics(lab, vms.hostNs, 'http://127.0.0.1:9472'), METRIC_NAMES.configReloads, {
        result: 'ok',
      }),
    ).toBe(2);
  });

  it('reopens only the devices a capture-settings change concerns', async () => {
    const handleLines = () =>
      daemon.logLines().filter((l) => l.msg === 'capture started' || l.msg === 'capture stopped').length;
    const before = handleLines();
    const reloads = () => daemon.logLines().filter((l) => l.msg === 'config reloaded').length;
    const reloaded = reloads();
    // A shared device no ENI is counted on: nothing to open, the ENIs' devices untouched.
    writeFileSync(
      configPath,
      readFileSync(configPath, 'utf8').replace('metrics:', 'capture: { devices: [fldrbr0] }\nmetrics:'),
    );
    daemon.child.kill('SIGHUP');
    for (let i = 0; i < 50 && reloads() === reloaded; i++) await sleep(100);
    expect(reloads()).toBe(reloaded + 1);
    await sleep(500);
    expect(handleLines()).toBe(before);
    // Another snaplen concerns every device: each reopened once.
    writeFileSync(
      configPath,
      readFileSync(configPath, 'utf8').replace(
        'capture: { devices: [fldrbr0] }',
        'capture: { devices: [fldrbr0], snaplenBytes: 192 }',
      ),
    );
    daemon.child.kill('SIGHUP');
    if (daemon.logLines().find((l) => String(l.msg).startsWith('capture engine'))?.engine === 'ebpf') {
      // The eBPF engine's hooks have no ring or snaplen: nothing to reopen, nothing closed.
      for (let i = 0; i < 50 && reloads() < reloaded + 2; i++) await sleep(100);
      expect(reloads()).toBe(reloaded + 2);
      await sleep(500);
      expect(
        daemon.logLines().filter((l) => l.msg === 'capture settings changed: reopening the devices concerned'),
      ).toEqual([]);
      expect(handleLines()).toBe(before);
      return;
    }
    const reopened = await daemon.waitForLog('capture settings changed: reopening the devices concerned', 5000);
    expect(reopened.devices).toEqual([vms.device(0), vms.device(1)]);
    await sleep(500);
    const opened = daemon
      .logLines()
      .filter((l) => l.msg === 'capture started' && Number(l.time) >= Number(reopened.time));
    expect(opened.map((l) => l.device).sort()).toEqual([vms.device(0), vms.device(1)]);
  });
});
