import { describe, expect, it } from 'vitest';
import type {
  EniConfig,
  NetworkAclConfig,
  NetworkAclEntryConfig,
  SecurityGroupConfig,
  SecurityGroupRuleConfig,
} from '../../../src/config/types';
import { PacketView } from '../../../src/packet/decode/packet-view';
import { fillView, parseFlowSpec } from '../../../src/enrich/policy/flow-spec';
import { PolicyEvaluator } from '../../../src/enrich/policy/policy-evaluator';

// Table-driven semantics of agent-side evaluation. Each case is a packet sequence on one ENI
// (10.0.0.5, 2001:db8::5 on vsw-1) and the REJECT verdict each packet must get, derived by hand
// from the product rules: priority 1 first, drop wins ties, all groups merged, stateful security
// groups (default ingress drop / egress accept), stateless first-match ACLs with implicit drop.

type Rule = Partial<SecurityGroupRuleConfig> & Pick<SecurityGroupRuleConfig, 'direction' | 'protocol' | 'cidr'>;
const sg = (id: string, rules: Rule[], defaults: Partial<SecurityGroupConfig> = {}): SecurityGroupConfig => ({
  id,
  defaultIngress: 'drop',
  defaultEgress: 'accept',
  ...defaults,
  rules: rules.map((r) => ({ priority: 1, portRange: '-1/-1', policy: 'accept', ...r })),
});
type Entry = Partial<NetworkAclEntryConfig> & Pick<NetworkAclEntryConfig, 'protocol' | 'cidr' | 'policy'>;
const acl = (ingress: Entry[], egress: Entry[], vswitchId = 'vsw-1'): NetworkAclConfig => ({
  vswitchId,
  ingress: ingress.map((e) => ({ portRange: '-1/-1', ...e })),
  egress: egress.map((e) => ({ portRange: '-1/-1', ...e })),
});
const ANY_ACL: Entry = { protocol: 'all', cidr: '0.0.0.0/0', policy: 'accept' };

interface Case {
  name: string;
  groups?: SecurityGroupConfig[];
  acls?: NetworkAclConfig[];
  /** Packets as `check` flows ("tcp a:p > b:p in [flags]") and whether each is REJECT. */
  packets: Array<[string, boolean]>;
}

const IN22 = 'tcp 10.9.9.9:51000 > 10.0.0.5:22 in';
const OUT22_REPLY = 'tcp 10.0.0.5:22 > 10.9.9.9:51000 out';

const CASES: Case[] = [
  {
    name: 'a group without rules: ingress denied, egress allowed',
    groups: [sg('sg-1', [])],
    packets: [
      [IN22, true],
      ['tcp 10.0.0.5:40000 > 10.9.9.9:443 out', false],
    ],
  },
  {
    name: 'defaults configured the other way round',
    groups: [sg('sg-1', [], { defaultIngress: 'accept', defaultEgress: 'drop' })],
    packets: [
      [IN22, false],
      ['tcp 10.0.0.5:40000 > 10.9.9.9:443 out', true],
    ],
  },
  {
    name: 'priority 1 accept beats priority 2 drop',
    groups: [
      sg('sg-1', [
        { direction: 'ingress', protocol: 'tcp', portRange: '22/22', cidr: '0.0.0.0/0', priority: 1 },
        { direction: 'ingress', protocol: 'tcp', portRange: '22/22', cidr: '10.9.0.0/16', priority: 2, policy: 'drop' },
      ]),
    ],
    packets: [[IN22, false]],
  },
  {
    name: 'priority 1 drop beats priority 2 accept, whatever the file order',
    groups: [
      sg('sg-1', [
        { direction: 'ingress', protocol: 'tcp', portRange: '22/22', cidr: '0.0.0.0/0', priority: 2 },
        { direction: 'ingress', protocol: 'tcp', portRange: '22/22', cidr: '10.9.0.0/16', priority: 1, policy: 'drop' },
      ]),
    ],
    packets: [[IN22, true]],
  },
  {
    name: 'equal priority: drop wins (accept written first)',
    groups: [
      sg('sg-1', [
        { direction: 'ingress', protocol: 'tcp', portRange: '22/22', cidr: '0.0.0.0/0', priority: 5 },
        { direction: 'ingress', protocol: 'all', cidr: '10.9.9.9/32', priority: 5, policy: 'drop' },
      ]),
    ],
    packets: [
      [IN22, true],
      ['tcp 10.9.9.8:51000 > 10.0.0.5:22 in', false],
    ],
  },
  {
    name: 'two groups are one merged list: a drop of one group ties with an accept of the other',
    groups: [
      sg('sg-1', [{ direction: 'ingress', protocol: 'tcp', portRange: '22/22', cidr: '10.9.0.0/16' }]),
      sg('sg-2', [{ direction: 'ingress', protocol: 'tcp', portRange: '22/22', cidr: '10.9.9.0/24', policy: 'drop' }]),
    ],
    packets: [
      [IN22, true],
      ['tcp 10.9.8.1:51000 > 10.0.0.5:22 in', false],
    ],
  },
  {
    name: 'two groups: a higher-priority accept of one group beats a lower-priority drop of another',
    groups: [
      sg('sg-1', [{ direction: 'ingress', protocol: 'tcp', portRange: '22/22', cidr: '10.9.0.0/16', priority: 1 }]),
      sg('sg-2', [{ direction: 'ingress', protocol: 'all', cidr: '0.0.0.0/0', priority: 100, policy: 'drop' }]),
    ],
    packets: [
      [IN22, false],
      ['tcp 10.9.9.9:51000 > 10.0.0.5:23 in', true],
    ],
  },
  {
    name: 'two groups without matching rules: accepted when any group defaults to accept',
    groups: [sg('sg-1', [], { defaultIngress: 'accept' }), sg('sg-2', [])],
    packets: [[IN22, false]],
  },
  {
    name: 'stateful: the reply of an accepted inbound connection passes an egress drop-all',
    groups: [
      sg('sg-1', [
        { direction: 'ingress', protocol: 'tcp', portRange: '22/22', cidr: '0.0.0.0/0' },
        { direction: 'egress', protocol: 'all', cidr: '0.0.0.0/0', policy: 'drop' },
      ]),
    ],
    packets: [
      [IN22, false],
      [OUT22_REPLY, false],
      [IN22, false],
      ['tcp 10.0.0.5:40000 > 10.9.9.9:80 out', true],
    ],
  },
  {
    name: 'stateful: the reply of an accepted outbound connection passes the default ingress deny',
    groups: [sg('sg-1', [])],
    packets: [
      ['udp 10.0.0.5:5353 > 10.9.9.9:53 out', false],
      ['udp 10.9.9.9:53 > 10.0.0.5:5353 in', false],
      ['udp 10.9.9.9:53 > 10.0.0.5:5354 in', true],
    ],
  },
  {
    name: 'a dropped connection gives no state: the other side sending back is judged by its own rules',
    groups: [sg('sg-1', [])],
    packets: [
      ['tcp 10.9.9.9:51001 > 10.0.0.5:8080 in', true],
      ['tcp 10.0.0.5:8080 > 10.9.9.9:51001 out rst', false],
      ['tcp 10.9.9.9:51001 > 10.0.0.5:8080 in', true],
    ],
  },
  {
    name: 'first packet seen is a SYN-ACK: the connection was opened by the other side',
    groups: [
      sg('sg-1', [
        { direction: 'ingress', protocol: 'tcp', portRange: '22/22', cidr: '0.0.0.0/0' },
        { direction: 'egress', protocol: 'all', cidr: '0.0.0.0/0', policy: 'drop' },
      ]),
    ],
    packets: [
      [`${OUT22_REPLY} syn-ack`, false],
      [IN22, false],
    ],
  },
  {
    name: 'first packet seen is a plain ACK out: it opens the connection and egress drops it',
    groups: [
      sg('sg-1', [
        { direction: 'ingress', protocol: 'tcp', portRange: '22/22', cidr: '0.0.0.0/0' },
        { direction: 'egress', protocol: 'all', cidr: '0.0.0.0/0', policy: 'drop' },
      ]),
    ],
    packets: [
      [`${OUT22_REPLY} ack`, true],
      [IN22, false],
    ],
  },
  {
    name: 'egress rules match the destination address and port',
    groups: [
      sg('sg-1', [{ direction: 'egress', protocol: 'tcp', portRange: '25/25', cidr: '0.0.0.0/0', policy: 'drop' }]),
    ],
    packets: [
      ['tcp 10.0.0.5:40000 > 10.9.9.9:25 out', true],
      ['tcp 10.0.0.5:40001 > 10.9.9.9:587 out', false],
    ],
  },
  {
    name: 'port ranges: "1000-2000" bounds are inclusive',
    groups: [sg('sg-1', [{ direction: 'ingress', protocol: 'tcp', portRange: '1000-2000', cidr: '0.0.0.0/0' }])],
    packets: [
      ['tcp 10.9.9.9:51000 > 10.0.0.5:999 in', true],
      ['tcp 10.9.9.9:51000 > 10.0.0.5:1000 in', false],
      ['tcp 10.9.9.9:51000 > 10.0.0.5:2000 in', false],
      ['tcp 10.9.9.9:51000 > 10.0.0.5:2001 in', true],
    ],
  },
  {
    name: 'port ranges: "22" and "1000/2000" forms; "-1/-1" on tcp is every port',
    groups: [
      sg('sg-1', [
        { direction: 'ingress', protocol: 'tcp', portRange: '22', cidr: '10.9.9.9/32' },
        { direction: 'ingress', protocol: 'udp', portRange: '1000/2000', cidr: '0.0.0.0/0' },
        { direction: 'ingress', protocol: 'tcp', portRange: '-1/-1', cidr: '10.7.0.0/16' },
      ]),
    ],
    packets: [
      [IN22, false],
      ['tcp 10.9.9.9:51000 > 10.0.0.5:23 in', true],
      ['udp 10.9.9.9:53 > 10.0.0.5:1500 in', false],
      ['tcp 10.9.9.9:53 > 10.0.0.5:1500 in', true],
      ['tcp 10.7.1.1:1 > 10.0.0.5:65535 in', false],
    ],
  },
  {
    name: 'protocol all matches tcp, udp and icmp',
    groups: [
      sg('sg-1', [
        { direction: 'ingress', protocol: 'all', cidr: '10.9.9.9/32', policy: 'drop' },
        { direction: 'ingress', protocol: 'all', cidr: '0.0.0.0/0', priority: 2 },
      ]),
    ],
    packets: [
      ['udp 10.9.9.9:1 > 10.0.0.5:2 in', true],
      ['icmp 10.9.9.9 > 10.0.0.5 in', true],
      ['udp 10.9.9.8:1 > 10.0.0.5:2 in', false],
      ['icmp 10.9.9.8 > 10.0.0.5 in', false],
    ],
  },
  {
    name: 'ICMP: icmp rules match IPv4 ICMP only, icmpv6 rules ICMPv6 only; echo replies are stateful',
    groups: [
      sg('sg-1', [
        { direction: 'ingress', protocol: 'icmp', cidr: '0.0.0.0/0' },
        { direction: 'ingress', protocol: 'icmpv6', cidr: '2001:db8:1::/48' },
        { direction: 'egress', protocol: 'all', cidr: '0.0.0.0/0', policy: 'drop' },
      ]),
    ],
    packets: [
      ['icmp 10.9.9.9 > 10.0.0.5 in', false],
      ['icmp 10.0.0.5 > 10.9.9.9 out', false],
      ['icmp 10.0.0.5 > 10.9.9.7 out', true],
      ['icmpv6 2001:db8:1::7 > 2001:db8::5 in', false],
      ['icmpv6 2001:db8:2::7 > 2001:db8::5 in', true],
      ['1 10.9.9.9 > 10.0.0.5 in', false],
    ],
  },
  {
    name: 'IPv6: 0.0.0.0/0 matches no IPv6 packet, ::/0 matches no IPv4 packet',
    groups: [
      sg('sg-1', [
        { direction: 'ingress', protocol: 'tcp', portRange: '443/443', cidr: '0.0.0.0/0' },
        { direction: 'ingress', protocol: 'tcp', portRange: '22/22', cidr: '::/0' },
        { direction: 'ingress', protocol: 'tcp', portRange: '80/80', cidr: '2001:db8:1::/48' },
      ]),
    ],
    packets: [
      ['tcp [2001:db8:9::1]:51000 > [2001:db8::5]:443 in', true],
      ['tcp [2001:db8:9::1]:51000 > [2001:db8::5]:22 in', false],
      [IN22, true],
      ['tcp [2001:db8:1:ffff::1]:51000 > [2001:db8::5]:80 in', false],
      ['tcp [2001:db8:2::1]:51000 > [2001:db8::5]:80 in', true],
    ],
  },
  {
    name: 'network ACL: first match decides (accept listed before drop)',
    acls: [
      acl(
        [
          { protocol: 'tcp', portRange: '22/22', cidr: '0.0.0.0/0', policy: 'accept' },
          { protocol: 'tcp', portRange: '22/22', cidr: '10.9.9.9/32', policy: 'drop' },
        ],
        [ANY_ACL],
      ),
    ],
    packets: [[IN22, false]],
  },
  {
    name: 'network ACL: first match decides (drop listed before accept)',
    acls: [
      acl(
        [
          { protocol: 'tcp', portRange: '22/22', cidr: '10.9.9.9/32', policy: 'drop' },
          { protocol: 'tcp', portRange: '22/22', cidr: '0.0.0.0/0', policy: 'accept' },
        ],
        [ANY_ACL],
      ),
    ],
    packets: [
      [IN22, true],
      ['tcp 10.9.9.8:51000 > 10.0.0.5:22 in', false],
    ],
  },
  {
    name: 'network ACL: no matching entry drops (implicit drop-all); an empty direction drops everything',
    acls: [acl([{ protocol: 'tcp', portRange: '80/80', cidr: '0.0.0.0/0', policy: 'accept' }], [])],
    packets: [
      [IN22, true],
      ['tcp 10.9.9.9:51000 > 10.0.0.5:80 in', false],
      ['tcp 10.0.0.5:80 > 10.9.9.9:51000 out', true],
    ],
  },
  {
    name: 'network ACL is stateless: replies need an egress entry for the ephemeral port',
    acls: [acl([ANY_ACL], [{ protocol: 'tcp', portRange: '22/22', cidr: '0.0.0.0/0', policy: 'accept' }])],
    packets: [
      [IN22, false],
      [OUT22_REPLY, true],
    ],
  },
  {
    name: 'network ACL with an ephemeral-port egress entry lets replies out',
    acls: [acl([ANY_ACL], [{ protocol: 'tcp', portRange: '1024/65535', cidr: '10.9.0.0/16', policy: 'accept' }])],
    packets: [
      [IN22, false],
      [OUT22_REPLY, false],
      ['tcp 10.0.0.5:22 > 10.8.9.9:51000 out', true],
    ],
  },
  {
    name: 'security group and network ACL: either dropping rejects',
    groups: [sg('sg-1', [{ direction: 'ingress', protocol: 'tcp', portRange: '22/22', cidr: '0.0.0.0/0' }])],
    acls: [acl([{ protocol: 'tcp', portRange: '80/80', cidr: '0.0.0.0/0', policy: 'accept' }], [ANY_ACL])],
    packets: [
      [IN22, true],
      ['tcp 10.9.9.9:51000 > 10.0.0.5:80 in', true],
      [OUT22_REPLY, false],
    ],
  },
  {
    name: 'a network ACL of another vSwitch does not apply',
    acls: [acl([], [], 'vsw-2')],
    packets: [[IN22, false]],
  },
];

const ENI: Omit<EniConfig, 'securityGroups'> = {
  id: 'eni-a',
  ips: ['10.0.0.5', '2001:db8::5'],
  vpcId: 'vpc-1',
  vswitchId: 'vsw-1',
  vmId: 'i-1',
};

describe('PolicyEvaluator semantics', () => {
  it.each(CASES)('$name', (c) => {
    const evaluator = new PolicyEvaluator([{ ...ENI, securityGroups: c.groups ?? [] }], c.acls ?? [], {
      connectionCapacity: 64,
    });
    const view = new PacketView();
    const got = c.packets.map(([flow], i) => {
      const spec = parseFlowSpec(flow);
      return evaluator.rejects(fillView(view, spec, 1_700_000_000 + i), 0, spec.direction === 'out');
    });
    expect(got).toEqual(c.packets.map(([, reject]) => reject));
  });
});

describe('PolicyEvaluator caching', () => {
  const groups = [sg('sg-1', [{ direction: 'ingress', protocol: 'tcp', portRange: '22/22', cidr: '0.0.0.0/0' }])];

  it('evaluates once per connection direction, then answers from the connection table', () => {
    const evaluator = new PolicyEvaluator([{ ...ENI, securityGroups: groups }], [], { connectionCapacity: 64 });
    const view = new PacketView();
    const inbound = parseFlowSpec(IN22);
    const reply = parseFlowSpec(OUT22_REPLY);
    for (let i = 0; i < 100; i++) {
      expect(evaluator.rejects(fillView(view, inbound, 1_700_000_000), 0, false)).toBe(false);
      expect(evaluator.rejects(fillView(view, reply, 1_700_000_000), 0, true)).toBe(false);
    }
    expect(evaluator.evaluations).toBe(2);
  });

  it('an ENI without rules is never looked up', () => {
    const evaluator = new PolicyEvaluator(
      [
        { ...ENI, securityGroups: [] },
        { ...ENI, id: 'eni-b', securityGroups: groups },
      ],
      [],
      { connectionCapacity: 64 },
    );
    const view = fillView(new PacketView(), parseFlowSpec(IN22), 1);
    expect(evaluator.rejects(view, 0, false)).toBe(false);
    expect(evaluator.connections.size).toBe(0);
    expect(evaluator.rejects(view, 1, false)).toBe(false);
    expect(evaluator.connections.size).toBe(1);
  });

  it('forgets a connection after two generations: a late reply is judged by its own rules', () => {
    // Default ingress drop; the outbound request opens the connection (accepted by default egress).
    const evaluator = new PolicyEvaluator([{ ...ENI, securityGroups: [sg('sg-1', [])] }], [], {
      connectionCapacity: 64,
      sessionTimeoutSec: 910,
    });
    const view = new PacketView();
    const request = parseFlowSpec('udp 10.0.0.5:5353 > 10.9.9.9:53 out');
    const reply = parseFlowSpec('udp 10.9.9.9:53 > 10.0.0.5:5353 in');
    const t0 = 1_700_000_000;
    expect(evaluator.rejects(fillView(view, request, t0), 0, true)).toBe(false);
    // 910 s later the generation rotates; the connection is still found in the previous one.
    expect(evaluator.rejects(fillView(view, reply, t0 + 910), 0, false)).toBe(false);
    // A fresh connection in a later generation keeps time moving; the first is then two rotations old.
    const other = parseFlowSpec('udp 10.0.0.5:6000 > 10.9.9.9:53 out');
    expect(evaluator.rejects(fillView(view, other, t0 + 1820), 0, true)).toBe(false);
    // The first connection was last seen at t0 + 910; at t0 + 2730 that generation is cleared.
    expect(evaluator.rejects(fillView(view, reply, t0 + 2730), 0, false)).toBe(true);
    expect(evaluator.connections.rotations).toBe(3);
  });

  it('stays bounded: a full generation rotates, the connections before it are forgotten', () => {
    const evaluator = new PolicyEvaluator([{ ...ENI, securityGroups: [sg('sg-1', [])] }], [], {
      connectionCapacity: 4,
    });
    const view = new PacketView();
    const out = (port: number) => parseFlowSpec(`udp 10.0.0.5:${port} > 10.9.9.9:53 out`);
    const back = (port: number) => parseFlowSpec(`udp 10.9.9.9:53 > 10.0.0.5:${port} in`);
    for (let p = 1; p <= 12; p++) evaluator.rejects(fillView(view, out(p), 1), 0, true);
    // Connections 1..4 filled generation 1, 5..8 generation 2, 9..12 generation 3 (1..4 dropped).
    expect(evaluator.connections.size).toBe(8);
    expect(evaluator.rejects(fillView(view, back(12), 1), 0, false)).toBe(false);
    // Connection 5 lives in the previous generation; copying it forward into the full current one
    // rotates first, retiring that very generation: the state must survive (a reply judged by its
    // own rules would meet the default ingress drop).
    expect(evaluator.rejects(fillView(view, back(5), 1), 0, false)).toBe(false);
    expect(evaluator.connections.rotations).toBe(3);
    expect(evaluator.rejects(fillView(view, back(1), 1), 0, false)).toBe(true);
  });
});
