/** Resolving configured ENIs to host devices, with MAC and addresses defaulting to the device's. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EniConfig, FlowLogConfig } from '../../src/config/types';
import { listHostInterfaces, resolveLiveEnis } from '../../src/enrich/eni-discovery';
import { tempDirForFile } from '../helpers/temp-dir';

const eni = (over: Partial<EniConfig>): EniConfig => ({
  id: 'eni-x',
  ips: [],
  cidrs: [],
  vpcId: 'vpc-1',
  vswitchId: 'vsw-1',
  vmId: 'i-1',
  ...over,
});
const byVpc = [{ id: 'fl-1', resourceType: 'vpc', resourceId: 'vpc-1' } as FlowLogConfig];

describe('ENI resolution', () => {
  it('lists host devices from sysfs without loopback', () => {
    const dir = tempDirForFile('sysfs');
    for (const [name, mac] of [
      ['lo', '00:00:00:00:00:00'],
      ['eth0', '00:16:3E:AA:00:01'],
      ['eth1', '00:16:3e:aa:00:02'],
    ]) {
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, 'address'), mac + '\n');
    }
    const hosts = listHostInterfaces(dir, (n) => (n === 'eth0' ? ['10.0.0.5', 'fe80::1'] : []));
    expect(hosts).toEqual([
      { name: 'eth0', mac: '00:16:3e:aa:00:01', addresses: ['10.0.0.5', 'fe80::1'] },
      { name: 'eth1', mac: '00:16:3e:aa:00:02', addresses: [] },
    ]);
  });

  const hosts = [
    { name: 'eth0', mac: '00:16:3e:aa:00:01', addresses: ['10.0.0.5', 'fe80::1'] },
    { name: 'eth1', mac: '00:16:3e:aa:00:02', addresses: ['10.0.1.5'] },
  ];
  it.each([
    {
      name: 'by interface: MAC and addresses from the device',
      config: [eni({ id: 'eni-a', interface: 'eth0' })],
      want: [
        {
          device: 'eth0',
          id: 'eni-a',
          mac: '00:16:3e:aa:00:01',
          ips: ['10.0.0.5', 'fe80::1'],
          cidrs: ['10.0.0.5/32', 'fe80::1/128'],
        },
      ],
      unresolved: [],
    },
    {
      name: 'by MAC: configured addresses kept',
      config: [eni({ id: 'eni-b', mac: '00:16:3e:aa:00:02', ips: ['10.0.1.0/24'], cidrs: ['10.0.1.0/24'] })],
      want: [{ device: 'eth1', id: 'eni-b', mac: '00:16:3e:aa:00:02', ips: ['10.0.1.0/24'], cidrs: ['10.0.1.0/24'] }],
      unresolved: [],
    },
    {
      name: 'absent device reported; uncovered ENI ignored',
      config: [eni({ id: 'eni-c', interface: 'eth9' }), eni({ id: 'eni-d', interface: 'eth1', vpcId: 'vpc-other' })],
      want: [],
      unresolved: [{ id: 'eni-c', reason: 'interface eth9 not present' }],
    },
  ])('$name', ({ config, want, unresolved }) => {
    const r = resolveLiveEnis(config, [], byVpc, hosts);
    expect(
      r.enis.map((l) => ({ device: l.device, id: l.eni.id, mac: l.eni.mac, ips: l.eni.ips, cidrs: l.eni.cidrs })),
    ).toEqual(want);
    expect(r.unresolved.map(({ id, reason }) => ({ id, reason }))).toEqual(unresolved);
  });

  it('keeps a configured ENI over a discovered one with the same MAC', () => {
    const r = resolveLiveEnis(
      [eni({ id: 'eni-conf', interface: 'eth0', mac: '00:16:3e:aa:00:01' })],
      [eni({ id: 'eni-disc', mac: '00:16:3e:aa:00:01' })],
      byVpc,
      hosts,
    );
    expect(r.enis.map((l) => l.eni.id)).toEqual(['eni-conf']);
  });
});
