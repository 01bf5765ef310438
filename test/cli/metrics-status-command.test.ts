import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runStatus } from '../../src/cli/status-command';
import { MetricsServer } from '../../src/metrics/metrics-server';
import { FakePipelineCounters } from '../helpers/fake-metrics-source';
import { DurationHistogram } from '../../src/metrics/duration-histogram';

const dir = mkdtempSync(join(tmpdir(), 'flowlog-status-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

class Capture {
  text = '';
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

function writeConfig(name: string, listen: string): string {
  const file = join(dir, name);
  writeFileSync(
    file,
    `region: cn-hangzhou
accountId: "1234567890123456"
stateDir: ${join(dir, 'state')}
enis:
  - id: eni-a
    ips: [10.0.0.5]
    vpcId: vpc-1
    vswitchId: vsw-1
    vmId: i-1
flowLogs:
  - id: fl-1
    resourceType: eni
    resourceId: eni-a
    sink: {type: file, path: ${join(dir, 'fl-1.jsonl')}}
  - id: fl-2
    resourceType: eni
    resourceId: eni-a
    sink: {type: stdout}
metrics:
  listen: "${listen}"
`,
  );
  return file;
}

async function status(configPath: string, lines?: number) {
  const out = new Capture();
  const err = new Capture();
  const code = await runStatus({ configPath, lines, timeoutMs: 2000 }, out, err);
  return { code, out: out.text, err: err.text };
}

describe('status of a running agent', () => {
  it('shows health and the main counters', async () => {
    const source = new FakePipelineCounters();
    source.devices = [{ eni: 'eni-a', packets: 12345, bytes: 1, kernelDrops: 7, interfaceDrops: 0 }];
    source.recordCounts = [{ flowLog: 'fl-1', logStatus: 'OK', records: 90 }];
    source.sinkCounters = [
      {
        sink: 'file:x',
        batchesSent: 12,
        batchesFailed: 1,
        batchesRetried: 5,
        latency: new DurationHistogram(),
        lastSuccessUnixMs: 1_714_557_660_000,
      },
    ];
    source.spoolUsage = [{ flowLog: 'fl-1', segments: 2, bytes: 2048, memorySegments: 0, droppedRecords: 0 }];
    const server = await MetricsServer.start({ listen: '127.0.0.1:0', metrics: source, health: source });
    try {
      const config = writeConfig('running.yaml', `127.0.0.1:${server.address.port}`);
      const healthy = await status(config);
      expect(healthy.code).toBe(0);
      expect(healthy.out).toContain(`agent: running on http://127.0.0.1:${server.address.port}: healthy\n`);
      const row = (first: string) =>
        healthy.out
          .split('\n')
          .find((l) => l.startsWith(first + ' '))
          ?.split(/\s{2,}/);
      expect(row('eni-a')).toEqual(['eni-a', '12,345', '7', '0']);
      expect(row('file:x')).toEqual(['file:x', '12', '1', '5', '2024-05-01 10:01:00']);
      expect(healthy.out).toMatch(/^fl-1\s+OK\s+90$/m);
      expect(healthy.out).toMatch(/^fl-1\s+2\s+2,048$/m);

      source.deviceStates = [{ eni: 'eni-a', device: 'eth1', up: false, reason: 'no such device' }];
      const sick = await status(config);
      expect(sick.code).toBe(1);
      expect(sick.out).toContain(
        'UNHEALTHY\n  problem capture_device_down: capture device eth1 of eni-a is down: no such device\n',
      );
    } finally {
      await server.close();
    }
  });
});

describe('status of a stopped agent', () => {
  it('summarises the spool and the last records of file sinks', async () => {
    // A port that was just free: nothing listens there now.
    const probe = await MetricsServer.start({
      listen: '127.0.0.1:0',
      metrics: new FakePipelineCounters(),
      health: new FakePipelineCounters(),
    });
    const port = probe.address.port;
    await probe.close();

    const spool = join(dir, 'state', 'spool', 'fl-1');
    mkdirSync(join(spool, 'corrupt'), { recursive: true });
    writeFileSync(join(spool, '00000000000000000041.seg'), Buffer.alloc(100));
    writeFileSync(join(spool, '00000000000000000042.seg'), Buffer.alloc(250));
    writeFileSync(join(spool, 'tmp-00000000000000000043-99.part'), Buffer.alloc(1000)); // not committed: not counted
    writeFileSync(join(spool, 'lock'), '99\n');
    writeFileSync(join(spool, 'corrupt', '00000000000000000017.seg.1'), 'x');
    copyFileSync(join(__dirname, '..', 'fixtures', 'query', 'records-a.jsonl'), join(dir, 'fl-1.jsonl'));

    const r = await status(writeConfig('stopped.yaml', `127.0.0.1:${port}`), 2);
    expect(r.code).toBe(3);
    expect(r.out).toContain(`agent: not answering on http://127.0.0.1:${port} (ECONNREFUSED)\n`);
    // 2 segments, 100 + 250 = 350 bytes; fl-2 has never spooled.
    expect(r.out).toMatch(/^fl-1\s+2\s+350\s+1 file in corrupt\/$/m);
    expect(r.out).toMatch(/^fl-2\s+0\s+0\s+no spool directory$/m);
    // The last two lines of records-a.jsonl, newest (last) first: a7 (srcport 5353) then a6 (44321).
    expect(r.out).toContain(`last 2 records of fl-1 (${join(dir, 'fl-1.jsonl')})\n`);
    const rows = r.out.split('\n').filter((l) => l.startsWith('2024-05-01'));
    expect(rows.map((l) => l.split(/\s{2,}/)[5])).toEqual(['5353', '44321']);
  });

  it('says so when the endpoint is disabled, and exits 2 on a bad config', async () => {
    const r = await status(writeConfig('disabled.yaml', ''));
    expect(r.code).toBe(3);
    expect(r.out).toContain('metrics endpoint disabled');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'region: [\n');
    const b = await status(bad);
    expect(b.code).toBe(2);
    expect(b.err).toContain(bad);
  });
});
