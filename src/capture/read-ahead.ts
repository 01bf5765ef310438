import { Worker } from 'node:worker_threads';

/**
 * Reads a file ahead of its consumer on a worker thread, into a ring of shared chunks.
 *
 * Why: a replay spends about a tenth of its time in `read` system calls (the kernel copying the
 * page cache into our chunk); done here on the second core, the packet loop only copies chunks
 * that are already in memory (about a fifth of the cost) and its wall time drops by the rest.
 *
 *   worker thread                       shared memory                        packet loop
 *   pread(fd, slot k, offset) ──► [ slot 0 | slot 1 | ... | slot N-1 ] ──► take(): copy slot k,
 *   state[k] = FULL, notify           state[k]: EMPTY / FULL / FAILED        state[k] = EMPTY, notify
 *
 * The worker reads with explicit offsets through the consumer's own descriptor (threads share
 * it), from `startOffset` on. Any failure of the worker (it cannot start, a read fails) is not an
 * error of the replay: `take` then returns -1 and the consumer goes on with its own reads from
 * `position`, the first byte it has not been given.
 *
 * Lifecycle: one instance per file; `close` stops the worker (also mid-file) and must be called.
 */
export class ReadAhead {
  /** File offset of the next byte `take` hands over. */
  position: number;
  private readonly worker: Worker | null;
  private readonly control: Int32Array;
  private readonly data: Uint8Array;
  private slot = 0;
  /** Bytes of the current slot already handed over. */
  private slotPos = 0;

  constructor(fd: number, startOffset: number, slots = 4, slotBytes = 256 * 1024) {
    this.position = startOffset;
    // control: [stop, state[0..slots), length[0..slots)]
    const shared = new SharedArrayBuffer(4 * (1 + 2 * slots) + slots * slotBytes);
    this.control = new Int32Array(shared, 0, 1 + 2 * slots);
    this.data = new Uint8Array(shared, 4 * (1 + 2 * slots));
    let worker: Worker | null = null;
    try {
      worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { shared, fd, startOffset, slots, slotBytes } });
      worker.unref();
      worker.on('error', () => undefined); // seen by `take` as a slot that never fills
    } catch {
      worker = null;
    }
    this.worker = worker;
    if (worker === null) this.fail();
  }

  /**
   * Copies up to `room` bytes of the file into `dst` at `at`, waiting for the worker when it is
   * behind. Returns the bytes copied, 0 at the end of the file, or -1 when the worker failed
   * (read from `position` yourself).
   */
  take(dst: Uint8Array, at: number, room: number): number {
    const slots = (this.control.length - 1) / 2;
    const stateAt = 1 + this.slot;
    const lengthAt = 1 + slots + this.slot;
    // The packet loop never returns to the event loop, so a worker that dies or never starts
    // cannot report it there: a slot that stays empty for STALL_MS counts as a failure.
    let waitedMs = 0;
    for (;;) {
      const state = Atomics.load(this.control, stateAt);
      if (state === FULL) break;
      if (state === FAILED || waitedMs >= STALL_MS) {
        this.close();
        return -1;
      }
      Atomics.wait(this.control, stateAt, EMPTY, 100);
      waitedMs += 100;
    }
    const length = this.control[lengthAt];
    if (length === 0) return 0; // end of file: the slot stays full, so later calls say so too
    const slotBytes = this.data.length / slots;
    const n = Math.min(room, length - this.slotPos);
    const from = this.slot * slotBytes + this.slotPos;
    dst.set(this.data.subarray(from, from + n), at);
    this.slotPos += n;
    this.position += n;
    if (this.slotPos === length) {
      this.slotPos = 0;
      Atomics.store(this.control, stateAt, EMPTY);
      Atomics.notify(this.control, stateAt);
      this.slot = (this.slot + 1) % slots;
    }
    return n;
  }

  close(): void {
    Atomics.store(this.control, 0, 1);
    for (let i = 1; i < this.control.length; i++) Atomics.notify(this.control, i);
    void this.worker?.terminate();
  }

  /** Marks every slot failed, so `take` hands the reading back at once. */
  private fail(): void {
    const slots = (this.control.length - 1) / 2;
    for (let s = 0; s < slots; s++) {
      Atomics.store(this.control, 1 + s, FAILED);
      Atomics.notify(this.control, 1 + s);
    }
  }
}

const EMPTY = 0;
const FULL = 1;
const FAILED = 2;
/** How long a read may keep the consumer waiting before it reads for itself. */
const STALL_MS = 10_000;

/**
 * The worker: fills slots in ring order, each with the next bytes of the file. A failed read
 * marks its slot FAILED (the consumer takes over from there); the stop flag ends it at once.
 * Plain JavaScript, evaluated in the worker, so it needs no file of its own beside the build.
 */
const WORKER_SOURCE = `
const { readSync } = require('node:fs');
const { workerData } = require('node:worker_threads');
const { shared, fd, startOffset, slots, slotBytes } = workerData;
const control = new Int32Array(shared, 0, 1 + 2 * slots);
const data = new Uint8Array(shared, 4 * (1 + 2 * slots));
let offset = startOffset;
for (let k = 0; ; k = (k + 1) % slots) {
  while (Atomics.load(control, 1 + k) !== ${EMPTY}) {
    if (Atomics.load(control, 0) === 1) process.exit(0);
    Atomics.wait(control, 1 + k, Atomics.load(control, 1 + k), 1000);
  }
  if (Atomics.load(control, 0) === 1) process.exit(0);
  let n;
  try {
    n = readSync(fd, data, k * slotBytes, slotBytes, offset);
  } catch {
    Atomics.store(control, 1 + k, ${FAILED});
    Atomics.notify(control, 1 + k);
    process.exit(0);
  }
  control[1 + slots + k] = n;
  offset += n;
  Atomics.store(control, 1 + k, ${FULL});
  Atomics.notify(control, 1 + k);
  if (n === 0) process.exit(0);
}
`;
