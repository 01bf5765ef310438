/**
 * The daemon's blind states as health sees them: each condition holds its first time while it
 * lasts (so the grace counts from when blindness began), is dropped as soon as it ends, and the
 * conditions say which ENI, which flow log, which discovery.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load';
import { BlindSpots } from '../../src/daemon/blind-spots';
import { evaluateHealth } from '../../src/metrics/health-report';

const config = (discovery: string, enis: string) =>
  parseConfig(
    [
      'region: cn-hangzhou',
      'accountId: "1234567890123456"',
      `discovery: ${discovery}`,
      `enis: ${enis}`,
      'flowLogs:',
      '  - { id: fl-vpc, resourceType: vpc, resourceId: vpc-1, sink: { type: stdout } }',
      '  - { id: fl-eni, resourceType: eni, resourceId: eni-z, sink: { type: stdout } }',
      '',
    ].join('\n'),
    '/cfg/agent.yaml',
  ).config;

const discoveredEni = {
  id: 'eni-d',
  mac: '02:00:00:00:00:0d',
  ips: ['10.0.0.9'],
  vpcId: 'vpc-1',
  vswitchId: 'vsw-1',
  vmId: 'i-1',
};
const health = (b: BlindSpots, nowMs: number) =>
  evaluateHealth(
    { sinkDeliveries: () => [], captureDeviceStates: () => [], blindConditions: () => b.conditions() },
    nowMs,
  );

describe('blind spots', () => {
  it('names a mistyped interface, and the flow log that matches no ENI, from their first sighting', () => {
    const c = config('{ type: static }', '[{ id: eni-a, interface: eht0, vpcId: vpc-1, vswitchId: vsw-1, vmId: i-1 }]');
    const b = new BlindSpots();
    b.resolved(c, [{ id: 'eni-a', reason: 'interface eht0 not present', eni: c.enis[0] }], [], 1_000);
    b.resolved(c, [{ id: 'eni-a', reason: 'interface eht0 not present', eni: c.enis[0] }], [], 6_000);
    expect(b.conditions().map((x) => [x.code, x.subject, x.sinceUnixMs])).toEqual([
      ['eni_device_missing', 'eni-a', 1_000],
      ['flow_log_no_eni', 'fl-eni', 1_000],
    ]);
    expect(health(b, 10_999).status).toBe('ok'); // within the grace
    const report = health(b, 11_000);
    expect(report.problems.map((p) => [p.code, p.message])).toEqual([
      ['eni_device_missing', 'ENI eni-a is not captured: interface eht0 not present (for 10 s)'],
      [
        'flow_log_no_eni',
        'flow log fl-eni (eni eni-z) matches no ENI, configured or discovered: it records nothing (for 10 s)',
      ],
    ]);
    // The device appears: that condition ends at once; a later absence starts a new grace.
    b.resolved(c, [], [], 12_000);
    expect(b.conditions().map((x) => x.code)).toEqual(['flow_log_no_eni']);
    b.resolved(c, [{ id: 'eni-a', reason: 'interface eht0 not present', eni: c.enis[0] }], [], 13_000);
    expect(b.conditions().find((x) => x.code === 'eni_device_missing')?.sinceUnixMs).toBe(13_000);
  });

  it('tells a failing metadata service from one that finds no ENI, and clears both when ENIs come', () => {
    const c = config('{ type: ecs-metadata, metadataUrl: "http://127.0.0.1:1" }', '[]');
    const b = new BlindSpots();
    b.metadataRead('connect ECONNREFUSED 127.0.0.1:1');
    b.resolved(c, [], [], 0);
    expect(b.conditions().map((x) => [x.code, x.subject])).toEqual([
      ['discovery_failed', 'ecs-metadata'],
      ['flow_log_no_eni', 'fl-vpc'],
      ['flow_log_no_eni', 'fl-eni'],
    ]);
    expect(b.conditions()[0].message).toBe(
      'ENI discovery through http://127.0.0.1:1 fails: connect ECONNREFUSED 127.0.0.1:1',
    );
    // It answers now, with no ENI: still blind since 0 (the grace does not start again).
    b.metadataRead(null);
    b.resolved(c, [], [], 5_000);
    expect(b.conditions().map((x) => [x.code, x.sinceUnixMs])).toEqual([
      ['discovery_no_eni', 0],
      ['flow_log_no_eni', 0],
      ['flow_log_no_eni', 0],
    ]);
    b.resolved(c, [], [discoveredEni], 6_000);
    expect(b.conditions().map((x) => [x.code, x.subject])).toEqual([['flow_log_no_eni', 'fl-eni']]);
  });
});
