import {
  BYTE_FLAGS,
  BYTE_PROTOCOL,
  BYTE_TCP_FLAGS,
  F64_BYTES,
  F64_FIRST_US,
  F64_LAST_US,
  F64_PACKETS,
  F64_PER_RECORD,
  LOSS_REASONS,
  LossReason,
  RECORD_BYTES,
  RECORD_IPV6,
  RECORD_OUT,
  U16_DST_PORT,
  U16_PER_RECORD,
  U16_SLOT,
  U16_SRC_PORT,
  type DrainBuffers,
} from '../capture/ebpf/drain-layout';
import type { FlowRecorder } from './flow-recorder';

/** What one drain handed over, per outcome (packets), besides the flows. */
export interface DrainTotals {
  flows: number;
  packets: number;
  /** Packets of flows whose slot is no ENI of the recorder (an index freed meanwhile). */
  noEni: number;
  /** Loss reasons that are SKIPDATA, summed over the slots (per slot in `skipdataBySlot`). */
  skipdata: number;
  malformed: number;
  notIp: number;
  unattributed: number;
}

/**
 * Hands the eBPF engine's drained flows to a FlowRecorder: each record's key goes into the
 * recorder's view (addresses as big-endian words, as the decoder writes them), then
 * `recordAggregate` counts it for the record's slot, which is the ENI index. Loss counters: the
 * SKIPDATA reasons of each slot are added to `skipdataBySlot` (the caller takes them into the
 * windows as drops); malformed, not-IP and unattributed packets go to the recorder's counters, as
 * the libpcap path counts them. No allocation per flow.
 */
export class DrainRecorder {
  /** Per slot: SKIPDATA packets drained and not yet taken (see takeSkipdata). */
  readonly skipdataBySlot: Float64Array;
  /** Per slot: packets recorded as flows, since made. */
  readonly packetsBySlot: Float64Array;
  /** Per slot: SKIPDATA packets drained, since made. */
  readonly lostBySlot: Float64Array;
  private readonly words: DataView;

  constructor(
    private readonly buffers: DrainBuffers,
    maxSlots: number,
  ) {
    this.skipdataBySlot = new Float64Array(maxSlots);
    this.packetsBySlot = new Float64Array(maxSlots);
    this.lostBySlot = new Float64Array(maxSlots);
    this.words = new DataView(buffers.records.buffer, buffers.records.byteOffset, buffers.records.byteLength);
  }

  /** Records the `flows` records a drain wrote into the buffers, and its loss counters. */
  record(recorder: FlowRecorder, flows: number, eniCount: number): DrainTotals {
    const b = this.buffers;
    const f64 = b.recordsF64;
    const u16 = b.recordsU16;
    const bytes = b.records;
    const w = this.words;
    const v = recorder.view;
    const totals: DrainTotals = {
      flows,
      packets: 0,
      noEni: 0,
      skipdata: 0,
      malformed: 0,
      notIp: 0,
      unattributed: 0,
    };
    for (let i = 0; i < flows; i++) {
      const at = i * RECORD_BYTES;
      const slot = u16[i * U16_PER_RECORD + U16_SLOT];
      const packets = f64[i * F64_PER_RECORD + F64_PACKETS];
      totals.packets += packets;
      if (slot >= eniCount) {
        totals.noEni += packets;
        continue;
      }
      this.packetsBySlot[slot] += packets;
      const flags = bytes[at + BYTE_FLAGS];
      const ipv6 = (flags & RECORD_IPV6) !== 0;
      v.family = ipv6 ? 6 : 4;
      // Offsets 0 and 16: the addresses in network order; IPv4 in the first 4 bytes, the rest 0.
      for (let k = 0; k < 4; k++) {
        v.src[k] = w.getUint32(at + 4 * k, false);
        v.dst[k] = w.getUint32(at + 16 + 4 * k, false);
      }
      v.protocol = bytes[at + BYTE_PROTOCOL];
      v.srcPort = u16[i * U16_PER_RECORD + U16_SRC_PORT];
      v.dstPort = u16[i * U16_PER_RECORD + U16_DST_PORT];
      v.tcpFlags = bytes[at + BYTE_TCP_FLAGS];
      recorder.recordAggregate(
        slot,
        (flags & RECORD_OUT) !== 0,
        packets,
        f64[i * F64_PER_RECORD + F64_BYTES],
        f64[i * F64_PER_RECORD + F64_FIRST_US],
        f64[i * F64_PER_RECORD + F64_LAST_US],
      );
    }
    const loss = b.loss;
    const reasons = LOSS_REASONS.length;
    const slots = this.skipdataBySlot.length;
    for (let slot = 0; slot < slots; slot++) {
      const base = slot * reasons * 2;
      for (let r = 0; r < reasons; r++) {
        const packets = loss[base + r * 2];
        if (packets === 0 || r === LossReason.QuotaUsed) continue;
        if (LOSS_REASONS[r].skipdata) {
          this.skipdataBySlot[slot] += packets;
          this.lostBySlot[slot] += packets;
          totals.skipdata += packets;
        } else if (r === LossReason.Malformed) totals.malformed += packets;
        else if (r === LossReason.NotIp) totals.notIp += packets;
        else if (r === LossReason.Unattributed) totals.unattributed += packets;
      }
    }
    recorder.counters.unattributed += totals.unattributed;
    return totals;
  }

  /** SKIPDATA packets of `slot` drained since the last call. */
  takeSkipdata(slot: number): number {
    const n = this.skipdataBySlot[slot];
    if (n !== 0) this.skipdataBySlot[slot] = 0;
    return n;
  }
}
