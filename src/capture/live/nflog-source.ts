import { readFileSync } from 'node:fs';
import { LinkType } from '../link-types';
import type { EniConfig } from '../../config/types';
import type { LiveSource, NflogFrameConsumer } from '../capture-source';
import { CaptureDeviceError, LiveHandle, type LiveCaptureStats } from './live-handle';

/** How one NFLOG group is captured. */
export interface NflogCaptureOptions {
  /** NFLOG group number: the handle is libpcap's `nflog:<group>` device. */
  group: number;
  /** Raised to NFLOG_SNAPLEN_BYTES (see there): a smaller one loses batched packets. */
  snaplenBytes: number;
  bufferBytes: number;
  /** libpcap read timeout; 0 selects immediate mode. */
  bufferTimeoutMs: number;
}

/**
 * Snaplen asked of libpcap for NFLOG, whatever the configured one. libpcap sizes its receive
 * buffer as snaplen + 128 bytes, but the kernel batches a group's messages (by default up to 100
 * packets or 1 s) into one netlink datagram of up to 128 KiB; a buffer sized for a 128-byte
 * snaplen truncates every batch to its first packet, so a burst of 20 drops read as 1. The cost:
 * logged packets are copied whole (dropped traffic only), not cut at the configured snaplen.
 */
const NFLOG_SNAPLEN_BYTES = 262144;

/**
 * Live capture of one NFLOG group: the packets a netfilter rule logged just before dropping them
 * (`log group N` in nftables, `-j NFLOG --nflog-group N` in iptables). Every frame is REJECT
 * traffic of an ENI (see NflogFrameConsumer.onNflogFrame for how the ENI and direction are found).
 *
 * Lifecycle as LiveCaptureSource: `open()` (throws CaptureDeviceError) → `bind()` → `start()` →
 * `readAvailable()` any number of times → `close()`. The per-packet closure is created once;
 * the interface-index map is rebuilt by `bind` (off the packet path): the packet path allocates
 * nothing. Owns its LiveHandle (buffers, native session); the recorder is borrowed.
 */
export class NflogCaptureSource implements LiveSource {
  readonly device: string;
  linkType = -1;
  /** Frames read from the group. */
  packets = 0;
  private readonly handle: LiveHandle;
  private recorder: NflogFrameConsumer | null = null;
  private fixedEni = -1;
  private eniByIfindex = new Int32Array(0);
  private readonly onPacket: () => void;
  private readonly onReadable: () => void;

  constructor(private readonly options: NflogCaptureOptions) {
    this.device = `nflog:${options.group}`;
    const handle = (this.handle = new LiveHandle(this.device));
    const frame = handle.frame;
    this.onPacket = () => {
      const rec = this.recorder;
      this.packets++;
      if (rec === null) return;
      handle.loadHeader(rec.view);
      rec.onNflogFrame(this.linkType, frame, this.fixedEni, this.eniByIfindex);
    };
    this.onReadable = () => this.readAvailable();
  }

  /** Opens `nflog:<group>`. Throws CaptureDeviceError (no NFLOG support, permission, group busy). */
  open(): void {
    const o = this.options;
    const snaplenBytes = Math.max(o.snaplenBytes, NFLOG_SNAPLEN_BYTES);
    this.linkType = this.handle.open(
      { filter: '', bufferBytes: o.bufferBytes, snaplenBytes, bufferTimeoutMs: o.bufferTimeoutMs },
      this.onPacket,
    );
    if (this.linkType !== LinkType.Nflog) {
      this.close();
      throw new CaptureDeviceError(
        this.device,
        `open capture device ${this.device}: link type ${this.linkType}, expected NFLOG (239)`,
      );
    }
  }

  /**
   * Directs frames to `recorder`. `enis` is the recorder's ENI list: the group's ENI is the one
   * named by `eniId` (config `nflog.groups[].eni`, or an ENI listing the group in `nflogGroups`);
   * without one, ENIs are found by the interface index of the hook, from each ENI's `interface`
   * as this host numbers it now (`ifindexOf`, injectable for tests), then by address.
   */
  bind(
    recorder: NflogFrameConsumer,
    enis: readonly EniConfig[],
    eniId?: string,
    ifindexOf: (iface: string) => number = readIfindex,
  ): void {
    this.fixedEni = eniId === undefined ? -1 : enis.findIndex((e) => e.id === eniId);
    const pairs: Array<[number, number]> = [];
    enis.forEach((e, i) => {
      if (e.interface === undefined) return;
      const ifindex = ifindexOf(e.interface);
      if (ifindex > 0) pairs.push([ifindex, i]);
    });
    const map = new Int32Array(pairs.reduce((m, [ix]) => Math.max(m, ix + 1), 0)).fill(-1);
    for (const [ix, eni] of pairs) map[ix] = eni;
    this.eniByIfindex = map;
    this.recorder = recorder;
  }

  /** Starts reading when the descriptor is readable (libuv poll). */
  start(): void {
    this.handle.start(this.onReadable);
  }

  /** Reads every frame the kernel holds now (a -1 is not a failure here: see NflogSet). */
  readAvailable(): void {
    this.handle.dispatch();
  }

  /**
   * Overflows since the previous call. For NFLOG libpcap's drop count is the number of times
   * the netlink socket overflowed (ENOBUFS), not of packets: a lower bound of what was lost.
   */
  takeDrops(): number {
    return this.handle.takeDrops();
  }

  /** Cumulative statistics; zeros when closed. */
  stats(): LiveCaptureStats {
    return this.handle.stats() ?? { received: 0, droppedKernel: 0, droppedInterface: 0 };
  }

  /** Stops reading and frees the handle. */
  close(): void {
    this.handle.close();
  }
}

/**
 * NFLOG groups to capture and the ENI each is tied to (undefined: found per packet), from
 * `nflog.groups` and the ENIs' `nflogGroups` (the loader refuses a group given twice).
 */
export function nflogGroupsOf(
  enis: readonly EniConfig[],
  groups: ReadonlyArray<{ group: number; eni?: string }>,
): Array<{ group: number; eniId?: string }> {
  const out: Array<{ group: number; eniId?: string }> = groups.map((g) => ({ group: g.group, eniId: g.eni }));
  for (const e of enis) for (const group of e.nflogGroups ?? []) out.push({ group, eniId: e.id });
  return out;
}

function readIfindex(iface: string): number {
  try {
    return Number(readFileSync(`/sys/class/net/${iface}/ifindex`, 'utf8').trim());
  } catch {
    return -1; // interface absent in this namespace: matched by address instead
  }
}
