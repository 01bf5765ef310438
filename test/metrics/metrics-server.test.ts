import { afterEach, describe, expect, it } from 'vitest';
import { DurationHistogram } from '../../src/metrics/duration-histogram';
import { MetricsServer, MetricsServerError } from '../../src/metrics/metrics-server';
import { BLIND_GRACE_MS, HEALTH_PROBLEM_CODES } from '../../src/metrics/health-report';
import { MetricsEndpoint } from '../../src/daemon/metrics-endpoint';
import { captureLogger } from '../helpers/capture-logger';
import { FakePipelineCounters } from '../helpers/fake-metrics-source';

const servers: MetricsServer[] = [];
afterEach(async () => {
  while (servers.length > 0) await servers.pop()!.close();
});

async function startWith(source: FakePipelineCounters, nowUnixMs = () => 1_714_557_600_000): Promise<MetricsServer> {
  const server = await MetricsServer.start({ listen: '127.0.0.1:0', metrics: source, health: source, nowUnixMs });
  servers.push(server);
  return server;
}

/** Value of the sample line `name{labels}` (labels exactly as rendered), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('MetricsServer /metrics', () => {
  it('renders every pipeline counter under its flowlog_ name, read at scrape time', async () => {
    const source = new FakePipelineCounters();
    source.devices = [
      { eni: 'eni-a', packets: 1500, bytes: 1_200_000, kernelDrops: 7, interfaceDrops: 1 },
      { eni: 'eni-b', packets: 20, bytes: 1280, kernelDrops: 0, interfaceDrops: 0 },
    ];
    source.malformed = { truncated: 3, 'bad-version': 2 };
    source.unattributed = 11;
    source.tableCapacity = 100_000;
    source.intervals = [
      { intervalSec: 60, activeFlows: 42 },
      { intervalSec: 600, activeFlows: 40 },
    ];
    source.recordCounts = [
      { flowLog: 'fl-1', logStatus: 'OK', records: 90 },
      { flowLog: 'fl-1', logStatus: 'NODATA', records: 4 },
    ];
    source.sinkCounters = [
      {
        sink: 'file:/tmp/fl-1.jsonl',
        batchesSent: 12,
        batchesFailed: 1,
        batchesRetried: 5,
        latency: new DurationHistogram(),
        lastSuccessUnixMs: 1_714_557_660_500,
      },
    ];
    source.spoolUsage = [{ flowLog: 'fl-1', segments: 3, bytes: 4096, memorySegments: 2, droppedRecords: 250 }];
    source.reloads = { ok: 2, failed: 1 };
    const server = await startWith(source);

    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const expected: [string, number][] = [
      ['flowlog_capture_packets_total{eni="eni-a"}', 1500],
      ['flowlog_capture_packets_total{eni="eni-b"}', 20],
      ['flowlog_capture_bytes_total{eni="eni-a"}', 1_200_000],
      ['flowlog_capture_kernel_drops_total{eni="eni-a"}', 7],
      ['flowlog_capture_interface_drops_total{eni="eni-a"}', 1],
      ['flowlog_decode_malformed_total{reason="truncated"}', 3],
      ['flowlog_decode_malformed_total{reason="bad-version"}', 2],
      ['flowlog_enrich_unattributed_packets_total', 11],
      ['flowlog_flow_active_flows{interval="60"}', 42],
      ['flowlog_flow_active_flows{interval="600"}', 40],
      ['flowlog_flow_table_capacity', 100_000],
      ['flowlog_records_total{flow_log="fl-1",log_status="OK"}', 90],
      ['flowlog_records_total{flow_log="fl-1",log_status="NODATA"}', 4],
      ['flowlog_sink_batches_total{sink="file:/tmp/fl-1.jsonl",result="sent"}', 12],
      ['flowlog_sink_batches_total{sink="file:/tmp/fl-1.jsonl",result="failed"}', 1],
      ['flowlog_sink_batches_total{sink="file:/tmp/fl-1.jsonl",result="retried"}', 5],
      ['flowlog_sink_last_success_timestamp_seconds{sink="file:/tmp/fl-1.jsonl"}', 1_714_557_660.5],
      ['flowlog_spool_segments{flow_log="fl-1"}', 3],
      ['flowlog_spool_bytes{flow_log="fl-1"}', 4096],
      ['flowlog_spool_memory_segments{flow_log="fl-1"}', 2],
      ['flowlog_spool_dropped_records_total{flow_log="fl-1"}', 250],
      ['flowlog_config_reloads_total{result="ok"}', 2],
      ['flowlog_config_reloads_total{result="failed"}', 1],
    ];
    for (const [series, value] of expected) expect([series, sample(text, series)]).toEqual([series, value]);
    expect(text).toContain('# TYPE flowlog_capture_packets_total counter');
    expect(text).toContain('# TYPE flowlog_spool_bytes gauge');

    // The counters move; the next scrape shows the new totals (replaced, not added).
    source.devices[0].packets = 1600;
    source.recordCounts = [{ flowLog: 'fl-1', logStatus: 'OK', records: 95 }];
    const again = await (await fetch(`${server.url}/metrics`)).text();
    expect(sample(again, 'flowlog_capture_packets_total{eni="eni-a"}')).toBe(1600);
    expect(sample(again, 'flowlog_records_total{flow_log="fl-1",log_status="OK"}')).toBe(95);
    expect(sample(again, 'flowlog_records_total{flow_log="fl-1",log_status="NODATA"}')).toBeUndefined();
  });

  it('renders histograms with cumulative buckets', async () => {
    const source = new FakePipelineCounters();
    source.flush = new DurationHistogram([0.01, 0.1, 1]);
    for (const s of [0.003, 0.01, 0.05, 0.05, 2]) source.flush.observe(s);
    const latency = new DurationHistogram([0.5]);
    latency.observe(0.25);
    source.sinkCounters = [{ sink: 'sls:p/s', batchesSent: 1, batchesFailed: 0, batchesRetried: 0, latency }];
    const server = await startWith(source);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    // 0.003 and 0.01 (le is inclusive) <= 0.01; + 0.05 twice <= 0.1; none more <= 1; 2 only in +Inf.
    expect(sample(text, 'flowlog_window_flush_seconds_bucket{le="0.01"}')).toBe(2);
    expect(sample(text, 'flowlog_window_flush_seconds_bucket{le="0.1"}')).toBe(4);
    expect(sample(text, 'flowlog_window_flush_seconds_bucket{le="1"}')).toBe(4);
    expect(sample(text, 'flowlog_window_flush_seconds_bucket{le="+Inf"}')).toBe(5);
    expect(sample(text, 'flowlog_window_flush_seconds_sum')).toBeCloseTo(0.003 + 0.01 + 0.05 + 0.05 + 2, 9);
    expect(sample(text, 'flowlog_window_flush_seconds_count')).toBe(5);
    expect(sample(text, 'flowlog_sink_latency_seconds_bucket{sink="sls:p/s",le="0.5"}')).toBe(1);
    expect(sample(text, 'flowlog_sink_latency_seconds_count{sink="sls:p/s"}')).toBe(1);
    expect(text).toContain('# TYPE flowlog_window_flush_seconds histogram');
  });

  it('binds where told, answers 404 and 405, and refuses a port in use', async () => {
    const source = new FakePipelineCounters();
    const server = await startWith(source);
    expect(server.address.host).toBe('127.0.0.1');
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    expect((await fetch(`${server.url}/metrics`, { method: 'POST' })).status).toBe(405);
    const taken = `127.0.0.1:${server.address.port}`;
    await expect(MetricsServer.start({ listen: taken, metrics: source, health: source })).rejects.toThrow(
      new MetricsServerError(`start metrics endpoint on ${taken}: EADDRINUSE`),
    );
  });
});

describe('MetricsServer /healthz', () => {
  const NOW = 1_714_557_600_000;
  const AFTER_SEC = 45; // delivery.unhealthyAfterSec

  it.each([
    ['nothing waiting, never delivered', undefined, undefined, 200],
    ['waiting exactly the limit', NOW - AFTER_SEC * 1000, undefined, 200],
    ['waiting the limit + 1 ms', NOW - AFTER_SEC * 1000 - 1, undefined, 503],
    ['waiting long, but delivered 10 s ago (draining)', NOW - 600_000, NOW - 10_000, 200],
    ['waiting long, last delivery 46 s ago', NOW - 600_000, NOW - 46_000, 503],
  ])('%s -> %i', async (_name, oldestPendingUnixMs, lastSuccessUnixMs, status) => {
    const source = new FakePipelineCounters();
    source.deliveries = [
      { sink: 'sls:proj/store', windowSec: 60, oldestPendingUnixMs, lastSuccessUnixMs, unhealthyAfterSec: AFTER_SEC },
    ];
    const server = await startWith(source, () => NOW);
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as { status: string; problems: { kind: string; sink?: string; message: string }[] };
    if (status === 200) {
      expect(body).toEqual({ status: 'ok', problems: [], checkedAtUnixMs: NOW });
    } else {
      expect(body.status).toBe('unhealthy');
      expect(body.problems).toHaveLength(1);
      expect(body.problems[0]).toMatchObject({ code: 'sink_failing', kind: 'sink', sink: 'sls:proj/store' });
      expect(body.problems[0].message).toContain('sink sls:proj/store has not delivered for');
      expect(body.problems[0].message).toContain('delivery.unhealthyAfterSec, 45 s');
    }
  });

  it('names a capture device that is down, and recovers', async () => {
    const source = new FakePipelineCounters();
    source.deviceStates = [
      { eni: 'eni-a', device: 'eth1', up: true },
      { eni: 'eni-b', device: 'eth2', up: false, reason: 'interface vanished' },
    ];
    const server = await startWith(source);
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { problems: unknown[] };
    expect(body.problems).toEqual([
      {
        code: 'capture_device_down',
        kind: 'capture',
        eni: 'eni-b',
        device: 'eth2',
        message: 'capture device eth2 of eni-b is down: interface vanished',
      },
    ]);
    source.deviceStates[1].up = true;
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('reports each blind state once it has lasted the grace, and a spool that evicts', async () => {
    const source = new FakePipelineCounters();
    source.blind = [
      {
        code: 'eni_device_missing',
        subject: 'eni-typo',
        message: 'ENI eni-typo is not captured: interface eht1 not present',
        sinceUnixMs: NOW - BLIND_GRACE_MS,
      },
      {
        code: 'discovery_failed',
        subject: 'ecs-metadata',
        message: 'ENI discovery through http://100.100.100.200 fails: ECONNREFUSED',
        sinceUnixMs: NOW - 60_000,
      },
      {
        code: 'flow_log_no_eni',
        subject: 'fl-1',
        message: 'flow log fl-1 (vpc vpc-1) matches no ENI',
        sinceUnixMs: NOW - 20_000,
      },
      {
        code: 'discovery_no_eni',
        subject: 'ecs-metadata',
        message: 'finds no ENI',
        sinceUnixMs: NOW - BLIND_GRACE_MS + 1,
      }, // not yet
    ];
    source.deliveries = [
      { sink: 'sls:p/s', windowSec: 5, spoolEvictingSinceUnixMs: NOW - 7000, spoolEvictedRecords: 3000 },
    ];
    const server = await startWith(source, () => NOW);
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { problems: Array<{ code: string; message: string }> };
    expect(body.problems.map((p) => p.code)).toEqual([
      'spool_evicting',
      'eni_device_missing',
      'discovery_failed',
      'flow_log_no_eni',
    ]);
    expect(body.problems[0].message).toBe(
      'spool of sink sls:p/s is full (delivery.spoolMaxBytes) and evicting its oldest batches since 7 s: 3000 records lost so far, SKIPDATA written for them',
    );
    expect(body.problems[1]).toMatchObject({
      kind: 'eni',
      eni: 'eni-typo',
      message: 'ENI eni-typo is not captured: interface eht1 not present (for 10 s)',
    });
    for (const p of body.problems) expect(Object.keys(HEALTH_PROBLEM_CODES)).toContain(p.code);
  });
});

describe('the daemon endpoint off loopback', () => {
  it('warns once, naming what it exposes, when it listens beyond loopback (metrics.allowNonLoopback)', async () => {
    const { logger, lines } = captureLogger();
    const endpoint = new MetricsEndpoint(new FakePipelineCounters(), logger);
    await endpoint.start('0.0.0.0:0');
    await endpoint.close();
    await endpoint.start('127.0.0.1:0');
    await endpoint.close();
    const warnings = lines.filter((l) => l.level === 'warn');
    expect(warnings.map((l) => l.msg)).toEqual([
      expect.stringMatching(
        /^metrics endpoint on 0\.0\.0\.0:0, not loopback \(metrics\.allowNonLoopback\): it has no authentication/,
      ),
    ]);
  });
});
