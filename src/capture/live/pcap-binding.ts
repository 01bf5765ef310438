/**
 * Typed access to node-pcap's native binding. We call the binding directly instead of the
 * `pcap.createSession` wrapper because the wrapper allocates an object and emits an event per
 * packet; the binding copies each frame into a caller-owned Buffer and calls a no-argument
 * callback, which keeps the packet path allocation-free.
 */

export interface NativePcapSession {
  /** Opens a file; returns the link type as node-pcap names it (see `linkTypeFromName`). Throws on failure. */
  open_offline(
    path: string,
    filter: string,
    bufferSize: number,
    snapLength: number,
    outfile: string,
    onPacket: () => void,
    monitor: boolean,
    bufferTimeoutMs: number,
    onWarning: (message: string) => void,
    promiscuous: boolean,
  ): string;
  open_live(
    device: string,
    filter: string,
    bufferSize: number,
    snapLength: number,
    outfile: string,
    onPacket: () => void,
    monitor: boolean,
    bufferTimeoutMs: number,
    onWarning: (message: string) => void,
    promiscuous: boolean,
  ): string;
  /**
   * Reads packets, calling `onPacket` once per packet after copying the frame into `frame` and
   * the 16-byte header (u32 LE: tv_sec, tv_usec, caplen, len) into `header`. Offline, one call
   * reads to the end of the file. Returns 0 at end, -1 on a read error, -2 after close.
   */
  dispatch(frame: Buffer, header: Buffer): number;
  start_polling(): void;
  close(): void;
  stats(): { ps_recv: number; ps_drop: number; ps_ifdrop: number };
  read_callback?: () => void;
}

interface PcapBinding {
  PcapSession: new () => NativePcapSession;
  lib_version(): string;
  findalldevs(): Array<{ name: string; addresses?: Array<{ addr?: string }>; flags?: string }>;
}

let binding: PcapBinding | undefined;

/**
 * The binding, loaded on first use: loading it costs about 50 ms of start-up, which a replay of
 * pcap/pcapng files (read by our own reader) never needs.
 */
export function pcapBinding(): PcapBinding {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (binding ??= require('pcap/build/Release/pcap_binding') as PcapBinding);
}

/** node-pcap returns link types as names for five DLTs and "Unknown linktype N" otherwise. */
export function linkTypeFromName(name: string): number {
  switch (name) {
    case 'LINKTYPE_NULL':
      return 0;
    case 'LINKTYPE_ETHERNET':
      return 1;
    case 'LINKTYPE_RAW':
      return 12; // DLT_RAW as libpcap reports it on Linux for LINKTYPE_RAW (101) files
    case 'LINKTYPE_IEEE802_11_RADIO':
      return 127;
    case 'LINKTYPE_LINUX_SLL':
      return 113;
  }
  const m = /^Unknown linktype (\d+)$/.exec(name);
  return m ? Number(m[1]) : -1;
}
