/**
 * Devices that come and go under the daemon, in network namespaces (issue 30):
 *
 * - A VM's veth is deleted and re-created four times while the VM sends 200 datagrams a second
 *   (three times as a VM's shutdown does it, link down first; once deleted outright). The oracle
 *   is the device's own counters, sampled every 5 ms inside the namespace: in every window the
 *   ENI's OK packets plus its SKIPDATA count equal what the device carried, a window short of it
 *   always has SKIPDATA with the exact shortfall, and capture is back within milliseconds of each
 *   re-creation (the figure is printed).
 * - 50 idle VMs whose devices are deleted one by one 0.1 s apart across a window boundary: one
 *   NODATA per ENI per window it was captured in, none after.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRIC_NAMES } from '../../src/metrics/metric-registry';
import {
  bundleDaemon,
  DaemonProcess,
  readRecords,
  sleep,
  sleepUntilWindowOffset,
  writeDaemonConfig,
} from '../helpers/daemon-process';
import { sampleValue, scrapeMetrics } from '../helpers/daemon-scrape';
import { carried, VmVeths } from '../helpers/device-churn';
import { NetnsLab } from '../helpers/netns';
import { tempDirForFile } from '../helpers/temp-dir';

const canRun = NetnsLab.available();
const GRACE_SEC = 2;

describe.skipIf(!canRun)('a VM device deleted and re-created under traffic', () => {
  const WINDOW_SEC = 5;
  const WINDOWS = 9;
  const dir = tempDirForFile('daemon-device-churn');
  const lab = new NetnsLab('fldc');
  const out = join(dir, 'records.jsonl');
  let vms: VmVeths;
  let daemon: DaemonProcess;

  beforeAll(async () => {
    const host = lab.namespace('h');
    const vm = lab.namespace('v');
    VmVeths.quietNamespaces(lab, [host, vm]);
    vms = new VmVeths(lab, host, vm, 'fldc', 211);
    vms.create([0]);
    const config = writeDaemonConfig(dir, [
      'discovery: { type: static, refreshIntervalSec: 60 }',
      'metrics: { listen: "127.0.0.1:9471" }',
      'enis:',
      `  - { id: eni-churn, interface: ${vms.device(0)}, mac: "${vms.vmMac(0)}", ips: [${vms.vmAddress(0)}], vpcId: vpc-c, vswitchId: vsw-c, vmId: i-c }`,
      'flowLogs:',
      `  - { id: fl-c, resourceType: vpc, resourceId: vpc-c, aggregationInterval: "${WINDOW_SEC}s", sink: { type: file, path: unused.jsonl } }`,
    ]);
    daemon = DaemonProcess.start(lab, host, bundleDaemon(dir), config, out);
    await daemon.waitForLog('daemon started', 15_000);
  });

  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    lab.remove();
  });

  it('counts every packet the device carried as OK or SKIPDATA in its window, and captures a re-created device within milliseconds', async () => {
    // Sender and sampler start a window ahead (python starts slowly on a loaded machine).
    const first = (Math.floor(Date.now() / 1000 / WINDOW_SEC) + 2) * WINDOW_SEC;
    const seconds = first + WINDOWS * WINDOW_SEC - Date.now() / 1000;
    const sampled = vms.sample(0, seconds + 0.5);
    const sender = vms.send(0, 200, seconds, WINDOW_SEC, 60);
    const sent = new Promise((r) => sender.on('exit', r));
    const backMs: number[] = [];
    for (let c = 0; c < 4; c++) {
      // Mid-window of windows 1, 3, 5, 7; the last time without taking the link down first.
      await sleep((first + (2 * c + 1) * WINDOW_SEC + 2 - Date.now() / 1000) * 1000);
      const down = c < 3;
      vms.remove(0, down);
      const deletedMs = Date.now();
      await sleep(300);
      vms.create([0]);
      const upMs = Date.now();
      const started = await daemon.waitForLog(
        'capture started',
        5000,
        (l) => l.device === vms.device(0) && Number(l.time) > deletedMs,
      );
      backMs.push(Number(started.time) - upMs);
    }
    await sent;
    const samples = await sampled;
    await sleep((first + WINDOWS * WINDOW_SEC + GRACE_SEC + 1 - Date.now() / 1000) * 1000);
    console.log(`capture back after re-creation (ms, host end up to "capture started"): ${backMs.join(', ')}`);

    const recs = readRecords(out).filter((r) => r['eni-id'] === 'eni-churn');
    const rows = Array.from({ length: WINDOWS }, (_, w) => {
      const s = first + w * WINDOW_SEC;
      const mine = recs.filter((r) => Number(r.start) >= s && Number(r.start) < s + WINDOW_SEC);
      const skips = mine.filter((r) => r['log-status'] === 'SKIPDATA');
      return {
        window: w,
        device: carried(samples, s * 1000, (s + WINDOW_SEC) * 1000),
        ok: mine.filter((r) => r['log-status'] === 'OK').reduce((n, r) => n + Number(r.packets), 0),
        okRecords: mine.filter((r) => r['log-status'] === 'OK').length,
        skip: skips.reduce((n, r) => n + Number(r.packets), 0),
        skipRecords: skips.length,
      };
    });
    console.log(rows.map((r) => `window ${r.window}: device ${r.device}, OK ${r.ok}, SKIPDATA ${r.skip}`).join('\n'));
    for (const r of rows) {
      expect(r.device).toBeGreaterThan(400); // the VM sent all along (its start, the cycles' gaps aside)
      expect(r.okRecords).toBe(1); // one flow, one record per window: nothing split
      expect(r.skipRecords).toBeLessThanOrEqual(1);
      // Exact, but for packets in flight at a gap's edge: counted by the device before the
      // counter read and stamped by the capture after it, they count as lost and as recorded
      // (over, never under); and for window 7, deleted without going down first, where the
      // sampler's last look before the deletion can be one datagram (5 ms) short.
      const slack = r.window % 2 === 1 ? (r.window === 7 ? 3 : 2) : 0;
      expect(r.ok + r.skip - r.device).toBeGreaterThanOrEqual(0);
      expect(r.ok + r.skip - r.device).toBeLessThanOrEqual(slack);
      // Never a short window without SKIPDATA.
      if (r.ok < r.device) expect(r.skipRecords).toBe(1);
    }
    // Windows without a device change record everything.
    for (const w of [0, 2, 4, 6, 8]) expect(rows[w]).toMatchObject({ skip: 0, skipRecords: 0 });
    for (const ms of backMs) expect(ms).toBeLessThan(500);

    // Each gap that lost packets is logged once; the metric counts them all.
    const gapLines = daemon
      .logLines()
      .filter((l) => typeof l.msg === 'string' && l.msg.startsWith(`capture gap on ${vms.device(0)}:`));
    const skipped = rows.reduce((n, r) => n + r.skip, 0);
    expect(gapLines.reduce((n, l) => n + Number(l.lostPackets), 0)).toBe(skipped);
    expect(gapLines.length).toBeLessThanOrEqual(4);
    const m = scrapeMetrics(lab, vms.hostNs, 'http://127.0.0.1:9471');
    expect(sampleValue(m, METRIC_NAMES.captureGapPackets, { eni: 'eni-churn' })).toBe(skipped);
  });
});

describe.skipIf(!canRun)('50 idle VMs whose devices are deleted one by one', () => {
  const WINDOW_SEC = 5;
  const N = 50;
  const dir = tempDirForFile('daemon-nodata-storm');
  const lab = new NetnsLab('flds');
  const out = join(dir, 'records.jsonl');
  let vms: VmVeths;
  let daemon: DaemonProcess;

  beforeAll(async () => {
    const host = lab.namespace('h');
    const vm = lab.namespace('v');
    VmVeths.quietNamespaces(lab, [host, vm]);
    vms = new VmVeths(lab, host, vm, 'flds', 212);
    const all = Array.from({ length: N }, (_, i) => i);
    vms.create(all);
    const config = writeDaemonConfig(dir, [
      'enis:',
      ...all.map(
        (i) =>
          `  - { id: eni-s${i}, interface: ${vms.device(i)}, mac: "${vms.vmMac(i)}", ips: [${vms.vmAddress(i)}], vpcId: vpc-s, vswitchId: vsw-s, vmId: i-s${i} }`,
      ),
      'flowLogs:',
      `  - { id: fl-s, resourceType: vpc, resourceId: vpc-s, aggregationInterval: "${WINDOW_SEC}s", sink: { type: file, path: unused.jsonl } }`,
    ]);
    daemon = DaemonProcess.start(lab, host, bundleDaemon(dir), config, out);
    await daemon.waitForLog('daemon started', 30_000);
  });

  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    lab.remove();
  });

  it('writes exactly one NODATA per ENI per window it was captured in', async () => {
    // Deletions from 3 s into a window, 0.1 s apart: 20 in it, 30 in the next (10 of those while
    // the first still waits out its grace).
    const first = await sleepUntilWindowOffset(WINDOW_SEC, 3);
    // When each deletion was asked for, and when `ip` returned (it happened in between).
    const deleting: Array<[number, number]> = [];
    for (let i = 0; i < N; i++) {
      await sleep(first * 1000 + 3000 + i * 100 - Date.now());
      const asked = Date.now() / 1000;
      vms.remove(i, false);
      deleting.push([asked, Date.now() / 1000]);
    }
    await sleep((first + 3 * WINDOW_SEC + GRACE_SEC + 1 - Date.now() / 1000) * 1000);
    const recs = readRecords(out).filter((r) => Number(r.start) >= first);
    expect(recs.every((r) => r['log-status'] === 'NODATA')).toBe(true);
    const count = new Map<string, number>();
    for (const r of recs) count.set(`${r['eni-id']}@${r.start}`, (count.get(`${r['eni-id']}@${r.start}`) ?? 0) + 1);
    expect(Math.max(...count.values())).toBe(1);
    const inWindow = (start: number) => recs.filter((r) => Number(r.start) === start).map((r) => r['eni-id']);
    expect(inWindow(first).sort()).toEqual(Array.from({ length: N }, (_, i) => `eni-s${i}`).sort());
    // The next window: the ENIs whose device still existed at its start, and maybe those deleted
    // just before it (the daemon hears of a deletion within milliseconds, not at once).
    const second = first + WINDOW_SEC;
    const surely = deleting.flatMap(([asked], i) => (asked >= second ? [`eni-s${i}`] : []));
    const maybe = deleting.flatMap(([asked, done], i) => (asked < second && done >= second - 0.3 ? [`eni-s${i}`] : []));
    expect(surely.length).toBeGreaterThan(20);
    const got = inWindow(second);
    for (const id of surely) expect(got).toContain(id);
    for (const id of got) expect([...surely, ...maybe]).toContain(id);
    expect(inWindow(second + WINDOW_SEC)).toEqual([]);
  });
});
