import type { AgentConfig } from '../config/types';
import { Decoder } from '../packet/decode/decoder';
import { DecodeStatus, PacketView } from '../packet/decode/packet-view';
import { formatAddress } from '../flow/address-format';
import { EniInventory } from './eni-inventory';
import { POLICY_CONNECTION_CAPACITY } from './action-policy';
import { PolicyEvaluator } from './policy/policy-evaluator';

/** One unidirectional flow of an audited capture, with its action and the rules that decided it. */
export interface AuditedFlow {
  eniId: string;
  direction: 'in' | 'out';
  protocol: number;
  src: string;
  dst: string;
  action: 'ACCEPT' | 'REJECT';
  packets: number;
  bytes: number;
  /** How the security groups and the network ACL decided the flow's first packet. */
  securityGroup: string;
  networkAcl: string;
}

const PROTOCOL_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6' };

/** "tcp" for 6, the number otherwise. */
export function protocolName(protocol: number): string {
  return PROTOCOL_NAMES[protocol] ?? String(protocol);
}

/**
 * Runs every frame of a capture through the ENI inventory and the rule evaluator exactly as the
 * pipeline does, remembering per flow the explanation of the evaluation that decided it. An
 * operator tool (`flowlog-agent check --pcap`): it builds a string key per packet, which the
 * daemon's packet path never does.
 *
 * Shape: `view` and `onFrame` are what a capture source feeds (see OfflineCaptureSource).
 */
export class ActionAudit {
  readonly view = new PacketView();
  readonly evaluator: PolicyEvaluator;
  private readonly decoder = new Decoder({ fragmentCacheSize: 4096 });
  private readonly inventory: EniInventory;
  private readonly flows = new Map<string, AuditedFlow>();
  /** Frames read, and those matching no audited ENI. */
  frames = 0;
  unattributed = 0;

  constructor(
    private readonly config: AgentConfig,
    /** Only this ENI (inventory index), or every ENI when -1. */
    private readonly onlyEni = -1,
  ) {
    this.inventory = new EniInventory(config.enis);
    this.evaluator = new PolicyEvaluator(config.enis, config.networkAcls ?? [], {
      connectionCapacity: POLICY_CONNECTION_CAPACITY,
    });
  }

  onFrame(linkType: number, frame: Uint8Array, _reject: boolean): void {
    this.frames++;
    const v = this.view;
    if (this.decoder.decode(linkType, frame, v) !== DecodeStatus.Ok) return;
    const out = this.inventory.sourceEni(v);
    const inbound = this.inventory.destinationEni(v);
    const wanted = (eni: number) => eni >= 0 && (this.onlyEni < 0 || eni === this.onlyEni);
    if (!wanted(out) && !wanted(inbound)) {
      this.unattributed++;
      return;
    }
    if (wanted(out)) this.count(out, true);
    if (wanted(inbound)) this.count(inbound, false);
  }

  /** Every flow seen, REJECT first, then by packets (most first). */
  results(): AuditedFlow[] {
    return [...this.flows.values()].sort((a, b) =>
      a.action === b.action ? b.packets - a.packets : a.action === 'REJECT' ? -1 : 1,
    );
  }

  private count(eni: number, outbound: boolean): void {
    const v = this.view;
    const reject = this.evaluator.rejects(v, eni, outbound);
    const ports = v.protocol === 6 || v.protocol === 17;
    const src = formatAddress(v.family, v.src, 0) + (ports ? `:${v.srcPort}` : '');
    const dst = formatAddress(v.family, v.dst, 0) + (ports ? `:${v.dstPort}` : '');
    const action = reject ? 'REJECT' : 'ACCEPT';
    const key = `${eni} ${outbound ? 'out' : 'in'} ${v.protocol} ${src} ${dst} ${action}`;
    let flow = this.flows.get(key);
    if (flow === undefined) {
      const e = this.config.enis[eni];
      const why =
        this.evaluator.governs(eni) && !this.evaluator.lastCached ? this.evaluator.describeLast(eni, outbound) : null;
      flow = {
        eniId: e.id,
        direction: outbound ? 'out' : 'in',
        protocol: v.protocol,
        src: src.includes(':') && v.family === 6 && ports ? bracket(src) : src,
        dst: dst.includes(':') && v.family === 6 && ports ? bracket(dst) : dst,
        action,
        packets: 0,
        bytes: 0,
        securityGroup:
          why?.securityGroup ??
          (this.evaluator.governs(eni) ? 'as the earlier packets of the connection' : 'no security groups'),
        networkAcl:
          why?.networkAcl ??
          (this.evaluator.governs(eni) ? 'as the earlier packets of the connection' : 'no network ACL'),
      };
      this.flows.set(key, flow);
    }
    flow.packets++;
    flow.bytes += v.l3Bytes;
  }
}

/** "2001:db8::1:443" -> "[2001:db8::1]:443". */
function bracket(endpoint: string): string {
  const i = endpoint.lastIndexOf(':');
  return `[${endpoint.slice(0, i)}]${endpoint.slice(i)}`;
}
