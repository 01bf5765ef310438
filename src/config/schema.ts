/**
 * The configuration schema: every key the agent reads, as data. Validation (schema-walk.ts,
 * cross-checks.ts) and the Markdown reference (reference.ts) are both derived from it.
 */
import { PUT_LOGS_MAX_LOGS, PUT_LOGS_MAX_RAW_BYTES } from '../output/sls/sls-limits';
import { RING_FLOOR_BYTES } from '../capture/live/ring-share';
import type { FieldSchema, ObjectSchema, VariantSchema } from './schema-types';

/** Regions where VPC flow logs are offered. */
export const SUPPORTED_REGIONS = [
  'cn-qingdao',
  'cn-beijing',
  'cn-zhangjiakou',
  'cn-huhehaote',
  'cn-wulanchabu',
  'cn-hangzhou',
  'cn-shanghai',
  'cn-shenzhen',
  'cn-heyuan',
  'cn-guangzhou',
  'cn-chengdu',
  'cn-hongkong',
  'ap-northeast-1',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-southeast-3',
  'ap-southeast-5',
  'us-west-1',
  'us-east-1',
  'eu-central-1',
  'eu-west-1',
  'ap-south-1',
  'me-east-1',
] as const;

/** Instance families (type up to the second dot) whose ENIs cannot have flow logs. */
export const UNSUPPORTED_INSTANCE_FAMILIES = [
  'ecs.c1',
  'ecs.c2',
  'ecs.c4',
  'ecs.ce4',
  'ecs.cm4',
  'ecs.d1',
  'ecs.e3',
  'ecs.e4',
  'ecs.ga1',
  'ecs.gn4',
  'ecs.gn5',
  'ecs.i1',
  'ecs.m1',
  'ecs.m2',
  'ecs.mn4',
  'ecs.n1',
  'ecs.n2',
  'ecs.n4',
  'ecs.s1',
  'ecs.s2',
  'ecs.s3',
  'ecs.se1',
  'ecs.sn1',
  'ecs.sn2',
  'ecs.t1',
  'ecs.xn4',
] as const;

/** The product's per-region flow log limit. */
export const MAX_FLOW_LOGS_PER_REGION = 10;
const POLICY_PROTOCOLS = ['tcp', 'udp', 'icmp', 'icmpv6', 'all'] as const;
const POLICY_VERDICTS = ['accept', 'drop'] as const;
const PORT_RANGE_DOC =
  'Destination port range: `"22/22"` or `"-1/-1"` (all ports) as the product writes it; `"22"` and `"1000-2000"` are accepted too. Must be `"-1/-1"` for icmp, icmpv6 and all.';

const SECURITY_GROUP_RULE: ObjectSchema = {
  kind: 'object',
  fields: [
    {
      key: 'priority',
      type: { kind: 'integer', min: 1, max: 100 },
      default: 1,
      doc: 'Evaluation order, 1 first; at equal priority a drop rule wins.',
    },
    {
      key: 'direction',
      type: { kind: 'enum', values: ['ingress', 'egress'] },
      required: true,
      doc: 'Traffic entering (`ingress`) or leaving (`egress`) the ENI.',
    },
    {
      key: 'protocol',
      type: { kind: 'enum', values: POLICY_PROTOCOLS },
      required: true,
      doc: 'Protocol matched; `all` matches every protocol.',
    },
    { key: 'portRange', type: { kind: 'string', format: 'non-empty' }, default: '-1/-1', doc: PORT_RANGE_DOC },
    {
      key: 'cidr',
      type: { kind: 'string', format: 'ip-or-cidr' },
      required: true,
      doc: 'Source (ingress) or destination (egress) address or CIDR; `0.0.0.0/0` matches IPv4 only, `::/0` IPv6 only.',
    },
    {
      key: 'policy',
      type: { kind: 'enum', values: POLICY_VERDICTS },
      default: 'accept',
      doc: 'What a matching packet gets.',
    },
  ],
  rules: ['The port range must be "-1/-1" unless the protocol is tcp or udp.'],
};

const SECURITY_GROUP: ObjectSchema = {
  kind: 'object',
  fields: [
    {
      key: 'id',
      type: { kind: 'string', format: 'non-empty' },
      required: true,
      doc: 'Security group id, shown by `flowlog-agent check`. Unique per ENI.',
    },
    {
      key: 'defaultIngress',
      type: { kind: 'enum', values: POLICY_VERDICTS },
      default: 'drop',
      doc: 'Inbound traffic matching no rule of any group of the ENI.',
    },
    {
      key: 'defaultEgress',
      type: { kind: 'enum', values: POLICY_VERDICTS },
      default: 'accept',
      doc: 'Outbound traffic matching no rule of any group of the ENI.',
    },
    {
      key: 'rules',
      type: { kind: 'list', items: SECURITY_GROUP_RULE },
      default: [],
      doc: 'Rules; order in the file does not matter (priority does).',
    },
  ],
  rules: [
    "Stateful: replies of an accepted connection are accepted whatever the rules say. A connection idle for up to 910 s (the product's session length) is remembered; one idle for twice that is forgotten and its next packets are judged by their own rules.",
    'The rules of all groups of an ENI are merged into one list sorted by priority, drop before accept at equal priority; the first match decides. Traffic matching no rule is accepted when any group defaults to accept for that direction.',
  ],
};

const NETWORK_ACL_ENTRY: ObjectSchema = {
  kind: 'object',
  fields: [
    {
      key: 'protocol',
      type: { kind: 'enum', values: POLICY_PROTOCOLS },
      required: true,
      doc: 'Protocol matched; `all` matches every protocol.',
    },
    { key: 'portRange', type: { kind: 'string', format: 'non-empty' }, default: '-1/-1', doc: PORT_RANGE_DOC },
    {
      key: 'cidr',
      type: { kind: 'string', format: 'ip-or-cidr' },
      required: true,
      doc: 'Source (ingress) or destination (egress) address or CIDR.',
    },
    {
      key: 'policy',
      type: { kind: 'enum', values: POLICY_VERDICTS },
      required: true,
      doc: 'What a matching packet gets.',
    },
  ],
};

const NETWORK_ACL: ObjectSchema = {
  kind: 'object',
  fields: [
    {
      key: 'vswitchId',
      type: { kind: 'string', format: 'non-empty' },
      required: true,
      doc: 'vSwitch the ACL is associated with; it applies to every ENI with this `vswitchId`. Unique.',
    },
    {
      key: 'ingress',
      type: { kind: 'list', items: NETWORK_ACL_ENTRY },
      default: [],
      doc: 'Inbound entries in order; the first match decides.',
    },
    {
      key: 'egress',
      type: { kind: 'list', items: NETWORK_ACL_ENTRY },
      default: [],
      doc: 'Outbound entries in order; the first match decides.',
    },
  ],
  rules: [
    'Stateless: replies are evaluated by the entries of their own direction (allow the ephemeral ports).',
    'Write the default entry last (e.g. `{protocol: all, cidr: 0.0.0.0/0, policy: accept}`): traffic matching no entry is dropped.',
  ],
};

const ENI_FIELDS: readonly FieldSchema[] = [
  {
    key: 'id',
    type: { kind: 'string', format: 'eni-id' },
    required: true,
    doc: 'ENI id; the `eni-id` of its records. Unique.',
  },
  {
    key: 'interface',
    type: { kind: 'string', format: 'non-empty' },
    doc: 'Capture device of this ENI (daemon), e.g. `eth1`. Unique.',
  },
  {
    key: 'mac',
    type: { kind: 'string', format: 'mac' },
    doc: 'MAC address of the ENI; frames to or from it belong to it. Unique.',
  },
  {
    key: 'ips',
    type: { kind: 'list', items: { kind: 'string', format: 'ip-or-cidr' } },
    default: [],
    doc: 'Addresses or CIDRs of the ENI (primary and secondary private IPs, IPv6).',
  },
  {
    key: 'vpcId',
    type: { kind: 'string', format: 'non-empty' },
    required: true,
    doc: 'VPC of the ENI; the `vpc-id` of its records.',
  },
  {
    key: 'vswitchId',
    type: { kind: 'string', format: 'non-empty' },
    required: true,
    doc: 'vSwitch of the ENI; the `vswitch-id` of its records.',
  },
  {
    key: 'vmId',
    type: { kind: 'string', format: 'non-empty' },
    required: true,
    doc: 'Instance the ENI is attached to; the `vm-id` of its records.',
  },
  {
    key: 'instanceType',
    type: { kind: 'string', format: 'instance-type' },
    doc: 'Instance type, checked against the families that do not support flow logs.',
  },
  {
    key: 'securityGroups',
    type: { kind: 'list', items: SECURITY_GROUP },
    default: [],
    doc: 'Security groups the agent evaluates for this ENI to mark flows REJECT; empty: none.',
  },
  {
    key: 'nflogGroups',
    type: { kind: 'list', items: { kind: 'integer', min: 0, max: 65535 } },
    default: [],
    doc: "NFLOG groups whose logged (dropped) packets are this ENI's REJECT traffic.",
  },
];

const SINK_SCHEMA: VariantSchema = {
  kind: 'variant',
  tag: 'type',
  variants: [
    {
      name: 'file',
      doc: 'JSON lines, one record per line, appended to a file.',
      fields: [
        {
          key: 'path',
          type: { kind: 'string', format: 'path' },
          required: true,
          doc: 'Output file. No two flow logs may share one.',
        },
      ],
    },
    { name: 'stdout', doc: 'JSON lines on standard output (replay, demos).', fields: [] },
    {
      name: 'sls',
      doc: 'Alibaba Cloud Log Service (PutLogs).',
      fields: [
        {
          key: 'project',
          type: { kind: 'string', format: 'sls-project' },
          required: true,
          doc: 'Log Service project.',
        },
        {
          key: 'logstore',
          type: { kind: 'string', format: 'sls-logstore' },
          required: true,
          doc: 'Logstore in the project.',
        },
        {
          key: 'endpoint',
          type: { kind: 'string', format: 'sls-endpoint' },
          doc: 'Endpoint host; absent: derived from the region and `intranet`.',
        },
        {
          key: 'region',
          type: { kind: 'enum', values: SUPPORTED_REGIONS },
          doc: 'Region of the project; absent: the top-level `region`.',
        },
        {
          key: 'intranet',
          type: { kind: 'boolean' },
          doc: 'Use the intranet (VPC) endpoint when the endpoint is derived.',
        },
        { key: 'topic', type: { kind: 'string' }, doc: 'Log topic (`__topic__`) of every log group.' },
        {
          key: 'tags',
          type: { kind: 'map', values: { kind: 'string' } },
          doc: 'Log tags (`__tag__:key`) added to every log group.',
        },
      ],
    },
  ],
};

const FLOW_LOG_SCHEMA: ObjectSchema = {
  kind: 'object',
  rules: [
    'Ids are unique.',
    'A flow log whose resource matches no configured ENI (by ENI id, `vpcId` or `vswitchId`) draws a warning; with `ecs-metadata` discovery it may match an ENI found later.',
  ],
  fields: [
    {
      key: 'id',
      type: { kind: 'string', format: 'flow-log-id' },
      required: true,
      doc: 'Flow log id, e.g. `fl-1`. Unique.',
    },
    {
      key: 'resourceType',
      type: { kind: 'enum', values: ['eni', 'vpc', 'vswitch'] },
      required: true,
      doc: 'What the flow log covers: one ENI, every ENI of a VPC, or every ENI of a vSwitch.',
    },
    {
      key: 'resourceId',
      type: { kind: 'string', format: 'non-empty' },
      required: true,
      doc: 'Id of the ENI, VPC or vSwitch.',
    },
    {
      key: 'trafficType',
      type: { kind: 'enum', values: ['all', 'accept', 'reject'] },
      default: 'all',
      doc: 'Which records are kept, by their `action`.',
    },
    {
      key: 'aggregationInterval',
      outputKey: 'aggregationIntervalSec',
      type: { kind: 'window', minutes: [1, 5, 10] },
      unit: 'minutes',
      default: 600,
      doc: 'Aggregation window, aligned to the clock: `1`, `5` or `10` (minutes). For tests and demos a duration string such as `"30s"` or `"2m"` (whole seconds, from 1 s to 1 h) is accepted with a warning, as the product offers only 1, 5 and 10 minutes.',
    },
    {
      key: 'sink',
      type: SINK_SCHEMA,
      required: true,
      doc: 'Where the records go; `type` selects one of the forms below.',
    },
    {
      key: 'extraFields',
      type: {
        kind: 'list',
        items: { kind: 'enum', values: ['tcp-flags', 'region', 'tunnel-srcaddr', 'tunnel-dstaddr', 'vni'] },
      },
      default: [],
      doc: 'Fields appended after the 18 standard ones. No duplicates. `tunnel-srcaddr`, `tunnel-dstaddr` and `vni` are the outer addresses and the VNI of a flow decapsulated from the overlay (see `overlay`), `-` for other flows.',
    },
  ],
};

/** The whole file. */
export const AGENT_SCHEMA: ObjectSchema = {
  kind: 'object',
  rules: [],
  fields: [
    {
      key: 'region',
      type: { kind: 'enum', values: SUPPORTED_REGIONS, meaning: 'a region where flow logs are offered' },
      required: true,
      doc: 'Region of the VPCs; a region where flow logs are offered.',
    },
    {
      key: 'accountId',
      type: { kind: 'string', format: 'digits', acceptExactDigitsNumber: true },
      required: true,
      doc: 'Alibaba Cloud account id, the `account-id` of every record. Quote it: an unquoted number too long for exact representation is refused.',
    },
    {
      key: 'stateDir',
      type: { kind: 'string', format: 'path' },
      default: '/var/lib/flowlog-agent',
      doc: 'Directory for the spool and other state.',
    },
    {
      key: 'enis',
      type: {
        kind: 'list',
        items: {
          kind: 'object',
          fields: ENI_FIELDS,
          rules: [
            'Each ENI needs at least one of `interface`, `mac` or `ips`, or no packet could ever be matched to it.',
            'Ids, MACs and interfaces are unique; an address given to two ENIs draws a warning.',
            'An `instanceType` of an unsupported family (' +
              UNSUPPORTED_INSTANCE_FAMILIES.join(', ') +
              ') is an error when a flow log covers the ENI (the instance must be upgraded to a supported type or released), otherwise a warning.',
          ],
        },
      },
      default: [],
      doc: 'ENIs whose traffic is logged. May be empty only when `discovery.type` is `ecs-metadata`.',
    },
    {
      key: 'flowLogs',
      type: {
        kind: 'list',
        items: FLOW_LOG_SCHEMA,
        maxItems: { count: MAX_FLOW_LOGS_PER_REGION, noun: 'flow logs per region' },
      },
      default: [],
      doc: 'Flow logs: which ENIs, which records, how aggregated, and where to.',
    },
    {
      key: 'flowTable',
      type: {
        kind: 'object',
        fields: [
          {
            key: 'capacity',
            type: { kind: 'integer', min: 1 },
            unit: 'flows',
            default: 1_000_000,
            doc: 'Most distinct flows per window per aggregation interval; further flows are counted in a SKIPDATA record.',
          },
          {
            key: 'fragmentCacheSize',
            type: { kind: 'integer', min: 1 },
            unit: 'entries',
            default: 4096,
            doc: 'Most first fragments remembered to give later fragments their ports.',
          },
        ],
        rules: [
          "One ENI cannot take the table from the others: each of the N ENIs an interval's flow logs cover is guaranteed `capacity` / 2N flows of every window, the rest is shared first come, first served. An ENI past its guarantee gets new flows only while the guarantees its neighbours have not used still fit; its refused packets go to its SKIPDATA record and `flowlog_flow_table_refused_packets_total{eni}`. Nothing is evicted: when N changes inside a window the guarantee follows the new N from then on.",
        ],
      },
      doc: 'Flow table sizing.',
    },
    {
      key: 'capture',
      type: {
        kind: 'object',
        fields: [
          {
            key: 'engine',
            type: { kind: 'enum', values: ['auto', 'ebpf', 'libpcap'] },
            default: 'auto',
            doc: "How ENI devices are captured. `libpcap`: every frame through a kernel ring (the agent's own TPACKET_V3 handle). `ebpf`: an ENI's own device is aggregated in the kernel by a TC program (docs/ebpf-engine.md), drained every second; shared and overlay devices stay on libpcap. `auto`: `ebpf` where the kernel, the process's capabilities and the engine's files allow it, else `libpcap`; `capture started` names the engine and why.",
          },
          {
            key: 'snaplenBytes',
            type: { kind: 'integer', min: 64, max: 262144 },
            unit: 'bytes',
            default: 128,
            doc: 'Bytes kept of each frame; the default keeps headers only.',
          },
          {
            key: 'totalBufferBytes',
            type: { kind: 'bytes', min: RING_FLOOR_BYTES },
            unit: 'bytes',
            default: 256 * 1024 * 1024,
            doc: 'Kernel capture rings of all devices together: each handle gets an equal share (rounded down to 256 KiB, at least 512 KiB, at most `bufferBytes`).',
          },
          {
            key: 'bufferBytes',
            type: { kind: 'bytes', min: 65536 },
            unit: 'bytes',
            default: 32 * 1024 * 1024,
            doc: 'Largest ring of one device, when the share of `totalBufferBytes` is larger (a host with few ENIs); a ring is kernel memory mapped into the agent.',
          },
          {
            key: 'devices',
            type: { kind: 'list', items: { kind: 'string', format: 'non-empty' } },
            default: [],
            doc: 'Devices shared by many ENIs (a Linux bridge, an OVS internal port, a macvlan parent, the uplink), captured promiscuously; frames there count for the ENIs their MACs, else addresses, name.',
          },
          {
            key: 'filter',
            type: { kind: 'string' },
            default: '',
            doc: 'Extra BPF filter expression; empty captures everything.',
          },
          {
            key: 'readPauseMs',
            type: { kind: 'integer', min: 0, max: 1000 },
            unit: 'ms',
            default: 40,
            doc: 'After each read of a device, how long frames gather in its ring before the agent polls it again: fewer wake-ups, each reading several blocks. Cut for each ring so that a 1.5 Mpps burst of full-snaplen frames fills at most half of it meanwhile (at snaplen 128: 58 ms for a 32 MiB ring, 7 for 4 MiB, none for the 512 KiB minimum share); logged per device in `capture started`. 0 reads on every wake-up.',
          },
          {
            key: 'mtuBytes',
            type: { kind: 'integer', min: 68, max: 65536 },
            unit: 'bytes',
            default: 1500,
            doc: "MTU of frames whose segmentation the kernel does not report: capture files in replay (`replay --mtu` overrides it), NFLOG groups, and devices read through libpcap (not Ethernet). A larger TCP or UDP frame is a GSO/GRO super-frame and counts as the segments this MTU (and for TCP the MSS of the flow's SYN) gives: derived, not measured. Ethernet devices report the kernel's segmentation and use their own MTU.",
          },
        ],
        rules: [
          'The ring share is `totalBufferBytes` divided by the devices captured (ENI devices and `devices`), computed when a device is opened; `validate` refuses a budget below 512 KiB (two TPACKET_V3 blocks) per device it can count.',
          'An ENI with a device of its own (its `interface`, or a host device with its MAC) is counted on that device alone; shared devices count only the ENIs without one, so no packet is counted twice. A frame between two ENIs of a shared device counts once for each; a frame of no such ENI counts as unattributed.',
          "A device may not be both an ENI's `interface` and a shared device.",
        ],
      },
      doc: 'libpcap capture settings (daemon).',
    },
    {
      key: 'discovery',
      type: {
        kind: 'object',
        fields: [
          {
            key: 'type',
            type: { kind: 'enum', values: ['static', 'ecs-metadata'] },
            default: 'static',
            doc: '`static`: only the `enis` list; `ecs-metadata`: also ENIs found through the ECS metadata service.',
          },
          {
            key: 'metadataUrl',
            type: { kind: 'string', format: 'http-url' },
            default: 'http://100.100.100.200',
            doc: 'Metadata service base URL.',
          },
          {
            key: 'hardened',
            type: { kind: 'boolean' },
            default: true,
            doc: 'Use the token-protected (hardened) metadata mode.',
          },
          {
            key: 'allowNormalMode',
            type: { kind: 'boolean' },
            default: false,
            doc: 'Fall back to normal (token-less) mode when no token can be obtained.',
          },
          {
            key: 'refreshIntervalSec',
            type: { kind: 'integer', min: 1 },
            unit: 'seconds',
            default: 5,
            doc: 'How often the ENI list is refreshed.',
          },
        ],
      },
      doc: 'How ENIs are found.',
    },
    {
      key: 'delivery',
      type: {
        kind: 'object',
        rules: ['`retryMaxMs` is at least `retryInitialMs`.'],
        fields: [
          {
            key: 'lingerMs',
            type: { kind: 'integer', min: 0 },
            unit: 'ms',
            default: 1000,
            doc: 'Longest wait for a batch to fill before it is sent anyway.',
          },
          {
            key: 'maxBatchRecords',
            type: { kind: 'integer', min: 1, max: PUT_LOGS_MAX_LOGS },
            unit: 'records',
            default: PUT_LOGS_MAX_LOGS,
            doc: 'Most records per request (Log Service limit 4096).',
          },
          {
            key: 'maxBatchBytes',
            type: { kind: 'bytes', min: 1, max: PUT_LOGS_MAX_RAW_BYTES },
            unit: 'bytes',
            default: PUT_LOGS_MAX_RAW_BYTES,
            doc: 'Most bytes per request (Log Service limit 3 MiB).',
          },
          {
            key: 'concurrency',
            type: { kind: 'integer', min: 1, max: 64 },
            unit: 'requests',
            default: 4,
            doc: 'Requests in flight per sink.',
          },
          {
            key: 'retryInitialMs',
            type: { kind: 'integer', min: 1 },
            unit: 'ms',
            default: 500,
            doc: 'First retry delay; doubles per attempt.',
          },
          {
            key: 'retryMaxMs',
            type: { kind: 'integer', min: 1 },
            unit: 'ms',
            default: 30_000,
            doc: 'Longest retry delay.',
          },
          {
            key: 'requestTimeoutMs',
            type: { kind: 'integer', min: 1 },
            unit: 'ms',
            default: 10_000,
            doc: 'Timeout of one request.',
          },
          {
            key: 'spoolMaxBytes',
            type: { kind: 'bytes', min: 0 },
            unit: 'bytes',
            default: 1024 ** 3,
            doc: 'Disk spool cap for undelivered batches; a number or a size such as `"512MiB"`; `0` disables the spool.',
          },
          {
            key: 'stopFlushTimeoutMs',
            type: { kind: 'integer', min: 0 },
            unit: 'ms',
            default: 30_000,
            doc: "On a stop (SIGTERM), how long the daemon keeps delivering before it leaves the rest spooled for the next start; keep it below the unit's TimeoutStopSec (90 s). Read at start.",
          },
          {
            key: 'spoolMemoryMaxBytes',
            type: { kind: 'bytes', min: 0 },
            unit: 'bytes',
            default: 64 * 1024 ** 2,
            doc: 'Batches held in memory while the spool cannot write (a full or read-only disk), per flow log; beyond it the oldest are dropped, counted and logged. Written to disk when it accepts writes again.',
          },
          {
            key: 'unhealthyAfterSec',
            type: { kind: 'integer', min: 1 },
            unit: 'seconds',
            default: 60,
            doc: 'How long a sink may deliver nothing while records wait before `/healthz` and `status` report it (problem `sink_failing`).',
          },
        ],
      },
      doc: 'Batching, retry and spooling in front of every sink.',
    },
    {
      key: 'credentials',
      omitWhenAbsent: true,
      type: {
        kind: 'object',
        rules: ['At most one of `file` and `ramRole`.'],
        fields: [
          { key: 'file', type: { kind: 'string', format: 'path' }, doc: 'Credentials file.' },
          {
            key: 'ramRole',
            type: { kind: 'string', format: 'non-empty' },
            doc: 'RAM role whose STS credentials come from the metadata service.',
          },
        ],
      },
      doc: 'Log Service credentials; absent: taken from the environment.',
    },
    {
      key: 'metrics',
      type: {
        kind: 'object',
        rules: [
          '`listen` on an address other than loopback (127.0.0.0/8, ::1, localhost) is refused unless `allowNonLoopback` is true.',
        ],
        fields: [
          {
            key: 'listen',
            type: { kind: 'string', format: 'host-port' },
            default: '',
            doc: 'Prometheus endpoint address; empty disables it.',
          },
          {
            key: 'allowNonLoopback',
            type: { kind: 'boolean' },
            default: false,
            doc: "Serve `listen` on an address other than loopback. The endpoint has no authentication: whoever reaches it reads the host's ENIs and traffic counters; a warning is logged at start.",
          },
        ],
      },
      doc: 'Metrics endpoint.',
    },
    {
      key: 'networkAcls',
      type: { kind: 'list', items: NETWORK_ACL },
      default: [],
      doc: 'Network ACLs of vSwitches, evaluated by the agent to mark flows REJECT.',
    },
    {
      key: 'nflog',
      type: {
        kind: 'object',
        fields: [
          {
            key: 'groups',
            type: {
              kind: 'list',
              items: {
                kind: 'object',
                fields: [
                  {
                    key: 'group',
                    type: { kind: 'integer', min: 0, max: 65535 },
                    required: true,
                    doc: 'NFLOG group number (`log group N`, `--nflog-group N`).',
                  },
                  {
                    key: 'eni',
                    type: { kind: 'string', format: 'eni-id' },
                    doc: "ENI whose REJECT traffic the group carries; absent: by the packet's interface (`interface` of an ENI), else by MAC or address.",
                  },
                ],
              },
            },
            default: [],
            doc: 'Groups captured as `nflog:N`; every packet logged there is REJECT traffic, never ACCEPT.',
          },
        ],
        rules: [
          "Group numbers are unique (over this list and the ENIs' `nflogGroups`); `eni` names a configured ENI.",
          "An inbound packet dropped on the input hook is seen twice, by the capture of the ENI's device (before the drop) and by NFLOG: records count it once, as REJECT, by subtracting the REJECT flow from the ACCEPT flow of the same 5-tuple and window. Drops on the output hook never reach the device.",
        ],
      },
      doc: 'NFLOG groups carrying packets dropped by netfilter (daemon).',
    },
    {
      key: 'overlay',
      type: {
        kind: 'object',
        fields: [
          {
            key: 'devices',
            type: { kind: 'list', items: { kind: 'string', format: 'non-empty' } },
            default: [],
            doc: 'Devices that carry the VPC overlay (the uplink of a VPC host), captured promiscuously like `capture.devices`; VXLAN and Geneve packets there count under their inner headers.',
          },
          {
            key: 'vxlanPorts',
            type: { kind: 'list', items: { kind: 'integer', min: 1, max: 65535 } },
            default: [4789],
            doc: 'UDP destination ports read as VXLAN (RFC 7348).',
          },
          {
            key: 'genevePorts',
            type: { kind: 'list', items: { kind: 'integer', min: 1, max: 65535 } },
            default: [6081],
            doc: 'UDP destination ports read as Geneve (RFC 8926).',
          },
          {
            key: 'snaplenBytes',
            type: { kind: 'integer', min: 64, max: 262144 },
            unit: 'bytes',
            default: 256,
            doc: 'Bytes kept of each frame of an overlay device (the larger of this and `capture.snaplenBytes`): outer and inner headers, Geneve options.',
          },
          {
            key: 'vpcs',
            type: {
              kind: 'list',
              items: {
                kind: 'object',
                fields: [
                  {
                    key: 'vpcId',
                    type: { kind: 'string', format: 'non-empty' },
                    required: true,
                    doc: "VPC id, as the ENIs' `vpcId`.",
                  },
                  {
                    key: 'vni',
                    type: { kind: 'integer', min: 0, max: 16777215 },
                    required: true,
                    doc: 'Its VXLAN / Geneve network identifier (24 bits).',
                  },
                ],
              },
            },
            default: [],
            doc: "The VNI of each VPC. Empty: no decapsulation, tunnels count under their outer header as the ENI's interface carried them.",
          },
        ],
        rules: [
          "A decapsulated packet counts under its inner 5-tuple and inner IP length, for the ENI of its VNI's VPC whose MAC (inner Ethernet), else address, it carries; a VNI of no listed VPC counts as unattributed. Only ENIs without a device of their own are counted there, as on shared devices.",
          "VNIs and VPC ids are unique; a port is VXLAN or Geneve, not both; an overlay device is neither an ENI's `interface` nor in `capture.devices`.",
          "`flowlog-agent replay` decapsulates every frame of the file when `vpcs` is not empty (the file is read as an overlay device's capture).",
          'Later fragments of an outer packet are counted as `tunnel_fragment` and not recorded again: the inner packet counted at its first fragment, with its inner length.',
        ],
      },
      doc: 'Overlay decapsulation (VXLAN, Geneve) on the devices of a VPC host that carry the tunnels.',
    },
    {
      key: 'log',
      type: {
        kind: 'object',
        fields: [
          {
            key: 'level',
            type: { kind: 'enum', values: ['trace', 'debug', 'info', 'warn', 'error'] },
            default: 'info',
            doc: 'Least severe level logged.',
          },
        ],
      },
      doc: 'Process log (JSON lines on stderr).',
    },
  ],
};
