import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCheck } from '../../src/cli/check-command';
import { POLICY_SCENARIO, POLICY_SCENARIO_ENI, writeScenarioPcap } from '../helpers/policy-pcap';
import { scratchDir, TextSink, writeConfig } from '../helpers/replay-run';

const dir = scratchDir('check-command');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CONFIG = writeConfig(
  dir,
  `region: cn-hangzhou
accountId: "1234567890123456"
enis:
${POLICY_SCENARIO_ENI}          - {priority: 1, direction: ingress, protocol: tcp, portRange: "22/22", cidr: 10.66.0.0/16, policy: drop}
      - id: sg-egress
        rules:
          - {priority: 10, direction: egress, protocol: udp, portRange: "1000-2000", cidr: 10.9.0.0/16, policy: drop}
  - {id: eni-bare, ips: [10.0.0.6], vpcId: vpc-1, vswitchId: vsw-2, vmId: i-2}
networkAcls:
  - vswitchId: vsw-1
    ingress:
      - {protocol: tcp, portRange: "3389/3389", cidr: 0.0.0.0/0, policy: drop}
      - {protocol: all, cidr: 0.0.0.0/0, policy: accept}
    egress:
      - {protocol: all, cidr: 0.0.0.0/0, policy: accept}
flowLogs:
  - {id: fl-1, resourceType: vpc, resourceId: vpc-1, sink: {type: stdout}}
`,
);

function check(args: { eni?: string; flow?: string; pcaps?: string[]; all?: boolean }) {
  const out = new TextSink();
  const err = new TextSink();
  const code = runCheck({ configPath: CONFIG, ...args, out, err });
  return { code, out: out.text, err: err.text };
}

describe('check --flow', () => {
  it.each([
    {
      flow: 'tcp 10.9.9.9:51000 > 10.0.0.5:22 in',
      want: [
        'ACCEPT',
        'sg-ssh rule 0 (priority 1): accept tcp 22/22 from 0.0.0.0/0',
        'network ACL vsw-1 ingress[1]: accept all -1/-1 from 0.0.0.0/0',
      ],
    },
    {
      flow: 'tcp 10.66.1.1:51000 > 10.0.0.5:22 in',
      want: [
        'REJECT',
        'sg-ssh rule 1 (priority 1): drop tcp 22/22 from 10.66.0.0/16',
        'network ACL vsw-1 ingress[1]: accept all -1/-1 from 0.0.0.0/0',
      ],
    },
    {
      flow: 'tcp 10.9.9.9:51000 > 10.0.0.5:23 in',
      want: [
        'REJECT',
        'drop: no ingress rule matched (default)',
        'network ACL vsw-1 ingress[1]: accept all -1/-1 from 0.0.0.0/0',
      ],
    },
    {
      flow: 'tcp 10.9.9.9:51000 > 10.0.0.5:3389 in',
      want: [
        'REJECT',
        'drop: no ingress rule matched (default)',
        'network ACL vsw-1 ingress[0]: drop tcp 3389/3389 from 0.0.0.0/0',
      ],
    },
    {
      flow: 'udp 10.0.0.5:5353 > 10.9.9.9:1500 out',
      want: [
        'REJECT',
        'sg-egress rule 0 (priority 10): drop udp 1000/2000 to 10.9.0.0/16',
        'network ACL vsw-1 egress[0]: accept all -1/-1 to 0.0.0.0/0',
      ],
    },
    {
      flow: 'udp 10.0.0.5:5353 > 10.9.9.9:53 out',
      want: [
        'ACCEPT',
        'accept: no egress rule matched (default)',
        'network ACL vsw-1 egress[0]: accept all -1/-1 to 0.0.0.0/0',
      ],
    },
  ])('$flow', ({ flow, want }) => {
    const { code, out, err } = check({ eni: 'eni-a', flow });
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toBe(
      `${want[0]}  ${flow}  (eni-a, first packet of a connection)\n  security group: ${want[1]}\n  network ACL:    ${want[2]}\n`,
    );
  });

  it('an ENI without rules: ACCEPT, and says why', () => {
    const { code, out } = check({ eni: 'eni-bare', flow: 'tcp 10.9.9.9:1 > 10.0.0.6:22 in' });
    expect(code).toBe(0);
    expect(out).toBe(
      'ACCEPT  tcp 10.9.9.9:1 > 10.0.0.6:22 in  (eni-bare, first packet of a connection)\n  eni-bare has no security groups and its vSwitch no network ACL: only NFLOG drops are REJECT\n',
    );
  });

  it('warns when the flow does not touch the ENI', () => {
    const { err } = check({ eni: 'eni-a', flow: 'tcp 10.9.9.9:1 > 10.0.0.99:22 in' });
    expect(err).toBe('warning: the destination of the flow is not an address of eni-a; evaluating its rules anyway\n');
  });

  it.each([
    [
      { eni: 'eni-x', flow: 'tcp 1.1.1.1:1 > 10.0.0.5:22 in' },
      'flowlog-agent check: unknown ENI "eni-x" (configured: eni-a, eni-bare)\n',
    ],
    [
      { eni: 'eni-a', flow: 'tcp 1.1.1.1 > 10.0.0.5:22 in' },
      'flowlog-agent check: parse flow "tcp 1.1.1.1 > 10.0.0.5:22 in": "1.1.1.1" needs a port\n',
    ],
    [
      { eni: 'eni-a', flow: 'tcp 1.1.1.1:1 > 10.0.0.5:22 sideways' },
      'flowlog-agent check: parse flow "tcp 1.1.1.1:1 > 10.0.0.5:22 sideways": direction must be "in" or "out", got "sideways"\n',
    ],
    [{ flow: 'tcp 1.1.1.1:1 > 10.0.0.5:22 in' }, 'flowlog-agent check: --flow needs --eni\n'],
    [{ eni: 'eni-a' }, 'flowlog-agent check: give exactly one of --flow or --pcap\n'],
  ])('usage error %#: exit 2 with one line', (args, message) => {
    const { code, err, out } = check(args);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toBe(message);
  });
});

describe('check --pcap', () => {
  const pcap = join(dir, 'scenario.pcap');
  writeScenarioPcap(pcap, 1_700_000_040, POLICY_SCENARIO);

  it('lists the REJECT flows with the deciding rule and counts', () => {
    const { code, out, err } = check({ pcaps: [pcap] });
    expect(err).toBe('');
    expect(code).toBe(0);
    // 4 SYNs of 40 bytes (20 IPv4 + 20 TCP) to port 23; 5 unidirectional flows in 11 frames.
    const lines = out.trimEnd().split('\n');
    expect(lines[0].split(/\s{2,}/)).toEqual([
      'ACTION',
      'ENI',
      'DIR',
      'PROTO',
      'SOURCE',
      'DESTINATION',
      'PACKETS',
      'BYTES',
      'SECURITY GROUP',
      'NETWORK ACL',
    ]);
    expect(lines[2].split(/\s{2,}/)).toEqual([
      'REJECT',
      'eni-a',
      'in',
      'tcp',
      '10.9.9.9:51001',
      '10.0.0.5:23',
      '4',
      '160',
      'drop: no ingress rule matched (default)',
      'network ACL vsw-1 ingress[1]: accept all -1/-1 from 0.0.0.0/0',
    ]);
    expect(lines.slice(3)).toEqual(['1 REJECT flow (4 packets) of 5 flows in 11 frames']);
  });

  it('--all lists the ACCEPT flows too, replies marked stateful', () => {
    const { out } = check({ pcaps: [pcap], all: true });
    const rows = out
      .trimEnd()
      .split('\n')
      .slice(2, -1)
      .map((l) => l.split(/\s{2,}/));
    expect(rows.map((r) => [r[0], r[2], r[4], r[5], r[6], r[8]])).toEqual([
      ['REJECT', 'in', '10.9.9.9:51001', '10.0.0.5:23', '4', 'drop: no ingress rule matched (default)'],
      [
        'ACCEPT',
        'in',
        '10.9.9.9:51000',
        '10.0.0.5:22',
        '3',
        'sg-ssh rule 0 (priority 1): accept tcp 22/22 from 0.0.0.0/0',
      ],
      ['ACCEPT', 'out', '10.0.0.5:22', '10.9.9.9:51000', '2', 'accept: reply of an accepted connection (stateful)'],
      ['ACCEPT', 'out', '10.0.0.5:5353', '10.9.9.9:53', '1', 'accept: no egress rule matched (default)'],
      ['ACCEPT', 'in', '10.9.9.9:53', '10.0.0.5:5353', '1', 'accept: reply of an accepted connection (stateful)'],
    ]);
  });

  it('a missing capture is a usage error', () => {
    const { code, err } = check({ pcaps: [join(dir, 'nope.pcap')] });
    expect(code).toBe(2);
    expect(err).toBe(`flowlog-agent check: capture file not found: ${join(dir, 'nope.pcap')}\n`);
  });
});
