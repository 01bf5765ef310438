import { readdirSync, readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { parseIpOrCidr } from '../config/net-address';
import type { EniConfig, FlowLogConfig } from '../config/types';
import type { InstanceMetadata } from './ecs-metadata';

/** A network device of this host (in the agent's network namespace). */
export interface HostInterface {
  name: string;
  /** Lower-case colon form; '' when the device has none. */
  mac: string;
  /** Its own addresses (no prefix), IPv4 and IPv6. */
  addresses: string[];
}

/**
 * Lists the host's devices from sysfs (`<dir>/<name>/address`), with their addresses from
 * `os.networkInterfaces()`; loopback is left out. `dir` and `addressesOf` are injectable so tests
 * can describe a host without touching the real one.
 */
export function listHostInterfaces(dir = '/sys/class/net', addressesOf?: (name: string) => string[]): HostInterface[] {
  // One getifaddrs for the whole listing, and only if some ENI needs a device's addresses (its
  // own `ips` are empty): called per device it made start-up O(devices^2) (8.3 s at 500 veths),
  // and even once it cost 24 ms of every refresh there.
  let byName: ReturnType<typeof networkInterfaces> | undefined;
  const addresses =
    addressesOf ?? ((name: string) => ((byName ??= networkInterfaces())[name] ?? []).map((a) => a.address));
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: HostInterface[] = [];
  for (const name of names.sort()) {
    if (name === 'lo' || name === 'bonding_masters') continue;
    let mac: string;
    try {
      mac = readFileSync(join(dir, name, 'address'), 'utf8')
        .trim()
        .toLowerCase();
    } catch {
      continue; // vanished between readdir and read
    }
    let own: string[] | undefined;
    out.push({
      name,
      mac,
      get addresses(): string[] {
        return (own ??= addresses(name));
      },
    });
  }
  return out;
}

/** An ENI the daemon can capture: its record identity and the device it is seen on. */
export interface LiveEni {
  eni: EniConfig;
  /** Its own device; '' when it is seen on the shared devices (`shared`). */
  device: string;
  /** Counted on the shared devices (capture.devices) by MAC or address: it has no device of its own. */
  shared: boolean;
}

/** An ENI that should be captured but has no device on this host (yet). */
export interface UnresolvedEni {
  id: string;
  reason: string;
  /** Its configuration as configured or discovered (no device to complete it from). */
  eni: EniConfig;
}

export interface EniResolution {
  enis: LiveEni[];
  unresolved: UnresolvedEni[];
}

/** ENIs described by the metadata service, as configuration entries (vm-id is the instance). */
export function enisFromMetadata(md: InstanceMetadata): EniConfig[] {
  return md.enis.map((e) => ({
    id: e.eniId,
    mac: e.mac,
    ips: e.ips,
    cidrs: e.ips.map(toCidr).filter((c): c is string => c !== null),
    vpcId: e.vpcId,
    vswitchId: e.vswitchId,
    vmId: md.instanceId,
    ...(md.instanceType !== '' ? { instanceType: md.instanceType } : {}),
  }));
}

/** Whether any flow log covers the ENI (by ENI id, VPC or vSwitch). */
export function isCovered(eni: EniConfig, flowLogs: readonly FlowLogConfig[]): boolean {
  return flowLogs.some(
    (fl) =>
      fl.resourceId === (fl.resourceType === 'eni' ? eni.id : fl.resourceType === 'vpc' ? eni.vpcId : eni.vswitchId),
  );
}

/**
 * Decides which ENIs to capture and on which device. Configured ENIs come first, in file order,
 * then discovered ones not configured already (same id or MAC), in the service's order, so an
 * ENI keeps its position while the set is stable. Only ENIs some flow log covers are captured.
 * The device is the ENI's `interface`, else the host device with its MAC. MAC and addresses left
 * out of the configuration default to the device's own. With shared devices (`sharedDevices`,
 * capture.devices), an ENI without an interface and without a host device of its MAC is counted
 * there, by its MAC or addresses; an ENI with a device of its own never is (no double count).
 */
export function resolveLiveEnis(
  configured: readonly EniConfig[],
  discovered: readonly EniConfig[],
  flowLogs: readonly FlowLogConfig[],
  hosts: readonly HostInterface[],
  sharedDevices: readonly string[] = [],
): EniResolution {
  const byName = new Map(hosts.map((h) => [h.name, h]));
  const byMac = new Map(hosts.filter((h) => h.mac !== '' && h.mac !== '00:00:00:00:00:00').map((h) => [h.mac, h]));
  const seenIds = new Set(configured.map((e) => e.id));
  const seenMacs = new Set(configured.filter((e) => e.mac).map((e) => e.mac as string));
  const candidates = [...configured];
  for (const e of discovered) {
    if (seenIds.has(e.id) || (e.mac !== undefined && seenMacs.has(e.mac))) continue;
    seenIds.add(e.id);
    candidates.push(e);
  }
  const enis: LiveEni[] = [];
  const unresolved: UnresolvedEni[] = [];
  const usedDevices = new Set<string>();
  for (const e of candidates) {
    if (!isCovered(e, flowLogs)) continue;
    const host =
      e.interface !== undefined ? byName.get(e.interface) : e.mac !== undefined ? byMac.get(e.mac) : undefined;
    if (
      host === undefined &&
      e.interface === undefined &&
      sharedDevices.length > 0 &&
      (e.mac !== undefined || e.ips.length > 0)
    ) {
      enis.push({ eni: e, device: '', shared: true });
      continue;
    }
    if (host === undefined) {
      const reason =
        e.interface !== undefined
          ? `interface ${e.interface} not present`
          : e.mac !== undefined
            ? `no interface with MAC ${e.mac}`
            : 'neither interface nor MAC given';
      unresolved.push({ id: e.id, reason, eni: e });
      continue;
    }
    if (usedDevices.has(host.name)) {
      unresolved.push({ id: e.id, reason: `interface ${host.name} already captured for another ENI`, eni: e });
      continue;
    }
    usedDevices.add(host.name);
    const ips = e.ips.length > 0 ? e.ips : host.addresses.filter((a) => toCidr(a) !== null);
    const eni: EniConfig = {
      ...e,
      interface: host.name,
      ips,
      cidrs: e.ips.length > 0 ? e.cidrs : ips.map((a) => toCidr(a) as string),
    };
    const mac = e.mac ?? (host.mac !== '' ? host.mac : undefined);
    if (mac !== undefined) eni.mac = mac;
    enis.push({ eni, device: host.name, shared: false });
  }
  return { enis, unresolved };
}

function toCidr(address: string): string | null {
  const parsed = parseIpOrCidr(address);
  return parsed.ok ? parsed.value.cidr : null;
}
