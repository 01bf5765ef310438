import type { FrameSlot } from '../capture-source';
import { DropDelta, type LiveCaptureStats } from './drop-delta';
import { linkTypeFromName, pcapBinding, type NativePcapSession } from './pcap-binding';

export type { LiveCaptureStats } from './drop-delta';

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

/** How libpcap opens a live handle. */
export interface LiveHandleOptions {
  /** BPF expression; '' captures everything. */
  filter: string;
  bufferBytes: number;
  snaplenBytes: number;
  /** libpcap read timeout; 0 selects immediate mode. */
  bufferTimeoutMs: number;
}

/**
 * Largest frame copied from libpcap: the snaplen is at most 262144 (config limit), and NFLOG asks
 * for exactly that (its TLVs precede the packet).
 */
const FRAME_BUFFER_BYTES = 262144;

/**
 * One live libpcap handle (a network device or `nflog:<group>`) read through node-pcap's binding
 * into buffers allocated once: the code both live sources share. The sources decide what a
 * frame means and which link types they accept.
 *
 * Lifecycle: `open()` (throws CaptureDeviceError) → `start()` → `dispatch()` any number of times
 * → `close()`. The packet and readable callbacks are created once by the owner and passed in, so
 * the packet path allocates nothing; inside the packet callback `loadHeader` and `frame` give
 * the current packet.
 *
 * Ownership: the handle owns its frame and header buffers and the native session; the owning
 * source owns the handle.
 */
export class LiveHandle {
  /** The frame of the packet being delivered; valid only inside the packet callback. */
  readonly frame = Buffer.alloc(FRAME_BUFFER_BYTES);
  private readonly header = Buffer.alloc(16);
  private readonly headerWords = new Uint32Array(this.header.buffer, this.header.byteOffset, 4);
  private session: NativePcapSession | null = null;
  private readonly drops = new DropDelta();
  private lastStats: LiveCaptureStats = { received: 0, droppedKernel: 0, droppedInterface: 0 };

  constructor(readonly device: string) {}

  /**
   * Opens the device; `onPacket` is called once per frame during `dispatch`. Returns the link
   * type (DLT). Throws CaptureDeviceError (missing device, permission, bad filter, busy group).
   */
  open(options: LiveHandleOptions, onPacket: () => void): number {
    const o = options;
    const session = new (pcapBinding().PcapSession)();
    let name: string;
    try {
      name = session.open_live(
        this.device,
        o.filter,
        o.bufferBytes,
        o.snaplenBytes,
        '',
        onPacket,
        false,
        o.bufferTimeoutMs,
        ignoreWarning,
        false,
      );
    } catch (err) {
      throw new CaptureDeviceError(this.device, `open capture device ${this.device}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.session = session;
    this.lastStats = { received: 0, droppedKernel: 0, droppedInterface: 0 };
    this.drops.reset(this.stats());
    return linkTypeFromName(name);
  }

  /**
   * Packets libpcap reports dropped (kernel + interface) since the previous call or the open;
   * 0 when closed.
   */
  takeDrops(): number {
    return this.drops.take(this.stats());
  }

  /** Calls `onReadable` whenever the descriptor becomes readable (libuv poll). */
  start(onReadable: () => void): void {
    const session = this.session;
    if (session === null) throw new CaptureDeviceError(this.device, `start capture on ${this.device}: not open`);
    session.read_callback = onReadable;
    session.start_polling();
  }

  /**
   * Reads every frame the kernel holds now. Returns libpcap's code (-1: read error), 0 when
   * the handle is closed.
   */
  dispatch(): number {
    const session = this.session;
    return session === null ? 0 : session.dispatch(this.frame, this.header);
  }

  /** Copies the current packet's pcap header into `view` (inside the packet callback only). */
  loadHeader(view: FrameSlot): void {
    const hdr = this.headerWords;
    view.frameOffset = 0; // the view is shared with the chunked path, which sets it per record
    view.segmentation = 0; // libpcap does not say how a frame is segmented
    view.tsSec = hdr[0];
    view.tsUsec = hdr[1];
    view.capLen = hdr[2] > FRAME_BUFFER_BYTES ? FRAME_BUFFER_BYTES : hdr[2];
    view.wireLen = hdr[3];
  }

  /**
   * Cumulative statistics; null when closed. When libpcap cannot tell, the last figures it gave
   * (so counters computed from them never move backwards).
   */
  stats(): LiveCaptureStats | null {
    if (this.session === null) return null;
    try {
      const s = this.session.stats();
      this.lastStats = {
        received: s.ps_recv >>> 0,
        droppedKernel: s.ps_drop >>> 0,
        droppedInterface: s.ps_ifdrop >>> 0,
      };
    } catch {
      // keep the last figures
    }
    return this.lastStats;
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
}

function ignoreWarning(): void {
  // pcap_lookupnet fails on devices without IPv4 and on NFLOG devices (only used for the
  // filter's netmask): harmless.
}
