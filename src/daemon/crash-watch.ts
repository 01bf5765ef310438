import type { AgentConfig, EniConfig } from '../config/types';
import type { RecordOutput } from '../output/record-output';
import type { Logger } from '../log';
import type { Agent } from '../agent/agent';
import { ClockStepWatch } from './clock-step';
import { CaptureJournal, JOURNAL_PREVIOUS_FILE, readPreviousJournal, type JournalState } from './capture-journal';
import { crashGapRecords } from './crash-gap';
import { releaseRunLock, RunLockedError, takeRunLock, type PreviousRun } from './run-lock';

/** Counters of crash and clock-step detection, for flowlog_daemon_* metrics. */
export interface CrashCounters {
  uncleanRestarts: number;
  gapRecords: number;
  /** SKIPDATA records written for crash gaps, by flow log (flowlog_output_loss_skipdata_records_total{reason="crash"}). */
  gapRecordsByFlowLog: Readonly<Record<string, number>>;
  journalWriteFailures: number;
  clockStepsForward: number;
  clockStepsBack: number;
}

/**
 * What an unclean previous run left to mark, and how it is known: from its journal (or the copy
 * one write older, when the journal is damaged), or, with no journal readable, from its stale run
 * lock alone (the widest honest bounds: from the start of that run, every ENI captured now).
 */
interface UncleanRun {
  state: JournalState;
  how: 'journal' | 'previous-journal' | 'run-lock';
}

/**
 * Makes a crash visible: keeps the daemon's CaptureJournal up to date with what is captured and
 * what is durable, and at start writes SKIPDATA for what an unclean stop of the previous run
 * lost (see crash-gap.ts).
 *
 *   start ──► take stateDir/daemon.lock (stale: the previous run stopped uncleanly, since when)
 *        ──► read previous journal (damaged: the copy one write older)
 *                   │ clean ─────────────────────────────────────────► nothing to write
 *                   │ unclean (SIGKILL, OOM, power loss, crash)
 *                   │ or unreadable with a stale run lock ──► durable-until = that run's start
 *                   ▼
 *   capture starts ──► SKIPDATA [durable-until, resumed) per interval, ENI, flow log,
 *                      resumed exact to the millisecond, records rounded outward
 *
 *   window closes ──► pipeline drained ──► output appended ──► journal: durable-until = window end
 *   (one chain, so marks land in order even when a drain outlasts a window)
 *
 * Lifecycle: `open` once, after the output (and its spool lock) is open; `resume` once, when
 * capture starts; the hooks from the event loop; `close` after the output closed.
 */
export class CrashWatch {
  private uncleanRestarts = 0;
  private gapRecords = 0;
  private readonly gapByFlowLog: Record<string, number> = {};
  private chain: Promise<void> = Promise.resolve();
  private readonly clock: ClockStepWatch;

  private constructor(
    private readonly journal: CaptureJournal,
    private previous: UncleanRun | null,
    private readonly log: Logger,
    private readonly stateDir: string,
  ) {
    this.clock = new ClockStepWatch(log);
  }

  /**
   * Takes the state directory's run lock, reads the previous run's journal (logging a broken one
   * once) and starts this run's. Throws RunLockedError when another live daemon uses the state
   * directory.
   */
  static open(config: AgentConfig, log: Logger, startSec: number): CrashWatch {
    let lockedRun: PreviousRun | null = null;
    try {
      lockedRun = takeRunLock(config.stateDir);
    } catch (err) {
      if (err instanceof RunLockedError) throw err;
      log.error(
        { err },
        `open state directory ${config.stateDir}: ${(err as Error).message} (a crash of this run could not be told from a clean stop)`,
      );
    }
    const read = readPreviousJournal(config.stateDir);
    const unclean = uncleanRunOf(read.state, read.source, lockedRun, config, startSec);
    if (read.error !== undefined) {
      const what =
        unclean === null
          ? 'the previous run stopped cleanly (it released its run lock): nothing to mark'
          : unclean.how === 'previous-journal'
            ? `using ${JOURNAL_PREVIOUS_FILE}, one write older: the gap it gives is wider, never narrower`
            : `the previous run (pid ${lockedRun?.pid}) stopped uncleanly: its gap is marked SKIPDATA from its start (${unclean.state.capturedUntilSec}), the widest honest bounds`;
      log.error({ err: read.error }, `${read.error.message}; ${what}`);
    }
    const journal = new CaptureJournal(
      config.stateDir,
      flowLogsOf(config),
      startSec,
      log,
      5,
      unclean?.state.durableUntilSec ?? {},
    );
    if (unclean !== null) {
      // Until the gap's records are durable, a second crash must still mark the first one's gap.
      journal.begin(unclean.state.enis);
      journal.markRetiring(unclean.state.enis, []);
    }
    return new CrashWatch(journal, unclean, log, config.stateDir);
  }

  /**
   * Capture resumed at `resumedSec` (Unix seconds, exact: fractions kept) on `liveEnis`: writes
   * the SKIPDATA records of an unclean previous run, up to the real moment capture resumed.
   * A gap known from a journal covers the ENIs that run captured; one known otherwise (a damaged
   * journal: its older copy, or the run lock alone) also covers every ENI captured now.
   */
  resume(config: AgentConfig, output: RecordOutput, resumedSec: number, liveEnis: readonly EniConfig[] = []): void {
    const unclean = this.previous;
    this.previous = null;
    if (unclean === null) return;
    const previous =
      unclean.how === 'journal' ? unclean.state : { ...unclean.state, enis: unionById(unclean.state.enis, liveEnis) };
    const gap = crashGapRecords(previous, config, resumedSec);
    for (const batch of gap.batches) {
      output.submit(batch);
      this.gapByFlowLog[batch.flowLogId] = (this.gapByFlowLog[batch.flowLogId] ?? 0) + batch.records.length;
    }
    this.uncleanRestarts++;
    this.gapRecords += gap.records;
    const source =
      unclean.how === 'journal'
        ? ''
        : unclean.how === 'previous-journal'
          ? ` (from ${JOURNAL_PREVIOUS_FILE})`
          : ` (journal unreadable: from the start of that run, every ENI)`;
    this.log.warn(
      {
        pid: previous.pid,
        capturedUntilSec: gap.capturedUntilSec,
        fromSec: gap.fromSec,
        resumedSec,
        records: gap.records,
        enis: previous.enis.length,
        missingFlowLogs: gap.missingFlowLogs,
        how: unclean.how,
      },
      `previous run (pid ${previous.pid}) stopped uncleanly: wrote ${gap.records} SKIPDATA records for ${gap.fromSec}..${resumedSec}${source}`,
    );
    const ids = previous.enis.map((e) => e.id);
    this.after(output, null, () => {
      this.journal.retire(ids);
      for (const fl of previous.flowLogs) this.journal.durable(fl.intervalSec, resumedSec);
    });
  }

  /** Capture of `enis` began (ENIs added to the pipeline, or a new pipeline took them on). */
  enisCaptured(enis: readonly EniConfig[]): void {
    this.journal.begin(enis);
  }

  /** ENIs no longer captured whose last windows `agent` has closed: forgotten once durable. */
  enisFreed(enis: readonly EniConfig[], agent: Agent, output: RecordOutput): void {
    const ids = this.journal.markRetiring(enis, []);
    this.after(output, agent, () => this.journal.retire(ids));
  }

  /** Windows of `agent` closed: durable up to each aggregator's current window start once appended. */
  windowsClosed(agent: Agent, output: RecordOutput): void {
    const marks = agent.windowStarts();
    this.after(output, agent, () => {
      for (const [interval, start] of marks) if (start >= 0) this.journal.durable(interval, start);
    });
  }

  /** An agent capturing `enis` ended at `untilSec` with its partial windows closed. */
  pipelineEnded(enis: readonly EniConfig[], agent: Agent, output: RecordOutput, untilSec: number): void {
    const ids = this.journal.markRetiring(enis, []);
    const intervals = agent.windowStarts().map(([interval]) => interval);
    this.after(output, agent, () => {
      this.journal.retire(ids);
      for (const interval of intervals) this.journal.durable(interval, untilSec);
    });
  }

  /** The flow logs may have changed (reload). */
  configChanged(config: AgentConfig, nowSec: number): void {
    this.journal.setFlowLogs(flowLogsOf(config), nowSec);
  }

  tick(nowSec: number): void {
    this.clock.check();
    this.journal.tick(nowSec);
  }

  /** After a stop: `clean` when every record was delivered or spooled (then the run lock goes too). */
  async close(clean: boolean): Promise<void> {
    await this.chain;
    await this.journal.close(clean);
    if (clean) releaseRunLock(this.stateDir);
  }

  counters(): CrashCounters {
    return {
      uncleanRestarts: this.uncleanRestarts,
      gapRecords: this.gapRecords,
      gapRecordsByFlowLog: this.gapByFlowLog,
      journalWriteFailures: this.journal.writeFailures,
      clockStepsForward: this.clock.forward,
      clockStepsBack: this.clock.back,
    };
  }

  private after(output: RecordOutput, agent: Agent | null, mark: () => void): void {
    this.chain = this.chain
      .then(() => agent?.drained())
      .then(() => output.appended?.())
      .then(mark, (err: unknown) =>
        this.log.error({ err }, `mark records durable in the capture journal: ${(err as Error).message}`),
      );
  }
}

/**
 * Whether (and how) the previous run stopped uncleanly: its journal says so; or the journal is
 * damaged and its older copy says so while the run lock was left behind; or no journal is
 * readable but the run lock was left behind, which only an unclean stop does. A clean journal
 * with a stale run lock (killed between the two) has nothing to mark.
 */
function uncleanRunOf(
  state: JournalState | null,
  source: 'journal' | 'previous' | 'none',
  lockedRun: PreviousRun | null,
  config: AgentConfig,
  startSec: number,
): UncleanRun | null {
  if (state !== null && source === 'journal') return state.clean ? null : { state, how: 'journal' };
  // The journal is damaged and its older copy speaks for it: that copy may predate a clean stop,
  // which the released run lock tells (this version writes both).
  if (state !== null) return state.clean || lockedRun === null ? null : { state, how: 'previous-journal' };
  if (lockedRun === null) return null;
  const fromSec = Math.min(startSec, Math.floor(lockedRun.startedMs / 1000));
  const durableUntilSec: Record<string, number> = {};
  for (const fl of config.flowLogs) durableUntilSec[String(fl.aggregationIntervalSec)] = fromSec;
  const synthetic: JournalState = {
    version: 1,
    clean: false,
    pid: lockedRun.pid,
    capturedUntilSec: fromSec,
    durableUntilSec,
    flowLogs: flowLogsOf(config),
    enis: config.enis,
  };
  return { state: synthetic, how: 'run-lock' };
}

function unionById(a: readonly EniConfig[], b: readonly EniConfig[]): EniConfig[] {
  const seen = new Set(a.map((e) => e.id));
  return [...a, ...b.filter((e) => !seen.has(e.id))];
}

function flowLogsOf(config: AgentConfig): Array<{ id: string; intervalSec: number }> {
  return config.flowLogs.map((fl) => ({ id: fl.id, intervalSec: fl.aggregationIntervalSec }));
}
