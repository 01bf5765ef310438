/**
 * The validated configuration, as every stage sees it. Produced only by `loadConfig`
 * (src/config/load.ts), which refuses a file whole when any key is wrong; nothing downstream
 * re-validates. Durations are normalised to seconds here so no stage parses units.
 */

export type ResourceType = 'eni' | 'vpc' | 'vswitch';
export type TrafficType = 'all' | 'accept' | 'reject';
export type ExtraField = 'tcp-flags' | 'region' | 'tunnel-srcaddr' | 'tunnel-dstaddr' | 'vni';

export interface EniConfig {
  id: string;
  /** Live capture device (daemon); optional in replay. */
  interface?: string;
  /** Lower-case colon form "00:16:3e:aa:bb:cc". */
  mac?: string;
  /** Addresses and CIDRs exactly as written (validated); `ips` normalised to CIDR form in `cidrs`. */
  ips: string[];
  /**
   * `ips` in canonical CIDR form: "10.0.0.5" -> "10.0.0.5/32", "10.0.0.9/24" -> "10.0.0.0/24",
   * IPv6 compressed lower-case per RFC 5952 ("2001:DB8::1" -> "2001:db8::1/128"). Same order as `ips`.
   * Always set by loadConfig; optional so ENIs built elsewhere (metadata discovery, tests) may omit it.
   */
  cidrs?: string[];
  vpcId: string;
  vswitchId: string;
  vmId: string;
  instanceType?: string;
  /**
   * Security groups of the ENI, evaluated by the agent (src/enrich/policy). Always set by
   * loadConfig (empty: no security-group evaluation); optional for ENIs built elsewhere.
   */
  securityGroups?: SecurityGroupConfig[];
  /** NFLOG groups whose logged (dropped) packets belong to this ENI. */
  nflogGroups?: number[];
}

export type PolicyProtocol = 'tcp' | 'udp' | 'icmp' | 'icmpv6' | 'all';
export type PolicyVerdict = 'accept' | 'drop';

/** One security-group rule. `cidr` is the source for ingress, the destination for egress. */
export interface SecurityGroupRuleConfig {
  /** 1..100, 1 evaluated first; at equal priority drop wins. */
  priority: number;
  direction: 'ingress' | 'egress';
  protocol: PolicyProtocol;
  /** As written: "22/22", "-1/-1" (all), "22", "1000-2000"; matches the destination port. */
  portRange: string;
  cidr: string;
  policy: PolicyVerdict;
}

export interface SecurityGroupConfig {
  id: string;
  /** What traffic matching no rule gets (product default: ingress drop, egress accept). */
  defaultIngress: PolicyVerdict;
  defaultEgress: PolicyVerdict;
  rules: SecurityGroupRuleConfig[];
}

/** One network-ACL entry: stateless, first match decides; `cidr` is the source (ingress) or destination (egress). */
export interface NetworkAclEntryConfig {
  protocol: PolicyProtocol;
  portRange: string;
  cidr: string;
  policy: PolicyVerdict;
}

/** The network ACL of a vSwitch; traffic matching no entry is dropped. */
export interface NetworkAclConfig {
  vswitchId: string;
  ingress: NetworkAclEntryConfig[];
  egress: NetworkAclEntryConfig[];
}

/** An NFLOG group carrying dropped packets, optionally tied to one ENI. */
export interface NflogGroupConfig {
  group: number;
  eni?: string;
}

export interface NflogConfig {
  groups: NflogGroupConfig[];
}

export interface FileSinkConfig {
  type: 'file';
  /** Absolute: a relative path in the file is resolved against the config file's directory. */
  path: string;
}
export interface StdoutSinkConfig {
  type: 'stdout';
}
export interface SlsSinkConfig {
  type: 'sls';
  project: string;
  logstore: string;
  endpoint?: string;
  region?: string;
  intranet?: boolean;
  topic?: string;
  tags?: Record<string, string>;
}
export type SinkConfig = FileSinkConfig | StdoutSinkConfig | SlsSinkConfig;

export interface FlowLogConfig {
  id: string;
  resourceType: ResourceType;
  resourceId: string;
  trafficType: TrafficType;
  /** Aggregation window in seconds: 60, 300 or 600, or a test/demo duration (warned). */
  aggregationIntervalSec: number;
  sink: SinkConfig;
  extraFields: ExtraField[];
}

export interface FlowTableConfig {
  /** Most distinct flows per window per aggregation interval before new flows become SKIPDATA. */
  capacity: number;
  /** Most IPv4/IPv6 first fragments remembered for joining later fragments to their ports. */
  fragmentCacheSize: number;
}

/** libpcap capture settings (daemon). */
export interface CaptureConfig {
  /** How ENI devices are captured: 'libpcap', 'ebpf' (own devices in the kernel), 'auto' (ebpf where usable). */
  engine: 'auto' | 'ebpf' | 'libpcap';
  /** Bytes kept of each frame; the default keeps headers only. */
  snaplenBytes: number;
  /** Ring bytes of all capture devices together; each gets an equal share (src/capture/live/ring-share.ts). */
  totalBufferBytes: number;
  /** Largest ring of one device (the share is smaller on a host with many devices). */
  bufferBytes: number;
  /** Devices shared by many ENIs (bridge, uplink), captured promiscuously; frames counted by address. */
  devices: string[];
  /** Extra BPF filter expression; '' captures everything. Not compiled at load time. */
  filter: string;
  /** Longest pause after a read before a device is polled again; cut to what its ring survives. */
  readPauseMs: number;
  /** MTU of frames whose segmentation the kernel does not report (capture files, NFLOG, libpcap devices). */
  mtuBytes: number;
}

/** The VNI of one VPC on the overlay. */
export interface OverlayVpcConfig {
  vpcId: string;
  /** 24-bit VXLAN / Geneve network identifier. */
  vni: number;
}

/**
 * VXLAN / Geneve decapsulation on the devices that carry the VPC overlay (src/packet/decode/overlay-decoder.ts).
 * Empty `vpcs`: no decapsulation anywhere, tunnels count under their outer header.
 */
export interface OverlayConfig {
  /** Devices carrying the overlay (the uplink), captured promiscuously; their tunnels are opened. */
  devices: string[];
  /** UDP destination ports read as VXLAN. */
  vxlanPorts: number[];
  /** UDP destination ports read as Geneve. */
  genevePorts: number[];
  /** Bytes kept of each frame of an overlay device (outer and inner headers). */
  snaplenBytes: number;
  vpcs: OverlayVpcConfig[];
}

export type DiscoveryType = 'static' | 'ecs-metadata';

/** How ENIs are found: only the `enis` list (static), or also from the ECS metadata service. */
export interface DiscoveryConfig {
  type: DiscoveryType;
  /** Base URL of the metadata service, without a trailing slash. */
  metadataUrl: string;
  /** Use the token-protected (hardened) metadata mode. */
  hardened: boolean;
  /** Fall back to normal (token-less) mode when the hardened token cannot be obtained. */
  allowNormalMode: boolean;
  refreshIntervalSec: number;
}

/** Shared delivery layer (batching, retry, spool) in front of every sink. */
export interface DeliveryConfig {
  /** Longest wait for a batch to fill before it is sent anyway. */
  lingerMs: number;
  /** At most 4096 (Log Service PutLogs limit). */
  maxBatchRecords: number;
  /** At most 3145728 (3 MiB, Log Service PutLogs limit). */
  maxBatchBytes: number;
  /** Requests in flight per sink. */
  concurrency: number;
  retryInitialMs: number;
  /** >= retryInitialMs (checked at load). */
  retryMaxMs: number;
  requestTimeoutMs: number;
  /** Disk spool cap per agent; 0 disables the spool. */
  spoolMaxBytes: number;
  /** On a stop, how long to keep delivering before leaving the rest spooled (default 30 s; always set by loadConfig). */
  stopFlushTimeoutMs?: number;
  /** Memory bound for segments the disk refused (default 64 MiB; always set by loadConfig). */
  spoolMemoryMaxBytes?: number;
  /** Seconds a sink may deliver nothing while records wait before health fails (default 60; always set by loadConfig). */
  unhealthyAfterSec?: number;
}

/** Where SLS credentials come from; absent: the environment / default chain. At most one is set. */
export interface CredentialsConfig {
  /** Absolute path of a credentials file. */
  file?: string;
  /** RAM role name for STS credentials from the metadata service. */
  ramRole?: string;
}

export interface MetricsConfig {
  /** "host:port" ("[v6]:port" for IPv6) of the Prometheus endpoint; '' disables it. */
  listen: string;
  /** `listen` may be an address other than loopback (checked at load; default false). */
  allowNonLoopback?: boolean;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';
export interface LogConfig {
  level: LogLevel;
}

export interface AgentConfig {
  /** Absolute path of the file this came from (for messages). */
  sourcePath: string;
  region: string;
  accountId: string;
  /** Absolute (resolved like file sink paths). */
  stateDir: string;
  enis: EniConfig[];
  flowLogs: FlowLogConfig[];
  flowTable: FlowTableConfig;
  capture: CaptureConfig;
  discovery: DiscoveryConfig;
  delivery: DeliveryConfig;
  /** Present only when the file has a `credentials` section. */
  credentials?: CredentialsConfig;
  metrics: MetricsConfig;
  log: LogConfig;
  /** Network ACLs of the ENIs' vSwitches (agent-side evaluation); always set by loadConfig. */
  networkAcls?: NetworkAclConfig[];
  /** NFLOG groups of dropped traffic (live REJECT records); always set by loadConfig. */
  nflog?: NflogConfig;
  /** Overlay decapsulation; always set by loadConfig (no `vpcs`: off). */
  overlay?: OverlayConfig;
}

/** One finding of validation. Errors refuse the file; warnings are printed and the file is used. */
export interface ConfigProblem {
  severity: 'error' | 'warning';
  /** Key path such as `flowLogs[1].aggregationInterval`, or '' for the whole file. */
  path: string;
  message: string;
  /** 1-based line in the file, when known (YAML syntax errors, and keys where the parser tracks it). */
  line?: number;
}
