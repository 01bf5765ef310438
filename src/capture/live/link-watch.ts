import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chunkCaptureBinding } from './chunk-handle';

/** The link-event part of the capture addon (src/capture/native/link-events.c). */
interface LinkWatchBinding {
  linkWatchOpen(
    onEvents: (events: Array<[number, number, string, number, number]>, overflowed: boolean) => void,
  ): object;
  linkWatchClose(handle: object): void;
}

/** IFF_UP in a link's flags. */
const IFF_UP = 0x1;

/** A device appeared or changed (RTM_NEWLINK), was deleted (RTM_DELLINK), or got or lost an address. */
export interface LinkEvent {
  kind: 'new' | 'del' | 'address';
  ifindex: number;
  /** The device's name ('' if the message had none: address events). */
  name: string;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /**
   * rx_packets + tx_packets the message carried, or -1. A veth's RTM_DELLINK says 0 (its peer,
   * whose counters its own receive counts are, is detached first): only a larger earlier figure
   * is to be believed.
   */
  packets: number;
}

/** The rtnetlink socket could not be opened. */
export class LinkWatchError extends Error {
  override readonly name = 'LinkWatchError';
}

/**
 * Follows the links of the process's network namespace through rtnetlink (RTNLGRP_LINK): every
 * device created, changed (up, down, renamed) or deleted is reported within milliseconds, read on
 * the event loop. `overflowed` says the kernel dropped messages (a burst beyond the socket's
 * 4 MiB buffer): the owner then re-reads the devices from sysfs.
 *
 * Lifecycle: `open` once, `close` once. Callbacks run on the event loop, outside any packet read.
 */
export class LinkWatch {
  private handle: object | null;

  private constructor(handle: object) {
    this.handle = handle;
  }

  static open(onEvents: (events: readonly LinkEvent[], overflowed: boolean) => void): LinkWatch {
    const binding = chunkCaptureBinding() as unknown as LinkWatchBinding;
    try {
      const handle = binding.linkWatchOpen((raw, overflowed) => {
        onEvents(
          raw.map(([kind, ifindex, name, flags, packets]) => ({
            kind: kind === 2 ? 'del' : kind === 3 ? 'address' : 'new',
            ifindex,
            name,
            up: (flags & IFF_UP) !== 0,
            packets,
          })),
          overflowed,
        );
      });
      return new LinkWatch(handle);
    } catch (err) {
      throw new LinkWatchError(`open link watch (rtnetlink): ${(err as Error).message}`, { cause: err });
    }
  }

  close(): void {
    const handle = this.handle;
    if (handle === null) return;
    this.handle = null;
    (chunkCaptureBinding() as unknown as LinkWatchBinding).linkWatchClose(handle);
  }
}

/** A device's kernel identity and the packets it carried (rx + tx), from sysfs. */
export interface DeviceCounters {
  ifindex: number;
  packets: number;
}

/**
 * Reads `/sys/class/net/<device>/{ifindex,statistics/rx_packets,statistics/tx_packets}`: what
 * the device carried since it was created, the oracle of a capture gap. Null when the device
 * does not exist (or vanished between the reads).
 */
export function readDeviceCounters(device: string, dir = '/sys/class/net'): DeviceCounters | null {
  const base = join(dir, device);
  try {
    const ifindex = Number(readFileSync(join(base, 'ifindex'), 'utf8'));
    const rx = Number(readFileSync(join(base, 'statistics', 'rx_packets'), 'utf8'));
    const tx = Number(readFileSync(join(base, 'statistics', 'tx_packets'), 'utf8'));
    return Number.isFinite(ifindex) && Number.isFinite(rx) && Number.isFinite(tx)
      ? { ifindex, packets: rx + tx }
      : null;
  } catch {
    return null;
  }
}

/** Whether `device` is administratively up (sysfs flags); false when it does not exist. */
export function deviceIsUp(device: string, dir = '/sys/class/net'): boolean {
  try {
    return (parseInt(readFileSync(join(dir, device, 'flags'), 'utf8'), 16) & IFF_UP) !== 0;
  } catch {
    return false;
  }
}
