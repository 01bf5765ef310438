import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load';
import { BASE_CONFIG, edit, lineOf, problemsOf } from '../helpers/config-text';

interface Case {
  name: string;
  text: string;
  /** Expected problems, each located by a marker whose line the text gives (or no line). */
  expect: { severity: 'error' | 'warning'; path: string; message: string | RegExp; at?: string }[];
}

const withFlowLog = (fields: string) =>
  edit(BASE_CONFIG, '    sink: {type: stdout}\n', `    sink: {type: stdout}\n${fields}`);

const flowLogsOf = (n: number) =>
  Array.from(
    { length: n },
    (_, i) => `  - {id: fl-${i}, resourceType: eni, resourceId: eni-a, sink: {type: file, path: /tmp/f${i}}}\n`,
  ).join('');

const DUPLICATE_IDS =
  edit(
    BASE_CONFIG,
    'flowLogs:\n',
    '  - {id: eni-a, interface: eth9, vpcId: vpc-1, vswitchId: vsw-1, vmId: i-2}\nflowLogs:\n',
  ) + '  - {id: fl-1, resourceType: vpc, resourceId: vpc-1, sink: {type: stdout}}\n';

const CASES: Case[] = [
  {
    name: 'unknown top-level key, with a suggestion',
    text: BASE_CONFIG + 'flowLog: []\n',
    expect: [{ severity: 'error', path: 'flowLog', message: 'unknown key (did you mean "flowLogs"?)', at: 'flowLog:' }],
  },
  {
    name: 'unknown nested keys (ENI, section, sink of a type)',
    text: edit(BASE_CONFIG, '    vmId: i-1\n', '    vmId: i-1\n    vm_id: i-1\n') + 'capture:\n  snaplen: 96\n',
    expect: [
      { severity: 'error', path: 'enis[0].vm_id', message: 'unknown key (did you mean "vmId"?)', at: 'vm_id' },
      { severity: 'error', path: 'capture.snaplen', message: /^unknown key \(/, at: 'snaplen:' },
    ],
  },
  {
    name: 'a sink key that belongs to another sink type',
    text: edit(BASE_CONFIG, '{type: stdout}', '{type: file, path: /tmp/a, logstore: x}'),
    expect: [
      {
        severity: 'error',
        path: 'flowLogs[0].sink.logstore',
        message: 'unknown key for type file (expected path or type)',
        at: 'sink:',
      },
    ],
  },
  {
    name: 'bad enums',
    text: withFlowLog('    trafficType: rejected\n') + 'log: {level: verbose}\ndiscovery: {type: dhcp}\n',
    expect: [
      {
        severity: 'error',
        path: 'flowLogs[0].trafficType',
        message: 'must be one of all, accept or reject, got "rejected" (did you mean "reject"?)',
        at: 'trafficType',
      },
      {
        severity: 'error',
        path: 'log.level',
        message: 'must be one of trace, debug, info, warn or error, got "verbose"',
        at: 'log:',
      },
      {
        severity: 'error',
        path: 'discovery.type',
        message: 'must be one of static or ecs-metadata, got "dhcp"',
        at: 'discovery:',
      },
    ],
  },
  {
    name: 'aggregation interval 7',
    text: withFlowLog('    aggregationInterval: 7\n'),
    expect: [
      {
        severity: 'error',
        path: 'flowLogs[0].aggregationInterval',
        message: 'must be 1, 5 or 10 minutes, got 7',
        at: 'aggregationInterval',
      },
    ],
  },
  {
    name: 'aggregation interval as a duration string: accepted with a warning',
    text: withFlowLog('    aggregationInterval: "30s"\n'),
    expect: [
      {
        severity: 'warning',
        path: 'flowLogs[0].aggregationInterval',
        message: '"30s" (30s) accepted for tests and demos only: the product offers 1, 5 or 10 minutes',
        at: 'aggregationInterval',
      },
    ],
  },
  {
    name: 'aggregation interval as a duration longer than the product offers',
    text: withFlowLog('    aggregationInterval: "2h"\n'),
    expect: [
      {
        severity: 'error',
        path: 'flowLogs[0].aggregationInterval',
        message: 'must be at most 60 minutes (the product offers 1, 5 or 10 minutes), got "2h" (7200s)',
        at: 'aggregationInterval',
      },
    ],
  },
  {
    name: 'aggregation interval shorter than a second',
    text: withFlowLog('    aggregationInterval: "0s"\n'),
    expect: [
      {
        severity: 'error',
        path: 'flowLogs[0].aggregationInterval',
        message: /must be at least 1 second/,
        at: 'aggregationInterval',
      },
    ],
  },
  {
    name: 'a region where flow logs are not offered',
    text: edit(BASE_CONFIG, 'region: cn-hangzhou', 'region: cn-nanjing'),
    expect: [
      {
        severity: 'error',
        path: 'region',
        message: /^must be a region where flow logs are offered, one of cn-qingdao, .* or me-east-1, got "cn-nanjing"$/,
        at: 'region:',
      },
    ],
  },
  {
    name: 'malformed IPs, CIDRs and MAC',
    text: edit(
      BASE_CONFIG,
      'ips: [10.0.0.1]',
      'ips: [10.0.0.256, 10.0.0.0/33, "::1/129", "fe80::zz", 010.0.0.1]\n    mac: 00:16:3e:aa:bb',
    ),
    expect: [
      { severity: 'error', path: 'enis[0].ips[0]', message: 'not an IPv4 or IPv6 address: "10.0.0.256"', at: 'ips:' },
      { severity: 'error', path: 'enis[0].ips[1]', message: 'prefix length must be 0..32, got "33"', at: 'ips:' },
      { severity: 'error', path: 'enis[0].ips[2]', message: 'prefix length must be 0..128, got "129"', at: 'ips:' },
      { severity: 'error', path: 'enis[0].ips[3]', message: 'not an IPv4 or IPv6 address: "fe80::zz"', at: 'ips:' },
      { severity: 'error', path: 'enis[0].ips[4]', message: 'not an IPv4 or IPv6 address: "010.0.0.1"', at: 'ips:' },
      {
        severity: 'error',
        path: 'enis[0].mac',
        message: 'not a MAC address (expected 00:16:3e:aa:bb:cc): "00:16:3e:aa:bb"',
        at: 'mac:',
      },
    ],
  },
  {
    name: 'a CIDR with host bits set: warned',
    text: edit(BASE_CONFIG, 'ips: [10.0.0.1]', 'ips: [10.0.0.1/24]'),
    expect: [
      {
        severity: 'warning',
        path: 'enis[0].ips[0]',
        message: '"10.0.0.1/24" has host bits set; it covers the whole network 10.0.0.0/24',
        at: 'ips:',
      },
    ],
  },
  {
    name: 'duplicate ENI and flow log ids',
    text: DUPLICATE_IDS,
    expect: [
      {
        severity: 'error',
        path: 'enis[1].id',
        message: `duplicate ENI id "eni-a" (also enis[0], line ${lineOf(DUPLICATE_IDS, 'id: eni-a')})`,
        at: 'eth9',
      },
      {
        severity: 'error',
        path: 'flowLogs[1].id',
        message: `duplicate flow log id "fl-1" (also flowLogs[0], line ${lineOf(DUPLICATE_IDS, 'id: fl-1')})`,
        at: 'resourceId: vpc-1',
      },
    ],
  },
  {
    name: 'an extra field named twice',
    text: withFlowLog('    extraFields: [tcp-flags, vni, tcp-flags]\n'),
    expect: [
      {
        severity: 'error',
        path: 'flowLogs[0].extraFields[2]',
        message: 'duplicate extra field "tcp-flags"',
        at: 'extraFields',
      },
    ],
  },
  {
    name: 'two flow logs writing one file',
    text:
      edit(BASE_CONFIG, '{type: stdout}', '{type: file, path: /tmp/same}') +
      '  - {id: fl-2, resourceType: vpc, resourceId: vpc-1, sink: {type: file, path: /tmp/same}}\n',
    expect: [
      {
        severity: 'error',
        path: 'flowLogs[1].sink',
        message: /^duplicate output file "\/tmp\/same" \(also flowLogs\[0\]/,
        at: 'fl-2',
      },
    ],
  },
  {
    name: '11 flow logs',
    text: BASE_CONFIG.slice(0, BASE_CONFIG.indexOf('flowLogs:')) + 'flowLogs:\n' + flowLogsOf(11),
    expect: [
      { severity: 'error', path: 'flowLogs', message: 'at most 10 flow logs per region, got 11', at: '{id: fl-0,' },
    ],
  },
  {
    name: 'a flow log matching no ENI: warned',
    text: edit(BASE_CONFIG, 'resourceId: eni-a', 'resourceId: eni-zzz'),
    expect: [
      {
        severity: 'warning',
        path: 'flowLogs[0].resourceId',
        message: 'eni eni-zzz matches no configured ENI',
        at: 'resourceId',
      },
    ],
  },
  {
    name: 'a flow log matching no ENI with metadata discovery: warned, may match later',
    text:
      edit(BASE_CONFIG, 'resourceType: eni\n    resourceId: eni-a', 'resourceType: vswitch\n    resourceId: vsw-9') +
      'discovery: {type: ecs-metadata}\n',
    expect: [
      {
        severity: 'warning',
        path: 'flowLogs[0].resourceId',
        message:
          'vswitch vsw-9 matches no configured ENI; it may match an ENI found later through ecs-metadata discovery',
        at: 'resourceId',
      },
    ],
  },
  {
    name: 'an unsupported instance family covered by a flow log (via its VPC)',
    text: edit(
      edit(BASE_CONFIG, '    vmId: i-1\n', '    vmId: i-1\n    instanceType: ecs.sn2.medium\n'),
      'resourceType: eni\n    resourceId: eni-a',
      'resourceType: vpc\n    resourceId: vpc-1',
    ),
    expect: [
      {
        severity: 'error',
        path: 'enis[0].instanceType',
        message:
          'instance family ecs.sn2 (ecs.sn2.medium) does not support flow logs, yet flow log fl-1 covers this ENI: upgrade the instance to a supported instance type or release it',
        at: 'instanceType',
      },
    ],
  },
  {
    name: 'an unsupported instance family no flow log covers: warned',
    text: edit(
      edit(BASE_CONFIG, '    vmId: i-1\n', '    vmId: i-1\n    instanceType: ecs.t1.small\n'),
      'resourceId: eni-a',
      'resourceId: eni-b',
    ),
    expect: [
      {
        severity: 'warning',
        path: 'enis[0].instanceType',
        message: /^instance family ecs\.t1 \(ecs\.t1\.small\) does not support flow logs; no flow log covers/,
        at: 'instanceType',
      },
      {
        severity: 'warning',
        path: 'flowLogs[0].resourceId',
        message: 'eni eni-b matches no configured ENI',
        at: 'resourceId',
      },
    ],
  },
  {
    name: 'a family that only shares a prefix with an unsupported one (ecs.sn2ne is not ecs.sn2)',
    text: edit(BASE_CONFIG, '    vmId: i-1\n', '    vmId: i-1\n    instanceType: ecs.sn2ne.large\n'),
    expect: [],
  },
  {
    name: 'accountId as a number that YAML cannot keep exactly',
    text: edit(BASE_CONFIG, 'accountId: "1234567890123456"', 'accountId: 12345678901234567890'),
    expect: [
      {
        severity: 'error',
        path: 'accountId',
        message:
          'must be a string of digits; the number 12345678901234567890 is not kept exactly by YAML: quote it ("12345678901234567890")',
        at: 'accountId',
      },
    ],
  },
  {
    name: 'accountId with leading zero as a number (YAML reads 0123 as 123)',
    text: edit(BASE_CONFIG, 'accountId: "1234567890123456"', 'accountId: 0123'),
    expect: [{ severity: 'error', path: 'accountId', message: /quote it \("0123"\)$/, at: 'accountId' }],
  },
  {
    name: 'an ENI nothing can match',
    text: edit(BASE_CONFIG, '    ips: [10.0.0.1]\n', ''),
    expect: [
      {
        severity: 'error',
        path: 'enis[0]',
        message: 'needs at least one of interface, mac or ips, or no packet can ever be matched to it',
        at: 'id: eni-a',
      },
    ],
  },
  {
    name: 'no ENIs with static discovery',
    text: 'region: cn-hangzhou\naccountId: "1"\nenis: []\n',
    expect: [
      {
        severity: 'error',
        path: 'enis',
        message:
          "at least one ENI is required unless discovery.type is ecs-metadata (`flowlog-agent init` lists this host's taps and veths)",
        at: 'enis:',
      },
    ],
  },
  {
    name: 'missing required keys, at the line of their mapping',
    text: 'enis:\n  - id: eni-a\n    mac: 00:16:3e:00:00:01\n',
    expect: [
      { severity: 'error', path: 'region', message: 'required key is missing' },
      { severity: 'error', path: 'accountId', message: 'required key is missing' },
      { severity: 'error', path: 'enis[0].vpcId', message: 'required key is missing', at: 'id: eni-a' },
      { severity: 'error', path: 'enis[0].vswitchId', message: 'required key is missing', at: 'id: eni-a' },
      { severity: 'error', path: 'enis[0].vmId', message: 'required key is missing', at: 'id: eni-a' },
    ],
  },
  {
    name: 'wrong scalar types and ranges',
    text:
      BASE_CONFIG +
      'flowTable: {capacity: 0}\ndelivery: {maxBatchBytes: 4MiB, concurrency: "4", retryInitialMs: 5000, retryMaxMs: 1000}\ndiscovery: {hardened: yes}\n',
    expect: [
      { severity: 'error', path: 'flowTable.capacity', message: 'must be at least 1, got 0', at: 'flowTable' },
      {
        severity: 'error',
        path: 'delivery.maxBatchBytes',
        message: 'must be at most 3145728, got 4194304',
        at: 'delivery',
      },
      { severity: 'error', path: 'delivery.concurrency', message: 'must be an integer, got "4"', at: 'delivery' },
      {
        severity: 'error',
        path: 'delivery.retryMaxMs',
        message: 'must be at least delivery.retryInitialMs (5000), got 1000',
        at: 'delivery',
      },
      { severity: 'error', path: 'discovery.hardened', message: 'must be true or false, got "yes"', at: 'discovery' },
    ],
  },
  {
    name: 'SLS naming rules',
    text: edit(BASE_CONFIG, '{type: stdout}', '{type: sls, project: ab, logstore: _flow}'),
    expect: [
      {
        severity: 'error',
        path: 'flowLogs[0].sink.project',
        message: /^must be a Log Service project name: 3-63 .*, got "ab"$/,
        at: 'sink:',
      },
      {
        severity: 'error',
        path: 'flowLogs[0].sink.logstore',
        message: /^must be a Logstore name: 2-63 .*, got "_flow"$/,
        at: 'sink:',
      },
    ],
  },
  {
    name: 'shared capture devices: a duplicate, and one that is also an ENI interface',
    text:
      edit(BASE_CONFIG, 'ips: [10.0.0.1]', 'ips: [10.0.0.1]\n    interface: br0') +
      'capture:\n  devices: [br0, uplink0, uplink0]\n',
    expect: [
      {
        severity: 'error',
        path: 'capture.devices[2]',
        message: 'duplicate shared device "uplink0" (also capture.devices[1])',
        at: 'devices:',
      },
      {
        severity: 'error',
        path: 'enis[0].interface',
        message:
          '"br0" is also a shared device (capture.devices[0]); an ENI on a shared device needs mac or ips, not interface',
        at: 'interface: br0',
      },
    ],
  },
  {
    name: 'a ring budget below the smallest ring per capture device',
    text:
      edit(BASE_CONFIG, 'ips: [10.0.0.1]', 'ips: [10.0.0.1]\n    interface: tap0') +
      'capture:\n  devices: [br0, br1]\n  totalBufferBytes: 1MiB\n',
    expect: [
      {
        severity: 'error',
        path: 'capture.totalBufferBytes',
        message:
          '1 MiB is below 512 KiB (the smallest ring) x 3 capture devices (ENI interfaces, capture.devices and overlay.devices) = 1536 KiB; raise it to at least that',
        at: 'totalBufferBytes:',
      },
    ],
  },
  {
    name: 'overlay: a VNI given to two VPCs, a port that is not a port, a port of both kinds, devices captured twice',
    text:
      edit(BASE_CONFIG, 'ips: [10.0.0.1]', 'ips: [10.0.0.1]\n    interface: tap0') +
      'capture:\n  devices: [br0]\noverlay:\n  devices: [eth1, br0, tap0]\n  vxlanPorts: [4789, 70000]\n  genevePorts: [4789]\n  vpcs:\n    - {vpcId: vpc-1, vni: 100}\n    - {vpcId: vpc-2, vni: 100}\n    - {vpcId: vpc-1, vni: 16777216}\n',
    expect: [
      {
        severity: 'error',
        path: 'overlay.vxlanPorts[1]',
        message: 'must be at most 65535, got 70000',
        at: 'vxlanPorts:',
      },
      {
        severity: 'error',
        path: 'overlay.genevePorts[0]',
        message: 'port 4789 is also a VXLAN port (overlay.vxlanPorts[0]); a port carries one tunnel kind',
        at: 'genevePorts:',
      },
      {
        severity: 'error',
        path: 'overlay.vpcs[1].vni',
        message: 'VNI 100 is also the VNI of overlay.vpcs[0] (vpc-1); a VNI names one VPC',
        at: 'vpc-2',
      },
      {
        severity: 'warning',
        path: 'overlay.vpcs[1].vpcId',
        message: 'VPC vpc-2 has no configured ENI; its tunnels count as unattributed',
        at: 'vpc-2',
      },
      {
        severity: 'error',
        path: 'overlay.vpcs[2].vpcId',
        message: 'duplicate VPC id "vpc-1" (also overlay.vpcs[0], line 22)',
        at: 'vni: 16777216',
      },
      {
        severity: 'error',
        path: 'overlay.vpcs[2].vni',
        message: 'must be at most 16777215, got 16777216',
        at: 'vni: 16777216',
      },
      {
        severity: 'error',
        path: 'overlay.devices[1]',
        message: '"br0" is also a shared device (capture.devices[0]); a device is captured one way',
        at: 'devices: [eth1',
      },
      {
        severity: 'error',
        path: 'overlay.devices[2]',
        message: '"tap0" is the interface of enis[0]; an overlay device carries the tunnels of ENIs without one',
        at: 'devices: [eth1',
      },
    ],
  },
  {
    name: 'an empty value where a list is expected',
    text: edit(BASE_CONFIG, 'ips: [10.0.0.1]', 'ips:\n    interface: eth0'),
    expect: [
      { severity: 'error', path: 'enis[0].ips', message: 'has no value (write [] for an empty list)', at: 'ips:' },
    ],
  },
  {
    name: 'metrics on a non-loopback address without the opt-in',
    text: BASE_CONFIG + 'metrics: {listen: "0.0.0.0:9465"}\n',
    expect: [
      {
        severity: 'error',
        path: 'metrics.listen',
        message:
          /^"0\.0\.0\.0:9465" is not a loopback address and the endpoint has no authentication .*set metrics\.allowNonLoopback: true/,
        at: 'metrics:',
      },
    ],
  },
  {
    name: 'metrics on a host name other than localhost, or IPv6 any, without the opt-in',
    text: BASE_CONFIG + 'metrics: {listen: "[::]:9465"}\n',
    expect: [
      {
        severity: 'error',
        path: 'metrics.listen',
        message: /^"\[::\]:9465" is not a loopback address/,
        at: 'metrics:',
      },
    ],
  },
  {
    name: 'metrics on loopback (127.0.0.0/8)',
    text: BASE_CONFIG + 'metrics: {listen: "127.0.0.2:9465"}\n',
    expect: [],
  },
];

describe('configuration rules', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const { refused, problems } = problemsOf(c.text);
    const expected = c.expect.map((e) => ({
      severity: e.severity,
      path: e.path,
      message: e.message instanceof RegExp ? expect.stringMatching(e.message) : e.message,
      ...(e.at !== undefined && { line: lineOf(c.text, e.at) }),
    }));
    // Same problems, any order among equal lines.
    expect(problems).toHaveLength(expected.length);
    expect(problems).toEqual(expect.arrayContaining(expected));
    expect(refused).toBe(c.expect.some((e) => e.severity === 'error'));
  });
});

describe('normalised values', () => {
  it('normalises MACs to lower-case colon form and CIDRs to canonical networks', () => {
    const text = edit(
      BASE_CONFIG,
      'ips: [10.0.0.1]',
      'ips: ["2001:DB8:0:0:1::1", 192.168.7.9/16]\n    mac: 00-16-3E-AA-BB-0C',
    );
    const { config, warnings } = parseConfig(text, '/cfg/x.yaml');
    expect(config.enis[0].mac).toBe('00:16:3e:aa:bb:0c');
    expect(config.enis[0].ips).toEqual(['2001:DB8:0:0:1::1', '192.168.7.9/16']);
    expect(config.enis[0].cidrs).toEqual(['2001:db8::1:0:0:1/128', '192.168.0.0/16']);
    expect(warnings.map((w) => w.path)).toEqual(['enis[0].ips[1]']);
  });

  it.each([
    ['"5s"', 5, true],
    ['"2m"', 120, true],
    ['"1h"', 3600, true],
    ['"5m"', 300, false],
    ['1', 60, false],
    ['10', 600, false],
  ])('aggregationInterval %s is %i seconds (warned: %s)', (written, seconds, warned) => {
    const { config, warnings } = parseConfig(withFlowLog(`    aggregationInterval: ${written}\n`), '/cfg/x.yaml');
    expect(config.flowLogs[0].aggregationIntervalSec).toBe(seconds);
    expect(warnings.length > 0).toBe(warned);
  });

  it('accepts accountId as a number that YAML keeps exactly', () => {
    const { config } = parseConfig(edit(BASE_CONFIG, '"1234567890123456"', '1234567890123456'), '/cfg/x.yaml');
    expect(config.accountId).toBe('1234567890123456');
  });

  it('resolves relative paths against the directory of the file', () => {
    const text =
      edit(BASE_CONFIG, '{type: stdout}', '{type: file, path: out/a.jsonl}') +
      'stateDir: state\ncredentials: {file: ../creds.json}\n';
    const { config } = parseConfig(text, '/etc/flowlog/agent.yaml');
    expect(config.stateDir).toBe('/etc/flowlog/state');
    expect(config.flowLogs[0].sink).toEqual({ type: 'file', path: '/etc/flowlog/out/a.jsonl' });
    expect(config.credentials).toEqual({ file: '/etc/creds.json' });
    expect(config.sourcePath).toBe('/etc/flowlog/agent.yaml');
  });
});

describe('metrics.listen off loopback', () => {
  it.each(['[::1]:9465', 'localhost:9465', '127.9.9.9:1'])('accepts %s without the opt-in', (listen) => {
    expect(problemsOf(BASE_CONFIG + `metrics: {listen: "${listen}"}\n`).problems).toEqual([]);
  });
  it.each(['0.0.0.0:9465', '10.1.2.3:9465', 'metrics.example:9465'])(
    'accepts %s with metrics.allowNonLoopback: true',
    (listen) => {
      expect(problemsOf(BASE_CONFIG + `metrics: {listen: "${listen}", allowNonLoopback: true}\n`).problems).toEqual([]);
    },
  );
});
