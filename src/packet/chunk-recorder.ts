import type { ChunkConsumer } from '../capture/capture-source';
import { CHUNK_BYTES, FRAME_BYTES } from '../capture/file/capture-file-reader';
import { DEFAULT_MTU_BYTES } from './decode/super-frame';
import { KernelFirst } from './recorder-choice';
import type { PacketKernel } from './wasm/packet-kernel';
import type { FlowRecorder } from './flow-recorder';

const LINKTYPE_ETHERNET = 1;
/** `record`'s device for a shared device's frames, and for an overlay device's (decapsulated). */
export const SHARED_DEVICE = -1;
export const OVERLAY_DEVICE = -2;

/**
 * The daemon's packet entry: walks a chunk of live frames laid out as pcap records (what
 * ChunkHandle.dispatch writes) and records them for one ENI (its own device) or for the ENIs of
 * a shared device (`eni` -1). Common Ethernet frames go through the WebAssembly kernel, a whole
 * run at a time; a record the kernel stops at (another frame shape, a time outside the current
 * windows, a new flow needing the table grown) goes to FlowRecorder, then the kernel goes on.
 * Without a kernel (agent-side rules, or no kernel memory) every record goes to FlowRecorder.
 *
 *   ChunkHandle.dispatch ──► chunk (kernel memory) ──► PacketKernel.runLive ──► flow tables
 *                                                      │ stops at a record
 *                                                      ▼
 *                                        FlowRecorder.onFrameForEni / onSharedFrame
                                        (overlay devices: onOverlayFrame, no kernel)
 *
 * The kernel's tables are the aggregators' own, so window closes, incremental drains into the
 * second table, NODATA and SKIPDATA all work as with the TypeScript path alone.
 *
 * Per record: no allocation. Single-threaded: sources call `record` one after another, each
 * after filling `chunk`.
 */
export class ChunkRecorder implements ChunkConsumer {
  /** Where sources dispatch into: the kernel's chunk when there is a kernel. */
  readonly chunk: Buffer;
  private readonly words: DataView;
  /** Records handled by the kernel since construction. */
  kernelPackets = 0;
  /** Kernel first, else TypeScript (the one policy, recorder-choice.ts). */
  private readonly choice = new KernelFirst();

  constructor(
    readonly recorder: FlowRecorder,
    private kernel: PacketKernel | null,
  ) {
    this.chunk = kernel === null ? Buffer.allocUnsafe(CHUNK_BYTES) : kernel.chunk;
    this.words = new DataView(this.chunk.buffer, this.chunk.byteOffset, this.chunk.byteLength);
  }

  /** Goes on without the kernel (it could not take a change of the ENIs); `chunk` stays valid. */
  dropKernel(): void {
    this.kernel = null;
  }

  /** Marks the ENIs that frames of shared devices may count (those with no device of their own). */
  setSharedEnis(shared: Uint8Array): void {
    this.recorder.sharedEnis.set(shared);
    this.kernel?.sharedEnis.set(shared);
  }

  /**
   * Records the pcap records in chunk [0, end) for `eni` (SHARED_DEVICE, OVERLAY_DEVICE: such a
   * device's), captured on a device of `mtu` (0: unknown); returns how many. Overlay frames skip
   * the kernel, which counts tunnels under their outer header.
   *
   * Word 1 of a record (microseconds in a pcap file) is the kernel's segmentation of the frame
   * when its bit 31 is set (the capture addon's own ring, see PacketView.segmentation), else
   * ignored. The kernel leaves super-frames to the TypeScript path, which segments them.
   */
  record(eni: number, linkType: number, end: number, mtu: number = DEFAULT_MTU_BYTES): number {
    const kernel = linkType === LINKTYPE_ETHERNET && eni !== OVERLAY_DEVICE ? this.kernel : null;
    const rec = this.recorder;
    rec.setDeviceMtu(mtu);
    const threshold = rec.superFrameThreshold;
    const view = rec.view;
    const w = this.words;
    const chunk = this.chunk;
    let pos = 0;
    let packets = 0;
    while (end - pos >= 16) {
      if (kernel !== null) {
        if (this.choice.ask()) {
          const stop = kernel.runLive(eni, pos, end, threshold);
          const n = kernel.handled;
          this.choice.took(n);
          if (n > 0) {
            pos = stop;
            packets += n;
            this.kernelPackets += n;
            continue;
          }
        }
      }
      // 0: seconds, 4: microseconds, 8: captured length, 12: wire length, 16: the frame
      const capLen = w.getUint32(pos + 8, true);
      if (end - pos - 16 < capLen) break; // never happens: the addon writes whole records
      view.tsSec = w.getUint32(pos, true);
      const word1 = w.getInt32(pos + 4, true);
      view.tsUsec = word1 < 0 ? 0 : word1;
      view.segmentation = word1 < 0 ? word1 : 0;
      view.capLen = capLen < FRAME_BYTES ? capLen : FRAME_BYTES;
      view.wireLen = w.getUint32(pos + 12, true);
      view.frameOffset = pos + 16;
      if (eni >= 0) rec.onFrameForEni(eni, linkType, chunk, false);
      else if (eni === SHARED_DEVICE) rec.onSharedFrame(linkType, chunk);
      else rec.onOverlayFrame(linkType, chunk);
      pos += 16 + capLen;
      packets++;
    }
    return packets;
  }
}
