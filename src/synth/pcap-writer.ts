import { dirname } from 'node:path';
import * as fs from 'node:fs';

/**
 * Streaming writers of capture files: classic libpcap (microsecond or nanosecond magic) and a
 * minimal pcapng (one Section Header Block, one Interface Description Block, Enhanced Packet
 * Blocks). Records are packed into one large buffer and written with fs.writeSync when it
 * fills, so millions of packets take seconds and memory stays flat.
 */

export type CaptureFormat = 'pcap' | 'pcapng';
/** Timestamp unit in the file: 'us' (classic magic 0xa1b2c3d4 / if_tsresol 6), 'ns' (0xa1b23c4d / 9). */
export type TimestampResolution = 'us' | 'ns';

export interface CaptureWriterOptions {
  /** Default 'pcap'. */
  format?: CaptureFormat;
  /** LINKTYPE_* value written to the file header; default 1 (Ethernet). */
  linkType?: number;
  /** Largest capture length announced and enforced: longer frames are cut (caplen < len). Default 262144. */
  snapLen?: number;
  /** Default 'us'. */
  tsResolution?: TimestampResolution;
  /** Size of the write buffer; default 4 MiB. Raised to hold at least one record. */
  bufferBytes?: number;
  /** pcapng only: the if_name option of the interface, e.g. "eth0". */
  interfaceName?: string;
}

/**
 * An open capture file. Lifecycle: created by `openCaptureWriter` (the file is created and the
 * header buffered), `writePacket` any number of times, then `close` exactly once, which flushes
 * and closes the descriptor. The frame passed to `writePacket` is copied before it returns, so
 * the caller may reuse its buffer.
 */
export interface CaptureWriter {
  readonly path: string;
  readonly format: CaptureFormat;
  /** Packets written so far (including those still in the buffer). */
  readonly packetsWritten: number;
  /**
   * Append one packet.
   * @param tsSec whole seconds since the Unix epoch
   * @param tsNsec nanoseconds within the second (0..999999999); cut to microseconds for 'us' files
   * @param frame bytes of the frame starting at the link header; the first `capLen` are written
   * @param capLen bytes captured (cut further to the snap length)
   * @param wireLen bytes on the wire (the record's original length)
   */
  writePacket(tsSec: number, tsNsec: number, frame: Uint8Array, capLen: number, wireLen: number): void;
  /** Flush and close. Further calls to `writePacket` throw. */
  close(): void;
}

/** A capture file could not be created or written. */
export class CaptureWriteError extends Error {
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(`write capture ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'CaptureWriteError';
  }
}

const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_IDB = 0x00000001;
const PCAPNG_EPB = 0x00000006;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const DEFAULT_SNAPLEN = 262144;
const DEFAULT_BUFFER_BYTES = 4 * 1024 * 1024;

/** Open `path` (created or truncated) and write the file header. */
export function openCaptureWriter(path: string, options: CaptureWriterOptions = {}): CaptureWriter {
  return new BufferedCaptureWriter(path, options);
}

class BufferedCaptureWriter implements CaptureWriter {
  readonly format: CaptureFormat;
  packetsWritten = 0;
  private readonly snapLen: number;
  private readonly nanos: boolean;
  private readonly buf: Buffer;
  private used = 0;
  private fd: number | null;

  constructor(
    readonly path: string,
    options: CaptureWriterOptions,
  ) {
    this.format = options.format ?? 'pcap';
    this.snapLen = options.snapLen ?? DEFAULT_SNAPLEN;
    this.nanos = (options.tsResolution ?? 'us') === 'ns';
    const linkType = options.linkType ?? 1;
    if (!Number.isInteger(this.snapLen) || this.snapLen < 1 || this.snapLen > 0x7fffffff) {
      throw new RangeError(`open capture ${path}: snap length ${this.snapLen} is not in 1..2^31-1`);
    }
    // A record is at most the packet header/EPB framing plus snapLen plus 3 bytes of padding.
    this.buf = Buffer.allocUnsafe(Math.max(options.bufferBytes ?? DEFAULT_BUFFER_BYTES, this.snapLen + 64, 1024));
    try {
      fs.mkdirSync(dirname(path), { recursive: true });
      this.fd = fs.openSync(path, 'w');
    } catch (err) {
      throw new CaptureWriteError(path, err);
    }
    if (this.format === 'pcap') this.putPcapHeader(linkType);
    else this.putPcapngHeader(linkType, options.interfaceName);
  }

  writePacket(tsSec: number, tsNsec: number, frame: Uint8Array, capLen: number, wireLen: number): void {
    if (this.fd === null) throw new CaptureWriteError(this.path, new Error('writer is closed'));
    const incl = Math.min(capLen, this.snapLen, frame.length);
    const padded = (incl + 3) & ~3;
    const need = this.format === 'pcap' ? 16 + incl : 32 + padded;
    if (this.used + need > this.buf.length) this.flush();
    const b = this.buf;
    let o = this.used;
    const sub = this.nanos ? tsNsec : Math.floor(tsNsec / 1000);
    if (this.format === 'pcap') {
      b.writeUInt32LE(tsSec >>> 0, o);
      b.writeUInt32LE(sub, o + 4);
      b.writeUInt32LE(incl, o + 8);
      b.writeUInt32LE(wireLen, o + 12);
      o += 16;
      copyFrame(frame, b, o, incl);
      o += incl;
    } else {
      // 64-bit count of resolution units since the epoch, split into high and low words.
      const units = BigInt(tsSec) * (this.nanos ? 1_000_000_000n : 1_000_000n) + BigInt(sub);
      b.writeUInt32LE(PCAPNG_EPB, o);
      b.writeUInt32LE(need, o + 4);
      b.writeUInt32LE(0, o + 8); // interface id
      b.writeUInt32LE(Number(units >> 32n), o + 12);
      b.writeUInt32LE(Number(units & 0xffffffffn), o + 16);
      b.writeUInt32LE(incl, o + 20);
      b.writeUInt32LE(wireLen, o + 24);
      o += 28;
      copyFrame(frame, b, o, incl);
      b.fill(0, o + incl, o + padded);
      o += padded;
      b.writeUInt32LE(need, o);
      o += 4;
    }
    this.used = o;
    this.packetsWritten++;
  }

  close(): void {
    if (this.fd === null) return;
    try {
      this.flush();
      fs.closeSync(this.fd);
    } catch (err) {
      throw new CaptureWriteError(this.path, err);
    } finally {
      this.fd = null;
    }
  }

  private flush(): void {
    if (this.fd === null || this.used === 0) return;
    let off = 0;
    try {
      while (off < this.used) off += fs.writeSync(this.fd, this.buf, off, this.used - off);
    } catch (err) {
      throw new CaptureWriteError(this.path, err);
    }
    this.used = 0;
  }

  private putPcapHeader(linkType: number): void {
    const b = this.buf;
    b.writeUInt32LE(this.nanos ? PCAP_MAGIC_NS : PCAP_MAGIC_US, 0);
    b.writeUInt16LE(2, 4); // version 2.4
    b.writeUInt16LE(4, 6);
    b.writeInt32LE(0, 8); // thiszone: timestamps are UTC
    b.writeUInt32LE(0, 12); // sigfigs
    b.writeUInt32LE(this.snapLen, 16);
    b.writeUInt32LE(linkType, 20);
    this.used = 24;
  }

  private putPcapngHeader(linkType: number, interfaceName: string | undefined): void {
    const b = this.buf;
    // Section Header Block without options; section length -1 = "not specified".
    b.writeUInt32LE(PCAPNG_SHB, 0);
    b.writeUInt32LE(28, 4);
    b.writeUInt32LE(PCAPNG_BYTE_ORDER_MAGIC, 8);
    b.writeUInt16LE(1, 12);
    b.writeUInt16LE(0, 14);
    b.writeInt32LE(-1, 16);
    b.writeInt32LE(-1, 20);
    b.writeUInt32LE(28, 24);
    let o = 28;
    // Interface Description Block: if_name (2) when given, if_tsresol (9), opt_endofopt.
    const name = interfaceName === undefined ? null : Buffer.from(interfaceName, 'utf8');
    const nameOptBytes = name === null ? 0 : 4 + ((name.length + 3) & ~3);
    const idbLen = 16 + nameOptBytes + 8 + 4 + 4;
    const start = o;
    b.writeUInt32LE(PCAPNG_IDB, o);
    b.writeUInt32LE(idbLen, o + 4);
    b.writeUInt16LE(linkType, o + 8);
    b.writeUInt16LE(0, o + 10);
    b.writeUInt32LE(this.snapLen, o + 12);
    o += 16;
    if (name !== null) {
      b.writeUInt16LE(2, o);
      b.writeUInt16LE(name.length, o + 2);
      name.copy(b, o + 4);
      b.fill(0, o + 4 + name.length, o + nameOptBytes);
      o += nameOptBytes;
    }
    b.writeUInt16LE(9, o);
    b.writeUInt16LE(1, o + 2);
    b.writeUInt8(this.nanos ? 9 : 6, o + 4);
    b.fill(0, o + 5, o + 8);
    o += 8;
    b.writeUInt32LE(0, o); // opt_endofopt
    o += 4;
    b.writeUInt32LE(idbLen, o);
    o += 4;
    if (o - start !== idbLen) throw new Error('internal: pcapng IDB length mismatch');
    this.used = o;
  }
}

/** Copy without creating a view when the frame is already a Buffer (the generator's case). */
function copyFrame(frame: Uint8Array, to: Buffer, at: number, length: number): void {
  if (Buffer.isBuffer(frame)) frame.copy(to, at, 0, length);
  else to.set(frame.subarray(0, length), at);
}
