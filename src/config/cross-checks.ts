/**
 * Rules that involve more than one value (uniqueness, which flow log covers which ENI, ...).
 * They run on the walked value even when the walk found errors, so they must tolerate
 * undefined anywhere: a wrong value was already reported and is skipped here.
 */
import { parsePortRange } from './port-range';
import { RING_FLOOR_BYTES } from '../capture/live/ring-share';
import { isLoopbackHost, parseListenAddress } from '../metrics/listen-address';
import { parseIpOrCidr } from './net-address';
import { formatByteSize } from './units';
import { UNSUPPORTED_INSTANCE_FAMILIES } from './schema';
import type { SchemaWalk } from './schema-walk';

type Loose = Record<string, unknown> | undefined;

function records(value: unknown): Loose[] {
  return Array.isArray(value)
    ? value.map((v) => (v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined))
    : [];
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Reports, as errors, every value of `key` seen before at another index of `items`. */
function checkUnique(
  walk: SchemaWalk,
  items: Loose[],
  listPath: string,
  key: string,
  what: string,
  keyOf: (item: Loose) => string | undefined = (item) => str(item?.[key]),
): void {
  const first = new Map<string, number>();
  items.forEach((item, i) => {
    const value = keyOf(item);
    if (value === undefined) return;
    const earlier = first.get(value);
    if (earlier === undefined) {
      first.set(value, i);
      return;
    }
    const path = `${listPath}[${i}].${key}`;
    const earlierLine = walk.lines.get(`${listPath}[${earlier}].${key}`);
    walk.error(
      path,
      `duplicate ${what} "${value}" (also ${listPath}[${earlier}]${earlierLine ? `, line ${earlierLine}` : ''})`,
      walk.lines.get(path),
    );
  });
}

/** Family of an instance type: up to the second dot ("ecs.c4.large" -> "ecs.c4"). */
export function instanceFamily(instanceType: string): string {
  return instanceType.split('.').slice(0, 2).join('.');
}

/** Whether `flowLog` (resourceType/resourceId) covers `eni` (by id, VPC or vSwitch). */
export function flowLogCovers(flowLog: Loose, eni: Loose): boolean {
  const id = str(flowLog?.resourceId);
  if (id === undefined || !eni) return false;
  switch (flowLog?.resourceType) {
    case 'eni':
      return eni.id === id;
    case 'vpc':
      return eni.vpcId === id;
    case 'vswitch':
      return eni.vswitchId === id;
    default:
      return false;
  }
}

/** The metrics endpoint has no authentication: an address off loopback needs metrics.allowNonLoopback. */
function checkMetricsListen(walk: SchemaWalk, metrics: Loose): void {
  const listen = str(metrics?.listen);
  if (listen === undefined || listen === '' || metrics?.allowNonLoopback === true) return;
  const address = parseListenAddress(listen);
  if (address === undefined || isLoopbackHost(address.host)) return;
  walk.error(
    'metrics.listen',
    `"${listen}" is not a loopback address and the endpoint has no authentication (anyone who reaches it reads the host's ENIs and traffic counters); set metrics.allowNonLoopback: true to serve it there anyway`,
    walk.lines.get('metrics.listen'),
  );
}

export function runCrossChecks(walk: SchemaWalk, config: Record<string, unknown>): void {
  checkMetricsListen(walk, config.metrics as Loose);
  const enis = records(config.enis);
  const flowLogs = records(config.flowLogs);
  const discovery = config.discovery as Loose;
  const dynamic = discovery?.type === 'ecs-metadata';

  if (Array.isArray(config.enis) && enis.length === 0 && discovery?.type === 'static') {
    walk.error(
      'enis',
      "at least one ENI is required unless discovery.type is ecs-metadata (`flowlog-agent init` lists this host's taps and veths)",
      walk.lines.get('enis'),
    );
  }

  enis.forEach((eni, i) => {
    const at = `enis[${i}]`;
    // Presence of the key, not a valid value: a malformed mac was reported already.
    const hasMatcher =
      walk.lines.has(`${at}.interface`) ||
      walk.lines.has(`${at}.mac`) ||
      (Array.isArray(eni?.ips) ? eni.ips.length > 0 : walk.lines.has(`${at}.ips`));
    if (eni && !hasMatcher) {
      walk.error(
        at,
        'needs at least one of interface, mac or ips, or no packet can ever be matched to it',
        walk.lines.get(at),
      );
    }
  });
  checkUnique(walk, enis, 'enis', 'id', 'ENI id');
  checkUnique(walk, enis, 'enis', 'mac', 'MAC');
  checkUnique(walk, enis, 'enis', 'interface', 'interface');
  checkSharedAddresses(walk, enis);
  checkCaptureDevices(walk, enis, config.capture as Loose, config.overlay as Loose);
  checkOverlay(walk, enis, config.capture as Loose, config.overlay as Loose);

  checkUnique(walk, flowLogs, 'flowLogs', 'id', 'flow log id');
  checkUnique(walk, flowLogs, 'flowLogs', 'sink', 'output file', (fl) => {
    const sink = fl?.sink as Loose;
    return sink?.type === 'file' ? str(sink.path) : undefined;
  });

  flowLogs.forEach((fl, i) => {
    const at = `flowLogs[${i}]`;
    const extra = Array.isArray(fl?.extraFields) ? (fl.extraFields as unknown[]) : [];
    extra.forEach((field, j) => {
      // Extra fields are names (the schema reports anything else): only a repeated name is a duplicate.
      if (typeof field === 'string' && extra.indexOf(field) < j) {
        walk.error(
          `${at}.extraFields[${j}]`,
          `duplicate extra field "${String(field)}"`,
          walk.lines.get(`${at}.extraFields[${j}]`),
        );
      }
    });
    if (!fl || str(fl.resourceId) === undefined || typeof fl.resourceType !== 'string') return;
    if (!enis.some((eni) => flowLogCovers(fl, eni))) {
      const later = dynamic ? '; it may match an ENI found later through ecs-metadata discovery' : '';
      walk.warning(
        `${at}.resourceId`,
        `${fl.resourceType} ${String(fl.resourceId)} matches no configured ENI${later}`,
        walk.lines.get(`${at}.resourceId`),
      );
    }
  });

  enis.forEach((eni, i) => {
    const type = str(eni?.instanceType);
    if (type === undefined) return;
    const family = instanceFamily(type);
    if (!(UNSUPPORTED_INSTANCE_FAMILIES as readonly string[]).includes(family)) return;
    const path = `enis[${i}].instanceType`;
    const covering = flowLogs.find((fl) => flowLogCovers(fl, eni));
    const what = `instance family ${family} (${type}) does not support flow logs`;
    if (covering) {
      walk.error(
        path,
        `${what}, yet flow log ${String(covering.id)} covers this ENI: upgrade the instance to a supported instance type or release it`,
        walk.lines.get(path),
      );
    } else {
      walk.warning(
        path,
        `${what}; no flow log covers this ENI now, but none can until the instance is upgraded to a supported instance type`,
        walk.lines.get(path),
      );
    }
  });

  const delivery = config.delivery as Loose;
  if (
    typeof delivery?.retryInitialMs === 'number' &&
    typeof delivery.retryMaxMs === 'number' &&
    delivery.retryMaxMs < delivery.retryInitialMs
  ) {
    walk.error(
      'delivery.retryMaxMs',
      `must be at least delivery.retryInitialMs (${delivery.retryInitialMs}), got ${delivery.retryMaxMs}`,
      walk.lines.get('delivery.retryMaxMs'),
    );
  }

  checkPolicies(walk, enis, records(config.networkAcls));
  checkNflogGroups(walk, enis, config.nflog as Loose);

  const credentials = config.credentials as Loose;
  if (walk.lines.has('credentials.file') && walk.lines.has('credentials.ramRole') && credentials) {
    walk.error('credentials', 'give either file or ramRole, not both', walk.lines.get('credentials'));
  }
}

/** The same address or network written for two ENIs makes matching ambiguous: warn. */
function checkSharedAddresses(walk: SchemaWalk, enis: Loose[]): void {
  const owner = new Map<string, string>();
  enis.forEach((eni, i) => {
    const ips = Array.isArray(eni?.ips) ? (eni.ips as unknown[]) : [];
    ips.forEach((ip, j) => {
      if (typeof ip !== 'string') return;
      const parsed = parseIpOrCidr(ip);
      if (!parsed.ok) return;
      const path = `enis[${i}].ips[${j}]`;
      const earlier = owner.get(parsed.value.cidr);
      if (earlier === undefined) {
        owner.set(parsed.value.cidr, path);
      } else {
        walk.warning(
          path,
          `${parsed.value.cidr} is also given at ${earlier}; matching packets to ENIs by this address is ambiguous`,
          walk.lines.get(path),
        );
      }
    });
  });
}

/** Port ranges of security-group rules and network-ACL entries, and unique ids. */
function checkPolicies(walk: SchemaWalk, enis: Loose[], acls: Loose[]): void {
  const checkEntry = (entry: Loose, at: string) => {
    const range = str(entry?.portRange);
    if (range === undefined) return;
    const parsed = parsePortRange(range);
    const path = `${at}.portRange`;
    if (!parsed.ok) {
      walk.error(path, parsed.reason, walk.lines.get(path) ?? walk.lines.get(at));
    } else if (
      !parsed.value.any &&
      entry?.protocol !== 'tcp' &&
      entry?.protocol !== 'udp' &&
      typeof entry?.protocol === 'string'
    ) {
      walk.error(
        path,
        `must be "-1/-1" for protocol ${entry.protocol} (ports exist only for tcp and udp), got "${range}"`,
        walk.lines.get(path),
      );
    }
  };
  enis.forEach((eni, i) => {
    const groups = records(eni?.securityGroups);
    checkUnique(walk, groups, `enis[${i}].securityGroups`, 'id', 'security group id');
    groups.forEach((g, j) =>
      records(g?.rules).forEach((rule, k) => checkEntry(rule, `enis[${i}].securityGroups[${j}].rules[${k}]`)),
    );
  });
  checkUnique(walk, acls, 'networkAcls', 'vswitchId', 'network ACL vSwitch');
  acls.forEach((acl, i) => {
    for (const direction of ['ingress', 'egress']) {
      records(acl?.[direction]).forEach((entry, k) => checkEntry(entry, `networkAcls[${i}].${direction}[${k}]`));
    }
  });
}

/**
 * Shared capture devices are unique and never an ENI's own interface (one device, one way of
 * counting), and the ring budget gives every device it can count (ENI interfaces and shared
 * devices) at least the floor share.
 */
function checkCaptureDevices(walk: SchemaWalk, enis: Loose[], capture: Loose, overlay: Loose): void {
  const devices = Array.isArray(capture?.devices) ? (capture.devices as unknown[]) : [];
  const sharedAt = new Map<string, number>();
  devices.forEach((d, j) => {
    if (typeof d !== 'string') return;
    const path = `capture.devices[${j}]`;
    const earlier = sharedAt.get(d);
    if (earlier !== undefined)
      walk.error(path, `duplicate shared device "${d}" (also capture.devices[${earlier}])`, walk.lines.get(path));
    else sharedAt.set(d, j);
  });
  enis.forEach((eni, i) => {
    const dev = str(eni?.interface);
    const j = dev === undefined ? undefined : sharedAt.get(dev);
    if (j === undefined) return;
    const path = `enis[${i}].interface`;
    walk.error(
      path,
      `"${dev}" is also a shared device (capture.devices[${j}]); an ENI on a shared device needs mac or ips, not interface`,
      walk.lines.get(path),
    );
  });
  const total = capture?.totalBufferBytes;
  if (typeof total !== 'number') return;
  const overlayDevices = Array.isArray(overlay?.devices) ? new Set(overlay.devices as unknown[]).size : 0;
  const handles = enis.filter((e) => str(e?.interface) !== undefined).length + sharedAt.size + overlayDevices;
  const cap = typeof capture?.bufferBytes === 'number' ? capture.bufferBytes : RING_FLOOR_BYTES;
  const floor = Math.min(RING_FLOOR_BYTES, cap);
  if (total < floor * handles) {
    const path = 'capture.totalBufferBytes';
    walk.error(
      path,
      `${formatByteSize(total)} is below ${formatByteSize(floor)} (the smallest ring) x ${handles} capture devices (ENI interfaces, capture.devices and overlay.devices) = ${formatByteSize(floor * handles)}; raise it to at least that`,
      walk.lines.get(path),
    );
  }
}

/**
 * Overlay: VNIs and VPC ids unique, a port read as one tunnel kind only, overlay devices apart
 * from the ENIs' interfaces and the shared devices; a VPC no ENI is in draws a warning.
 */
function checkOverlay(walk: SchemaWalk, enis: Loose[], capture: Loose, overlay: Loose): void {
  const vpcs = records(overlay?.vpcs);
  checkUnique(walk, vpcs, 'overlay.vpcs', 'vpcId', 'VPC id');
  const vniAt = new Map<number, number>();
  vpcs.forEach((vpc, i) => {
    const vni = vpc?.vni;
    if (typeof vni !== 'number') return;
    const path = `overlay.vpcs[${i}].vni`;
    const earlier = vniAt.get(vni);
    if (earlier !== undefined)
      walk.error(
        path,
        `VNI ${vni} is also the VNI of overlay.vpcs[${earlier}] (${String(vpcs[earlier]?.vpcId)}); a VNI names one VPC`,
        walk.lines.get(path),
      );
    else vniAt.set(vni, i);
    const id = str(vpc?.vpcId);
    if (id !== undefined && !enis.some((e) => e?.vpcId === id))
      walk.warning(
        `overlay.vpcs[${i}].vpcId`,
        `VPC ${id} has no configured ENI; its tunnels count as unattributed`,
        walk.lines.get(`overlay.vpcs[${i}].vpcId`),
      );
  });
  const vxlan = Array.isArray(overlay?.vxlanPorts) ? (overlay.vxlanPorts as unknown[]) : [];
  const geneve = Array.isArray(overlay?.genevePorts) ? (overlay.genevePorts as unknown[]) : [];
  geneve.forEach((port, j) => {
    const i = vxlan.indexOf(port);
    if (typeof port !== 'number' || i < 0) return;
    const path = `overlay.genevePorts[${j}]`;
    walk.error(
      path,
      `port ${port} is also a VXLAN port (overlay.vxlanPorts[${i}]); a port carries one tunnel kind`,
      walk.lines.get(path),
    );
  });
  const shared = Array.isArray(capture?.devices) ? (capture.devices as unknown[]) : [];
  const devices = Array.isArray(overlay?.devices) ? (overlay.devices as unknown[]) : [];
  devices.forEach((d, j) => {
    if (typeof d !== 'string') return;
    const path = `overlay.devices[${j}]`;
    if (devices.indexOf(d) < j) walk.error(path, `duplicate overlay device "${d}"`, walk.lines.get(path));
    else if (shared.includes(d))
      walk.error(
        path,
        `"${d}" is also a shared device (capture.devices[${shared.indexOf(d)}]); a device is captured one way`,
        walk.lines.get(path),
      );
    else {
      const i = enis.findIndex((e) => str(e?.interface) === d);
      if (i >= 0)
        walk.error(
          path,
          `"${d}" is the interface of enis[${i}]; an overlay device carries the tunnels of ENIs without one`,
          walk.lines.get(path),
        );
    }
  });
  if (devices.length > 0 && vpcs.length === 0)
    walk.warning(
      'overlay.devices',
      'overlay devices without overlay.vpcs decapsulate nothing: their frames count as on a shared device',
      walk.lines.get('overlay.devices'),
    );
}

/** NFLOG group numbers are unique over `nflog.groups` and the ENIs' `nflogGroups`; `eni` exists. */
function checkNflogGroups(walk: SchemaWalk, enis: Loose[], nflog: Loose): void {
  const seen = new Map<number, string>();
  const claim = (group: unknown, path: string) => {
    if (typeof group !== 'number') return;
    const earlier = seen.get(group);
    if (earlier === undefined) seen.set(group, path);
    else walk.error(path, `duplicate NFLOG group ${group} (also ${earlier})`, walk.lines.get(path));
  };
  const ids = new Set(enis.map((e) => str(e?.id)).filter((id) => id !== undefined));
  records(nflog?.groups).forEach((g, i) => {
    claim(g?.group, `nflog.groups[${i}].group`);
    const eni = str(g?.eni);
    const path = `nflog.groups[${i}].eni`;
    if (eni !== undefined && !ids.has(eni)) walk.error(path, `names no configured ENI: "${eni}"`, walk.lines.get(path));
  });
  enis.forEach((eni, i) => {
    const groups = Array.isArray(eni?.nflogGroups) ? (eni.nflogGroups as unknown[]) : [];
    groups.forEach((group, j) => claim(group, `enis[${i}].nflogGroups[${j}]`));
  });
}
