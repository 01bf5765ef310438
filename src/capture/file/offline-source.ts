import { closeSync, openSync, readSync } from 'node:fs';
import type { ChunkRunner, FrameConsumer } from '../capture-source';
import { isSupportedLinkType } from '../link-types';
import { CaptureFileReader, captureFormatOf } from './capture-file-reader';

/** What a capture source feeds: the reused view and the per-frame entry of the packet path. */
import { linkTypeFromName, pcapBinding, type NativePcapSession } from '../live/pcap-binding';

/** What happened to one capture file of a replay. */
export interface CaptureFileReport {
  path: string;
  linkType: number;
  packets: number;
  /** Why the file was not read (cannot open, unsupported link type); absent when it was. */
  skipped?: string;
  /** Set when reading stopped early (truncated or corrupt file); packets before it count. */
  readError?: string;
}

/** Largest frame copied from libpcap; pcapng allows bigger, libpcap clamps to its own snaplen. */
const FRAME_BUFFER_BYTES = 262144;

/**
 * Reads capture files and feeds every frame to the recorder, files in order as one stream.
 * pcap and pcapng go through our own chunked reader (CaptureFileReader: no native call per
 * packet); any other format through libpcap (node-pcap's binding), whose `dispatch` copies each
 * frame into the same caller-owned buffer. Buffers and per-packet callbacks are created once per
 * file. Both paths read a whole file synchronously, so progress is reported from inside the loop.
 */
export class OfflineCaptureSource {
  private readonly frame = Buffer.alloc(FRAME_BUFFER_BYTES);
  private readonly header = Buffer.alloc(16);
  private readonly headerWords = new Uint32Array(this.header.buffer, this.header.byteOffset, 4);
  private reader: CaptureFileReader | undefined;

  constructor(
    private readonly paths: readonly string[],
    /** Called every 65,536 packets of a file and at its end. */
    private readonly onProgress?: (path: string, packets: number) => void,
    /** Takes the common frames of pcap and pcapng files (the packet kernel); null: none. */
    private readonly kernel: ChunkRunner | null = null,
  ) {}

  run(recorder: FrameConsumer): CaptureFileReport[] {
    return this.paths.map((p) =>
      this.formatOf(p) !== null ? this.readOwn(p, recorder) : this.readWithLibpcap(p, recorder),
    );
  }

  private formatOf(path: string): 'pcap' | 'pcapng' | null {
    const head = Buffer.alloc(4);
    try {
      const fd = openSync(path, 'r');
      try {
        readSync(fd, head, 0, 4, 0);
      } finally {
        closeSync(fd);
      }
    } catch {
      return null; // libpcap reports the open error with its own words
    }
    return captureFormatOf(head);
  }

  /**
   * pcap and pcapng through our own chunked reader, which hands frames to the recorder itself.
   * It checks link types (once per pcap file, per packet in pcapng, whose interfaces may differ);
   * frames of link types the decoder does not read are counted as such (and the file reported
   * skipped when it had nothing else).
   */
  private readOwn(path: string, recorder: FrameConsumer): CaptureFileReport {
    const reader = (this.reader ??= new CaptureFileReader(recorder.view, this.kernel));
    const progress = this.onProgress;
    let result;
    try {
      result = reader.read(path, recorder, progress === undefined ? undefined : (n) => progress(path, n));
    } catch (err) {
      return { path, linkType: -1, packets: 0, skipped: `cannot open: ${(err as Error).message}` };
    }
    const packets = result.packets;
    if (progress !== undefined) progress(path, packets);
    const report: CaptureFileReport = { path, linkType: result.linkType, packets };
    if (packets === 0 && (result.unsupported > 0 || !isSupportedLinkType(result.linkType)) && result.linkType !== -1) {
      report.skipped = `unsupported link type ${result.linkType}`;
    }
    if (result.error !== undefined) report.readError = result.error;
    return report;
  }

  private readWithLibpcap(path: string, recorder: FrameConsumer): CaptureFileReport {
    const session = new (pcapBinding().PcapSession)();
    const view = recorder.view;
    const frame = this.frame;
    const hdr = this.headerWords;
    const progress = this.onProgress;
    let linkType = -1;
    let packets = 0;
    const onPacket = (): void => {
      view.frameOffset = 0; // the view is shared with the file reader, which sets it per packet
      view.segmentation = 0;
      view.tsSec = hdr[0];
      view.tsUsec = hdr[1];
      view.capLen = hdr[2] > FRAME_BUFFER_BYTES ? FRAME_BUFFER_BYTES : hdr[2];
      view.wireLen = hdr[3];
      recorder.onFrame(linkType, frame, false);
      if ((++packets & 0xffff) === 0 && progress !== undefined) progress(path, packets);
    };
    try {
      linkType = linkTypeFromName(session.open_offline(path, '', 0, 0, '', onPacket, false, 0, ignoreWarning, false));
    } catch (err) {
      return { path, linkType, packets: 0, skipped: `cannot open: ${(err as Error).message}` };
    }
    if (!isSupportedLinkType(linkType)) {
      this.closeSession(session);
      return { path, linkType, packets: 0, skipped: `unsupported link type ${linkType}` };
    }
    let rc = 1;
    while (rc > 0) rc = session.dispatch(this.frame, this.header);
    this.closeSession(session);
    if (progress !== undefined) progress(path, packets);
    const report: CaptureFileReport = { path, linkType, packets };
    if (rc === -1) report.readError = `read error after ${packets} packets (truncated or corrupt file)`;
    return report;
  }

  /**
   * node-pcap's close() only sets libpcap's break-loop flag; the next dispatch sees it, returns -2
   * and frees the handle. Without that second step every replayed file would leak a handle.
   */
  private closeSession(session: NativePcapSession): void {
    session.close();
    session.dispatch(this.frame, this.header);
  }
}

function ignoreWarning(): void {
  // libpcap warnings on offline open (e.g. snaplen adjustments) change nothing for a replay.
}
