import { execFileSync } from 'node:child_process';

/** A network device of this host that may carry an ENI's traffic (what `flowlog-agent init` lists). */
export interface HostDevice {
  name: string;
  kind: 'tap' | 'veth' | 'bridge';
  /** Lower-case colon form, as the device reports it. */
  mac: string;
  /** The device's own addresses, without link-local ones, whatever the device's state. */
  addresses: string[];
  /** Bridges only: the devices enslaved to it. */
  ports: string[];
}

/** One device of `ip -details -json addr show` (the fields read here). */
interface IpLink {
  ifname: string;
  address?: string;
  master?: string;
  linkinfo?: { info_kind?: string; info_data?: { type?: string } };
  addr_info?: Array<{ local?: string; scope?: string }>;
}

/** Thrown when the devices cannot be listed (no iproute2, or its output is not understood). */
export class HostDevicesError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HostDevicesError';
  }
}

/**
 * The taps, veths and bridges of this process's network namespace, sorted by name, from
 * iproute2's JSON (`ip -details -json addr show`): the kernel's own word for each device's kind
 * (link info), where sysfs cannot tell a veth whose peer has the same index in another namespace
 * (the usual case for a container's) from other virtual Ethernet devices. `run` stands in for
 * executing it in tests.
 */
export function listHostDevices(
  run: () => string = () =>
    execFileSync('ip', ['-details', '-json', 'addr', 'show'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
): HostDevice[] {
  let links: IpLink[];
  try {
    links = JSON.parse(run()) as IpLink[];
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new HostDevicesError(
      `list network devices: ${missing ? "iproute2's ip is not installed" : e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
  const devices: HostDevice[] = [];
  for (const link of links) {
    const info = link.linkinfo;
    const kind =
      info?.info_kind === 'bridge'
        ? 'bridge'
        : info?.info_kind === 'veth'
          ? 'veth'
          : info?.info_kind === 'tun' && info.info_data?.type === 'tap'
            ? 'tap'
            : undefined;
    if (kind === undefined) continue;
    const addresses = (link.addr_info ?? [])
      .filter((a) => a.scope !== 'link' && a.local !== undefined)
      .map((a) => a.local as string);
    const ports =
      kind === 'bridge'
        ? links
            .filter((l) => l.master === link.ifname)
            .map((l) => l.ifname)
            .sort()
        : [];
    devices.push({ name: link.ifname, kind, mac: (link.address ?? '').toLowerCase(), addresses, ports });
  }
  return devices.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
