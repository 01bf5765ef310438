import type { NflogFrameConsumer } from '../capture/capture-source';
import { Decoder } from './decode/decoder';
import { OverlayDecoder, type TunnelPorts } from './decode/overlay-decoder';
import { DecodeStatus, DECODE_STATUS_NAMES, PacketView } from './decode/packet-view';
import { DEFAULT_MTU_BYTES, SuperFrameSegmenter, usableMtu } from './decode/super-frame';
import type { EniInventory } from '../enrich/eni-inventory';
import type { OverlayInventory } from '../enrich/overlay-inventory';
import type { PolicyEvaluator } from '../enrich/policy/policy-evaluator';
import { FLAG_OUT, FLAG_REJECT, type FlowWindows } from './flow-windows';

/** Packet-path counters: plain numbers and typed arrays, read by summaries and metrics. */
export class PacketCounters {
  /** Frames handed to the recorder. */
  frames = 0;
  /** Frames by decode status (indexed by DecodeStatus). */
  readonly byStatus = new Float64Array(DECODE_STATUS_NAMES.length);
  /** Decoded IP packets that matched no ENI. */
  unattributed = 0;
  /** Per ENI: packets and L3 bytes attributed (counted once per direction it matched). */
  eniPackets: Float64Array;
  eniBytes: Float64Array;

  constructor(eniCount: number) {
    this.eniPackets = new Float64Array(eniCount);
    this.eniBytes = new Float64Array(eniCount);
  }

  /** Frames that could not be decoded (every status but Ok and NotIp). */
  get malformed(): number {
    const s = this.byStatus;
    return (
      s[DecodeStatus.Truncated] +
      s[DecodeStatus.BadVersion] +
      s[DecodeStatus.BadLength] +
      s[DecodeStatus.UnsupportedLink]
    );
  }
}

/** Overlay decapsulation of a recorder (see OverlayDecoder, OverlayInventory). */
export interface RecorderOverlay {
  inventory: OverlayInventory;
  ports: TunnelPorts;
  /** Every frame of `onFrame` is an overlay device's (replay of an uplink capture). */
  decapsulateAll: boolean;
}

/**
 * The packet path: decode a frame into the one reused `PacketView`, find the ENIs it leaves and
 * enters, and add it to the flow aggregator of every interval that covers those ENIs.
 *
 * Contract: `onFrame` never throws, never allocates and never logs; every outcome is a counter.
 * `frame` is borrowed for the call only. Single-threaded: one recorder per capture loop.
 */
export class FlowRecorder implements NflogFrameConsumer {
  readonly view = new PacketView();
  readonly counters: PacketCounters;
  private readonly decoder: Decoder;
  /** The same decoder when the recorder decapsulates (one fragment cache), else null. */
  private readonly overlayDecoder: OverlayDecoder | null;
  private overlay: OverlayInventory | null;
  private readonly decapsulateAll: boolean;
  /**
   * Aggregators covering ENI e are eniAggIndex[eniAggOffset[e] .. eniAggOffset[e+1]). Replaced
   * (never changed in place) by `setCoverage`; the packet kernel keeps a copy its owner renews.
   */
  eniAggOffset: Int32Array;
  eniAggIndex: Int32Array;
  /**
   * 1 per ENI that frames of shared devices may count (it has no device of its own); set by the
   * daemon (see `onSharedFrame`). Kept equal to the packet kernel's copy by the owner.
   */
  readonly sharedEnis: Uint8Array;
  /** Agent-side security groups / network ACLs; null: only NFLOG frames are REJECT. */
  private policy: PolicyEvaluator | null = null;
  /** GSO/GRO super-frames counted as the segments the wire carried (see SuperFrameSegmenter). */
  readonly superFrames = new SuperFrameSegmenter();
  /** MTU of frames whose segmentation nothing tells (capture files, NFLOG): capture.mtuBytes. */
  private fileMtu = DEFAULT_MTU_BYTES;
  /** The live device being recorded (setDeviceMtu): its MTU (0: not usable) and the size above which a frame is a super-frame. */
  private deviceMtu = DEFAULT_MTU_BYTES;
  private deviceThreshold = DEFAULT_MTU_BYTES;

  constructor(
    private inventory: EniInventory,
    readonly aggregators: readonly FlowWindows[],
    /** For each aggregator, which ENIs it records (1) — those its flow logs cover. */
    coverage: readonly Uint8Array[],
    fragmentCacheSize: number,
    overlay: RecorderOverlay | null = null,
    /**
     * ENI indexes the recorder's arrays hold: the inventory's count (replay), or more for a live
     * pipeline whose ENIs come and go in place (see setInventory, setCoverage).
     */
    readonly eniCapacity: number = inventory.enis.length,
  ) {
    this.overlayDecoder = overlay === null ? null : new OverlayDecoder({ fragmentCacheSize }, overlay.ports);
    this.decoder = this.overlayDecoder ?? new Decoder({ fragmentCacheSize });
    this.overlay = overlay?.inventory ?? null;
    this.decapsulateAll = overlay?.decapsulateAll ?? false;
    this.counters = new PacketCounters(eniCapacity);
    this.sharedEnis = new Uint8Array(eniCapacity);
    this.eniAggOffset = new Int32Array(eniCapacity + 1);
    this.eniAggIndex = new Int32Array(0);
    this.setCoverage(coverage);
  }

  /**
   * Which ENIs each aggregator records (`coverage[a][e]` 1), as an ENI's list of aggregators.
   * Off the packet path (config changes); arrays shorter than eniCapacity cover nothing beyond.
   */
  setCoverage(coverage: readonly Uint8Array[]): void {
    const n = this.eniCapacity;
    const offset = new Int32Array(n + 1);
    const idx: number[] = [];
    for (let e = 0; e < n; e++) {
      offset[e] = idx.length;
      coverage.forEach((cov, a) => {
        if (cov[e] === 1) idx.push(a);
      });
    }
    offset[n] = idx.length;
    this.eniAggOffset = offset;
    this.eniAggIndex = Int32Array.from(idx);
  }

  /** Swaps in the overlay inventory of a changed ENI list (same ports; ENI indexes as the inventory's). */
  setOverlayInventory(overlay: OverlayInventory): void {
    if (this.overlay !== null) this.overlay = overlay;
  }

  get decoderCounters(): Decoder {
    return this.decoder;
  }

  /** The overlay's inventory (its unknownVni counter), when the recorder decapsulates. */
  get overlayInventory(): OverlayInventory | null {
    return this.overlay;
  }

  /** Whether `onFrame` decapsulates every frame (the packet kernel then stays out of the way). */
  get decapsulatesAll(): boolean {
    return this.decapsulateAll;
  }

  /**
   * Records one frame. The caller has set view.tsSec/tsUsec/capLen/wireLen. `reject` marks frames
   * from a source of dropped traffic (NFLOG), which aggregate as REJECT flows.
   */
  onFrame(linkType: number, frame: Uint8Array, reject: boolean): void {
    const v = this.view;
    const od = this.overlayDecoder;
    if (od !== null && this.decapsulateAll) {
      const decoded = this.decodedOverlay(od, linkType, frame);
      this.tick(v.tsSec);
      if (decoded) {
        this.segments(frame, this.fileMtu, this.fileMtu, od.outerL3Offset);
        this.recordOverlay(reject, null);
        v.segments = 1;
      }
      v.vni = -1;
      return;
    }
    const decoded = this.decoded(linkType, frame);
    // Every frame moves the clocks forward, so NODATA windows close even when no packet of a
    // covered ENI arrives; late and backward-jumping times are handled where packets are recorded.
    this.tick(v.tsSec);
    if (!decoded) return;
    this.segments(frame, this.fileMtu, this.fileMtu, v.l3Offset);
    this.recordByAddress(reject, null);
    v.segments = 1;
  }

  /**
   * The entry points' prologue: counts the frame, decodes it into the view, counts its status;
   * true when it decoded (the caller records it). Small and monomorphic: V8 inlines it into each
   * entry point (bench/kernel-chunk-bench.js and the replay bench showed no change).
   */
  private decoded(linkType: number, frame: Uint8Array): boolean {
    const c = this.counters;
    c.frames++;
    const status = this.decoder.decode(linkType, frame, this.view);
    c.byStatus[status]++;
    return status === DecodeStatus.Ok;
  }

  /** `decoded` for an overlay device's frame: tunnels opened, their inner headers decoded. */
  private decodedOverlay(od: OverlayDecoder, linkType: number, frame: Uint8Array): boolean {
    const c = this.counters;
    c.frames++;
    const status = od.decodeOverlay(linkType, frame, this.view);
    c.byStatus[status]++;
    return status === DecodeStatus.Ok;
  }

  /**
   * The MTU of capture files and NFLOG frames (capture.mtuBytes, `replay --mtu`): frames larger
   * than it are super-frames whose segments are derived from it.
   */
  setFileMtu(mtu: number): void {
    this.fileMtu = usableMtu(mtu) ? mtu : DEFAULT_MTU_BYTES;
  }

  /**
   * The MTU of the live device whose frames come next (ChunkRecorder, per read). One that is not
   * usable (0: unknown) derives nothing: a frame larger than the default MTU then counts as one
   * packet (SuperFrameOutcome.NoMtu), unless the kernel's header segments it.
   */
  setDeviceMtu(mtu: number): void {
    this.deviceMtu = usableMtu(mtu) ? mtu : 0;
    this.deviceThreshold = this.deviceMtu > 0 ? mtu : this.fileMtu;
  }

  /** Above this L3 length a frame of the current device is a super-frame (the kernel stops there too). */
  get superFrameThreshold(): number {
    return this.deviceThreshold;
  }

  /** Above this L3 length a frame of a capture file is a super-frame. */
  get fileSuperFrameThreshold(): number {
    return this.fileMtu;
  }

  /**
   * Makes the decoded view stand for the segments the wire carried when it is a super-frame (a
   * GSO type in the kernel's header, or larger than `threshold`), and learns the MSS of a TCP
   * SYN where the kernel does not segment for us. The caller records, then sets segments to 1.
   */
  private segments(frame: Uint8Array, mtu: number, threshold: number, outerL3: number): void {
    const v = this.view;
    const w = v.segmentation;
    if (w >= 0 && (v.tcpFlags & 2) !== 0) this.superFrames.learnMss(v, frame);
    if ((w < 0 && (w & 0xff0000) !== 0) || v.l3Bytes > threshold) this.superFrames.segment(v, frame, mtu, outerL3);
  }

  /**
   * Records one frame captured on a device shared by many ENIs (a bridge, the uplink): like
   * `onFrame` it counts for every ENI its addresses name (a frame between two ENIs counts once
   * for each), but only for ENIs marked in `sharedEnis`: an ENI captured on a device of its own
   * is counted there alone, never twice. No clock tick (the daemon ticks on the wall clock).
   * Same contract as `onFrame`.
   */
  onSharedFrame(linkType: number, frame: Uint8Array): void {
    if (!this.decoded(linkType, frame)) return;
    const v = this.view;
    this.segments(frame, this.deviceMtu, this.deviceThreshold, v.l3Offset);
    this.recordByAddress(false, this.sharedEnis);
    v.segments = 1;
  }

  /**
   * Records one frame captured on a device that carries the VPC overlay (overlay.devices): a
   * VXLAN / Geneve packet counts under its inner headers for the ENI its VNI and inner MAC (else
   * address) name, anything else as on a shared device; either way only for ENIs marked in
   * `sharedEnis`. Without overlay VPCs configured it is `onSharedFrame`. Same contract as `onFrame`.
   */
  onOverlayFrame(linkType: number, frame: Uint8Array): void {
    const od = this.overlayDecoder;
    if (od === null) {
      this.onSharedFrame(linkType, frame);
      return;
    }
    const v = this.view;
    if (this.decodedOverlay(od, linkType, frame)) {
      this.segments(frame, this.deviceMtu, this.deviceThreshold, od.outerL3Offset);
      this.recordOverlay(false, this.sharedEnis);
      v.segments = 1;
    }
    v.vni = -1;
  }

  /** A decoded overlay-device packet: by VNI and inner MAC / address when it was tunneled. */
  private recordOverlay(reject: boolean, mask: Uint8Array | null): void {
    const v = this.view;
    const ov = this.overlay as OverlayInventory;
    if (v.vni < 0) {
      this.recordByAddress(reject, mask);
      return;
    }
    const slot = ov.slotOf(v.vni);
    if (slot < 0) {
      this.counters.unattributed++;
      return;
    }
    this.recordPair(ov.sourceEni(slot, v), ov.destinationEni(slot, v), reject, mask);
  }

  /**
   * Records one frame captured on the device of ENI `eni` (live capture: one handle per ENI
   * interface). The frame belongs to that ENI only: outbound when its source (MAC, else address)
   * is the ENI's, inbound when its destination is, else unattributed; another ENI that the
   * addresses also name is not credited, since that ENI's own device sees the frame too.
   *
   * Unlike `onFrame` this does not move the clocks by packet time: several handles deliver
   * interleaved, so the daemon ticks on the wall clock instead (see src/daemon).
   * Same contract as `onFrame`: never throws, allocates or logs.
   */
  onFrameForEni(eni: number, linkType: number, frame: Uint8Array, reject: boolean): void {
    if (!this.decoded(linkType, frame)) return;
    const v = this.view;
    const inv = this.inventory;
    const out = inv.sourceEni(v) === eni;
    const inbound = inv.destinationEni(v) === eni;
    if (!out && !inbound) {
      this.counters.unattributed++;
      return;
    }
    this.segments(frame, this.deviceMtu, this.deviceThreshold, v.l3Offset);
    const action = reject ? FLAG_REJECT : 0;
    const policy = this.policy;
    if (out)
      this.recordFor(
        eni,
        FLAG_OUT | (policy !== null && !reject && policy.rejects(v, eni, true) ? FLAG_REJECT : action),
      );
    if (inbound)
      this.recordFor(eni, policy !== null && !reject && policy.rejects(v, eni, false) ? FLAG_REJECT : action);
    v.segments = 1;
  }

  /**
   * Records one frame of dropped traffic from an NFLOG group (live `nflog:N` capture): always
   * REJECT, never evaluated. The ENI is `fixedEni` when >= 0 (the group is tied to one ENI), else
   * the ENI whose interface has the netfilter hook's input or output interface index
   * (`eniByIfindex[ifindex]`, -1 for none), else the ENIs the addresses name (as `onFrame`).
   * Direction: by address/MAC as usual; for an ENI its addresses do not name, the hook decides
   * (an output interface means the packet was leaving). Same contract as `onFrame`; no clock tick.
   */
  onNflogFrame(linkType: number, frame: Uint8Array, fixedEni: number, eniByIfindex: Int32Array): void {
    if (!this.decoded(linkType, frame)) return;
    const v = this.view;
    this.segments(frame, this.fileMtu, this.fileMtu, v.l3Offset);
    this.recordNflog(fixedEni, eniByIfindex);
    v.segments = 1;
  }

  private recordNflog(fixedEni: number, eniByIfindex: Int32Array): void {
    const c = this.counters;
    const v = this.view;
    let eni = fixedEni;
    if (eni < 0 && v.nflogIndev > 0 && v.nflogIndev < eniByIfindex.length) eni = eniByIfindex[v.nflogIndev];
    let viaOutdev = false;
    if (eni < 0 && v.nflogOutdev > 0 && v.nflogOutdev < eniByIfindex.length) {
      eni = eniByIfindex[v.nflogOutdev];
      viaOutdev = eni >= 0;
    }
    const inv = this.inventory;
    const out = inv.sourceEni(v);
    const inbound = inv.destinationEni(v);
    if (eni < 0) {
      if (out < 0 && inbound < 0) {
        c.unattributed++;
        return;
      }
      if (out >= 0) this.recordFor(out, FLAG_OUT | FLAG_REJECT);
      if (inbound >= 0) this.recordFor(inbound, FLAG_REJECT);
      return;
    }
    if (out === eni) this.recordFor(eni, FLAG_OUT | FLAG_REJECT);
    if (inbound === eni) this.recordFor(eni, FLAG_REJECT);
    if (out !== eni && inbound !== eni)
      this.recordFor(
        eni,
        viaOutdev || (v.nflogOutdev > 0 && v.nflogIndev === 0) ? FLAG_OUT | FLAG_REJECT : FLAG_REJECT,
      );
  }

  /** The source and destination ENIs of the decoded view (those `mask` marks, when given). */
  private recordByAddress(reject: boolean, mask: Uint8Array | null): void {
    const v = this.view;
    const inv = this.inventory;
    this.recordPair(inv.sourceEni(v), inv.destinationEni(v), reject, mask);
  }

  /** Records the view for its source ENI `out` and destination ENI `inbound` (-1: none). */
  private recordPair(out: number, inbound: number, reject: boolean, mask: Uint8Array | null): void {
    const v = this.view;
    if (mask !== null) {
      if (out >= 0 && mask[out] === 0) out = -1;
      if (inbound >= 0 && mask[inbound] === 0) inbound = -1;
    }
    if (out < 0 && inbound < 0) {
      this.counters.unattributed++;
      return;
    }
    const action = reject ? FLAG_REJECT : 0;
    const policy = this.policy;
    if (out >= 0)
      this.recordFor(
        out,
        FLAG_OUT | (policy !== null && !reject && policy.rejects(v, out, true) ? FLAG_REJECT : action),
      );
    if (inbound >= 0)
      this.recordFor(inbound, policy !== null && !reject && policy.rejects(v, inbound, false) ? FLAG_REJECT : action);
  }

  /**
   * Makes agent-side rule evaluation decide ACCEPT/REJECT of frames not already known dropped
   * (see actionPolicyFor); null turns it off. The evaluator's ENI indexes must be the inventory's.
   */
  setActionPolicy(policy: PolicyEvaluator | null): void {
    this.policy = policy;
  }

  /** Whether rule evaluation decides actions (the packet kernel then stays out of the way). */
  get hasActionPolicy(): boolean {
    return this.policy !== null;
  }

  /** Swaps in a new inventory (ENIs changed in place); ENI indexes must keep their meaning. */
  setInventory(inventory: EniInventory): void {
    this.inventory = inventory;
  }

  /** Moves every aggregator's clock forward to `tsSec` (packet time in replay, wall clock live). */
  tick(tsSec: number): void {
    const aggs = this.aggregators;
    for (let a = 0; a < aggs.length; a++) {
      const agg = aggs[a];
      if (tsSec >= agg.windowEndSec) agg.advanceTo(tsSec);
    }
  }

  /**
   * Records a flow aggregated before it got here (the eBPF engine's drain, see
   * packet/drain-recorder.ts). The caller has written the view's key (`family`, `src`, `dst`,
   * `protocol`, ports) and `tcpFlags`; the flow counts for `eni` as sent by it (`out`) or received,
   * with `packets` wire segments of `bytes` L3 bytes from `firstUs` to `lastUs` (Unix
   * microseconds), and its action is what the policy says of any packet of the flow. The last
   * packet is recorded at its own time (one packet's share of the bytes), the others at the
   * first's: a flow that straddles a window boundary inside one drain is split there by packets.
   * Same contract as `onFrame`.
   */
  recordAggregate(eni: number, out: boolean, packets: number, bytes: number, firstUs: number, lastUs: number): void {
    const v = this.view;
    const policy = this.policy;
    const flags = (out ? FLAG_OUT : 0) | (policy !== null && policy.rejects(v, eni, out) ? FLAG_REJECT : 0);
    const lastBytes = packets > 1 ? Math.round(bytes / packets) : bytes;
    if (packets > 1) {
      v.tsSec = Math.floor(firstUs / 1e6);
      v.tsUsec = firstUs - v.tsSec * 1e6;
      v.segments = packets - 1;
      v.l3Bytes = bytes - lastBytes;
      this.recordFor(eni, flags);
    }
    v.tsSec = Math.floor(lastUs / 1e6);
    v.tsUsec = lastUs - v.tsSec * 1e6;
    v.segments = 1;
    v.l3Bytes = lastBytes;
    this.recordFor(eni, flags);
  }

  private recordFor(eni: number, flags: number): void {
    const c = this.counters;
    c.eniPackets[eni] += this.view.segments;
    c.eniBytes[eni] += this.view.l3Bytes;
    const end = this.eniAggOffset[eni + 1];
    for (let j = this.eniAggOffset[eni]; j < end; j++)
      this.aggregators[this.eniAggIndex[j]].record(this.view, eni, flags);
  }
}
