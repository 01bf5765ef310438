import { EbpfDeviceSource } from '../capture/ebpf/ebpf-device-source';
import { EbpfFlowEngine } from '../capture/ebpf/ebpf-engine';
import { probeEbpf } from '../capture/ebpf/ebpf-probe';
import type { DrainBuffers } from '../capture/ebpf/drain-layout';
import type { CaptureConfig } from '../config/types';
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

/** The engine the config asks for, and what this host allows. */
export interface EngineChoice {
  engine: 'ebpf' | 'libpcap';
  reason: string;
}

/**
 * `capture.engine` against the host: `libpcap` as asked; `ebpf` and `auto` probe the kernel, the
 * capabilities and the engine's files (loading the program once: the verifier has the last word).
 * A `capture.filter` needs libpcap (the program has no filter). Never throws.
 */
export function chooseEngine(capture: CaptureConfig): EngineChoice {
  if (capture.engine === 'libpcap') return { engine: 'libpcap', reason: 'capture.engine is libpcap' };
  if (capture.filter !== '')
    return { engine: 'libpcap', reason: 'capture.filter is set and the eBPF program has no filter' };
  const probe = probeEbpf({ loadProgram: true });
  if (!probe.usable) return { engine: 'libpcap', reason: `eBPF unusable: ${probe.reason}` };
  return {
    engine: 'ebpf',
    reason: `${capture.engine === 'auto' ? 'auto: ' : ''}kernel ${probe.kernelRelease}, ${probe.tcx ? 'TCX' : 'clsact'} hooks, libbpf ${probe.libbpf}`,
  };
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
  /** Devices whose ENI index the engine has no slot for (logged once each). */
  private readonly beyondSlots = new Set<string>();

  private constructor(
    private readonly engine: EbpfFlowEngine,
    private readonly log: Logger,
    private readonly recorderOf: () => { recorder: FlowRecorder; eniCount: number } | null,
  ) {
    this.buffers = engine.drainBuffers();
    this.recorder = new DrainRecorder(this.buffers, engine.maxSlots);
  }

  /** The engine if `choice` says ebpf (throws a typed error when it cannot load after all). */
  static open(
    choice: EngineChoice,
    enis: number,
    log: Logger,
    recorderOf: () => { recorder: FlowRecorder; eniCount: number } | null,
  ): EbpfCapture | null {
    if (choice.engine !== 'ebpf') return null;
    const slots = slotsFor(enis);
    const engine = EbpfFlowEngine.open({ flowCapacity: FLOW_CAPACITY, maxSlots: slots, maxDevices: slots });
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
    const seen = new Set<number>();
    for (const s of enis) {
      if (s.shared || s.index >= this.engine.maxSlots) continue;
      seen.add(s.index);
      const macs = s.eni.mac === undefined ? [] : [s.eni.mac];
      const cidrs = s.eni.cidrs ?? s.eni.ips;
      const was = this.slotKeys.get(s.index);
      if (was !== undefined && same(was.macs, macs) && same(was.cidrs, cidrs)) continue;
      if (was !== undefined) this.forget(was);
      this.engine.setSlot(s.index, { flowQuota: Math.floor(FLOW_CAPACITY / 2), onSharedDevices: false });
      for (const mac of macs) this.engine.setMac(macBytes(mac), s.index);
      for (const cidr of cidrs) {
        const a = addressBytes(cidr);
        if (a !== null) this.engine.setAddress(a.family, a.bytes, a.prefix, s.index);
      }
      this.slotKeys.set(s.index, { macs, cidrs });
    }
    for (const [slot, keys] of this.slotKeys) {
      if (seen.has(slot)) continue;
      this.forget(keys);
      this.slotKeys.delete(slot);
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
        }
        this.drains++;
        this.drainedThroughSec = began;
        this.longestDrainMs = Math.max(this.longestDrainMs, Date.now() - began * 1000);
      },
      (err: unknown) => {
        // The retired table's flows are lost with it; the windows must still close.
        this.drainFailures++;
        this.drainedThroughSec = began;
        this.log.error({ err }, (err as Error).message);
      },
    );
    this.inFlight = run.finally(() => {
      this.inFlight = null;
    });
    await this.inFlight;
  }

  /** Stops the drains: one last one (the devices are detached by then), then the program unloads. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    await this.drainNow();
    await this.engine.close();
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
