/**
 * The one place that assembles the pipeline from a validated config.
 *
 *   capture source ──frame──► FlowRecorder ─────────────────────────────────────────┐
 *   (offline file,            │ Decoder.decode(frame, view)   src/decode           │ packet path:
 *    live device,             │ EniInventory source/dest ENI  src/enrich           │ no allocation,
 *    nflog group)             │ FlowAggregator.record         src/flow (per interval)│ counters only
 *                             ▼                                                    ┘
 *                    window closes (packet time in replay, wall clock in the daemon)
 *                             │ ClosedWindow: FlowTable + per-ENI packet/loss counts
 *                             ▼
 *                    RecordBuilder.build ──► one RecordBatch per flow log (OK / NODATA / SKIPDATA)
 *                             │
 *                             ▼
 *                    RecordSubmitter.submit ──► delivery (batching, retry, spool) ──► Sink
 */
import type { AgentConfig, FlowLogConfig } from './config/types';
import { EniInventory } from './enrich/eni-inventory';
import { FlowAggregator, type ClosedWindow } from './flow/flow-aggregator';
import { FlowRecorder } from './flow/flow-recorder';
import { MAX_ENIS } from './flow/flow-table';
import type { RecordBatch } from './flow/record';
import { RecordBuilder, coveredEnis } from './flow/record-builder';

/** Where finished batches go. `submit` must not block or throw: it only queues. */
export interface RecordSubmitter {
  submit(batch: RecordBatch): void;
}

export interface PipelineOptions {
  /** See FlowAggregatorOptions.maxGapWindows. */
  maxGapWindows: number;
}

export interface Pipeline {
  readonly inventory: EniInventory;
  readonly recorder: FlowRecorder;
  readonly aggregators: readonly FlowAggregator[];
  readonly builders: readonly RecordBuilder[];
  /** Closes every open window (at `endSec`, or at its end) and submits its batches. */
  finish(endSec?: number): void;
}

export function buildPipeline(config: AgentConfig, submitter: RecordSubmitter, options: PipelineOptions): Pipeline {
  if (config.enis.length > MAX_ENIS) throw new RangeError(`at most ${MAX_ENIS} ENIs per agent, got ${config.enis.length}`);
  const inventory = new EniInventory(config.enis);
  const byInterval = new Map<number, FlowLogConfig[]>();
  for (const fl of config.flowLogs) {
    const list = byInterval.get(fl.aggregationIntervalSec) ?? [];
    list.push(fl);
    byInterval.set(fl.aggregationIntervalSec, list);
  }
  const aggregators: FlowAggregator[] = [];
  const builders: RecordBuilder[] = [];
  const coverage: Uint8Array[] = [];
  for (const [intervalSec, flowLogs] of byInterval) {
    const builder = new RecordBuilder(config, config.enis, flowLogs);
    const cov = new Uint8Array(config.enis.length);
    for (const fl of flowLogs) coveredEnis(fl, config.enis).forEach((c, i) => (cov[i] |= c));
    const aggregator: FlowAggregator = new FlowAggregator({
      intervalSec,
      tableCapacity: config.flowTable.capacity,
      eniCount: config.enis.length,
      maxGapWindows: options.maxGapWindows,
      onWindowClosed: (w: ClosedWindow) => {
        for (const batch of builder.build(w)) if (batch.records.length > 0) submitter.submit(batch);
        aggregator.release(w.table);
      },
    });
    aggregators.push(aggregator);
    builders.push(builder);
    coverage.push(cov);
  }
  const recorder = new FlowRecorder(inventory, aggregators, coverage, config.flowTable.fragmentCacheSize);
  return {
    inventory,
    recorder,
    aggregators,
    builders,
    finish(endSec?: number) {
      for (const a of aggregators) a.finish(endSec);
    },
  };
}
