/**
 * A spool too small for an outage, end to end: the daemon captures 300 new flows a second on a
 * veth (5 s windows) and delivers to the local Log Service with delivery.spoolMaxBytes 1 MiB; the
 * endpoint goes down for 35 s, so the spool evicts its oldest windows. Asserted on what the
 * Logstore holds once the endpoint is back: every window with traffic is there, as OK records or
 * as SKIPDATA (its ENI, its window, the packets its evicted records counted); every packet sent
 * is in an OK record or counted in a SKIPDATA record, exactly; nothing is doubled except under
 * one __pack_id__. Meanwhile /healthz names the evicting spool, the loss is counted by reason and
 * logged once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRIC_NAMES } from '../../src/metrics/metric-registry';
import type { HealthReport } from '../../src/metrics/health-report';
import {
  bundleDaemon,
  sleep,
  sleepUntilWindowOffset,
  writeDaemonConfig,
  type DaemonProcess,
} from '../helpers/daemon-process';
import { httpGetInNamespace, sampleValue, scrapeMetrics, startDaemonWithSinks } from '../helpers/daemon-scrape';
import { NetnsLab } from '../helpers/netns';
import { tempDirForFile } from '../helpers/temp-dir';
import { startSlsServer } from '../sls-server/server.js';

const W = 5;
const FLOWS_PER_SEC = 300;
const SEND_SEC = 45;
const OUTAGE_SEC = 35;
const HOST = '10.208.9.1';
const PROJECT = 'evict-project';
const LOGSTORE = 'flowlog';
const BASE = 'http://127.0.0.1:9466';
const CREDS = {
  ALIBABA_CLOUD_ACCESS_KEY_ID: 'test-access-key-id',
  ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'test-access-key-secret',
};
const canRun = NetnsLab.available();

describe.skipIf(!canRun)('a spool evicting through an outage', () => {
  const dir = tempDirForFile('daemon-evict');
  const lab = new NetnsLab('flev');
  let server: Awaited<ReturnType<typeof startSlsServer>>;
  let nsA = '';
  let nsB = '';
  let daemon: DaemonProcess | undefined;

  beforeAll(async () => {
    nsA = lab.namespace('a');
    nsB = lab.namespace('b');
    lab.veth(nsA, 'flev0', '10.208.1.1/24', nsB, 'flevp0', '10.208.1.2/24');
    lab.exec(nsB, 'ip', ['neigh', 'replace', '10.208.1.1', 'lladdr', lab.mac(nsA, 'flev0'), 'dev', 'flevp0']);
    lab.exec(nsA, 'iptables', ['-A', 'INPUT', '-i', 'flev0', '-p', 'udp', '-j', 'DROP']); // no ICMP answers in the counts
    lab.uplink(nsA, 'flevu0', '10.208.9.2/30', 'flevu1', `${HOST}/30`);
    server = await startSlsServer({ host: HOST, projects: { [PROJECT]: [LOGSTORE] } });
  });
  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    await server?.close();
    lab.remove();
  });

  it('leaves every window with traffic in the Logstore as OK or SKIPDATA, every packet accounted for', async () => {
    const config = writeDaemonConfig(dir, [
      `metrics: { listen: "${BASE.slice(7)}" }`,
      'delivery: { spoolMaxBytes: 1MiB, lingerMs: 200, retryInitialMs: 200, retryMaxMs: 1000, requestTimeoutMs: 1000, stopFlushTimeoutMs: 20000, unhealthyAfterSec: 10 }',
      'enis:',
      '  - { id: eni-ev0, interface: flev0, vpcId: vpc-ev, vswitchId: vsw-ev, vmId: i-ev }',
      'flowLogs:',
      `  - { id: fl-ev, resourceType: eni, resourceId: eni-ev0, aggregationInterval: "${W}s", sink: { type: sls, project: ${PROJECT}, logstore: ${LOGSTORE}, endpoint: "${server.url}" } }`,
    ]);
    daemon = startDaemonWithSinks(lab, nsA, bundleDaemon(dir), config, CREDS);
    await daemon.waitForLog('daemon started', 15_000);

    // 300 new flows a second (one datagram each, every source port new), paced per second.
    const sender = lab.spawn(nsB, 'python3', [
      '-c',
      [
        'import socket, time',
        't0 = time.time()',
        `for sec in range(${SEND_SEC}):`,
        `    for k in range(${FLOWS_PER_SEC}):`,
        '        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
        `        s.bind(("0.0.0.0", 10000 + sec * ${FLOWS_PER_SEC} + k))`,
        '        s.sendto(b"x" * 20, ("10.208.1.1", 7300))',
        '        s.close()',
        '    time.sleep(max(0, t0 + sec + 1 - time.time()))',
      ].join('\n'),
    ]);
    const sent = SEND_SEC * FLOWS_PER_SEC;
    const firstWindow = await sleepUntilWindowOffset(W, 0);
    const senderDone = new Promise<number | null>((res) => sender.on('exit', res));
    await sleep(5000);
    await server.down();
    await sleep((OUTAGE_SEC / 2) * 1000);
    // Mid-outage: the spool is evicting and says so.
    const mid = JSON.parse(httpGetInNamespace(lab, nsA, `${BASE}/healthz`).body) as HealthReport;
    expect(mid.problems.map((p) => p.code)).toContain('spool_evicting');
    await sleep((OUTAGE_SEC / 2) * 1000);
    await server.up();
    expect(await senderDone).toBe(0);
    const lastWindow = Math.floor(Date.now() / 1000 / W) * W;
    // Wait for the windows to close and the spool to drain.
    const deadline = Date.now() + 60_000;
    let m = scrapeMetrics(lab, nsA, BASE);
    await sleep(2 * W * 1000);
    while (Date.now() < deadline) {
      m = scrapeMetrics(lab, nsA, BASE);
      if ((sampleValue(m, METRIC_NAMES.spoolSegments, { flow_log: 'fl-ev' }) ?? 1) === 0) break;
      await sleep(500);
    }
    const lostCounted =
      sampleValue(m, METRIC_NAMES.outputLostRecords, { flow_log: 'fl-ev', reason: 'spool_full' }) ?? 0;
    const skipCounted =
      sampleValue(m, METRIC_NAMES.outputLossSkipdata, { flow_log: 'fl-ev', reason: 'spool_full' }) ?? 0;
    expect(await daemon.stop('SIGTERM')).toBe(0);

    const stored = server.stored(PROJECT, LOGSTORE).map((l) => ({
      c: Object.fromEntries(l.contents),
      pack: l.tags.find(([k]: [string, string]) => k === '__pack_id__')?.[1],
    }));
    const packsOf = new Map<string, Set<string | undefined>>();
    for (const s of stored) {
      const key = JSON.stringify(s.c);
      (packsOf.get(key) ?? packsOf.set(key, new Set()).get(key))?.add(s.pack);
    }
    for (const packs of packsOf.values()) expect(packs.size).toBe(1); // a copy only under one pack id
    const records = [...packsOf.keys()]
      .map((k) => JSON.parse(k) as Record<string, string>)
      .filter((r) => r['eni-id'] === 'eni-ev0');
    const ok = records.filter((r) => r['log-status'] === 'OK' && r.dstport === '7300');
    const skip = records.filter((r) => r['log-status'] === 'SKIPDATA');
    // The outage evicted windows: their SKIPDATA is in the Logstore, counted and logged once.
    expect(skip.length).toBeGreaterThan(0);
    expect(lostCounted).toBeGreaterThan(0);
    expect(skipCounted).toBe(skip.length);
    expect(daemon.logLines().filter((l) => String(l.msg).startsWith('evict spool segments'))).toHaveLength(1);
    // Every packet sent: in an OK record, or counted by a SKIPDATA record (capture drops too).
    for (const r of skip) expect(r.packets).toMatch(/^\d+$/);
    const okPackets = ok.reduce((n, r) => n + Number(r.packets), 0);
    const skipPackets = skip.reduce((n, r) => n + Number(r.packets), 0);
    expect(okPackets + skipPackets).toBe(sent);
    expect(skipPackets).toBe(lostCounted); // one packet per flow: each evicted record was one packet
    // Every window with traffic is present, as OK records or SKIPDATA covering it.
    const windowsWithTraffic = new Set(ok.map((r) => Math.floor(Number(r.start) / W) * W));
    for (const r of skip) for (let w = Number(r.start); w < Number(r.end); w += W) windowsWithTraffic.add(w);
    for (let w = firstWindow; w < lastWindow - W; w += W) {
      const present =
        ok.some((r) => Math.floor(Number(r.start) / W) * W === w) ||
        skip.some((r) => Number(r.start) <= w && Number(r.end) >= w + W);
      expect([w, present]).toEqual([w, true]);
    }
    console.log(
      `eviction: ${sent} flows sent, ${ok.length} OK records, ${skip.length} SKIPDATA records for ${skipPackets} packets, ${lostCounted} records counted lost`,
    );
  }, 200_000);
});
