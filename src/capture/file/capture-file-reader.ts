import { closeSync, openSync, readSync } from 'node:fs';
import { readI32, readI32Le } from '../byte-reads';
import type { ChunkRunner, FrameConsumer, FrameSlot } from '../capture-source';
import { isSupportedLinkType } from '../link-types';

/**
 * Reads pcap and pcapng files in chunks and hands each packet over where it lies in the chunk,
 * instead of through a per-packet native callback: node-pcap's binding (the libpcap path) crosses
 * from C++ into JS once per packet, which alone costs more than decoding and aggregating it.
 * Here the loop stays in JS and the only per-packet work is reading 16-32 header bytes. Formats
 * this reader does not know (e.g. the modified "Kuznetzov" pcap) go to libpcap instead (see
 * OfflineCaptureSource).
 *
 * Reading ahead on a worker thread was tried and left out: on two cores the worker competed with
 * V8's compiler and GC threads, and replays got slower (wall and CPU) rather than faster.
 *
 * Never throws on file contents: a malformed header or block ends the file with `error` set,
 * after every packet before it was delivered. Per packet: no allocation.
 */

export interface CaptureFileResult {
  /** Packets handed to the consumer. */
  packets: number;
  /** Packets of link types the decoder does not read (counted, not handed over). */
  unsupported: number;
  /** Link type of the first interface (pcap: the file's). */
  linkType: number;
  /** Why reading stopped early; undefined at a clean end of file. */
  error?: string;
}

/**
 * Where the reader hands packets: the packet path's entry (FlowRecorder), called directly from
 * the read loop rather than through a per-file closure, so V8 compiles the inlined packet path
 * twice (the entry, then the loop) instead of three times. The view holds ts, lengths and the
 * frame's offset in `frame`, the read chunk.
 */
export type PacketConsumer = Pick<FrameConsumer, 'onFrame'>;

const LINKTYPE_ETHERNET = 1;
const PCAP_US = 0xa1b2c3d4;
const PCAP_NS = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BOM = 0x1a2b3c4d;
/** Largest record or block accepted (libpcap's own bound for pcapng blocks is 16 MiB). */
const MAX_RECORD_BYTES = 16 * 1024 * 1024;
export const CHUNK_BYTES = 256 * 1024;
/**
 * The first read of a file is this small and each next one twice as big, up to the chunk: the
 * packet loop's refill then runs several times (and V8 records feedback for it, and for the read
 * inside it) before the loop is optimized. Code first reached in optimized code deoptimizes the
 * whole inlined packet path and costs a recompile.
 */
const FIRST_READ_BYTES = 4 * 1024;

/** 'pcap' | 'pcapng' when this reader handles the file (by its first four bytes), else null. */
export function captureFormatOf(head: Buffer): 'pcap' | 'pcapng' | null {
  if (head.length < 4) return null;
  const le = head.readUInt32LE(0);
  const be = head.readUInt32BE(0);
  if (le === PCAP_US || le === PCAP_NS || be === PCAP_US || be === PCAP_NS) return 'pcap';
  if (le === PCAPNG_SHB) return 'pcapng';
  return null;
}

/** Captured bytes handed to the decoder; longer captures are clamped (headers are all it reads). */
export const FRAME_BYTES = 262144;

export class CaptureFileReader {
  /**
   * The read chunk, which is also the frame buffer: a packet is handed over in place (its offset
   * in `view.frameOffset`), so the only per-packet work is reading its 16-32 header bytes.
   * Copying each frame out cost about 50 ns a packet. The chunk is small enough (256 KiB) to stay
   * in the L2 cache between the kernel's copy into it and the decoder's reads; 4 MiB chunks
   * streamed through the cache and evicted the flow table's entries (5% slower replay).
   */
  frame: Buffer;
  /** Valid bytes in `frame` are [pos, len). */
  private pos = 0;
  private len = 0;
  private fd = -1;
  private eof = false;
  /** Most bytes the next read may take: FIRST_READ_BYTES for a file's first read, doubling. */
  private readLimit = FIRST_READ_BYTES;
  private little = true;
  // pcapng interfaces of the current section (small arrays, grown only on IDB blocks)
  private ifLinkType: number[] = [];
  private ifUnitsPerSec: number[] = [];
  private ifOffsetSec: number[] = [];
  private ifSnapLen: number[] = [];
  /** Changes with the interfaces above (for the kernel's copy of them). */
  private ifVersion = 0;

  /** Packets of unsupported link types in the file being read. */
  private unsupported = 0;
  /** Called every 65,536 packets handed over, with their count so far. */
  private progress: ((packets: number) => void) | undefined;

  /**
   * With a kernel, the chunk is the kernel's, and the records of little-endian pcap files and
   * pcapng sections go through it (see PacketKernel); every record it leaves comes here.
   */
  constructor(
    private readonly view: FrameSlot,
    private readonly kernel: ChunkRunner | null = null,
  ) {
    this.frame = kernel === null ? Buffer.allocUnsafe(CHUNK_BYTES) : kernel.chunk;
  }

  read(path: string, consumer: PacketConsumer, progress?: (packets: number) => void): CaptureFileResult {
    this.fd = openSync(path, 'r');
    this.pos = this.len = 0;
    this.eof = false;
    this.readLimit = FIRST_READ_BYTES;
    this.unsupported = 0;
    this.progress = progress;
    this.kernel?.newStream?.();
    try {
      if (!this.fill(4)) return this.result(0, -1, 'empty file');
      const format = captureFormatOf(this.frame.subarray(this.pos, this.pos + 4));
      return format === 'pcap' ? this.readPcap(consumer) : this.readPcapng(consumer);
    } finally {
      closeSync(this.fd);
      this.fd = -1;
    }
  }

  /** `read` packets were read in all; those of unsupported link types were not handed over. */
  private result(read: number, linkType: number, error?: string): CaptureFileResult {
    const r: CaptureFileResult = { packets: read - this.unsupported, unsupported: this.unsupported, linkType };
    if (error !== undefined) r.error = error;
    return r;
  }

  private readPcap(consumer: PacketConsumer): CaptureFileResult {
    if (!this.fill(24)) return this.result(0, -1, 'truncated file header');
    const c = this.frame;
    const magicLe = c.readUInt32LE(this.pos);
    this.little = magicLe === PCAP_US || magicLe === PCAP_NS;
    const nanos = (this.little ? magicLe : c.readUInt32BE(this.pos)) === PCAP_NS;
    const linkType = this.u32(this.pos + 20) & 0xffff; // 20: network (upper bits: FCS length)
    this.pos += 24;
    const view = this.view;
    const little = this.little;
    const supported = isSupportedLinkType(linkType); // one link type for the whole file
    const progress = this.progress; // a local: a field read only every 65,536 packets would deoptimize the loop
    const kernel = little && linkType === LINKTYPE_ETHERNET ? this.kernel : null;
    let packets = 0;
    for (;;) {
      if (kernel !== null && this.frame === kernel.chunk) packets += this.kernelStep(kernel, false, packets);
      // Record header: 0 seconds, 4 micro- or nanoseconds, 8 captured length, 12 wire length.
      // Read inline, the byte order decided once per file: a read method per field was 10% of
      // a replay. (int32 reads: every value is stored or compared, never passed on boxed.)
      const c = this.frame;
      const p = this.pos;
      let need = 16;
      if (this.len - p >= 16) {
        const capLen = little ? readI32Le(c, p + 8) : readI32(c, p + 8);
        if (capLen > MAX_RECORD_BYTES || capLen < 0)
          return this.result(packets, linkType, `bogus captured length ${capLen >>> 0} after ${packets} packets`);
        need = 16 + capLen;
      }
      // One refill for a header and for a packet cut by the chunk's end: a refill site first
      // reached in optimized code would deoptimize the whole inlined packet path (see
      // FIRST_READ_BYTES).
      if (this.len - p < need) {
        if (this.fill(need)) continue;
        if (this.len === this.pos) return this.result(packets, linkType);
        const what = this.len - this.pos < 16 ? 'record header' : 'packet';
        return this.result(packets, linkType, `truncated ${what} after ${packets} packets`);
      }
      const tsSec = little ? readI32Le(c, p) : readI32(c, p);
      const tsFrac = little ? readI32Le(c, p + 4) : readI32(c, p + 4);
      const capLen = need - 16;
      const wireLen = little ? readI32Le(c, p + 12) : readI32(c, p + 12);
      view.tsSec = tsSec >>> 0;
      view.tsUsec = nanos ? Math.floor((tsFrac >>> 0) / 1000) : tsFrac >>> 0;
      this.deliver(p + 16, capLen, wireLen >>> 0);
      this.pos = p + need;
      packets++;
      if (supported) consumer.onFrame(linkType, this.frame, false);
      else this.unsupported++;
      if ((packets & 0xffff) === 0 && progress !== undefined) progress(packets - this.unsupported);
    }
  }

  private readPcapng(consumer: PacketConsumer): CaptureFileResult {
    let packets = 0;
    let firstLinkType = -1;
    const kernel = this.kernel;
    for (;;) {
      if (kernel !== null && this.little && this.frame === kernel.chunk)
        packets += this.kernelStep(kernel, true, packets);
      if (!this.fill(12)) {
        if (this.len === this.pos) return this.result(packets, firstLinkType);
        return this.result(packets, firstLinkType, `truncated block header after ${packets} packets`);
      }
      const c = this.frame;
      let p = this.pos;
      const type = c.readUInt32LE(p) === PCAPNG_SHB ? PCAPNG_SHB : this.u32(p);
      if (type === PCAPNG_SHB) {
        // Section header: its byte-order magic decides how every later field is read.
        const bom = c.readUInt32LE(p + 8);
        if (bom === PCAPNG_BOM) this.little = true;
        else if (c.readUInt32BE(p + 8) === PCAPNG_BOM) this.little = false;
        else return this.result(packets, firstLinkType, `bad section byte-order magic after ${packets} packets`);
        this.ifLinkType.length = this.ifUnitsPerSec.length = this.ifOffsetSec.length = this.ifSnapLen.length = 0;
        this.ifVersion++;
      }
      const total = this.u32(p + 4);
      if (total < 12 || total % 4 !== 0 || total > MAX_RECORD_BYTES) {
        return this.result(packets, firstLinkType, `bad block length ${total} after ${packets} packets`);
      }
      if (!this.fill(total)) return this.result(packets, firstLinkType, `truncated block after ${packets} packets`);
      if (kernel !== null && this.pos !== p) continue; // refilled: the kernel goes first (a section header reads the same twice)
      p = this.pos;
      const bodyEnd = p + total - 4;
      if (type === 6 || type === 2) {
        // Enhanced (6): if u32, ts hi, ts lo, caplen, len. Obsolete packet (2): if u16, drops u16, ...
        if (p + 28 > bodyEnd) return this.result(packets, firstLinkType, `short packet block after ${packets} packets`);
        const iface = type === 6 ? this.u32(p + 8) : this.u16(p + 8);
        const capLen = this.u32(p + 20);
        const wireLen = this.u32(p + 24);
        if (iface >= this.ifLinkType.length)
          return this.result(packets, firstLinkType, `packet of unknown interface ${iface} after ${packets} packets`);
        if (p + 28 + capLen > bodyEnd)
          return this.result(packets, firstLinkType, `packet overruns its block after ${packets} packets`);
        this.setTime(iface, this.u32(p + 12), this.u32(p + 16));
        this.deliver(p + 28, capLen, wireLen);
        packets++;
        this.handOver(consumer, this.ifLinkType[iface], packets);
      } else if (type === 3) {
        // Simple packet: original length, then data; captured length from the block or snaplen.
        if (this.ifLinkType.length === 0)
          return this.result(packets, firstLinkType, `simple packet without an interface after ${packets} packets`);
        const wireLen = this.u32(p + 8);
        let capLen = bodyEnd - (p + 12);
        if (wireLen < capLen) capLen = wireLen;
        if (this.ifSnapLen[0] > 0 && this.ifSnapLen[0] < capLen) capLen = this.ifSnapLen[0];
        const view = this.view;
        view.tsSec = 0;
        view.tsUsec = 0;
        this.deliver(p + 12, capLen, wireLen);
        packets++;
        this.handOver(consumer, this.ifLinkType[0], packets);
      } else if (type === 1) {
        if (p + 16 > bodyEnd)
          return this.result(packets, firstLinkType, `short interface block after ${packets} packets`);
        this.addInterface(p, bodyEnd);
        if (firstLinkType < 0) firstLinkType = this.ifLinkType[0];
      }
      this.pos = p + total;
    }
  }

  /**
   * Lets the kernel take the records from `pos` on (`packets` read so far); returns how many it
   * took, `pos` moved past them. The record it stopped at is the loop's.
   */
  private kernelStep(kernel: ChunkRunner, pcapng: boolean, packets: number): number {
    if (pcapng) kernel.setInterfaces(this.ifVersion, this.ifLinkType, this.ifUnitsPerSec, this.ifOffsetSec);
    const stop = pcapng ? kernel.runPcapng(this.pos, this.len) : kernel.run(this.pos, this.len);
    const n = kernel.handled;
    if (n > 0) {
      this.pos = stop;
      const progress = this.progress;
      if (progress !== undefined && (packets + n) >>> 16 !== packets >>> 16) progress(packets + n - this.unsupported);
    }
    return n;
  }

  /** A pcapng packet (whose interfaces may differ in link type) to the consumer, or counted as unsupported. */
  private handOver(consumer: PacketConsumer, linkType: number, read: number): void {
    if (isSupportedLinkType(linkType)) consumer.onFrame(linkType, this.frame, false);
    else this.unsupported++;
    if ((read & 0xffff) === 0 && this.progress !== undefined) this.progress(read - this.unsupported);
  }

  /** Interface description: link type, snaplen and the timestamp resolution and offset options. */
  private addInterface(p: number, bodyEnd: number): void {
    this.ifLinkType.push(this.u16(p + 8)); // 8: link type
    this.ifSnapLen.push(this.u32(p + 12)); // 12: snaplen
    let unitsPerSec = 1e6;
    let offsetSec = 0;
    for (let o = p + 16; o + 4 <= bodyEnd;) {
      const code = this.u16(o);
      const optLen = this.u16(o + 2);
      if (code === 0) break;
      if (code === 9 && optLen >= 1) {
        const v = this.frame[o + 4];
        unitsPerSec = v & 0x80 ? 2 ** (v & 0x7f) : 10 ** v;
      } else if (code === 14 && optLen >= 8) {
        // if_tsoffset: seconds added to every timestamp; a 64-bit value, low word first when
        // the section is little-endian.
        const first = this.u32(o + 4);
        const second = this.u32(o + 8);
        offsetSec = this.little ? second * 4294967296 + first : first * 4294967296 + second;
      }
      o += 4 + ((optLen + 3) & ~3);
    }
    this.ifUnitsPerSec.push(unitsPerSec);
    this.ifOffsetSec.push(offsetSec);
    this.ifVersion++;
  }

  /**
   * Splits a 64-bit timestamp in the interface's units into seconds and microseconds exactly:
   * long division in base 2^16 keeps every intermediate below 2^53.
   */
  private setTime(iface: number, hi: number, lo: number): void {
    const units = this.ifUnitsPerSec[iface];
    const view = this.view;
    if (units > 4294967296) {
      const t = (hi * 4294967296 + lo) / units; // beyond nanoseconds: approximate
      view.tsSec = Math.floor(t) + this.ifOffsetSec[iface];
      view.tsUsec = Math.floor((t - Math.floor(t)) * 1e6);
      return;
    }
    let r = hi >>> 16;
    let q = Math.floor(r / units);
    r -= q * units;
    let sec = q;
    let cur = r * 65536 + (hi & 0xffff);
    q = Math.floor(cur / units);
    r = cur - q * units;
    sec = sec * 65536 + q;
    cur = r * 65536 + (lo >>> 16);
    q = Math.floor(cur / units);
    r = cur - q * units;
    sec = sec * 65536 + q;
    cur = r * 65536 + (lo & 0xffff);
    q = Math.floor(cur / units);
    r = cur - q * units;
    sec = sec * 65536 + q;
    view.tsSec = sec + this.ifOffsetSec[iface];
    view.tsUsec = Math.floor((r * 1e6) / units);
  }

  /** Points the view at the packet in the chunk and sets its lengths (capture clamped for the decoder). */
  private deliver(start: number, capLen: number, wireLen: number): void {
    const view = this.view;
    view.frameOffset = start;
    view.segmentation = 0; // a file does not say how a frame was segmented: derived from the MTU
    view.capLen = capLen < FRAME_BYTES ? capLen : FRAME_BYTES;
    view.wireLen = wireLen;
  }

  /** Ensures `need` bytes from `pos` are in the chunk; false at end of file before that. */
  private fill(need: number): boolean {
    if (this.len - this.pos >= need) return true;
    if (this.eof) return false;
    if (need > this.frame.length) {
      // A record bigger than the chunk (jumbo pcapng blocks): grow, rarely, never per packet.
      const grown = Buffer.allocUnsafe(Math.max(need, this.frame.length * 2));
      this.frame.copy(grown, 0, this.pos, this.len);
      this.len -= this.pos;
      this.pos = 0;
      this.frame = grown;
    } else if (this.pos > 0) {
      this.frame.copy(this.frame, 0, this.pos, this.len);
      this.len -= this.pos;
      this.pos = 0;
    }
    while (this.len < need) {
      const room = this.frame.length - this.len;
      const n = readSync(this.fd, this.frame, this.len, room < this.readLimit ? room : this.readLimit, null);
      this.readLimit = Math.min(this.readLimit * 2, CHUNK_BYTES);
      if (n === 0) {
        this.eof = true;
        return false;
      }
      this.len += n;
    }
    return true;
  }

  private u32(at: number): number {
    const c = this.frame;
    return this.little
      ? (c[at] | (c[at + 1] << 8) | (c[at + 2] << 16) | (c[at + 3] << 24)) >>> 0
      : ((c[at] << 24) | (c[at + 1] << 16) | (c[at + 2] << 8) | c[at + 3]) >>> 0;
  }

  private u16(at: number): number {
    const c = this.frame;
    return this.little ? c[at] | (c[at + 1] << 8) : (c[at] << 8) | c[at + 1];
  }
}
