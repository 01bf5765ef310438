/**
 * Health under each blind state, on a running daemon in its own network namespace: an ENI whose
 * `interface:` is mistyped, and the shipped configuration (packaging/agent.yaml: ECS-metadata
 * discovery) on a host without the metadata service. `validate` accepts both (as it should: the
 * host decides), but /healthz must answer 503 naming the cause within seconds, and `status` must
 * exit 1 with the reason, while the agent captures nothing. A device that appears ends it.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HealthReport } from '../../src/metrics/health-report';
import { bundleDaemon, sleep, writeDaemonConfig, type DaemonProcess } from '../helpers/daemon-process';
import { httpGetInNamespace, startDaemonWithSinks } from '../helpers/daemon-scrape';
import { NetnsLab } from '../helpers/netns';
import { tempDirForFile } from '../helpers/temp-dir';

const REPO = resolve(__dirname, '..', '..');
const BIN = join(REPO, 'bin', 'flowlog-agent');
const canRun = NetnsLab.available();

/** Polls /healthz in `ns` until it is unhealthy (or `timeoutMs` passes); returns the last report and when. */
async function untilUnhealthy(
  lab: NetnsLab,
  ns: string,
  base: string,
  timeoutMs: number,
): Promise<{ status: number; report: HealthReport; afterMs: number }> {
  const t0 = Date.now();
  for (;;) {
    const res = httpGetInNamespace(lab, ns, `${base}/healthz`);
    if (res.status === 503 || Date.now() - t0 > timeoutMs)
      return { status: res.status, report: JSON.parse(res.body) as HealthReport, afterMs: Date.now() - t0 };
    await sleep(500);
  }
}

/** `flowlog-agent status -c config` run inside `ns` (the agent's loopback is the namespace's). */
function statusIn(lab: NetnsLab, ns: string, config: string): { code: number | null; out: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, BIN, 'status', '-c', config], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

describe.skipIf(!canRun)('health when the daemon is blind', () => {
  const dir = tempDirForFile('daemon-health');
  const lab = new NetnsLab('flhe');
  const daemons: DaemonProcess[] = [];
  let bundle = '';

  beforeAll(() => {
    bundle = bundleDaemon(dir);
  });
  afterAll(async () => {
    for (const d of daemons) await d.stop('SIGKILL');
    lab.remove();
  });

  it('names a mistyped interface within seconds, status exits 1 with it, and the device appearing heals it', async () => {
    const ns = lab.namespace('typo');
    const sub = join(dir, 'typo');
    mkdirSync(sub, { recursive: true });
    const config = writeDaemonConfig(sub, [
      'discovery: { type: static, refreshIntervalSec: 1 }',
      'metrics: { listen: "127.0.0.1:9465" }',
      'enis:',
      '  - { id: eni-typo0, interface: flhe0x, vpcId: vpc-h, vswitchId: vsw-h, vmId: i-h }',
      'flowLogs:',
      `  - { id: fl-h, resourceType: eni, resourceId: eni-typo0, aggregationInterval: "5s", sink: { type: file, path: ${join(sub, 'records.jsonl')} } }`,
    ]);
    expect(spawnSync(BIN, ['validate', '-c', config], { encoding: 'utf8' }).status).toBe(0);
    const d = startDaemonWithSinks(lab, ns, bundle, config);
    daemons.push(d);
    await d.waitForLog('daemon started', 15_000);
    const { status, report, afterMs } = await untilUnhealthy(lab, ns, 'http://127.0.0.1:9465', 20_000);
    expect(status).toBe(503);
    expect(afterMs).toBeLessThan(15_000);
    expect(report.problems).toEqual([
      expect.objectContaining({ code: 'eni_device_missing', kind: 'eni', eni: 'eni-typo0' }),
    ]);
    expect(report.problems[0].message).toMatch(
      /^ENI eni-typo0 is not captured: interface flhe0x not present \(for \d+ s\)$/,
    );
    const st = statusIn(lab, ns, config);
    expect(st.code).toBe(1);
    expect(st.out).toMatch(
      /UNHEALTHY\n {2}problem eni_device_missing: ENI eni-typo0 is not captured: interface flhe0x not present/,
    );

    // The device appears: captured within the refresh, healthy again.
    lab.veth(ns, 'flhe0x', '10.207.1.1/24', lab.namespace('peer'), 'flhep0', '10.207.1.2/24');
    const deadline = Date.now() + 10_000;
    let res = httpGetInNamespace(lab, ns, 'http://127.0.0.1:9465/healthz');
    while (res.status !== 200 && Date.now() < deadline) {
      await sleep(500);
      res = httpGetInNamespace(lab, ns, 'http://127.0.0.1:9465/healthz');
    }
    expect([res.status, res.body]).toEqual([200, expect.stringContaining('"problems":[]')]);
    expect(statusIn(lab, ns, config).code).toBe(0);
    expect(await d.stop('SIGTERM')).toBe(0);
  }, 60_000);

  it('on an ECS-metadata configuration without a metadata service: discovery fails and the flow log matches no ENI', async () => {
    const ns = lab.namespace('meta');
    const sub = join(dir, 'meta');
    // What the package shipped before it named no ENI (issue 31's probe): ENIs from the ECS
    // metadata service, which a hypervisor (and this namespace) does not have.
    const config = join(dir, 'metadata.yaml');
    writeFileSync(
      config,
      [
        'region: cn-hangzhou',
        'accountId: "1234567890123456"',
        'discovery: { type: ecs-metadata }',
        'flowLogs:',
        '  - { id: fl-example, resourceType: vpc, resourceId: vpc-bp1example, aggregationInterval: 10,',
        `      sink: { type: file, path: ${join(sub, 'state', 'flowlog.jsonl')} } }`,
        `stateDir: ${join(sub, 'state')}`,
        'metrics: { listen: "127.0.0.1:9465" }',
        '',
      ].join('\n'),
    );
    const validate = spawnSync(BIN, ['validate', '-c', config], { encoding: 'utf8' });
    expect(validate.status).toBe(0);
    const d = startDaemonWithSinks(lab, ns, bundle, config);
    daemons.push(d);
    await d.waitForLog('daemon started', 20_000);
    const { status, report, afterMs } = await untilUnhealthy(lab, ns, 'http://127.0.0.1:9465', 25_000);
    expect(status).toBe(503);
    expect(afterMs).toBeLessThan(20_000);
    const codes = report.problems.map((p) => p.code).sort();
    expect(codes).toEqual(['discovery_failed', 'flow_log_no_eni']);
    expect(report.problems.find((p) => p.code === 'discovery_failed')?.message).toMatch(
      /^ENI discovery through http:\/\/100\.100\.100\.200 fails: /,
    );
    expect(report.problems.find((p) => p.code === 'flow_log_no_eni')).toMatchObject({ flowLog: 'fl-example' });
    const st = statusIn(lab, ns, config);
    expect(st.code).toBe(1);
    expect(st.out).toContain('problem discovery_failed: ENI discovery through http://100.100.100.200 fails');
    expect(st.out).toContain('problem flow_log_no_eni: flow log fl-example (vpc vpc-bp1example) matches no ENI');
    expect(await d.stop('SIGTERM')).toBe(0);
  }, 60_000);
});
