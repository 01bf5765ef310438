import { EbpfDeviceSource } from '../capture/ebpf/ebpf-device-source';
import { EbpfFlowEngine } from '../capture/ebpf/ebpf-engine';
import type { EngineChoice } from '../capture/ebpf/engine-choice';
import type { DrainBuffers } from '../capture/ebpf/drain-layout';
import { parseIpv4, parseIpv6, parseMac } from '../config/net-address';
import type { Logger } from '../log';
import { DrainRecorder } from '../packet/drain-recorder';
import type { FlowRecorder } from '../packet/flow-recorder';
import type { DeviceSource } from './capture-set';
import type { EniSlot } from './eni-slots';

/**
 * Slots (ENI indexes) the engine has: twice the configured ENIs, at least 256 (an ENI whose
 * index is beyond stays on libpcap). Every slot keeps 9 loss counters in both tables, and a drain
 * walks every bucket of the retired table: sized to the host, not to the largest host.
 */
function slotsFor(enis: number): number {
  let n = 256;
  while (n < 2 * enis && n < 4096) n *= 2;
  return n;
}
/**
 * Flows each of the engine's two tables holds per drain (one second of new flows on the host).
 * A drain's cost follows the table's buckets, full or not: 65,536 flows made it 4.6 ms a second
 * at 200 ENIs (bench/hypervisor-bench.js); past it, new flows are SKIPDATA (`map_full`).
 */
const FLOW_CAPACITY = 16384;
/** Drains run this long after each whole second, so a window's boundary falls between two drains' swaps. */
const DRAIN_PHASE_MS = 3;

/** How long failing drains hold the windows before they close without the engine's flows. */
const DRAIN_LAG_SEC = 10;

/** Where a drain's flows and losses go: the pipeline of the moment. */
export interface DrainTarget {
  recorder: FlowRecorder;
  eniCount: number;
  /** SKIPDATA packets of ENI index `eni` in its current windows. */
  addLoss(eni: number, packets: number): void;
}

/**
 * The eBPF engine of a daemon (capture.engine ebpf or auto): loaded once, it hooks the ENIs' own
 * devices (EbpfDeviceSource, opened and closed by CaptureSet like libpcap handles) and is drained
 * every second, just after the second turns, into the current pipeline's recorder. Shared and
 * overlay devices, NFLOG groups and ENIs beyond its slots stay on libpcap.
 *
 * Windows: a window may close only once a drain that began after its end has been recorded
 * (`drainedThroughSec`), so every flow the kernel counted before the boundary is in it.
 *
 * Lifecycle: `open` (null when the engine is not to be used) → `syncSlots` at every refresh →
 * `start` → `stop` (a last drain, then the program unloaded).
 */
export class EbpfCapture {
  /** Wall time (Unix s) at which the last recorded drain began; -1 before the first. */
  drainedThroughSec = -1;
  /** Drains recorded, flows and packets handed over, and the longest drain (ms). */
  drains = 0;
  flows = 0;
  packets = 0;
  longestDrainMs = 0;
  drainFailures = 0;
  private readonly buffers: DrainBuffers;
  private readonly recorder: DrainRecorder;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private stopped = false;
  /** What the engine's MAC and address maps hold, per slot (to delete what an ENI no longer has). */
  private readonly slotKeys = new Map<number, { macs: string[]; cidrs: string[] }>();
  /** Map updates that failed (logged once each). */
  private readonly failedUpdates = new Set<string>();
  /** Consecutive failed drains (the first and the recovery are logged). */
  private failingSince = -1;
  /** Devices whose ENI index the engine has no slot for (logged once each). */
  private readonly beyondSlots = new Set<string>();

  private constructor(
    private readonly engine: EbpfFlowEngine,
    private readonly log: Logger,
    private readonly recorderOf: () => DrainTarget | null,
  ) {
    this.buffers = engine.drainBuffers();
    this.recorder = new DrainRecorder(this.buffers, engine.maxSlots);
  }

  /** The engine if `choice` says ebpf (throws a typed error when it cannot load after all). */
  static open(
    choice: EngineChoice,
    enis: number,
    log: Logger,
    recorderOf: () => DrainTarget | null,
  ): EbpfCapture | null {
    if (choice.engine !== 'ebpf') return null;
    const slots = slotsFor(enis);
    const engine = EbpfFlowEngine.open({
      flowCapacity: FLOW_CAPACITY,
      maxSlots: slots,
      maxDevices: slots,
      maxAddresses: Math.max(4096, 8 * slots),
    });
    return new EbpfCapture(engine, log, recorderOf);
  }

  /** The engine's hooks for `device` (an ENI's own device within the engine's slots), else null. */
  sourceFor(
    device: string,
    slotOf: (device: string) => number,
    onFailure: (source: DeviceSource, error: Error) => void,
  ): EbpfDeviceSource | null {
    const slot = slotOf(device);
    if (slot >= this.engine.maxSlots && !this.beyondSlots.has(device)) {
      this.beyondSlots.add(device);
      this.log.warn(
        { device, eniIndex: slot, slots: this.engine.maxSlots },
        `capture ${device} with libpcap: its ENI index is beyond the eBPF engine's ${this.engine.maxSlots} slots (sized at start; a restart resizes them)`,
      );
    }
    if (slot < 0 || slot >= this.engine.maxSlots) return null;
    return new EbpfDeviceSource(device, this.engine, this.recorder, slotOf, onFailure);
  }

  /**
   * The ENIs with a device of their own: each slot's quota (half the table: one ENI cannot fill
   * it for the others), MAC and addresses, as the libpcap path attributes frames (MAC first).
   */
  syncSlots(enis: readonly EniSlot[]): void {
    const wanted = new Map<number, { macs: string[]; cidrs: string[] }>();
    for (const s of enis) {
      if (s.shared || s.index >= this.engine.maxSlots) continue;
      wanted.set(s.index, { macs: s.eni.mac === undefined ? [] : [s.eni.mac], cidrs: s.eni.cidrs ?? s.eni.ips });
    }
    // Every key that changed hands is deleted first and set after: an address moving from a
    // retired ENI to a new one in one refresh must end up set.
    const changed: number[] = [];
    for (const [slot, keys] of this.slotKeys) {
      const next = wanted.get(slot);
      if (next !== undefined && same(keys.macs, next.macs) && same(keys.cidrs, next.cidrs)) continue;
      this.guard(`forget ENI slot ${slot}`, () => this.forget(keys));
      this.slotKeys.delete(slot);
    }
    for (const [slot] of wanted) if (!this.slotKeys.has(slot)) changed.push(slot);
    for (const slot of changed) {
      const keys = wanted.get(slot) as { macs: string[]; cidrs: string[] };
      const ok = this.guard(`set ENI slot ${slot}`, () => {
        this.engine.setSlot(slot, { flowQuota: Math.floor(FLOW_CAPACITY / 2), onSharedDevices: false });
        for (const mac of keys.macs) this.engine.setMac(macBytes(mac), slot);
        for (const cidr of keys.cidrs) {
          const a = addressBytes(cidr);
          if (a !== null) this.engine.setAddress(a.family, a.bytes, a.prefix, slot);
        }
      });
      if (ok) this.slotKeys.set(slot, keys);
    }
  }

  /** Runs a map update; a failure (a map full) is logged once per slot and leaves the daemon running. */
  private guard(what: string, fn: () => void): boolean {
    try {
      fn();
      return true;
    } catch (err) {
      if (!this.failedUpdates.has(what)) {
        this.failedUpdates.add(what);
        this.log.error({ err }, `${what}: ${(err as Error).message} (its packets count as unattributed)`);
      }
      return false;
    }
  }

  /** Drains every second from now on, each just after the second turns. */
  start(): void {
    const next = (): void => {
      if (this.stopped) return;
      const ms = Date.now();
      this.timer = setTimeout(
        () => {
          void this.drainNow();
          next();
        },
        1000 - (ms % 1000) + DRAIN_PHASE_MS,
      );
    };
    next();
  }

  /** One drain now (or the one under way, then one more), recorded into the current pipeline. */
  async drainNow(): Promise<void> {
    while (this.inFlight !== null) await this.inFlight;
    const began = Date.now() / 1000;
    const run = this.engine.drain(this.buffers).then(
      (result) => {
        const target = this.recorderOf();
        if (target !== null) {
          const t = this.recorder.record(target.recorder, result.flows, target.eniCount);
          this.flows += t.flows;
          this.packets += t.packets;
          // Each slot's loss goes to its ENI's windows now, open device or not (one closing, or
          // closed before this last drain, still lost it).
          const slots = Math.min(target.eniCount, this.engine.maxSlots);
          for (let slot = 0; slot < slots; slot++) {
            const lost = this.recorder.takeSkipdata(slot);
            if (lost > 0) target.addLoss(slot, lost);
          }
        }
        this.drains++;
        this.drainedThroughSec = began;
        this.longestDrainMs = Math.max(this.longestDrainMs, Date.now() - began * 1000);
        if (this.failingSince >= 0) {
          this.log.info({ failedSec: Math.round(began - this.failingSince) }, 'eBPF drains recovered');
          this.failingSince = -1;
        }
      },
      (err: unknown) => {
        // The windows wait for a drain that works (mayClose), at most DRAIN_LAG_SEC.
        this.drainFailures++;
        if (this.failingSince < 0) {
          this.failingSince = began;
          this.log.error({ err }, `${(err as Error).message}: windows wait for the next drain`);
        }
      },
    );
    this.inFlight = run.finally(() => {
      this.inFlight = null;
    });
    await this.inFlight;
  }

  /**
   * Whether windows ending by `clockSec` may close: a drain that began after it was recorded, or
   * drains have failed for DRAIN_LAG_SEC (the windows then close without the engine's flows, said once).
   */
  drainedThrough(clockSec: number): boolean {
    if (this.drainedThroughSec >= clockSec) return true;
    return this.failingSince >= 0 && Date.now() / 1000 - this.failingSince > DRAIN_LAG_SEC;
  }

  /** Stops the drains: one last one (the devices are detached by then), then the program unloads. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    await this.drainNow();
    try {
      await this.engine.close();
    } catch (err) {
      this.log.error({ err }, (err as Error).message);
    }
  }

  private forget(keys: { macs: string[]; cidrs: string[] }): void {
    for (const mac of keys.macs) this.engine.deleteMac(macBytes(mac));
    for (const cidr of keys.cidrs) {
      const a = addressBytes(cidr);
      if (a !== null) this.engine.deleteAddress(a.family, a.bytes, a.prefix);
    }
  }
}

function same(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function macBytes(mac: string): Uint8Array {
  const parsed = parseMac(mac);
  const text = parsed.ok ? parsed.value : mac;
  return Uint8Array.from(text.split(':').map((h) => parseInt(h, 16)));
}

/** "10.0.0.5", "10.0.0.0/24", "2001:db8::/32" as the engine's 16 bytes and prefix. */
function addressBytes(text: string): { family: 4 | 6; bytes: Uint8Array; prefix: number } | null {
  const [addr, prefixText] = text.split('/');
  const v4 = parseIpv4(addr);
  const v6 = v4 === undefined ? parseIpv6(addr) : undefined;
  if (v4 === undefined && v6 === undefined) return null;
  const bytes = new Uint8Array(16);
  bytes.set(v4 ?? (v6 as number[]));
  const family = v4 === undefined ? 6 : 4;
  return { family, bytes, prefix: prefixText === undefined ? (family === 4 ? 32 : 128) : Number(prefixText) };
}
