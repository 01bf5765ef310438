import type { PolicyProtocol, PolicyVerdict } from '../../config/types';
import { parsePrefix, prefixMasks } from '../ip-address';
import { formatPortRange, parsePortRange } from '../../config/port-range';

/** A rule or ACL entry in the shape the compiler reads, with where it came from (for `check`). */
export interface RuleSource {
  protocol: PolicyProtocol;
  portRange: string;
  cidr: string;
  policy: PolicyVerdict;
  /** Key path or label naming the rule, e.g. `sg-web rule 2 (priority 1)` or `acl vsw-1 ingress[0]`. */
  label: string;
}

/** What `RuleList.match` returns when no rule matches. */
export const NO_MATCH = -1;

const WORDS = 13; // family, proto (0 any), fromPort, toPort, addr[4], mask[4], drop(1)/accept(0)

/**
 * An ordered list of match rules compiled into one Uint32Array; `match` returns the index of the
 * first rule matching a packet's family, protocol, destination port and one address (the source
 * for ingress, the destination for egress). The list is immutable after construction.
 *
 * Packet path: `match` reads typed arrays only and allocates nothing.
 */
export class RuleList {
  readonly sources: readonly RuleSource[];
  private readonly words: Uint32Array;
  private readonly count: number;

  /** `rules` in evaluation order; every field was validated by the config loader. */
  constructor(rules: readonly RuleSource[]) {
    this.sources = rules;
    this.count = rules.length;
    this.words = new Uint32Array(rules.length * WORDS);
    rules.forEach((r, i) => {
      const prefix = parsePrefix(r.cidr);
      const range = parsePortRange(r.portRange);
      if (!prefix || !range.ok)
        throw new Error(`compile rule ${r.label}: invalid cidr "${r.cidr}" or port range "${r.portRange}"`);
      const k = i * WORDS;
      this.words[k] = prefix.family;
      this.words[k + 1] = protocolNumber(r.protocol);
      this.words[k + 2] = range.value.fromPort;
      this.words[k + 3] = range.value.toPort;
      this.words.set(prefix.words, k + 4);
      this.words.set(prefixMasks(prefix.family, prefix.prefixLength), k + 8);
      this.words[k + 12] = r.policy === 'drop' ? 1 : 0;
    });
  }

  get size(): number {
    return this.count;
  }

  /**
   * Index of the first rule matching, or NO_MATCH. `addr` is the four address words (source for
   * ingress, destination for egress); `dstPort` is ignored by rules with port range "-1/-1".
   */
  match(family: number, protocol: number, dstPort: number, addr: Uint32Array): number {
    const w = this.words;
    for (let i = 0; i < this.count; i++) {
      const k = i * WORDS;
      if (w[k] !== family) continue;
      const proto = w[k + 1];
      if (proto !== 0 && proto !== protocol) continue;
      if (dstPort < w[k + 2] || dstPort > w[k + 3]) {
        // "-1/-1" is stored as 0..65535, so only real ranges can fail here.
        continue;
      }
      if (
        (addr[0] & w[k + 8]) >>> 0 === w[k + 4] &&
        (addr[1] & w[k + 9]) >>> 0 === w[k + 5] &&
        (addr[2] & w[k + 10]) >>> 0 === w[k + 6] &&
        (addr[3] & w[k + 11]) >>> 0 === w[k + 7]
      ) {
        return i;
      }
    }
    return NO_MATCH;
  }

  /** Whether rule `i` drops. */
  drops(i: number): boolean {
    return this.words[i * WORDS + 12] === 1;
  }

  /** One line describing rule `i`, e.g. `sg-1 rule 0 (priority 1): drop tcp 22/22 from 0.0.0.0/0`. */
  describe(i: number, direction: 'ingress' | 'egress'): string {
    const r = this.sources[i];
    const range = parsePortRange(r.portRange);
    const ports = range.ok ? formatPortRange(range.value) : r.portRange;
    return `${r.label}: ${r.policy} ${r.protocol} ${ports} ${direction === 'ingress' ? 'from' : 'to'} ${r.cidr}`;
  }
}

/** IP protocol number of a rule's protocol; 0 for `all`. */
export function protocolNumber(p: PolicyProtocol): number {
  switch (p) {
    case 'tcp':
      return 6;
    case 'udp':
      return 17;
    case 'icmp':
      return 1;
    case 'icmpv6':
      return 58;
    default:
      return 0;
  }
}
