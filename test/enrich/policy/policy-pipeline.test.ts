import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { POLICY_SCENARIO, POLICY_SCENARIO_ENI, writeScenarioPcap } from '../../helpers/policy-pcap';
import { replayToRecords, scratchDir, writeConfig } from '../../helpers/replay-run';

// Replays the scenario through the real pipeline (decode, inventory, evaluator, flow table,
// record builder) and checks `action`, packet and byte counts against sums over the packet list.

const dir = scratchDir('policy-pipeline');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const START = 1_700_000_040; // a multiple of 60: every packet falls in one 1-minute window
const pcap = join(dir, 'scenario.pcap');
const l3 = writeScenarioPcap(pcap, START, POLICY_SCENARIO);

const config = (trafficType: string) => `region: cn-hangzhou
accountId: "1234567890123456"
enis:
${POLICY_SCENARIO_ENI}flowLogs:
  - {id: fl-1, resourceType: eni, resourceId: eni-a, trafficType: ${trafficType}, aggregationInterval: 1, sink: {type: stdout}}
`;

/** Expected record per unidirectional flow, summed from the scenario itself. */
function expected(filter: (action: string) => boolean) {
  const flows = new Map<
    string,
    {
      srcaddr: string;
      srcport: string;
      dstaddr: string;
      dstport: string;
      direction: string;
      action: string;
      packets: number;
      bytes: number;
    }
  >();
  POLICY_SCENARIO.forEach((p, i) => {
    const key = `${p.src}:${p.sport}>${p.dst}:${p.dport}`;
    const direction = p.src === '10.0.0.5' ? 'out' : 'in';
    const action = p.dport === 23 ? 'REJECT' : 'ACCEPT';
    const f = flows.get(key) ?? {
      srcaddr: p.src,
      srcport: String(p.sport),
      dstaddr: p.dst,
      dstport: String(p.dport),
      direction,
      action,
      packets: 0,
      bytes: 0,
    };
    f.packets += 1;
    f.bytes += l3[i];
    flows.set(key, f);
  });
  return [...flows.values()]
    .filter((f) => filter(f.action))
    .map((f) => ({ ...f, packets: String(f.packets), bytes: String(f.bytes) }));
}

const pick = (r: Record<string, string>) => ({
  srcaddr: r.srcaddr,
  srcport: r.srcport,
  dstaddr: r.dstaddr,
  dstport: r.dstport,
  direction: r.direction,
  action: r.action,
  packets: r.packets,
  bytes: r.bytes,
});
const order = (a: { srcport: string; dstport: string }, b: { srcport: string; dstport: string }) =>
  `${a.srcport}/${a.dstport}`.localeCompare(`${b.srcport}/${b.dstport}`);

describe('security groups in the replay pipeline', () => {
  it.each([
    ['all', () => true],
    ['reject', (a: string) => a === 'REJECT'],
    ['accept', (a: string) => a === 'ACCEPT'],
  ] as const)('trafficType %s writes the flows the rules give that action', async (trafficType, filter) => {
    const { code, records, stderr } = await replayToRecords(
      [pcap],
      writeConfig(dir, config(trafficType), `${trafficType}.yaml`),
      dir,
    );
    expect(stderr).not.toMatch(/error/i);
    expect(code).toBe(0);
    expect(records.map(pick).sort(order)).toEqual(expected(filter).sort(order));
  });

  it('the REJECT flow is the retried SYNs to port 23: 4 packets of 40 bytes', () => {
    // 20 bytes of IPv4 header + 20 of TCP, no payload, 4 transmissions: independent of the code.
    expect(expected((a) => a === 'REJECT')).toEqual([
      {
        srcaddr: '10.9.9.9',
        srcport: '51001',
        dstaddr: '10.0.0.5',
        dstport: '23',
        direction: 'in',
        action: 'REJECT',
        packets: '4',
        bytes: '160',
      },
    ]);
  });
});
