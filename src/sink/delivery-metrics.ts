import type { Delivery } from './delivery';

/** One exported value, shaped for a Prometheus-style text exposition. */
export interface MetricSample {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  value: number;
  labels: { sink: string };
}

/** The delivery and spool counters of one sink as metric samples, labelled with the sink's name. */
export function deliveryMetricSamples(delivery: Delivery): MetricSample[] {
  const d = delivery.stats;
  const s = delivery.spool;
  const labels = { sink: delivery.sinkName };
  const counter = (name: string, help: string, value: number): MetricSample => ({
    name,
    type: 'counter',
    help,
    value,
    labels,
  });
  const gauge = (name: string, help: string, value: number): MetricSample => ({
    name,
    type: 'gauge',
    help,
    value,
    labels,
  });
  return [
    counter('flowlog_delivery_batches_submitted_total', 'Batches submitted for delivery.', d.batchesSubmitted),
    counter('flowlog_delivery_records_submitted_total', 'Records submitted for delivery.', d.recordsSubmitted),
    counter('flowlog_delivery_batches_sent_total', 'Requests the sink acknowledged.', d.batchesSent),
    counter('flowlog_delivery_batches_failed_total', 'Failed request attempts.', d.batchesFailed),
    counter('flowlog_delivery_batches_retried_total', 'Retried request attempts.', d.batchesRetried),
    counter('flowlog_delivery_timeouts_total', 'Requests that did not settle in time.', d.timeouts),
    counter('flowlog_delivery_permanent_failures_total', 'Permanent failures.', d.permanentFailures),
    counter('flowlog_delivery_records_delivered_total', 'Records the sink acknowledged.', d.recordsDelivered),
    counter('flowlog_delivery_records_dropped_total', 'Records dropped before spooling.', d.recordsDropped),
    gauge('flowlog_delivery_request_duration_ms_sum', 'Summed duration of acknowledged requests.', d.latencyMsSum),
    gauge('flowlog_delivery_request_duration_ms_count', 'Acknowledged requests timed.', d.latencyCount),
    gauge('flowlog_delivery_last_success_ms', 'Unix ms of the last acknowledged request.', d.lastSuccessMs),
    gauge('flowlog_spool_segments', 'Segments waiting in the spool.', s.segments),
    gauge('flowlog_spool_bytes', 'Bytes of segments waiting in the spool.', s.bytes),
    gauge('flowlog_spool_records', 'Records waiting in the spool.', s.records),
    gauge('flowlog_spool_memory_segments', 'Segments held in memory because the disk refused them.', s.memorySegments),
    counter('flowlog_spool_evicted_segments_total', 'Oldest segments dropped to respect spoolMaxBytes.', s.evictedSegments),
    counter('flowlog_spool_evicted_records_total', 'Records dropped to respect spoolMaxBytes.', s.evictedRecords),
    counter('flowlog_spool_corrupt_segments_total', 'Segments quarantined as corrupt.', s.corruptSegments),
    counter('flowlog_spool_write_failures_total', 'Segment writes the disk refused.', s.writeFailures),
  ];
}
