import { promises as fs, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EniConfig } from '../config/types';
import type { Logger } from '../log';

/** Journal file under stateDir. */
export const JOURNAL_FILE = 'capture-journal.json';
/**
 * The journal as it was one write before (the previous file is moved here before the new one is
 * renamed in): when the journal itself is damaged, this copy is at most one write older, so its
 * "durable until" is earlier and the gap it gives is wider, never narrower.
 */
export const JOURNAL_PREVIOUS_FILE = 'capture-journal.prev.json';
const JOURNAL_VERSION = 1;

/**
 * What a run of the daemon left in its journal: enough to tell, at the next start, which windows
 * of which ENIs lost records because the process died (SIGKILL, OOM kill, power loss, a crash).
 */
export interface JournalState {
  version: number;
  /** True only after a stop that delivered or spooled every record (SIGTERM, SIGINT). */
  clean: boolean;
  pid: number;
  /** The last time the run was known to be capturing, Unix s (written every `writeIntervalSec`). */
  capturedUntilSec: number;
  /**
   * Per aggregation interval (seconds, as a string key): every record of the time before this
   * second is in the spool (or delivered, or written to the output file). Records after it may
   * have died with the process.
   */
  durableUntilSec: Record<string, number>;
  /** The flow logs of the run, with their intervals. */
  flowLogs: Array<{ id: string; intervalSec: number }>;
  /** ENIs whose windows are not all durable yet: the captured ones and ones just retired. */
  enis: EniConfig[];
}

/** The journal exists but cannot be used (unreadable, not JSON, another version). */
export class JournalReadError extends Error {
  override readonly name = 'JournalReadError';
}

/** What the previous run left: its journal (from which copy), or why none could be read. */
export interface PreviousJournal {
  state: JournalState | null;
  /** Which file it came from; 'previous' when the journal itself was missing or damaged. */
  source: 'journal' | 'previous' | 'none';
  /** Why the journal could not be read (it exists but is damaged), when it could not. */
  error?: JournalReadError;
}

/**
 * Reads the previous run's journal, falling back to the copy one write older when the journal is
 * missing (a crash between the two renames) or damaged. Never throws.
 */
export function readPreviousJournal(stateDir: string): PreviousJournal {
  let error: JournalReadError | undefined;
  try {
    const state = readJournal(stateDir);
    if (state !== null) return { state, source: 'journal' };
  } catch (err) {
    error = err as JournalReadError;
  }
  try {
    const state = readJournal(stateDir, JOURNAL_PREVIOUS_FILE);
    if (state !== null)
      return error === undefined ? { state, source: 'previous' } : { state, source: 'previous', error };
  } catch {
    // both damaged: the caller decides from other evidence
  }
  return error === undefined ? { state: null, source: 'none' } : { state: null, source: 'none', error };
}

/** Reads the previous run's journal; null when there is none. Throws JournalReadError. */
export function readJournal(stateDir: string, file = JOURNAL_FILE): JournalState | null {
  const path = join(stateDir, file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new JournalReadError(`read capture journal ${path}: ${(err as Error).message}`, { cause: err });
  }
  let state: JournalState;
  try {
    state = JSON.parse(text) as JournalState;
  } catch (err) {
    throw new JournalReadError(`read capture journal ${path}: not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (
    state?.version !== JOURNAL_VERSION ||
    !Array.isArray(state.enis) ||
    !Array.isArray(state.flowLogs) ||
    typeof state.durableUntilSec !== 'object'
  ) {
    throw new JournalReadError(`read capture journal ${path}: not a version ${JOURNAL_VERSION} journal`);
  }
  return state;
}

/**
 * The daemon's crash journal: a small JSON file under stateDir (0600), replaced atomically
 * (written to a temporary file, fdatasync'd, the old one renamed to JOURNAL_PREVIOUS_FILE, the
 * new one renamed in), so a crash at any instant leaves the previous or the next version, never
 * half of one, and a journal damaged afterwards still has its predecessor beside it.
 *
 * Written when the captured ENIs change, when a closed window's records become durable, and at
 * most every `writeIntervalSec` to move `capturedUntilSec`; writes never overlap (the latest
 * state wins, intermediate ones are skipped). Cost: one file of about 200 bytes per ENI.
 *
 * Lifecycle: `open` once at start (after reading the previous run's state), then `begin`,
 * `retire`, `durable` and `tick` from the event loop, `close(true)` after a clean stop.
 */
export class CaptureJournal {
  /** Journal writes the file system refused (flowlog_daemon_journal_write_failures_total). */
  writeFailures = 0;
  private readonly path: string;
  private readonly previousPath: string;
  private readonly enis = new Map<string, EniConfig>();
  /** Ids of ENIs no longer captured, kept until their last records are durable. */
  private readonly retiring = new Set<string>();
  private state: JournalState;
  private writing: Promise<void> | null = null;
  private dirty = false;
  private lastWriteSec = 0;
  private lastError = '';

  constructor(
    stateDir: string,
    flowLogs: ReadonlyArray<{ id: string; intervalSec: number }>,
    startSec: number,
    private readonly log: Logger,
    private readonly writeIntervalSec = 5,
    /** Per interval, durability carried over from an unclean previous run until its gap records are durable. */
    carried: Readonly<Record<string, number>> = {},
  ) {
    this.path = join(stateDir, JOURNAL_FILE);
    this.previousPath = join(stateDir, JOURNAL_PREVIOUS_FILE);
    const durableUntilSec: Record<string, number> = {};
    for (const fl of flowLogs)
      durableUntilSec[String(fl.intervalSec)] = Math.min(startSec, carried[String(fl.intervalSec)] ?? startSec);
    this.state = {
      version: JOURNAL_VERSION,
      clean: false,
      pid: process.pid,
      capturedUntilSec: startSec,
      durableUntilSec,
      flowLogs: [...flowLogs],
      enis: [],
    };
  }

  /** The flow logs changed (reload): new intervals start durable at `nowSec`. */
  setFlowLogs(flowLogs: ReadonlyArray<{ id: string; intervalSec: number }>, nowSec: number): void {
    const durable: Record<string, number> = {};
    for (const fl of flowLogs)
      durable[String(fl.intervalSec)] = this.state.durableUntilSec[String(fl.intervalSec)] ?? nowSec;
    this.state.flowLogs = [...flowLogs];
    this.state.durableUntilSec = durable;
    this.schedule(true);
  }

  /** Capture of `enis` began. */
  begin(enis: readonly EniConfig[]): void {
    for (const e of enis) {
      this.enis.set(e.id, e);
      this.retiring.delete(e.id);
    }
    this.schedule(true);
  }

  /** ENIs no longer captured, to forget once their records are durable (unless captured again). */
  markRetiring(enis: readonly EniConfig[], current: readonly EniConfig[]): string[] {
    const keep = new Set(current.map((e) => e.id));
    const gone = enis.filter((e) => !keep.has(e.id)).map((e) => e.id);
    for (const id of gone) this.retiring.add(id);
    return gone;
  }

  /** Forgets retired ENIs (their last window is durable). */
  retire(ids: readonly string[]): void {
    for (const id of ids) {
      if (!this.retiring.delete(id)) continue;
      this.enis.delete(id);
    }
    this.schedule(true);
  }

  /** Every record of interval `intervalSec` before `untilSec` is durable. */
  durable(intervalSec: number, untilSec: number): void {
    const key = String(intervalSec);
    const was = this.state.durableUntilSec[key];
    if (was === undefined || untilSec <= was) return;
    this.state.durableUntilSec[key] = untilSec;
    this.schedule(true);
  }

  /** Every tick: the run is capturing at `nowSec`; written at most every writeIntervalSec. */
  tick(nowSec: number): void {
    this.state.capturedUntilSec = nowSec;
    if (nowSec - this.lastWriteSec >= this.writeIntervalSec) this.schedule(true);
  }

  /** Writes the final state; `clean` when every record was delivered or spooled. */
  async close(clean: boolean): Promise<void> {
    this.state.clean = clean;
    this.state.capturedUntilSec = Math.floor(Date.now() / 1000);
    this.schedule(true);
    while (this.writing) await this.writing;
  }

  private schedule(changed: boolean): void {
    if (changed) this.dirty = true;
    if (this.writing || !this.dirty) return;
    this.writing = this.writeAll().finally(() => {
      this.writing = null;
      if (this.dirty) this.schedule(false);
    });
  }

  private async writeAll(): Promise<void> {
    this.dirty = false;
    this.state.enis = [...this.enis.values()];
    const text = JSON.stringify(this.state);
    this.lastWriteSec = this.state.capturedUntilSec;
    const tmp = `${this.path}.tmp`;
    try {
      const fh = await fs.open(tmp, 'w', 0o600);
      try {
        await fh.chmod(0o600); // the open's mode went through the umask
        await fh.writeFile(text, 'utf8');
        await fh.datasync();
      } finally {
        await fh.close();
      }
      // The current journal becomes the previous copy, then the new one takes its place: a crash
      // between the renames leaves the previous copy alone, which readPreviousJournal reads.
      await fs.rename(this.path, this.previousPath).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      await fs.rename(tmp, this.path);
      if (this.lastError !== '')
        this.log.info({ path: this.path }, `write capture journal ${this.path}: writes succeed again`);
      this.lastError = '';
    } catch (err) {
      this.writeFailures++;
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      if (code !== this.lastError) {
        this.log.error(
          { err, path: this.path },
          `write capture journal ${this.path}: ${(err as Error).message} (a crash now would go unmarked)`,
        );
        this.lastError = code;
      }
    }
  }
}
