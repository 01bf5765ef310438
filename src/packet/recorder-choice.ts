import type { ChunkRunner } from '../capture/capture-source';
import type { PacketKernel } from './wasm/packet-kernel';

/** Kernel calls that took nothing, in a row, before records are left to TypeScript unasked. */
const MISSES_BEFORE_WAIT = 8;
/** Most records left to TypeScript between two calls that took nothing. */
const WAIT_MAX = 4096;

/**
 * THE "kernel first, else TypeScript" policy, for every walker of records (the file reader's
 * chunk, the live chunk of a device). The WebAssembly packet kernel is asked to take the records
 * from the walker's position; it stops at the first record it cannot take the common way (another
 * frame shape, a time outside the current windows, a new flow that needs the table grown), which
 * the walker hands to the TypeScript recorder (FlowRecorder), then the kernel is asked again.
 * After 8 calls in a row that took nothing (a stream of frames the kernel does not read, such as
 * 802.1Q), 1, 2, 4 ... up to 4096 records are left to TypeScript before the next call, so such a
 * stream does not pay a kernel call per record.
 *
 * Whether there is a kernel at all is decided once, where an agent is assembled
 * (agent/pipeline.ts: memory for its tables, no decapsulation of every frame, no agent-side
 * rules in a replay); a live agent goes on without it when a change of the ENIs outgrows its
 * memory (ChunkRecorder.dropKernel).
 *
 * Per record: two field updates, no allocation.
 */
export class KernelFirst {
  private wait = 0;
  private misses = 0;

  /** Whether to ask the kernel at this record (false: the record is TypeScript's). */
  ask(): boolean {
    if (this.wait > 0) {
      this.wait--;
      return false;
    }
    return true;
  }

  /** The kernel, asked, took `records` records. */
  took(records: number): void {
    if (records > 0) this.misses = 0;
    else if (++this.misses >= MISSES_BEFORE_WAIT) {
      const shift = this.misses - MISSES_BEFORE_WAIT;
      this.wait = shift >= 12 ? WAIT_MAX : 1 << shift;
    }
  }

  /** A new stream (file) starts: what the last one taught does not hold. */
  reset(): void {
    this.wait = this.misses = 0;
  }
}

/**
 * The packet kernel as a file reader's ChunkRunner, asked under the KernelFirst policy: a call
 * the policy declines takes nothing (`handled` 0) and costs no kernel call.
 */
export class KernelFirstRunner implements ChunkRunner {
  readonly chunk: Buffer;
  handled = 0;
  private readonly policy = new KernelFirst();

  constructor(private readonly kernel: PacketKernel) {
    this.chunk = kernel.chunk;
  }

  newStream(): void {
    this.policy.reset();
  }

  run(pos: number, end: number): number {
    if (!this.policy.ask()) return this.declined(pos);
    const stop = this.kernel.run(pos, end);
    this.policy.took((this.handled = this.kernel.handled));
    return stop;
  }

  runPcapng(pos: number, end: number): number {
    if (!this.policy.ask()) return this.declined(pos);
    const stop = this.kernel.runPcapng(pos, end);
    this.policy.took((this.handled = this.kernel.handled));
    return stop;
  }

  setInterfaces(
    version: number,
    linkTypes: readonly number[],
    unitsPerSec: readonly number[],
    offsetSec: readonly number[],
  ): void {
    this.kernel.setInterfaces(version, linkTypes, unitsPerSec, offsetSec);
  }

  private declined(pos: number): number {
    this.handled = 0;
    return pos;
  }
}
