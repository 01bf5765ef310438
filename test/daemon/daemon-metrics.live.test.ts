/**
 * /metrics and /healthz of a running daemon (`run` without --output, so records go through each
 * flow log's sink) in a network namespace. A peer namespace sends a known number of UDP
 * datagrams; the scraped counters must equal what arithmetic predicts. Two flow logs cover the
 * ENI: one to a file, one to a Log Service endpoint where nothing listens, so /healthz turns 503
 * naming that sink after delivery.unhealthyAfterSec while the file sink keeps delivering. Taking a device's
 * link down makes /healthz name the device.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeEbpf } from '../../src/capture/ebpf/ebpf-probe';
import { METRIC_NAMES } from '../../src/metrics/metric-registry';
import {
  bundleDaemon,
  readRecords,
  sleep,
  sleepUntilWindowOffset,
  writeDaemonConfig,
  type DaemonProcess,
} from '../helpers/daemon-process';
import { httpGetInNamespace, sampleValue, scrapeMetrics, startDaemonWithSinks } from '../helpers/daemon-scrape';
import { NetnsLab, udpSenderScript } from '../helpers/netns';
import { tempDirForFile } from '../helpers/temp-dir';

const WINDOW_SEC = 2;
const GRACE_SEC = 2;
const DATAGRAMS = 40;
const PAYLOAD = 72;
const BASE = 'http://127.0.0.1:9465';
const SLS_SINK = 'sls:flowlog-test/down-store';
const canRun = NetnsLab.available();

describe.skipIf(!canRun)('daemon metrics and health endpoint', () => {
  const dir = tempDirForFile('daemon-metrics');
  const lab = new NetnsLab('fldm');
  const recordsPath = join(dir, 'records.jsonl');
  let nsA = '';
  let nsB = '';
  let daemon: DaemonProcess;
  let configPath = '';

  beforeAll(async () => {
    nsA = lab.namespace('a');
    nsB = lab.namespace('b');
    lab.veth(nsA, 'fldm0', '10.203.1.1/24', nsB, 'fldmp0', '10.203.1.2/24');
    lab.veth(nsA, 'fldm1', '10.203.2.1/24', nsB, 'fldmp1', '10.203.2.2/24');
    // Static neighbours: no ARP (not IP, so not counted anyway) racing the burst.
    lab.exec(nsB, 'ip', ['neigh', 'replace', '10.203.1.1', 'lladdr', lab.mac(nsA, 'fldm0'), 'dev', 'fldmp0']);
    configPath = writeDaemonConfig(dir, [
      'discovery: { type: static, refreshIntervalSec: 1 }',
      'metrics: { listen: "127.0.0.1:9465" }',
      'flowTable: { capacity: 5000 }',
      'delivery: { lingerMs: 100, retryInitialMs: 200, retryMaxMs: 1000, requestTimeoutMs: 1000, unhealthyAfterSec: 6 }',
      'enis:',
      '  - { id: eni-m0, interface: fldm0, vpcId: vpc-m, vswitchId: vsw-m, vmId: i-m }',
      '  - { id: eni-m1, interface: fldm1, vpcId: vpc-m, vswitchId: vsw-m, vmId: i-m }',
      'flowLogs:',
      `  - { id: fl-file, resourceType: eni, resourceId: eni-m0, aggregationInterval: "${WINDOW_SEC}s", sink: { type: file, path: ${recordsPath} } }`,
      `  - { id: fl-sls, resourceType: eni, resourceId: eni-m0, aggregationInterval: "${WINDOW_SEC}s", sink: { type: sls, project: flowlog-test, logstore: down-store, endpoint: "http://127.0.0.1:9" } }`,
      `  - { id: fl-m1, resourceType: eni, resourceId: eni-m1, aggregationInterval: "${WINDOW_SEC}s", sink: { type: file, path: ${join(dir, 'm1.jsonl')} } }`,
    ]);
    const env = {
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'test-access-key-id',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'test-access-key-secret',
    };
    daemon = startDaemonWithSinks(lab, nsA, bundleDaemon(dir), configPath, env);
    await daemon.waitForLog('daemon started', 15_000);
  });

  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    lab.remove();
  });

  it('is healthy at start, before any batch waits', () => {
    const res = httpGetInNamespace(lab, nsA, `${BASE}/healthz`);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ status: 'ok', problems: [] });
  });

  it('counts packets and bytes per ENI, records per flow log and status, sink batches', async () => {
    // A bound receiver: no ICMP port-unreachable replies join the count.
    const receiver = lab.spawn(nsA, 'python3', [
      '-c',
      'import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(("10.203.1.1",5001))\ntime.sleep(5)',
    ]);
    await sleep(300);
    const window = await sleepUntilWindowOffset(WINDOW_SEC, 0.3);
    lab.exec(nsB, 'python3', ['-c', udpSenderScript('10.203.1.1', 5001, DATAGRAMS, PAYLOAD, 41001)]);
    // A reload mid-window that edits another ENI's flow log: applied in place, the flow stays
    // whole (one record) and the counters run on. The same content again is no reload at all.
    writeFileSync(
      configPath,
      readFileSync(configPath, 'utf8').replace('resourceId: eni-m1,', 'resourceId: eni-m1, trafficType: accept,'),
    );
    daemon.child.kill('SIGHUP');
    await daemon.waitForLog('config reloaded', 5000);
    daemon.child.kill('SIGHUP');
    await daemon.waitForLog('config unchanged: nothing to reload', 5000);
    // The window is written GRACE_SEC after its end; the file sink delivers within its linger.
    const deadline = Date.now() + 10_000;
    while (!readRecords(recordsPath).some((r) => r['log-status'] === 'OK') && Date.now() < deadline) await sleep(200);
    await sleep(Math.max(0, (window + WINDOW_SEC + GRACE_SEC) * 1000 - Date.now()));

    receiver.kill();
    const m = scrapeMetrics(lab, nsA, BASE);
    // IPv4 UDP: 20 bytes IP + 8 bytes UDP + payload per datagram; nothing else is IP on the link.
    expect(sampleValue(m, METRIC_NAMES.capturePackets, { eni: 'eni-m0' })).toBe(DATAGRAMS);
    expect(sampleValue(m, METRIC_NAMES.captureBytes, { eni: 'eni-m0' })).toBe(DATAGRAMS * (28 + PAYLOAD));
    expect(sampleValue(m, METRIC_NAMES.capturePackets, { eni: 'eni-m1' })).toBe(0);
    expect(sampleValue(m, METRIC_NAMES.captureKernelDrops, { eni: 'eni-m0' })).toBe(0);
    expect(sampleValue(m, METRIC_NAMES.enrichUnattributed)).toBe(0);
    expect(sampleValue(m, METRIC_NAMES.flowTableCapacity)).toBe(5000);
    // capture.engine auto: where the eBPF engine runs, it drained every second, and its packets are the ENI's.
    if (probeEbpf().usable) {
      expect(sampleValue(m, METRIC_NAMES.captureEbpfDrains, { result: 'ok' })).toBeGreaterThanOrEqual(2);
      expect(sampleValue(m, METRIC_NAMES.captureEbpfDrains, { result: 'failed' })).toBe(0);
      expect(sampleValue(m, METRIC_NAMES.captureEbpfPackets)).toBe(DATAGRAMS);
      expect(sampleValue(m, METRIC_NAMES.captureDeviceEngine, { device: 'fldm0', engine: 'ebpf' })).toBe(1);
    }

    // One UDP flow, seen by both flow logs of the ENI: one record each, the reload in between.
    const udp = readRecords(recordsPath).filter((r) => r.protocol === '17');
    const okRecords = udp.length;
    expect(okRecords).toBe(1);
    expect(sampleValue(m, METRIC_NAMES.records, { flow_log: 'fl-file', log_status: 'OK' })).toBe(okRecords);
    expect(sampleValue(m, METRIC_NAMES.records, { flow_log: 'fl-sls', log_status: 'OK' })).toBe(okRecords);
    const nodata = sampleValue(m, METRIC_NAMES.records, { flow_log: 'fl-file', log_status: 'NODATA' }) ?? 0;
    expect(nodata).toBeGreaterThanOrEqual(1);
    // Should one appear, the daemon's warnings say why.
    const warnings = daemon.stderr.split('\n').filter((l) => /"level":(40|50)/.test(l));
    expect(
      sampleValue(m, METRIC_NAMES.records, { flow_log: 'fl-file', log_status: 'SKIPDATA' }),
      warnings.join('\n'),
    ).toBe(0);
    expect(sampleValue(m, METRIC_NAMES.records, { flow_log: 'fl-m1', log_status: 'OK' })).toBe(0);

    const fileSink = `file:${recordsPath}`;
    expect(sampleValue(m, METRIC_NAMES.sinkBatches, { sink: fileSink, result: 'sent' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(m, METRIC_NAMES.sinkBatches, { sink: fileSink, result: 'failed' })).toBe(0);
    expect(sampleValue(m, `${METRIC_NAMES.sinkLatency}_count`, { sink: fileSink })).toBeGreaterThanOrEqual(1);
    const lastSuccess = sampleValue(m, METRIC_NAMES.sinkLastSuccess, { sink: fileSink }) ?? 0;
    expect(Math.abs(lastSuccess - Date.now() / 1000)).toBeLessThan(3 * WINDOW_SEC + GRACE_SEC + 2);
    expect(sampleValue(m, METRIC_NAMES.sinkBatches, { sink: SLS_SINK, result: 'sent' })).toBe(0);
    expect(sampleValue(m, METRIC_NAMES.sinkBatches, { sink: SLS_SINK, result: 'retried' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(m, METRIC_NAMES.sinkLastSuccess, { sink: SLS_SINK })).toBeUndefined();
    expect(sampleValue(m, METRIC_NAMES.spoolSegments, { flow_log: 'fl-sls' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(m, METRIC_NAMES.spoolBytes, { flow_log: 'fl-sls' })).toBeGreaterThan(0);
    expect(sampleValue(m, `${METRIC_NAMES.windowFlush}_count`)).toBeGreaterThanOrEqual(2);
    expect(sampleValue(m, METRIC_NAMES.configReloads, { result: 'ok' })).toBe(1);
    expect(sampleValue(m, METRIC_NAMES.configReloads, { result: 'failed' })).toBe(0);
    // The file holds what was counted as delivered: the UDP flow, exact to the packet and byte.
    for (const r of udp)
      expect(r).toMatchObject({ 'eni-id': 'eni-m0', dstport: '5001', direction: 'in', 'log-status': 'OK' });
    expect(udp.reduce((n, r) => n + Number(r.packets), 0)).toBe(DATAGRAMS);
    expect(udp.reduce((n, r) => n + Number(r.bytes), 0)).toBe(DATAGRAMS * (28 + PAYLOAD));
  });

  it('turns /healthz 503 naming the sink that has not delivered for delivery.unhealthyAfterSec', async () => {
    let res = httpGetInNamespace(lab, nsA, `${BASE}/healthz`);
    const deadline = Date.now() + 15_000;
    while (res.status === 200 && Date.now() < deadline) {
      await sleep(500);
      res = httpGetInNamespace(lab, nsA, `${BASE}/healthz`);
    }
    expect(res.status).toBe(503);
    const report = JSON.parse(res.body) as {
      status: string;
      problems: Array<{ kind: string; sink?: string; message: string }>;
    };
    expect(report.status).toBe('unhealthy');
    expect(report.problems).toEqual([expect.objectContaining({ code: 'sink_failing', kind: 'sink', sink: SLS_SINK })]);
    expect(report.problems[0].message).toContain(SLS_SINK);
  });

  it('names a capture device that went down', async () => {
    lab.exec(nsA, 'ip', ['link', 'set', 'fldm1', 'down']);
    let problems: Array<{ kind: string; device?: string; eni?: string }> = [];
    const deadline = Date.now() + 10_000;
    while (!problems.some((p) => p.kind === 'capture') && Date.now() < deadline) {
      await sleep(300);
      problems = (JSON.parse(httpGetInNamespace(lab, nsA, `${BASE}/healthz`).body) as { problems: typeof problems })
        .problems;
    }
    expect(problems).toContainEqual(expect.objectContaining({ kind: 'capture', device: 'fldm1', eni: 'eni-m1' }));
  });

  it('moves the endpoint on a reload that changes metrics.listen, opens the sink of an added flow log, and moves a changed sink', async () => {
    const text = readFileSync(configPath, 'utf8')
      .replace('127.0.0.1:9465', '127.0.0.1:9467')
      .replace(`path: ${join(dir, 'm1.jsonl')}`, `path: ${join(dir, 'm1-new.jsonl')}`)
      .replace(
        'flowLogs:\n',
        `flowLogs:\n  - { id: fl-new, resourceType: eni, resourceId: eni-m1, aggregationInterval: "${WINDOW_SEC}s", sink: { type: file, path: ${join(dir, 'fl-new.jsonl')} } }\n`,
      );
    writeFileSync(configPath, text);
    daemon.child.kill('SIGHUP');
    await daemon.waitForLog('metrics endpoint listening', 5000, (l) => l.url === 'http://127.0.0.1:9467');
    const opened = daemon
      .logLines()
      .find((l) => typeof l.msg === 'string' && l.msg.startsWith('opened the sinks of flow logs added'));
    expect(opened).toMatchObject({ flowLogs: ['fl-new'] });
    const moved = daemon
      .logLines()
      .find((l) => typeof l.msg === 'string' && l.msg.startsWith('moved flow logs to their changed sinks'));
    expect(moved).toMatchObject({ level: 30, flowLogs: ['fl-m1'] });
    const m = scrapeMetrics(lab, nsA, 'http://127.0.0.1:9467');
    expect(sampleValue(m, METRIC_NAMES.configReloads, { result: 'ok' })).toBe(2);
    expect(() => httpGetInNamespace(lab, nsA, `${BASE}/metrics`)).toThrow(); // curl: connection refused
    // The added flow log's records reach its file within a couple of windows (eni-m1 is idle now:
    // NODATA records, one per window).
    const newFile = join(dir, 'fl-new.jsonl');
    const until = Date.now() + 4 * WINDOW_SEC * 1000 + 4000;
    // fl-m1's records now go to its new file, and no longer to the old one.
    const movedFile = join(dir, 'm1-new.jsonl');
    const oldLines = existsSync(join(dir, 'm1.jsonl'))
      ? readFileSync(join(dir, 'm1.jsonl'), 'utf8').split('\n').length
      : 0;
    const ready = () =>
      existsSync(newFile) &&
      readFileSync(newFile, 'utf8').includes('"eni-id":"eni-m1"') &&
      existsSync(movedFile) &&
      readFileSync(movedFile, 'utf8').includes('"eni-id":"eni-m1"');
    while (!ready() && Date.now() < until) await sleep(250);
    expect(readFileSync(newFile, 'utf8')).toContain('"eni-id":"eni-m1"');
    expect(readFileSync(movedFile, 'utf8')).toContain('"eni-id":"eni-m1"');
    await sleep(2 * WINDOW_SEC * 1000);
    const oldNow = existsSync(join(dir, 'm1.jsonl'))
      ? readFileSync(join(dir, 'm1.jsonl'), 'utf8').split('\n').length
      : 0;
    expect(oldNow).toBe(oldLines);
  });
});
