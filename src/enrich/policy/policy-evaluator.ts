import type { EniConfig, NetworkAclConfig, SecurityGroupConfig } from '../../config/types';
import type { PacketView } from '../../packet/decode/packet-view';
import { ConnectionTable } from './connection-table';
import { NO_MATCH, RuleList, type RuleSource } from './rule-list';

/** How the security groups decided the last evaluation (`PolicyEvaluator.lastSgOutcome`). */
export const SgOutcome = {
  /** The ENI has no security groups: nothing to drop. */
  None: -3,
  /** Reply of a connection the security groups accepted (stateful). */
  StatefulReply: -2,
  /** No rule matched: the groups' default for the direction. */
  Default: -1,
  // >= 0: index of the deciding rule in the ENI's merged list of that direction
} as const;

/** How the network ACL decided (`PolicyEvaluator.lastAclOutcome`). */
export const AclOutcome = {
  /** The ENI's vSwitch has no network ACL. */
  None: -3,
  /** No entry matched: dropped (implicit drop-all at the end). */
  NoMatch: -1,
  // >= 0: index of the deciding entry
} as const;

// Connection state bits (ConnectionTable.state).
const ORIGIN_KNOWN = 1;
const ORIGIN_B = 2; // the connection was opened b -> a
const SG_ORIGIN_ACCEPT = 4;
const DECISION_SHIFT = 3; // 2 bits per direction: 0 unknown, 1 accept, 2 reject
const DECIDED_ACCEPT = 1;
const DECIDED_REJECT = 2;
const TCP_SYN = 2;
const TCP_ACK = 16;

interface EniRules {
  sgIngress: RuleList | null;
  sgEgress: RuleList | null;
  sgIngressDefaultAccept: boolean;
  sgEgressDefaultAccept: boolean;
  aclIngress: RuleList | null;
  aclEgress: RuleList | null;
}

export interface PolicyEvaluatorOptions {
  /** Connections remembered per generation (two generations are kept). */
  connectionCapacity: number;
  /** Packet-time seconds after which a connection generation is retired (product session: 910 s). */
  sessionTimeoutSec?: number;
}

/**
 * Security groups (stateful) and network ACLs (stateless) of each ENI, evaluated once per
 * connection direction; the decision is cached in a bounded connection table so the packet path
 * only hashes the 5-tuple and reads a state byte.
 *
 * Semantics (Alibaba Cloud ECS/VPC, see docs-notes or the check command):
 * - the rules of all security groups of an ENI form one list sorted by priority (1 first), drop
 *   before accept at equal priority; the first match decides. No match: accepted when any group
 *   defaults to accept for the direction (product default: ingress drop, egress accept);
 * - a packet in the reverse direction of a connection whose first packet the groups accepted is
 *   accepted (stateful); otherwise it is evaluated by the rules of its own direction;
 * - the vSwitch's network ACL: entries of the direction in order, first match decides, no match
 *   drops; replies are evaluated like any packet (stateless);
 * - a packet is rejected when the security groups or the network ACL drop it.
 *
 * Ownership: built from a config snapshot (ENI indexes as in the inventory) and used by one
 * recorder thread; `rejects` never throws, logs or allocates.
 */
export class PolicyEvaluator {
  /** Outcome of the last real evaluation (not a cached decision): see SgOutcome / AclOutcome. */
  lastSgOutcome: number = SgOutcome.None;
  lastAclOutcome: number = AclOutcome.None;
  /** Whether the last `rejects` answered from the connection table without evaluating. */
  lastCached = false;
  /** Evaluations done (cache misses), for tests and metrics. */
  evaluations = 0;
  readonly connections: ConnectionTable;
  private readonly rules: EniRules[];
  private readonly hasPolicy: Uint8Array;

  constructor(
    readonly enis: readonly EniConfig[],
    networkAcls: readonly NetworkAclConfig[],
    options: PolicyEvaluatorOptions,
  ) {
    this.hasPolicy = new Uint8Array(enis.length);
    this.rules = enis.map((eni, i) => {
      const groups = eni.securityGroups ?? [];
      const acl = networkAcls.find((a) => a.vswitchId === eni.vswitchId);
      const r: EniRules = {
        sgIngress: groups.length > 0 ? new RuleList(mergedRules(groups, 'ingress')) : null,
        sgEgress: groups.length > 0 ? new RuleList(mergedRules(groups, 'egress')) : null,
        sgIngressDefaultAccept: groups.some((g) => g.defaultIngress === 'accept'),
        sgEgressDefaultAccept: groups.some((g) => g.defaultEgress === 'accept'),
        aclIngress: acl ? new RuleList(aclRules(acl, 'ingress')) : null,
        aclEgress: acl ? new RuleList(aclRules(acl, 'egress')) : null,
      };
      if (r.sgIngress !== null || r.aclIngress !== null) this.hasPolicy[i] = 1;
      return r;
    });
    // Without rules nothing is tracked: a full-size table would cost start-up time for nothing.
    this.connections = new ConnectionTable(
      this.active ? options.connectionCapacity : 1,
      options.sessionTimeoutSec ?? 910,
    );
  }

  /** Whether any ENI has rules to evaluate (else the pipeline need not call `rejects`). */
  get active(): boolean {
    return this.hasPolicy.includes(1);
  }

  /** Whether ENI `eni` has security groups or a network ACL. */
  governs(eni: number): boolean {
    return this.hasPolicy[eni] === 1;
  }

  /**
   * Whether the policy of `eni` drops the packet in `v` (outbound: it leaves the ENI). Decided on
   * the first packet of each direction of a connection and cached. Packet path: no allocation.
   */
  rejects(v: PacketView, eni: number, outbound: boolean): boolean {
    if (this.hasPolicy[eni] === 0) return false;
    const conns = this.connections;
    const entry = conns.find(v, eni);
    const dir = conns.lastDirection;
    let state = conns.state(entry);
    const shift = DECISION_SHIFT + 2 * dir;
    const decided = (state >>> shift) & 3;
    if (decided !== 0) {
      this.lastCached = true;
      return decided === DECIDED_REJECT;
    }
    this.lastCached = false;
    this.evaluations++;
    const remote = outbound ? v.dst : v.src;
    let sgAccept: boolean;
    if ((state & ORIGIN_KNOWN) === 0) {
      // First packet seen of the connection. A SYN-ACK shows the other side opened it (the agent
      // started mid-handshake): judge the opening direction's rules, as the product did then.
      const isSynAck = v.protocol === 6 && (v.tcpFlags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK);
      const originDir = isSynAck ? 1 - dir : dir;
      const originAccept = isSynAck
        ? this.evaluateSg(eni, !outbound, v.family, v.protocol, remote, v.srcPort)
        : this.evaluateSg(eni, outbound, v.family, v.protocol, remote, v.dstPort);
      state |= ORIGIN_KNOWN | (originDir === 1 ? ORIGIN_B : 0) | (originAccept ? SG_ORIGIN_ACCEPT : 0);
      if (isSynAck && originAccept) {
        sgAccept = true;
        if (this.lastSgOutcome !== SgOutcome.None) this.lastSgOutcome = SgOutcome.StatefulReply;
      } else {
        sgAccept = isSynAck ? this.evaluateSg(eni, outbound, v.family, v.protocol, remote, v.dstPort) : originAccept;
      }
    } else {
      const originDir = (state & ORIGIN_B) !== 0 ? 1 : 0;
      if (originDir !== dir && (state & SG_ORIGIN_ACCEPT) !== 0) {
        sgAccept = true;
        this.lastSgOutcome = SgOutcome.StatefulReply;
      } else {
        sgAccept = this.evaluateSg(eni, outbound, v.family, v.protocol, remote, v.dstPort);
      }
    }
    const aclAccept = this.evaluateAcl(eni, outbound, v.family, v.protocol, remote, v.dstPort);
    const reject = !(sgAccept && aclAccept);
    conns.setState(entry, state | ((reject ? DECIDED_REJECT : DECIDED_ACCEPT) << shift));
    return reject;
  }

  /**
   * Security-group verdict for one direction, without state. `remote` is the source address for
   * inbound, the destination for outbound. Sets `lastSgOutcome`.
   */
  evaluateSg(
    eni: number,
    outbound: boolean,
    family: number,
    protocol: number,
    remote: Uint32Array,
    dstPort: number,
  ): boolean {
    const r = this.rules[eni];
    const list = outbound ? r.sgEgress : r.sgIngress;
    if (list === null) {
      this.lastSgOutcome = SgOutcome.None;
      return true;
    }
    const i = list.match(family, protocol, dstPort, remote);
    this.lastSgOutcome = i === NO_MATCH ? SgOutcome.Default : i;
    if (i !== NO_MATCH) return !list.drops(i);
    return outbound ? r.sgEgressDefaultAccept : r.sgIngressDefaultAccept;
  }

  /** Network-ACL verdict for one direction. Sets `lastAclOutcome`. */
  evaluateAcl(
    eni: number,
    outbound: boolean,
    family: number,
    protocol: number,
    remote: Uint32Array,
    dstPort: number,
  ): boolean {
    const r = this.rules[eni];
    const list = outbound ? r.aclEgress : r.aclIngress;
    if (list === null) {
      this.lastAclOutcome = AclOutcome.None;
      return true;
    }
    const i = list.match(family, protocol, dstPort, remote);
    this.lastAclOutcome = i === NO_MATCH ? AclOutcome.NoMatch : i;
    return i !== NO_MATCH && !list.drops(i);
  }

  /** Words describing the last evaluation of `eni` (`check`; allocates, never on the packet path). */
  describeLast(eni: number, outbound: boolean): { securityGroup: string; networkAcl: string } {
    const r = this.rules[eni];
    const direction = outbound ? 'egress' : 'ingress';
    const sgList = outbound ? r.sgEgress : r.sgIngress;
    const aclList = outbound ? r.aclEgress : r.aclIngress;
    const sg = this.lastSgOutcome;
    const acl = this.lastAclOutcome;
    const defaultAccept = outbound ? r.sgEgressDefaultAccept : r.sgIngressDefaultAccept;
    const securityGroup =
      sg === SgOutcome.None || sgList === null
        ? 'no security groups'
        : sg === SgOutcome.StatefulReply
          ? 'accept: reply of an accepted connection (stateful)'
          : sg === SgOutcome.Default
            ? `${defaultAccept ? 'accept' : 'drop'}: no ${direction} rule matched (default)`
            : sgList.describe(sg, direction);
    const networkAcl =
      acl === AclOutcome.None || aclList === null
        ? 'no network ACL'
        : acl === AclOutcome.NoMatch
          ? `drop: no ${direction} entry of the network ACL of ${this.enis[eni].vswitchId} matched (implicit drop-all)`
          : aclList.describe(acl, direction);
    return { securityGroup, networkAcl };
  }
}

/** The rules of one direction of all groups, sorted by priority, drop first at equal priority. */
function mergedRules(groups: readonly SecurityGroupConfig[], direction: 'ingress' | 'egress'): RuleSource[] {
  const all: Array<RuleSource & { priority: number; order: number }> = [];
  groups.forEach((g) =>
    g.rules.forEach((rule, j) => {
      if (rule.direction !== direction) return;
      all.push({ ...rule, label: `${g.id} rule ${j} (priority ${rule.priority})`, order: all.length });
    }),
  );
  all.sort(
    (a, b) => a.priority - b.priority || (a.policy === b.policy ? a.order - b.order : a.policy === 'drop' ? -1 : 1),
  );
  return all;
}

function aclRules(acl: NetworkAclConfig, direction: 'ingress' | 'egress'): RuleSource[] {
  return acl[direction].map((e, i) => ({ ...e, label: `network ACL ${acl.vswitchId} ${direction}[${i}]` }));
}
