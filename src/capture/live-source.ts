import { isSupportedLinkType } from '../decode/packet-view';
import type { FlowRecorder } from '../flow/flow-recorder';
import { CaptureDeviceError, LiveHandle, type LiveCaptureStats } from './live-handle';

export { CaptureDeviceError, type LiveCaptureStats } from './live-handle';

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

/**
 * One live libpcap handle on one ENI's device, feeding frames to a FlowRecorder as that ENI's.
 *
 * Lifecycle: `open()` (throws CaptureDeviceError) → `bind()` → `start()` → any number of
 * `bind()` (pipeline rebuilt) and `takeDrops()` → `close()`. The handle is read when its file
 * descriptor becomes readable (libuv poll); each read drains what the kernel has, calling the
 * per-packet closure created once in the constructor: the packet path allocates nothing.
 *
 * Ownership: the source owns its LiveHandle (frame and header buffers, native session); the
 * recorder is borrowed and may be swapped with `bind` between reads.
 */
export class LiveCaptureSource {
  readonly device: string;
  /** libpcap DLT of the opened handle; -1 before open. */
  linkType = -1;
  /** Frames read from the handle. */
  packets = 0;
  private readonly handle: LiveHandle;
  private recorder: FlowRecorder | null = null;
  private eni = -1;
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
    const handle = (this.handle = new LiveHandle(options.device));
    const frame = handle.frame;
    this.onPacket = () => {
      const rec = this.recorder;
      this.packets++;
      if (rec === null) return;
      handle.loadHeader(rec.view);
      rec.onFrameForEni(this.eni, this.linkType, frame, false);
    };
    this.onReadable = () => this.readAvailable();
  }

  /** Opens the device. Throws CaptureDeviceError (missing device, permission, bad filter). */
  open(): void {
    this.linkType = this.handle.open(this.options, this.onPacket);
    if (!isSupportedLinkType(this.linkType)) {
      this.close();
      throw new CaptureDeviceError(this.device, `open capture device ${this.device}: unsupported link type ${this.linkType}`);
    }
  }

  /** Directs frames to `recorder` as ENI `eni`'s. Safe between reads (never during one). */
  bind(recorder: FlowRecorder, eni: number): void {
    this.recorder = recorder;
    this.eni = eni;
  }

  /** Starts reading when the descriptor is readable. */
  start(): void {
    this.handle.start(this.onReadable);
  }

  /** Reads every frame the kernel holds now; the daemon also calls it before a window closes. */
  readAvailable(): void {
    if (this.handle.dispatch() === -1) this.fail('read error (device gone or down)');
  }

  /** Cumulative statistics; zeros when closed. */
  stats(): LiveCaptureStats {
    return this.handle.stats() ?? { received: 0, droppedKernel: 0, droppedInterface: 0 };
  }

  /** Packets dropped (kernel + interface) since the previous call (or open). */
  takeDrops(): number {
    return this.handle.takeDrops();
  }

  get isOpen(): boolean {
    return this.handle.isOpen;
  }

  /** Stops reading and frees the handle. */
  close(): void {
    this.handle.close();
  }

  private fail(reason: string): void {
    const error = new CaptureDeviceError(this.device, `read capture device ${this.device}: ${reason}`);
    this.failure = error;
    this.close();
    this.onFailure?.(this, error);
  }
}
