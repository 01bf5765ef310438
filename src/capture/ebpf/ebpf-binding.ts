import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LOSS_REASONS, RECORD_BYTES, STAT_NAMES } from './drain-layout';

/**
 * The project's own addon over libbpf (src/capture/native/ebpf-*.c, built by `npm ci` through
 * binding.gyp, next to the BPF object it loads). Argument checks happen in the addon; the typed
 * contract callers use is EbpfFlowEngine (ebpf-engine.ts).
 */
export interface EbpfBinding {
  open(
    objectPath: string,
    flowCapacity: number,
    maxSlots: number,
    maxDevices: number,
    maxAddresses: number,
    fragmentCapacity: number,
  ): object;
  /** Detaches every device and unloads; returns how many detaches failed. Throws while work is pending unless `force`. */
  close(handle: object, force: boolean): number;
  setSlot(handle: object, slot: number, flowQuota: number, flags: number): void;
  setMac(handle: object, mac: Uint8Array, slot: number): void;
  deleteMac(handle: object, mac: Uint8Array): void;
  setAddress(handle: object, family: number, address: Uint8Array, prefixLength: number, slot: number): void;
  deleteAddress(handle: object, family: number, address: Uint8Array, prefixLength: number): void;
  stats(handle: object, into: Float64Array): void;
  /** [tableEntries, flowCapacity, maxSlots, maxDevices, possible CPUs] */
  info(handle: object): [number, number, number, number, number];
  /** kind 1 own, 2 shared; mode 0 auto, 1 TCX, 2 clsact. Calls back with the mode used and stale filters replaced. */
  attach(
    handle: object,
    ifindex: number,
    slot: number,
    kind: number,
    mode: number,
    promiscuous: boolean,
    done: (error: string | null, mode: number, replaced: number) => void,
  ): void;
  detach(handle: object, ifindex: number, done: (error: string | null, mode: number) => void): void;
  /** [ifindex, mode, ifindex, mode, ...] */
  attached(handle: object): number[];
  /** [TCX ingress program ids, TCX egress program ids, our clsact ingress filter's program id, egress's] (0: none). */
  hooks(ifindex: number): [number[], number[], number, number];
  /** Calls back with the flows written and [wall-clock offset ns, swap ns, read ns, clear ns, loss keys reset]. */
  drain(
    handle: object,
    records: Uint8Array,
    loss: Float64Array,
    done: (error: string | null, flows: number, timing: number[]) => void,
  ): void;
  probe(): NativeProbe;
  /** [program id, run count, run time ns] (counted only while run-time statistics are on). */
  programStats(handle: object): [number, number, number];
  /** [ns per run of the program, of an empty program, return value] over `repeat` BPF_PROG_TEST_RUN runs of `frame` on loopback. */
  testRun(handle: object, frame: Uint8Array, repeat: number): [number, number, number];
  /** Holds BPF run-time statistics on (BPF_ENABLE_STATS) until called with false. */
  runTimeStats(on: boolean): void;
  readonly RECORD_BYTES: number;
  readonly LOSS_REASONS: number;
  readonly STAT_COUNT: number;
  readonly TC_HANDLE: number;
  readonly TC_PRIORITY: number;
}

export interface NativeProbe {
  usable: boolean;
  reason: string;
  kernelRelease: string;
  libbpf: string;
  tcx: boolean;
  batchOps: boolean;
  capabilities: { bpf: boolean; netAdmin: boolean; perfmon: boolean; sysAdmin: boolean };
}

const ADDON = join('build', 'Release', 'flowlog_ebpf.node');
/** The compiled program, written next to the addon by the same build. */
export const BPF_OBJECT_NAME = 'flow-tc.bpf.o';

let binding: EbpfBinding | undefined;

/** The directory holding the addon: $FLOWLOG_EBPF_DIR, else the nearest build/Release above this file. */
export function ebpfBuildDir(): string {
  const fromEnv = process.env.FLOWLOG_EBPF_DIR;
  if (fromEnv) return fromEnv;
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, ADDON))) return join(dir, 'build', 'Release');
    if (dirname(dir) === dir)
      throw new Error(`find eBPF addon: ${ADDON} not found above ${__dirname} (run \`npm ci\`)`);
  }
}

/** The addon, loaded on first use; throws when it is missing or libbpf.so.1 cannot be loaded. */
export function ebpfBinding(): EbpfBinding {
  if (binding !== undefined) return binding;
  const path = join(ebpfBuildDir(), 'flowlog_ebpf.node');
  let loaded: EbpfBinding;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(path) as EbpfBinding;
  } catch (err) {
    throw new Error(`load eBPF addon ${path}: ${String((err as Error).message).split('\n')[0]}`, { cause: err });
  }
  if (
    loaded.RECORD_BYTES !== RECORD_BYTES ||
    loaded.LOSS_REASONS !== LOSS_REASONS.length ||
    loaded.STAT_COUNT !== STAT_NAMES.length
  ) {
    throw new Error(
      `load eBPF addon ${path}: its layout (record ${loaded.RECORD_BYTES} bytes, ${loaded.LOSS_REASONS} reasons, ${loaded.STAT_COUNT} counters) is not drain-layout.ts's; rebuild with \`npm ci\``,
    );
  }
  return (binding = loaded);
}
