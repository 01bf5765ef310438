import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load';
import { BASE_CONFIG, edit, lineOf, problemsOf } from '../../helpers/config-text';

const withEniKeys = (yaml: string) => edit(BASE_CONFIG, '    vmId: i-1\n', `    vmId: i-1\n${yaml}`);

const SG = `    securityGroups:
      - id: sg-1
        rules:
          - {direction: ingress, protocol: tcp, portRange: "22/22", cidr: 10.9.0.0/16}
          - {priority: 100, direction: egress, protocol: all, cidr: "::/0", policy: drop}
`;

describe('policy configuration', () => {
  it('fills defaults: priority 1, all ports, accept; ingress drop, egress accept; no ACLs, no NFLOG', () => {
    const { config } = parseConfig(withEniKeys(SG), '/cfg/a.yaml');
    expect(config.enis[0].securityGroups).toEqual([
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
            cidr: '10.9.0.0/16',
            policy: 'accept',
          },
          { priority: 100, direction: 'egress', protocol: 'all', portRange: '-1/-1', cidr: '::/0', policy: 'drop' },
        ],
      },
    ]);
    expect(config.enis[0].nflogGroups).toEqual([]);
    expect(config.networkAcls).toEqual([]);
    expect(config.nflog).toEqual({ groups: [] });
  });

  it('reads network ACLs and NFLOG groups', () => {
    const text =
      withEniKeys('    nflogGroups: [3]\n') +
      'networkAcls:\n  - vswitchId: vsw-1\n    ingress:\n      - {protocol: udp, portRange: "53", cidr: 0.0.0.0/0, policy: accept}\n' +
      'nflog:\n  groups: [{group: 5, eni: eni-a}, {group: 6}]\n';
    const { config } = parseConfig(text, '/cfg/a.yaml');
    expect(config.networkAcls).toEqual([
      {
        vswitchId: 'vsw-1',
        ingress: [{ protocol: 'udp', portRange: '53', cidr: '0.0.0.0/0', policy: 'accept' }],
        egress: [],
      },
    ]);
    expect(config.nflog).toEqual({ groups: [{ group: 5, eni: 'eni-a' }, { group: 6 }] });
    expect(config.enis[0].nflogGroups).toEqual([3]);
  });

  const rule = (fields: string) =>
    withEniKeys(`    securityGroups:\n      - id: sg-1\n        rules:\n          - {${fields}}\n`);
  it.each([
    {
      name: 'priority out of range',
      text: rule('priority: 0, direction: ingress, protocol: tcp, portRange: "22/22", cidr: 0.0.0.0/0'),
      path: 'enis[0].securityGroups[0].rules[0].priority',
      message: 'must be at least 1, got 0',
      at: 'priority: 0',
    },
    {
      name: 'bad port range',
      text: rule('direction: ingress, protocol: tcp, portRange: "22-", cidr: 0.0.0.0/0'),
      path: 'enis[0].securityGroups[0].rules[0].portRange',
      message: 'must be a port range like "22/22", "1000/2000", "22", "1000-2000" or "-1/-1" (all ports), got "22-"',
      at: 'portRange',
    },
    {
      name: 'reversed port range',
      text: rule('direction: ingress, protocol: udp, portRange: "2000/1000", cidr: 0.0.0.0/0'),
      path: 'enis[0].securityGroups[0].rules[0].portRange',
      message: 'range start is above its end in "2000/1000"',
      at: 'portRange',
    },
    {
      name: 'ports on icmp',
      text: rule('direction: ingress, protocol: icmp, portRange: "22/22", cidr: 0.0.0.0/0'),
      path: 'enis[0].securityGroups[0].rules[0].portRange',
      message: 'must be "-1/-1" for protocol icmp (ports exist only for tcp and udp), got "22/22"',
      at: 'portRange',
    },
    {
      name: 'direction misspelt',
      text: rule('direction: inbound, protocol: tcp, cidr: 0.0.0.0/0'),
      path: 'enis[0].securityGroups[0].rules[0].direction',
      message: 'must be one of ingress or egress, got "inbound"',
      at: 'direction',
    },
    {
      name: 'bad cidr in an ACL entry',
      text:
        BASE_CONFIG +
        'networkAcls:\n  - vswitchId: vsw-1\n    egress:\n      - {protocol: all, cidr: 10.0.0.0/33, policy: drop}\n',
      path: 'networkAcls[0].egress[0].cidr',
      message: /33/,
      at: '10.0.0.0/33',
    },
    {
      name: 'duplicate ACL vSwitch',
      text: BASE_CONFIG + 'networkAcls:\n  - {vswitchId: vsw-1}\n  - {vswitchId: vsw-1}\n',
      path: 'networkAcls[1].vswitchId',
      message: /^duplicate network ACL vSwitch "vsw-1" \(also networkAcls\[0\]/,
      at: '  - {vswitchId: vsw-1}\n  - {',
    },
    {
      name: 'NFLOG group given twice',
      text: withEniKeys('    nflogGroups: [5]\n') + 'nflog:\n  groups: [{group: 5}]\n',
      path: 'enis[0].nflogGroups[0]',
      message: 'duplicate NFLOG group 5 (also nflog.groups[0].group)',
      at: 'nflogGroups',
    },
    {
      name: 'NFLOG group of an unknown ENI',
      text: BASE_CONFIG + 'nflog:\n  groups: [{group: 5, eni: eni-zz}]\n',
      path: 'nflog.groups[0].eni',
      message: 'names no configured ENI: "eni-zz"',
      at: 'eni-zz',
    },
  ])('$name', (c) => {
    const { refused, problems } = problemsOf(c.text);
    expect(refused).toBe(true);
    const found = problems.find((p) => p.path === c.path);
    expect(found, JSON.stringify(problems)).toBeDefined();
    if (typeof c.message === 'string') expect(found?.message).toBe(c.message);
    else expect(found?.message).toMatch(c.message);
    const lines = c.text.split('\n');
    const marker = c.at.includes('\n')
      ? lines.findIndex((l, i) => `${l}\n${lines[i + 1]}`.includes(c.at)) + 2
      : lineOf(c.text, c.at);
    expect(found?.line).toBe(marker);
  });
});
