import { it } from 'vitest';
import { tsharkPackets } from './helpers/tshark-oracle';
import { replayToRecords, scratchDir, writeConfig } from './helpers/replay-run';
it('debug', async () => {
  const dir = scratchDir('dbg');
  const config = writeConfig(dir, `region: cn-hangzhou
accountId: "1234567890123456"
stateDir: ${dir}/state
enis:
  - { id: eni-all, ips: ["0.0.0.0/0", "::/0"], vpcId: vpc-1, vswitchId: vsw-1, vmId: i-1 }
flowLogs:
  - { id: fl-all, resourceType: eni, resourceId: eni-all, aggregationInterval: 1, sink: { type: stdout } }
`);
  for (const f of (process.env.FILES ?? '').split(',')) {
    const path = '/work/shared/corpus/tcpdump-tests/' + f;
    const { records, summary } = await replayToRecords([path], config, dir, 0);
    const pk = await tsharkPackets(path);
    console.log('=== ' + f, JSON.stringify(summary?.malformed), 'notIp', summary?.notIp);
    for (const p of pk.slice(0, 4)) console.log('T', p.timeSec, p.src, p.srcPort, p.dst, p.dstPort, p.protocol, p.bytes);
    for (const r of records.filter((r) => r.direction !== 'in').slice(0, 4)) console.log('A', r.start, r.srcaddr, r.srcport, r.dstaddr, r.dstport, r.protocol, r.packets, r.bytes, r['log-status']);
  }
});
