/**
 * The validated configuration, as every stage sees it. Produced only by `loadConfig`
 * (src/config/load.ts), which refuses a file whole when any key is wrong; nothing downstream
 * re-validates. Durations are normalised to seconds here so no stage parses units.
 */

export type ResourceType = 'eni' | 'vpc' | 'vswitch';
export type TrafficType = 'all' | 'accept' | 'reject';
export type ExtraField = 'tcp-flags' | 'region';

export interface EniConfig {
  id: string;
  /** Live capture device (daemon); optional in replay. */
  interface?: string;
  /** Lower-case colon form "00:16:3e:aa:bb:cc". */
  mac?: string;
  /** Addresses and CIDRs exactly as written (validated); `ips` normalised to CIDR form in `cidrs`. */
  ips: string[];
  vpcId: string;
  vswitchId: string;
  vmId: string;
  instanceType?: string;
}

export interface FileSinkConfig {
  type: 'file';
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

export interface AgentConfig {
  /** Absolute path of the file this came from (for messages). */
  sourcePath: string;
  region: string;
  accountId: string;
  stateDir: string;
  enis: EniConfig[];
  flowLogs: FlowLogConfig[];
  flowTable: FlowTableConfig;
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
