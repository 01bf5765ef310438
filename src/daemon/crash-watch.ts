import { mkdirSync } from 'node:fs';
import type { AgentConfig, EniConfig } from '../config/types';
import type { RecordOutput } from '../cli/record-output';
import type { Logger } from '../log';
import type { Pipeline } from '../pipeline';
import { ClockStepWatch } from './clock-step';
import { CaptureJournal, JournalReadError, readJournal, type JournalState } from './capture-journal';
import { crashGapRecords } from './crash-gap';

/** Counters of crash and clock-step detection, for flowlog_daemon_* metrics. */
export interface CrashCounters {
  uncleanRestarts: number;
  gapRecords: number;
  journalWriteFailures: number;
  clockStepsForward: number;
  clockStepsBack: number;
}

/**
 * Makes a crash visible: keeps the daemon's CaptureJournal up to date with what is captured and
 * what is durable, and at start writes SKIPDATA for what an unclean stop of the previous run
 * lost (see crash-gap.ts).
 *
 *   start ──► read previous journal ──clean──────────────────────────► nothing to write
 *                   │ unclean (SIGKILL, OOM, power loss, crash)
 *                   ▼
 *   capture starts ──► SKIPDATA [durable-until, resumed) per interval, ENI, flow log
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
  private chain: Promise<void> = Promise.resolve();
  private readonly clock: ClockStepWatch;

  private constructor(
    private readonly journal: CaptureJournal,
    private previous: JournalState | null,
    private readonly log: Logger,
  ) {
    this.clock = new ClockStepWatch(log);
  }

  /** Reads the previous run's journal (logging a broken one once) and starts this run's. */
  static open(config: AgentConfig, log: Logger, startSec: number): CrashWatch {
    let previous: JournalState | null = null;
    try {
      mkdirSync(config.stateDir, { recursive: true });
      previous = readJournal(config.stateDir);
    } catch (err) {
      const message = err instanceof JournalReadError ? err.message : `open state directory ${config.stateDir}: ${(err as Error).message}`;
      log.error({ err }, `${message} (windows a previous crash cut short cannot be marked SKIPDATA)`);
    }
    const unclean = previous !== null && !previous.clean ? previous : null;
    const journal = new CaptureJournal(config.stateDir, flowLogsOf(config), startSec, log, 5, unclean?.durableUntilSec ?? {});
    if (unclean !== null) {
      // Until the gap's records are durable, a second crash must still mark the first one's gap.
      journal.begin(unclean.enis);
      journal.markRetiring(unclean.enis, []);
    }
    return new CrashWatch(journal, unclean, log);
  }

  /** Capture resumed at `resumedSec`: writes the SKIPDATA records of an unclean previous run. */
  resume(config: AgentConfig, output: RecordOutput, resumedSec: number): void {
    const previous = this.previous;
    this.previous = null;
    if (previous === null) return;
    const gap = crashGapRecords(previous, config, resumedSec);
    for (const batch of gap.batches) output.submit(batch);
    this.uncleanRestarts++;
    this.gapRecords += gap.records;
    this.log.warn(
      { pid: previous.pid, capturedUntilSec: gap.capturedUntilSec, fromSec: gap.fromSec, resumedSec, records: gap.records, enis: previous.enis.length, missingFlowLogs: gap.missingFlowLogs },
      `previous run (pid ${previous.pid}) stopped uncleanly: wrote ${gap.records} SKIPDATA records for ${gap.fromSec}..${resumedSec}`,
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

  /** ENIs no longer captured whose last windows `pipeline` has closed: forgotten once durable. */
  enisFreed(enis: readonly EniConfig[], pipeline: Pipeline, output: RecordOutput): void {
    const ids = this.journal.markRetiring(enis, []);
    this.after(output, pipeline, () => this.journal.retire(ids));
  }

  /** Windows of `pipeline` closed: durable up to each aggregator's current window start once appended. */
  windowsClosed(pipeline: Pipeline, output: RecordOutput): void {
    const marks = pipeline.aggregators.map((a) => [a.intervalSec, a.windowStartSec] as const);
    this.after(output, pipeline, () => {
      for (const [interval, start] of marks) if (start >= 0) this.journal.durable(interval, start);
    });
  }

  /** A pipeline capturing `enis` ended at `untilSec` with its partial windows closed. */
  pipelineEnded(enis: readonly EniConfig[], pipeline: Pipeline, output: RecordOutput, untilSec: number): void {
    const ids = this.journal.markRetiring(enis, []);
    const intervals = pipeline.aggregators.map((a) => a.intervalSec);
    this.after(output, pipeline, () => {
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

  /** After a stop: `clean` when every record was delivered or spooled. */
  async close(clean: boolean): Promise<void> {
    await this.chain;
    await this.journal.close(clean);
  }

  counters(): CrashCounters {
    return {
      uncleanRestarts: this.uncleanRestarts,
      gapRecords: this.gapRecords,
      journalWriteFailures: this.journal.writeFailures,
      clockStepsForward: this.clock.forward,
      clockStepsBack: this.clock.back,
    };
  }

  private after(output: RecordOutput, pipeline: Pipeline | null, mark: () => void): void {
    this.chain = this.chain
      .then(() => pipeline?.drained())
      .then(() => output.appended?.())
      .then(mark, (err: unknown) => this.log.error({ err }, `mark records durable in the capture journal: ${(err as Error).message}`));
  }
}

function flowLogsOf(config: AgentConfig): Array<{ id: string; intervalSec: number }> {
  return config.flowLogs.map((fl) => ({ id: fl.id, intervalSec: fl.aggregationIntervalSec }));
}
