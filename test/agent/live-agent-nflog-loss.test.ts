import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load';
import { EniSlots } from '../../src/daemon/eni-slots';
import { LiveAgent } from '../../src/agent/live-agent';
import type { NflogDrops } from '../../src/daemon/nflog-set';
import type { RecordBatch } from '../../src/flow/record';
import { BASE_CONFIG, edit } from '../helpers/config-text';

// Two ENIs in one VPC, covered by one flow log of 1-minute windows.
const CONFIG = edit(
  edit(
    BASE_CONFIG,
    'flowLogs:',
    '  - id: eni-b\n    ips: [10.0.0.2]\n    vpcId: vpc-1\n    vswitchId: vsw-1\n    vmId: i-2\nflowLogs:',
  ),
  '    resourceType: eni\n    resourceId: eni-a\n',
  '    resourceType: vpc\n    resourceId: vpc-1\n    aggregationInterval: 1\n',
);

/**
 * NFLOG drops (netlink overflows) must never vanish: they mark the windows SKIPDATA, on the
 * group's ENI when it has one, on every ENI when the group logs for any.
 */
describe('LiveAgent.collectNflogLoss', () => {
  it('turns the drops of each group into SKIPDATA on its ENI, or on every ENI for an untied group', async () => {
    const { config } = parseConfig(CONFIG, '/cfg/nflog-loss.yaml');
    const batches: RecordBatch[] = [];
    const startSec = 1_700_000_040; // inside the minute 1_700_000_040 .. 1_700_000_100
    const slots = new EniSlots();
    slots.apply(
      { enis: config.enis.map((eni, i) => ({ eni, device: `veth-${i}`, shared: false })), unresolved: [] },
      startSec,
    );
    const gen = new LiveAgent(config, slots, { submit: (b) => batches.push(b) }, startSec, 256);
    const drops: NflogDrops[][] = [
      [
        { group: 5, eniId: 'eni-a', dropped: 3 },
        { group: 6, dropped: 2 },
        { group: 7, eniId: 'eni-z', dropped: 9 }, // an ENI without an index (not captured)
      ],
      [{ group: 5, eniId: 'eni-a', dropped: 4 }],
    ];
    const taken = drops.map((d) => gen.collectNflogLoss({ takeDrops: () => d }, slots));
    expect(taken).toEqual([14, 4]);
    gen.finish(startSec + 10);
    await gen.drained();
    const status = batches.flatMap((b) => b.records).map((r) => [r['eni-id'], r['log-status'], r.packets]);
    expect(status).toEqual([
      ['eni-a', 'SKIPDATA', String(3 + 2 + 4)],
      ['eni-b', 'SKIPDATA', '2'],
    ]);
  });
});
