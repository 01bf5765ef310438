/**
 * What a drain of the eBPF engine hands over, in caller-owned typed arrays: no object per flow.
 * This is the one place the layout is documented; the addon writes it (write_record in
 * src/capture/native/ebpf-drain.c) and checks RECORD_BYTES, LOSS_REASONS and STAT_COUNT against
 * these constants when it loads.
 *
 * Records: RECORD_BYTES (80) bytes per flow, in host byte order (little-endian on x86-64 and
 * arm64), 8-byte aligned so Float64Array/Uint16Array views of the same buffer read them:
 *
 *   offset  type     field
 *        0  u8[16]   source address (IPv4: bytes 0..3, the rest 0)
 *       16  u8[16]   destination address
 *       32  u16      slot: the ENI's slot (setSlot / attach)
 *       34  u8       flags: RECORD_OUT (the slot's ENI sent it; else it received it), RECORD_IPV6,
 *                    RECORD_ODD_SECOND (its packets' wall-clock second is odd: a flow is split at
 *                    every second, so a record's packets are of one second when drains are timely)
 *       35  u8       IP protocol (for IPv6 the upper layer past the extension headers)
 *       36  u16      source port (0 when the protocol has none, or an unjoined later fragment)
 *       38  u16      destination port
 *       40  u8       TCP flags: OR of the flow's packets (byte 13 of the TCP header)
 *       41  u8[7]    zero
 *       48  f64      packets: wire segments (a GSO super-packet counts gso_segs)
 *       56  f64      bytes: L3 bytes of those segments
 *       64  f64      first packet: whole microseconds since the Unix epoch (wall clock)
 *       72  f64      last packet: same unit
 *
 * Loss: LOSS_REASONS x 2 numbers per slot, `loss[(slot * LOSS_REASONS + reason) * 2]` packets and
 * `+ 1` bytes, for the drain interval only (the drain zeroes the array first). Bytes of packets
 * that failed before the IP header are the bytes after the link headers.
 */

export const RECORD_BYTES = 80;
export const RECORD_OUT = 0x01;
export const RECORD_IPV6 = 0x02;
/** The flow's packets are of an odd wall-clock second (FLOW_ODD_SECOND): each record holds one second's packets. */
export const RECORD_ODD_SECOND = 0x04;

/** Indexes into a Float64Array over the records' buffer: record i's field is at `i * F64_PER_RECORD + F64_*`. */
export const F64_PER_RECORD = RECORD_BYTES / 8;
export const F64_PACKETS = 6;
export const F64_BYTES = 7;
export const F64_FIRST_US = 8;
export const F64_LAST_US = 9;
/** Indexes into a Uint16Array over the records' buffer: `i * U16_PER_RECORD + U16_*`. */
export const U16_PER_RECORD = RECORD_BYTES / 2;
export const U16_SLOT = 16;
export const U16_SRC_PORT = 18;
export const U16_DST_PORT = 19;
/** Byte offsets of the single-byte fields. */
export const BYTE_FLAGS = 34;
export const BYTE_PROTOCOL = 35;
export const BYTE_TCP_FLAGS = 40;

/**
 * Why the program did not record a packet as a flow (the reserved keys of flow-tc.h), in reason
 * order. `skipdata` marks the reasons that are traffic lost to the flow log (the window's SKIPDATA
 * for that ENI, as libpcap drops are); the others match counters of the libpcap path that are not
 * SKIPDATA (malformed, not IP, unattributed). `quota_used` counts flows, not packets.
 */
export const LOSS_REASONS = [
  { name: 'quota_used', skipdata: false },
  { name: 'map_full', skipdata: true },
  { name: 'map_busy', skipdata: true },
  { name: 'map_error', skipdata: true },
  { name: 'quota', skipdata: true },
  { name: 'unsupported', skipdata: true },
  { name: 'malformed', skipdata: false },
  { name: 'not_ip', skipdata: false },
  { name: 'unattributed', skipdata: false },
] as const;

export const LossReason = {
  QuotaUsed: 0,
  MapFull: 1,
  MapBusy: 2,
  MapError: 3,
  Quota: 4,
  Unsupported: 5,
  Malformed: 6,
  NotIp: 7,
  Unattributed: 8,
} as const;

/** The program's global counters (summed over CPUs, monotonic), in index order. */
export const STAT_NAMES = [
  'packets_seen',
  'skbs_seen',
  'dual_packets',
  'no_device',
  'no_table',
  'no_reserved',
  'fragments_joined',
  'fragments_unjoined',
  'gso_skbs',
] as const;

export const Stat = {
  PacketsSeen: 0,
  SkbsSeen: 1,
  DualPackets: 2,
  NoDevice: 3,
  NoTable: 4,
  NoReserved: 5,
  FragmentsJoined: 6,
  FragmentsUnjoined: 7,
  GsoSkbs: 8,
} as const;

/** Caller-owned arrays a drain writes into; made once per engine (`EbpfFlowEngine.drainBuffers`). */
export interface DrainBuffers {
  /** tableEntries x RECORD_BYTES bytes. */
  readonly records: Uint8Array;
  /** The same bytes as numbers (F64_* indexes). */
  readonly recordsF64: Float64Array;
  /** The same bytes as u16 (U16_* indexes). */
  readonly recordsU16: Uint16Array;
  /** maxSlots x LOSS_REASONS x 2: packets, bytes. */
  readonly loss: Float64Array;
}

export function createDrainBuffers(tableEntries: number, maxSlots: number): DrainBuffers {
  const records = new Uint8Array(tableEntries * RECORD_BYTES);
  return {
    records,
    recordsF64: new Float64Array(records.buffer),
    recordsU16: new Uint16Array(records.buffer),
    loss: new Float64Array(maxSlots * LOSS_REASONS.length * 2),
  };
}
