import { isSupportedLinkType } from '../decode/packet-view';
import type { FlowRecorder } from '../flow/flow-recorder';
import { linkTypeFromName, pcapBinding, type NativePcapSession } from './pcap-binding';

/** How one live handle is opened. */
export interface LiveCaptureOptions {
  /** Network device, e.g. `eth1`. */
  device: string;
  snaplenBytes: number;
  /** Kernel ring size; libpcap may round it, the kernel may cap it. */
  bufferBytes: number;
  /** BPF expression; '' captures everything. */
  filter: string;
  /**
   * libpcap read timeout. With TPACKET_V3 the kernel hands over a block when it fills or when this
   * expires, so it bounds how late a packet reaches the flow table; 0 selects immediate mode
   * (one wake-up per packet: lowest latency, most CPU at high rates).
   */
  bufferTimeoutMs: number;
}

/** A capture device could not be opened or read; `device` names it. */
export class CaptureDeviceError extends Error {
  override readonly name = 'CaptureDeviceError';
  constructor(
    readonly device: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Cumulative libpcap statistics of a handle since it was opened. */
export interface LiveCaptureStats {
  received: number;
  /** Dropped by the kernel (ring full). */
  droppedKernel: number;
  /** Dropped by the interface or driver before the capture saw them. */
  droppedInterface: number;
}

/** Largest frame copied from libpcap; the snaplen is at most 262144 (config limit). */
const FRAME_BUFFER_BYTES = 262144;
/** pcap_stat fields are u_int and wrap; deltas are taken modulo 2^32. */
const U32 = 0x1_0000_0000;

/**
 * One live libpcap handle on one ENI's device, feeding frames to a FlowRecorder as that ENI's.
 *
 * Lifecycle: `open()` (throws CaptureDeviceError) → `bind()` → `start()` → any number of
 * `bind()` (pipeline rebuilt) and `takeDrops()` → `close()`. The handle is read when its file
 * descriptor becomes readable (libuv poll); each read drains what the kernel has, calling the
 * per-packet closure created once in the constructor: the packet path allocates nothing.
 *
 * Ownership: the source owns its frame and header buffers and the native session; the recorder
 * is borrowed and may be swapped with `bind` between reads.
 */
export class LiveCaptureSource {
  readonly device: string;
  /** libpcap DLT of the opened handle; -1 before open. */
  linkType = -1;
  /** Frames read from the handle. */
  packets = 0;
  private readonly frame = Buffer.alloc(FRAME_BUFFER_BYTES);
  private readonly header = Buffer.alloc(16);
  private readonly headerWords = new Uint32Array(this.header.buffer, this.header.byteOffset, 4);
  private session: NativePcapSession | null = null;
  private recorder: FlowRecorder | null = null;
  private eni = -1;
  private lastDropKernel = 0;
  private lastDropInterface = 0;
  private readonly onPacket: () => void;
  private readonly onReadable: () => void;
  /** Set when a read fails (device gone); the owner decides whether to reopen. */
  failure: CaptureDeviceError | null = null;

  constructor(
    private readonly options: LiveCaptureOptions,
    /** Called once when reading fails after start (the device went away). */
    private readonly onFailure?: (source: LiveCaptureSource, error: CaptureDeviceError) => void,
  ) {
    this.device = options.device;
    const hdr = this.headerWords;
    const frame = this.frame;
    this.onPacket = () => {
      const rec = this.recorder;
      this.packets++;
      if (rec === null) return;
      const v = rec.view;
      v.tsSec = hdr[0];
      v.tsUsec = hdr[1];
      v.capLen = hdr[2] > FRAME_BUFFER_BYTES ? FRAME_BUFFER_BYTES : hdr[2];
      v.wireLen = hdr[3];
      rec.onFrameForEni(this.eni, this.linkType, frame, false);
    };
    this.onReadable = () => this.readAvailable();
  }

  /** Opens the device. Throws CaptureDeviceError (missing device, permission, bad filter). */
  open(): void {
    const o = this.options;
    const session = new pcapBinding.PcapSession();
    let name: string;
    try {
      name = session.open_live(o.device, o.filter, o.bufferBytes, o.snaplenBytes, '', this.onPacket, false, o.bufferTimeoutMs, ignoreWarning, false);
    } catch (err) {
      throw new CaptureDeviceError(o.device, `open capture device ${o.device}: ${(err as Error).message}`, { cause: err });
    }
    this.session = session;
    this.linkType = linkTypeFromName(name);
    if (!isSupportedLinkType(this.linkType)) {
      this.close();
      throw new CaptureDeviceError(o.device, `open capture device ${o.device}: unsupported link type ${this.linkType}`);
    }
    const s = this.stats();
    this.lastDropKernel = s.droppedKernel;
    this.lastDropInterface = s.droppedInterface;
  }

  /** Directs frames to `recorder` as ENI `eni`'s. Safe between reads (never during one). */
  bind(recorder: FlowRecorder, eni: number): void {
    this.recorder = recorder;
    this.eni = eni;
  }

  /** Starts reading when the descriptor is readable. */
  start(): void {
    const session = this.session;
    if (session === null) throw new CaptureDeviceError(this.device, `start capture on ${this.device}: not open`);
    session.read_callback = this.onReadable;
    session.start_polling();
  }

  /** Reads every frame the kernel holds now; the daemon also calls it before a window closes. */
  readAvailable(): void {
    const session = this.session;
    if (session === null) return;
    const rc = session.dispatch(this.frame, this.header);
    if (rc === -1) this.fail('read error (device gone or down)');
  }

  /** Cumulative statistics; zeros when closed. */
  stats(): LiveCaptureStats {
    if (this.session === null) return { received: 0, droppedKernel: 0, droppedInterface: 0 };
    try {
      const s = this.session.stats();
      return { received: s.ps_recv >>> 0, droppedKernel: s.ps_drop >>> 0, droppedInterface: s.ps_ifdrop >>> 0 };
    } catch {
      return { received: 0, droppedKernel: this.lastDropKernel, droppedInterface: this.lastDropInterface };
    }
  }

  /** Packets dropped (kernel + interface) since the previous call (or open). */
  takeDrops(): number {
    const s = this.stats();
    const kernel = (s.droppedKernel - this.lastDropKernel + U32) % U32;
    const iface = (s.droppedInterface - this.lastDropInterface + U32) % U32;
    this.lastDropKernel = s.droppedKernel;
    this.lastDropInterface = s.droppedInterface;
    return kernel + iface;
  }

  get isOpen(): boolean {
    return this.session !== null;
  }

  /**
   * Stops reading and frees the handle. node-pcap's close() only sets libpcap's break-loop flag;
   * the following dispatch returns -2 and frees the handle and the poll watcher.
   */
  close(): void {
    const session = this.session;
    if (session === null) return;
    this.session = null;
    session.read_callback = undefined;
    try {
      session.close();
      session.dispatch(this.frame, this.header);
    } catch {
      // Already released by libpcap after a read error; nothing more to free.
    }
  }

  private fail(reason: string): void {
    const error = new CaptureDeviceError(this.device, `read capture device ${this.device}: ${reason}`);
    this.failure = error;
    this.close();
    this.onFailure?.(this, error);
  }
}

function ignoreWarning(): void {
  // pcap_lookupnet fails on devices without IPv4 (only used for the filter's netmask): harmless.
}
