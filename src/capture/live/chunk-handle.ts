import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DropDelta, type LiveCaptureStats } from './drop-delta';
import { CaptureDeviceError } from './live-handle';

/**
 * The project's own libpcap addon (src/capture/native/chunk-capture.c, built by `npm ci` through
 * binding.gyp): one call copies a whole read into a caller-owned buffer as pcap records, where
 * node-pcap crosses into JavaScript once per packet.
 */
interface ChunkCaptureBinding {
  open(
    device: string,
    snaplen: number,
    bufferBytes: number,
    timeoutMs: number,
    filter: string,
    promiscuous: boolean,
  ): object;
  /** Like open, activated on a libuv worker (packet sockets wait for kernel grace periods). */
  openAsync(
    device: string,
    snaplen: number,
    bufferBytes: number,
    timeoutMs: number,
    filter: string,
    promiscuous: boolean,
    done: (error: string | null, handle?: object) => void,
  ): void;
  /** Stops polling at once; frees libpcap's handle on a worker, then calls `done`. */
  closeAsync(handle: object, done: () => void): void;
  /**
   * [link type (DLT), snaplen, MTU (0: unknown), 1 when word 1 of each record is the kernel's
   * segmentation (the addon's own ring, Ethernet devices) rather than microseconds (libpcap)].
   */
  describe(handle: object): [number, number, number, number];
  start(handle: object, onReadable: () => void, pauseMs: number): void;
  /** Bytes of records written at [offset, offset + length); -1 read error (lastError), -2 closed. */
  dispatch(handle: object, buffer: Uint8Array, offset: number, length: number): number;
  stats(handle: object): [number, number, number] | null;
  lastError(handle: object): string;
  close(handle: object): void;
}

let binding: ChunkCaptureBinding | undefined;

const ADDON = join('build', 'Release', 'flowlog_capture.node');

/**
 * The addon, loaded on first use: $FLOWLOG_CAPTURE_ADDON when set (bundles made outside the
 * package, e.g. by tests), else the package's build/, the nearest one above this file (dist/,
 * the CLI bundle and src/ all find it).
 */
export function chunkCaptureBinding(): ChunkCaptureBinding {
  if (binding !== undefined) return binding;
  let path = process.env.FLOWLOG_CAPTURE_ADDON ?? '';
  for (let dir = __dirname; path === ''; dir = dirname(dir)) {
    if (existsSync(join(dir, ADDON))) path = join(dir, ADDON);
    else if (dirname(dir) === dir)
      throw new Error(`load capture addon: ${ADDON} not found above ${__dirname} (run \`npm ci\`)`);
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (binding = require(path) as ChunkCaptureBinding);
  } catch (err) {
    throw new Error(
      `load capture addon ${path}: ${String((err as Error).message).split('\n')[0]} (run \`npm ci\` in the package directory)`,
      { cause: err },
    );
  }
}

/** How a chunked handle is opened. */
export interface ChunkHandleOptions {
  filter: string;
  bufferBytes: number;
  snaplenBytes: number;
  /** libpcap read timeout, above 0: TPACKET_V3 hands a block over when full or at this timeout. */
  bufferTimeoutMs: number;
  /** Shared devices (a bridge) see forwarded frames only in promiscuous mode. */
  promiscuous: boolean;
  /** Longest pause after a read before the device is polled again (see readPauseMs); 0: none. */
  readPauseMs?: number;
}

/** The burst a read pause must survive, in frames a millisecond (1.5 Mpps). */
const PAUSE_BURST_FRAMES_PER_MS = 1500;
/** Ring bytes a frame takes beyond its captured bytes: TPACKET_V3's header and alignment. */
const RING_FRAME_OVERHEAD_BYTES = 64;

/**
 * The pause after each read for a ring of `ringBytes` holding frames of up to `snaplenBytes`:
 * `wantedMs`, cut so that a 1.5 Mpps burst of full-snaplen frames fills at most half the ring
 * meanwhile (at snaplen 128: 58 ms for 32 MiB, 7 for 4 MiB, none for the 512 KiB minimum share).
 */
export function readPauseMs(wantedMs: number, ringBytes: number, snaplenBytes: number): number {
  const burstBytesPerMs = PAUSE_BURST_FRAMES_PER_MS * (snaplenBytes + RING_FRAME_OVERHEAD_BYTES);
  return Math.max(0, Math.min(wantedMs, Math.floor(ringBytes / 2 / burstBytesPerMs)));
}

/**
 * One live libpcap handle on a network device, read a chunk at a time.
 *
 * Lifecycle: `open()` (throws CaptureDeviceError) → `start()` → `dispatch()` any number of times
 * → `close()`. Ownership: the handle owns the native session; chunks are the caller's.
 */
export class ChunkHandle {
  private native: object | null = null;
  private readonly drops = new DropDelta();
  private lastStats: LiveCaptureStats = { received: 0, droppedKernel: 0, droppedInterface: 0 };
  /** Largest record `dispatch` writes: 16 header bytes and the snaplen. */
  recordMaxBytes = 0;
  /** Ring bytes asked of libpcap at open. */
  ringBytes = 0;
  /** The pause after each read (readPauseMs of the options and the ring). */
  pauseMs = 0;
  /** The device's MTU at open (0: unknown). */
  mtu = 0;
  /** Whether records carry the kernel's segmentation of each frame (see ChunkRecorder.record). */
  kernelSegmentation = false;

  constructor(readonly device: string) {}

  /** Opens the device and returns its link type (DLT). */
  open(o: ChunkHandleOptions): number {
    const b = chunkCaptureBinding();
    let native: object;
    try {
      native = b.open(this.device, o.snaplenBytes, o.bufferBytes, o.bufferTimeoutMs, o.filter, o.promiscuous);
    } catch (err) {
      throw new CaptureDeviceError(this.device, `open capture device ${this.device}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return this.adopt(native, o);
  }

  /**
   * Like `open`, with the kernel's part on a libuv worker, so hundreds of devices open in
   * parallel (each activation waits about 13 ms on kernel grace periods). Rejects with
   * CaptureDeviceError.
   */
  openAsync(o: ChunkHandleOptions): Promise<number> {
    return new Promise((resolve, reject) => {
      chunkCaptureBinding().openAsync(
        this.device,
        o.snaplenBytes,
        o.bufferBytes,
        o.bufferTimeoutMs,
        o.filter,
        o.promiscuous,
        (error, native) => {
          if (error !== null || native === undefined)
            reject(new CaptureDeviceError(this.device, `open capture device ${this.device}: ${error ?? 'no handle'}`));
          else resolve(this.adopt(native, o));
        },
      );
    });
  }

  private adopt(native: object, o: ChunkHandleOptions): number {
    const b = chunkCaptureBinding();
    this.native = native;
    this.ringBytes = o.bufferBytes;
    const [linkType, snaplen, mtu, segmented] = b.describe(native);
    this.mtu = mtu;
    this.kernelSegmentation = segmented === 1;
    this.pauseMs = readPauseMs(o.readPauseMs ?? 0, o.bufferBytes, snaplen);
    this.recordMaxBytes = 16 + snaplen;
    this.lastStats = { received: 0, droppedKernel: 0, droppedInterface: 0 };
    this.drops.reset(this.stats());
    return linkType;
  }

  /**
   * Calls `onReadable` whenever the descriptor becomes readable (libuv poll in the addon), and
   * after each call polls again only `pauseMs` later: frames meanwhile wait in the ring, so at a
   * steady rate one wake-up reads several of the kernel's blocks (each wake-up costs the
   * event loop, the call into JavaScript and the kernel's cold caches, whatever it reads).
   */
  start(onReadable: () => void): void {
    if (this.native === null) throw new CaptureDeviceError(this.device, `start capture on ${this.device}: not open`);
    chunkCaptureBinding().start(this.native, onReadable, this.pauseMs);
  }

  /**
   * Copies the frames libpcap holds, as many as fit, into `chunk` [offset, offset + length) as
   * pcap records; returns the bytes written, -1 on a read error (`lastError`), 0 when closed.
   */
  dispatch(chunk: Uint8Array, offset: number, length: number): number {
    const native = this.native;
    if (native === null) return 0;
    const n = chunkCaptureBinding().dispatch(native, chunk, offset, length);
    return n === -2 ? 0 : n;
  }

  get lastError(): string {
    return this.native === null ? '' : chunkCaptureBinding().lastError(this.native);
  }

  /** Packets dropped (kernel + interface) since the previous call or the open; 0 when closed. */
  takeDrops(): number {
    return this.drops.take(this.stats());
  }

  /** The figures of the last `stats` or `takeDrops` (zeros before any). */
  get sampled(): LiveCaptureStats {
    return this.lastStats;
  }

  /** Cumulative statistics; null when closed; the last figures when libpcap cannot tell. */
  stats(): LiveCaptureStats | null {
    if (this.native === null) return null;
    const s = chunkCaptureBinding().stats(this.native);
    if (s !== null) this.lastStats = { received: s[0], droppedKernel: s[1], droppedInterface: s[2] };
    return this.lastStats;
  }

  get isOpen(): boolean {
    return this.native !== null;
  }

  close(): void {
    const native = this.native;
    if (native === null) return;
    this.native = null;
    chunkCaptureBinding().close(native);
  }

  /** Like `close`; nothing is read after the call, libpcap's handle is freed on a worker. */
  closeAsync(): Promise<void> {
    const native = this.native;
    if (native === null) return Promise.resolve();
    this.native = null;
    return new Promise((resolve) => chunkCaptureBinding().closeAsync(native, resolve));
  }
}
