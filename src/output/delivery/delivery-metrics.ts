import type { OutputLoss, SinkCounters, SinkDeliveryState, SpoolUsage } from '../../metrics/metrics-source';
import type { Delivery } from './delivery';
import { SPOOL_LOSS_REASONS } from '../spool/spool-loss';

/*
 * Adapters from a Delivery's counters to the scrape-time shapes of src/metrics/metrics-source.ts.
 * Called at scrape time only; they allocate small objects, which is fine there.
 */

/**
 * `batchesFailed` there means batches given up on or failing permanently: permanent answers
 * (each slow probe counts), segments evicted from a full spool and segments quarantined as
 * corrupt. Retryable failures show up as `batchesRetried`.
 */
export function sinkCountersOf(delivery: Delivery): SinkCounters {
  const d = delivery.stats;
  const s = delivery.spool;
  const counters: SinkCounters = {
    sink: delivery.sinkName,
    batchesSent: d.batchesSent,
    batchesFailed: d.permanentFailures + s.evictedSegments + s.corruptSegments,
    batchesRetried: d.batchesRetried,
    latency: delivery.latency,
  };
  if (d.lastSuccessMs > 0) counters.lastSuccessUnixMs = d.lastSuccessMs;
  return counters;
}

export function spoolUsageOf(flowLogId: string, delivery: Delivery): SpoolUsage {
  const s = delivery.spool;
  return {
    flowLog: flowLogId,
    segments: s.segments,
    bytes: s.bytes,
    memorySegments: s.memorySegments,
    droppedRecords: s.evictedRecords,
  };
}

/** The delivery's losses by reason (see OutputLoss): the spool's, and batches it could not spool. */
export function outputLossesOf(flowLogId: string, delivery: Delivery): OutputLoss[] {
  const s = delivery.spool;
  const out: OutputLoss[] = SPOOL_LOSS_REASONS.map((reason) => ({
    flowLog: flowLogId,
    reason,
    lostRecords: s.lostRecords[reason],
    skipdataRecords: s.lossMarkRecords[reason],
  }));
  out.push({
    flowLog: flowLogId,
    reason: 'not_spooled',
    lostRecords: delivery.stats.recordsDropped,
    skipdataRecords: 0,
  });
  return out;
}

/** `windowSec`: the aggregation interval of the flow log the sink serves. */
export function sinkDeliveryStateOf(delivery: Delivery, windowSec: number): SinkDeliveryState {
  const state: SinkDeliveryState = { sink: delivery.sinkName, windowSec };
  if (delivery.stats.lastSuccessMs > 0) state.lastSuccessUnixMs = delivery.stats.lastSuccessMs;
  const oldest = delivery.oldestPendingMs;
  if (oldest !== undefined) state.oldestPendingUnixMs = oldest;
  const spool = delivery.spool;
  if (delivery.unhealthyAfterSec !== undefined) state.unhealthyAfterSec = delivery.unhealthyAfterSec;
  if (spool.evictingSinceMs > 0) {
    state.spoolEvictingSinceUnixMs = spool.evictingSinceMs;
    state.spoolEvictedRecords = spool.lostRecords.spool_full;
  }
  if (spool.writeError !== '') {
    state.spoolWriteError = spool.writeError;
    state.spoolMemorySegments = spool.memorySegments;
    state.spoolDroppedRecords = spool.memoryDroppedRecords;
  }
  return state;
}
