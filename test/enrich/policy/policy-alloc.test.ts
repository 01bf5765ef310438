import { PerformanceObserver } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import type { EniConfig } from '../../../src/config/types';
import { PacketView } from '../../../src/packet/decode/packet-view';
import { fillView, parseFlowSpec } from '../../../src/enrich/policy/flow-spec';
import { PolicyEvaluator } from '../../../src/enrich/policy/policy-evaluator';

/** Scavenges (minor GCs) during `work`; an allocation per call shows up as several of them. */
async function minorGcsDuring(work: () => void): Promise<number> {
  let minor = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if ((entry as unknown as { detail?: { kind?: number } }).detail?.kind === 1) minor++;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  work();
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  return minor;
}

describe('policy packet path allocation', () => {
  it('six million decisions (new connections, cached ones, rotations) without a minor GC', async () => {
    const eni: EniConfig = {
      id: 'eni-a',
      ips: ['10.0.0.5'],
      vpcId: 'vpc-1',
      vswitchId: 'vsw-1',
      vmId: 'i-1',
      securityGroups: [
        {
          id: 'sg-1',
          defaultIngress: 'drop',
          defaultEgress: 'accept',
          rules: [
            {
              priority: 1,
              direction: 'ingress',
              protocol: 'tcp',
              portRange: '22/22',
              cidr: '0.0.0.0/0',
              policy: 'accept',
            },
            {
              priority: 2,
              direction: 'ingress',
              protocol: 'udp',
              portRange: '1000/2000',
              cidr: '10.0.0.0/8',
              policy: 'drop',
            },
          ],
        },
      ],
    };
    const acl = {
      vswitchId: 'vsw-1',
      ingress: [{ protocol: 'all' as const, portRange: '-1/-1', cidr: '0.0.0.0/0', policy: 'accept' as const }],
      egress: [],
    };
    const evaluator = new PolicyEvaluator([eni], [acl], { connectionCapacity: 4096 });
    const view = fillView(new PacketView(), parseFlowSpec('tcp 10.9.9.9:1 > 10.0.0.5:22 in'), 1_700_000_000);
    let rejects = 0;
    const run = () => {
      for (let i = 0; i < 2_000_000; i++) {
        view.srcPort = 1024 + (i % 20_000); // 20,000 connections: rotations of the 4,096-entry generations
        view.protocol = (i & 1) === 0 ? 6 : 17;
        view.dstPort = (i & 2) === 0 ? 22 : 1500;
        view.tsSec = 1_700_000_000 + (i >>> 12);
        if (evaluator.rejects(view, 0, false)) rejects++;
      }
    };
    run(); // warm up (JIT, lazy allocations, a re-optimisation)
    run();
    rejects = 0;
    // Six million decisions: one 16-byte allocation each would be 96 MB of garbage, six or more
    // scavenges; up to two are allowed for whatever else the test process does meanwhile.
    // On a loaded machine the optimised code can arrive late (baseline code boxes numbers), so
    // the measurement is tried up to three times; an allocation per decision fails every try.
    const tries: number[] = [];
    for (let t = 0; t < 3 && (tries.length === 0 || tries[tries.length - 1] > 2); t++) {
      rejects = 0;
      tries.push(await minorGcsDuring(() => [1, 2, 3].forEach(run)));
    }
    if (process.env.FLOWLOG_SHOW_GC) console.log('minor GCs per try', tries);
    expect(Math.min(...tries)).toBeLessThanOrEqual(2);
    // tcp/22 accepted, tcp/1500 default drop, udp/22 default drop, udp/1500 drop rule: 3 of 4.
    expect(rejects).toBe(3 * 1_500_000);
  });
});
