import { PLACEHOLDER } from '../config/placeholder';
import type { HostDevice } from '../enrich/host-devices';

export interface InitConfigOptions {
  /** The host's name and the time, for the header. */
  host: string;
  now: Date;
  stateDir: string;
  /** The file being written (named in the next steps). */
  file: string;
}

/**
 * A configuration for this host: one ENI per tap and veth (its device, MAC and addresses), the
 * bridges as commented shared-device candidates, one flow log to a file, and PLACEHOLDER for
 * every id. Comments say what to replace and why.
 */
export function renderInitConfig(devices: readonly HostDevice[], options: InitConfigOptions): string {
  const enis = devices.filter((d) => d.kind !== 'bridge');
  const bridges = devices.filter((d) => d.kind === 'bridge');
  const P = PLACEHOLDER;
  const lines = [
    `# flowlog-agent configuration written by \`flowlog-agent init\` on ${options.host} at ${options.now.toISOString()}`,
    `# from this host's taps, veths and bridges. Replace every ${P} with the real value (your`,
    '# inventory has the ids); `flowlog-agent validate` refuses the file while one is left. Then:',
    `#   flowlog-agent validate --config ${options.file}`,
    '#   systemctl enable --now flowlog-agent',
    '# Every key: configuration.md under /usr/share/doc/flowlog-agent/ (the configuration reference).',
    '',
    '# The region of the VPCs, and the account id every record carries (quoted digits).',
    `region: ${P}`,
    `accountId: "${P}"`,
    `stateDir: ${options.stateDir}`,
    '',
  ];
  if (enis.length === 0) {
    lines.push(
      "# No tap or veth was found: name each ENI's device (or its MAC or addresses on a shared device).",
      'enis:',
      `  - { id: eni-${P}, interface: ${P}, vpcId: vpc-${P}, vswitchId: vsw-${P}, vmId: i-${P} }`,
    );
  } else {
    lines.push(
      "# One ENI per tap and veth. mac and ips are the device's own (what the agent assumes when they",
      "# are absent); a VM's tap or a container's veth carries the guest's frames: put the guest's",
      '# MAC and addresses there instead, or traffic is counted as unattributed.',
      'enis:',
    );
    enis.forEach((d, i) => {
      lines.push(
        `  - id: eni-${P}-${i + 1}`,
        `    interface: ${d.name}  # ${d.kind}`,
        `    mac: "${d.mac}"`,
        ...(d.addresses.length > 0 ? [`    ips: [${d.addresses.map((a) => JSON.stringify(a)).join(', ')}]`] : []),
        `    vpcId: vpc-${P}`,
        `    vswitchId: vsw-${P}`,
        `    vmId: i-${P}`,
      );
    });
  }
  lines.push('');
  if (bridges.length > 0) {
    lines.push(
      '# Bridges on this host. Guests behind a bridge without a device of their own are counted there',
      '# by MAC, else address: list their ENIs (mac/ips, no interface) and the bridge here.',
      '# capture:',
      `#   devices: [${bridges.map((b) => b.name).join(', ')}]`,
      ...bridges.map(
        (b) =>
          `#   ${b.name}: MAC ${b.mac}${b.addresses.length > 0 ? `, addresses ${b.addresses.join(' ')}` : ''}, ports ${b.ports.length > 0 ? b.ports.join(' ') : '(none)'}`,
      ),
      '',
    );
  }
  lines.push(
    '# One flow log: every ENI of the VPC, 10-minute windows, records to a file in the state',
    '# directory. For Log Service: sink: { type: sls, project: my-project, logstore: flowlog, intranet: true }',
    'flowLogs:',
    '  - id: fl-1',
    '    resourceType: vpc',
    `    resourceId: vpc-${P}`,
    '    aggregationInterval: 10',
    '    sink:',
    '      type: file',
    `      path: ${options.stateDir}/flowlog.jsonl`,
    '',
    '# Prometheus metrics and /healthz on loopback (`flowlog-agent status` reads them).',
    'metrics:',
    '  listen: "127.0.0.1:9465"',
    '',
  );
  return lines.join('\n');
}
