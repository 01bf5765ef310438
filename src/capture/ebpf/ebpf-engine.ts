import { join } from 'node:path';
import { BPF_OBJECT_NAME, ebpfBinding, ebpfBuildDir, type EbpfBinding } from './ebpf-binding';
import type { AggregateSource } from '../capture-source';
import { createDrainBuffers, type DrainBuffers } from './drain-layout';

/** A refused or failed eBPF engine operation ("verb object: cause"). */
export class EbpfEngineError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EbpfEngineError';
  }
}

/** Sizes fixed when the program loads (the kernel sizes maps at creation). */
export interface EbpfEngineOptions {
  /** Flows each of the two tables holds per drain interval, besides the reserved keys. Default 65536. */
  flowCapacity?: number;
  /** Slots (ENIs and shared devices), 1..65535; every slot's loss counters live in both tables. Default 1024. */
  maxSlots?: number;
  /** Devices that can be attached at once. Default 1024. */
  maxDevices?: number;
  /** ENI addresses and prefixes (the LPM trie). Default 4096. */
  maxAddresses?: number;
  /** First fragments remembered for joining later ones (an LRU: the oldest make room). Default 8192. */
  fragmentCapacity?: number;
  /** The BPF object; default flow-tc.bpf.o next to the addon. */
  objectPath?: string;
}

/** How a device is hooked. */
export interface AttachOptions {
  /** The ENI's slot (own device) or the device's own slot, where its unattributed and unparsed packets count (shared). */
  slot: number;
  /** A shared device (bridge, uplink): counts for the ENIs marked `onSharedDevices` that its frames name. */
  shared: boolean;
  /** 'auto' (default): TCX where the kernel has it, else clsact; 'tcx' or 'clsact' to force one. */
  mode?: 'auto' | 'tcx' | 'clsact';
  /** Hold the device promiscuous while attached (a bridge passes forwarded frames up only then). */
  promiscuous?: boolean;
}

export interface AttachResult {
  mode: 'tcx' | 'clsact';
  /** clsact filters of ours a killed agent had left on the device, replaced or removed. */
  staleFiltersReplaced: number;
}

/** What one drain did; the flows and losses are in the DrainBuffers passed in. */
export interface DrainResult {
  /** Records written at the start of `records`. */
  flows: number;
  /** CLOCK_REALTIME - CLOCK_MONOTONIC at the swap, ns (already applied to the records' times). */
  wallClockOffsetNs: number;
  /** Time of the swap syscall (it waits for an RCU grace period), ns. */
  swapNs: number;
  /** Reading the retired table, ns. */
  readNs: number;
  /** Emptying it (flows deleted, non-zero loss counters reset), ns. */
  clearNs: number;
}

const MODE_NAMES = ['auto', 'tcx', 'clsact'] as const;

/** The programs on a device's hooks: for status, and to find what a killed agent left. */
export interface DeviceHooks {
  /** Every program on the TCX hooks, ours or not (empty without TCX). */
  tcxIngress: number[];
  tcxEgress: number[];
  /** The program of the clsact filter at our handle and preference; 0 when there is none. */
  clsactIngress: number;
  clsactEgress: number;
}

/** Turns BPF run-time statistics on or off for this process's lifetime (every program's, as the sysctl does). */
export function setRunTimeStats(on: boolean): void {
  ebpfBinding().runTimeStats(on);
}

/** What is hooked to the device with `ifindex` in this network namespace. */
export function deviceHooks(ifindex: number): DeviceHooks {
  const [tcxIngress, tcxEgress, clsactIngress, clsactEgress] = ebpfBinding().hooks(ifindex);
  return { tcxIngress, tcxEgress, clsactIngress, clsactEgress };
}

/**
 * The eBPF capture engine's kernel side: the TC flow program (flow-tc.bpf.c) loaded once, attached
 * to any number of devices, aggregating in the kernel per (ENI slot, direction, 5-tuple).
 *
 * Slots: the caller numbers ENIs (and shared devices, whose slot only collects their unparsed and
 * unattributed packets) from 0 to maxSlots - 1. A frame belongs to an ENI by its MAC (setMac),
 * else its address (setAddress, longest prefix), as EniInventory decides for the libpcap path. On
 * an ENI's own device only that ENI counts (out when the source names it, in when the destination
 * does); on a shared device every ENI marked `onSharedDevices` that either side names.
 * All of this may change at any time, also while traffic flows and a drain runs.
 *
 * Drains: `drain` swaps the two tables and reads the retired one on a libuv worker into the
 * caller's DrainBuffers (layout in drain-layout.ts). Every packet the program saw since the
 * previous drain is in exactly one of: a flow record, a loss counter of its slot, or a global
 * counter (readCounters: no_device, no_reserved). One drain at a time; the buffers belong to the
 * engine while it runs.
 *
 * Lifecycle: `open` loads (throws EbpfEngineError with the verifier's verdict); `close` waits for
 * pending attaches, detaches and drains, then detaches every device. TCX links die with the
 * process; clsact filters are removed at close and when the process exits (process.exit or the
 * end of the event loop), and replaced by the next start after a kill (see attach).
 */
export class EbpfFlowEngine implements AggregateSource<DrainBuffers, DrainResult> {
  readonly tableEntries: number;
  readonly flowCapacity: number;
  readonly maxSlots: number;
  readonly maxDevices: number;
  readonly objectPath: string;
  private readonly b: EbpfBinding;
  private readonly handle: object;
  private pending = new Set<Promise<unknown>>();
  private closed = false;
  /** process.exit() skips Node's environment teardown (where the addon's own hook runs). */
  private readonly onExit = (): void => {
    if (this.closed) return;
    this.closed = true;
    this.b.close(this.handle, true);
  };

  private constructor(b: EbpfBinding, handle: object, objectPath: string) {
    this.b = b;
    this.handle = handle;
    this.objectPath = objectPath;
    [this.tableEntries, this.flowCapacity, this.maxSlots, this.maxDevices] = b.info(handle);
    process.once('exit', this.onExit);
  }

  /** Loads the program and creates its maps. Synchronous: the verifier takes tens of milliseconds. */
  static open(options: EbpfEngineOptions = {}): EbpfFlowEngine {
    let b: EbpfBinding;
    let objectPath: string;
    try {
      b = ebpfBinding();
      objectPath = options.objectPath ?? join(ebpfBuildDir(), BPF_OBJECT_NAME);
    } catch (err) {
      throw new EbpfEngineError(`open eBPF engine: ${(err as Error).message}`, { cause: err });
    }
    // The verifier gives up with EAGAIN when a signal is pending (a profiler's SIGPROF, a burst
    // of signals at start): libbpf's own retries can all meet one, so a few more here.
    for (let attempt = 1; ; attempt++) {
      try {
        const handle = b.open(
          objectPath,
          options.flowCapacity ?? 65536,
          options.maxSlots ?? 1024,
          options.maxDevices ?? 1024,
          options.maxAddresses ?? 4096,
          options.fragmentCapacity ?? 8192,
        );
        return new EbpfFlowEngine(b, handle, objectPath);
      } catch (err) {
        const message = (err as Error).message;
        if (attempt < 5 && /-11\b|EAGAIN|temporarily unavailable/i.test(message)) continue;
        throw new EbpfEngineError(`open eBPF engine: ${message}`, { cause: err });
      }
    }
  }

  /**
   * Configures a slot: `flowQuota` new flows per table (per drain interval) before further new
   * flows count as `quota` loss (0: none; concurrent CPUs may overshoot it by a few), and whether
   * the ENI counts on shared devices (it has no device of its own).
   */
  setSlot(slot: number, options: { flowQuota: number; onSharedDevices: boolean }): void {
    this.call('set slot', () => this.b.setSlot(this.handle, slot, options.flowQuota, options.onSharedDevices ? 1 : 0));
  }

  /** Frames from or to `mac` (6 bytes) belong to `slot`'s ENI. */
  setMac(mac: Uint8Array, slot: number): void {
    this.call('set ENI MAC', () => this.b.setMac(this.handle, mac, slot));
  }

  deleteMac(mac: Uint8Array): void {
    this.call('delete ENI MAC', () => this.b.deleteMac(this.handle, mac));
  }

  /** Packets from or to `address` (16 bytes, IPv4 in the first 4) /`prefixLength` belong to `slot`, unless a MAC decides. */
  setAddress(family: 4 | 6, address: Uint8Array, prefixLength: number, slot: number): void {
    this.call('set ENI address', () => this.b.setAddress(this.handle, family, address, prefixLength, slot));
  }

  deleteAddress(family: 4 | 6, address: Uint8Array, prefixLength: number): void {
    this.call('delete ENI address', () => this.b.deleteAddress(this.handle, family, address, prefixLength));
  }

  /**
   * Hooks the program to the device's TC ingress and egress (on a libuv worker: the kernel waits
   * for RCU grace periods). The device must be Ethernet. A clsact filter of ours at the fixed
   * handle and preference (left by a killed agent) is replaced without a gap, or removed when TCX
   * is used; a filter of another program there is refused, not replaced.
   */
  attach(ifindex: number, options: AttachOptions): Promise<AttachResult> {
    const mode = MODE_NAMES.indexOf(options.mode ?? 'auto');
    return this.track(
      new Promise<AttachResult>((resolve, reject) => {
        this.call('attach', () =>
          this.b.attach(
            this.handle,
            ifindex,
            options.slot,
            options.shared ? 2 : 1,
            mode,
            options.promiscuous === true,
            (error, used, replaced) => {
              if (error !== null) reject(new EbpfEngineError(`attach ifindex ${ifindex}: ${error}`));
              else resolve({ mode: used === 1 ? 'tcx' : 'clsact', staleFiltersReplaced: replaced });
            },
          ),
        );
      }),
    );
  }

  /** Unhooks the device (TCX links closed, or our clsact filters deleted) and forgets it. */
  detach(ifindex: number): Promise<void> {
    return this.track(
      new Promise<void>((resolve, reject) => {
        this.call('detach', () =>
          this.b.detach(this.handle, ifindex, (error) =>
            error !== null ? reject(new EbpfEngineError(`detach ifindex ${ifindex}: ${error}`)) : resolve(),
          ),
        );
      }),
    );
  }

  /** The attached devices and how. */
  attached(): Array<{ ifindex: number; mode: 'tcx' | 'clsact' }> {
    const pairs = this.b.attached(this.handle);
    const out: Array<{ ifindex: number; mode: 'tcx' | 'clsact' }> = [];
    for (let i = 0; i < pairs.length; i += 2)
      out.push({ ifindex: pairs[i], mode: pairs[i + 1] === 1 ? 'tcx' : 'clsact' });
    return out;
  }

  /** Buffers sized for this engine's drains; make them once and reuse them. */
  drainBuffers(): DrainBuffers {
    return createDrainBuffers(this.tableEntries, this.maxSlots);
  }

  /** Swaps the tables and reads the retired one into `into` (see the class contract). */
  drain(into: DrainBuffers): Promise<DrainResult> {
    return this.track(
      new Promise<DrainResult>((resolve, reject) => {
        this.call('drain', () =>
          this.b.drain(this.handle, into.records, into.loss, (error, flows, t) => {
            if (error !== null) reject(new EbpfEngineError(`drain eBPF flow table: ${error}`));
            else resolve({ flows, wallClockOffsetNs: t[0], swapNs: t[1], readNs: t[2], clearNs: t[3] });
          }),
        );
      }),
    );
  }

  /** The program's global counters (STAT_NAMES order), summed over CPUs, since load. */
  readCounters(into: Float64Array): void {
    this.call('read eBPF counters', () => this.b.stats(this.handle, into));
  }

  /**
   * The program's run count and total run time (ns) since load, counted only while BPF run-time
   * statistics are on (`setRunTimeStats(true)` or kernel.bpf_stats_enabled): for kernel time per
   * packet in benchmarks (each costs a clock read per run, so they stay off otherwise).
   */
  programStats(): { id: number; runCount: number; runTimeNs: number } {
    const [id, runCount, runTimeNs] = this.call('read program statistics', () => this.b.programStats(this.handle));
    return { id, runCount, runTimeNs };
  }

  /**
   * Runs the program `repeat` times on `frame` in the kernel (BPF_PROG_TEST_RUN, as if on the
   * loopback device, which stands for slot 0's own device meanwhile): ns per run, and the same for
   * an empty program (the test loop's own cost). For benchmarks; it records into the live table.
   */
  testRun(frame: Uint8Array, repeat: number): { nsPerRun: number; emptyNsPerRun: number; returned: number } {
    const [nsPerRun, emptyNsPerRun, returned] = this.call('test-run the program', () =>
      this.b.testRun(this.handle, frame, repeat),
    );
    return { nsPerRun, emptyNsPerRun, returned };
  }

  /** Waits for pending work, then detaches everything and unloads the program. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    process.removeListener('exit', this.onExit);
    await Promise.allSettled([...this.pending]);
    const failed = this.b.close(this.handle, false);
    if (failed > 0) throw new EbpfEngineError(`close eBPF engine: ${failed} device(s) could not be detached`);
  }

  private call<T>(what: string, fn: () => T): T {
    if (this.closed) throw new EbpfEngineError(`${what}: the eBPF engine is closed`);
    try {
      return fn();
    } catch (err) {
      throw new EbpfEngineError(`${what}: ${(err as Error).message}`, { cause: err });
    }
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    const done = (): void => {
      this.pending.delete(p);
    };
    p.then(done, done);
    return p;
  }
}
