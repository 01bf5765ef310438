/**
 * The capture contract: what a capture source hands over, to whom, and its lifecycle. Sources
 * (file/, live/, ebpf/) depend on this file only; the packet path (packet/) implements the
 * consumers, so capture never imports the stages after it.
 *
 * A source hands over one of three things:
 *   - frames, one at a time (capture files, NFLOG): the source writes the frame's metadata into
 *     the consumer's FrameSlot, then calls it with the frame's bytes (FrameConsumer);
 *   - chunks of frames laid out as pcap records (live devices, one native read per wake-up): the
 *     source fills the consumer's chunk, then hands over the filled length (ChunkConsumer);
 *   - per-flow aggregates (an in-kernel flow engine such as the eBPF one, capture/ebpf): no
 *     frames reach user space; the source drains flow records and loss counters into buffers
 *     the caller owns (AggregateSource).
 *
 * Packet-path rule for every consumer call: no allocation, no closure, no string per frame; the
 * slot, the frame buffer and the chunk are owned by one side for the source's life and reused.
 */

/**
 * The metadata of the frame being handed over, written by the source before each call
 * (packet/decode's PacketView is one). Times are the capture's; lengths in bytes.
 */
export interface FrameSlot {
  /** Capture time, Unix seconds and microseconds. */
  tsSec: number;
  tsUsec: number;
  /** Bytes captured (at most the snapshot length) and bytes the frame had on the wire. */
  capLen: number;
  wireLen: number;
  /** Where the frame starts in the buffer handed over (a file reader's chunk holds many). */
  frameOffset: number;
  /** How the kernel segmented a super-frame (bit 31 set: see PacketView.segmentation); 0: unknown. */
  segmentation: number;
}

/** Takes frames one at a time. Borrowed by the source; may be swapped between reads. */
export interface FrameConsumer {
  /** Written by the source before each `onFrame`. */
  readonly view: FrameSlot;
  /** The frame is `frame` from `view.frameOffset`, `view.capLen` bytes; borrowed for the call. */
  onFrame(linkType: number, frame: Uint8Array, reject: boolean): void;
}

/** An NFLOG group's consumer: frames attributed by the group's ENI or the packet's interface. */
export interface NflogFrameConsumer extends FrameConsumer {
  /** `fixedEni` the group's ENI index (-1: by `eniByIfindex[ifindex]`). */
  onNflogFrame(linkType: number, frame: Uint8Array, fixedEni: number, eniByIfindex: Int32Array): void;
}

/**
 * Takes chunks of pcap records (16-byte header: seconds, microseconds or a segmentation word,
 * captured length, wire length; then the frame). The consumer owns `chunk`; the source writes
 * records into it and calls `record` with the length written, before writing again.
 */
export interface ChunkConsumer {
  readonly chunk: Buffer;
  /**
   * Records the records in chunk [0, end) for `device` (an ENI index, or one of the consumer's
   * shared-device codes), captured on a device of `mtu` (0: unknown). Returns how many.
   */
  record(device: number, linkType: number, end: number, mtu?: number): number;
}

/**
 * A file reader's fast path: a recorder that walks whole runs of pcap records or pcapng
 * packet blocks in the reader's chunk itself (the WebAssembly packet kernel), stopping at the
 * first record it cannot take the common way, which the reader then hands over as a frame.
 */
export interface ChunkRunner {
  /** The chunk the reader reads into (the runner's memory). */
  readonly chunk: Buffer;
  /** Records taken by the last run. */
  readonly handled: number;
  /** Takes pcap records from `pos` to `end`; returns where it stopped. */
  run(pos: number, end: number): number;
  /** Takes pcapng packet blocks from `pos` to `end` with the section's interfaces; returns where it stopped. */
  runPcapng(pos: number, end: number): number;
  /** A new file starts (the runner may forget what the last one taught it). */
  newStream?(): void;
  /** The pcapng section's interfaces, before `runPcapng` (copied when `version` changed). */
  setInterfaces(
    version: number,
    linkTypes: readonly number[],
    unitsPerSec: readonly number[],
    offsetSec: readonly number[],
  ): void;
}

/** Counters every live source keeps (cumulative since open). */
export interface CaptureStats {
  received: number;
  /** Dropped by the kernel (ring full). */
  droppedKernel: number;
  /** Dropped by the interface or driver before the capture saw them. */
  droppedInterface: number;
}

/**
 * A live source's lifecycle: open (throws a typed error naming the device) → bound to its
 * consumer → start → reads, drops taken → close. A read failure (the device went away) is
 * kept in `failure` and reported once; the owner decides to close and reopen.
 */
export interface LiveSource {
  /** The device, NFLOG group or program the source reads. */
  readonly device: string;
  /** Set when reading failed after start; absent for a source whose reads do not fail that way (NFLOG). */
  readonly failure?: Error | null;
  open(): void;
  start(): void;
  /** Reads what is there now and hands it over. */
  readAvailable(): void;
  /** Drops since the previous call (SKIPDATA for the windows they fall in). */
  takeDrops(): number;
  stats(): CaptureStats;
  close(): void;
}

/**
 * A source that hands over per-flow aggregates instead of frames: the flow table lives where
 * the packets are (in the kernel), and user space drains it once per interval. `Buffers` are
 * the caller's, made once by the source (`drainBuffers`) and reused; `drain` fills them and
 * says what it wrote. Lifecycle: open (static, typed error) → attach devices → drain → close.
 */
export interface AggregateSource<Buffers, DrainOutcome> {
  drainBuffers(): Buffers;
  drain(into: Buffers): Promise<DrainOutcome>;
  close(): Promise<void>;
}
