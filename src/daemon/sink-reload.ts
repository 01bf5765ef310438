import { DeliveredOutput, type RecordOutput } from '../cli/record-output';
import type { AgentConfig } from '../config/types';

/**
 * What a reload cannot change: the daemon opens each flow log's sink once, at start, because
 * each delivery holds its flow log's spool lock and windows still draining hand their batches to
 * it. A reload that changes sinks or delivery settings is applied to everything else; this says
 * what stays as it was, for one warning per such reload. Flow logs new in the reload have no
 * delivery until the next start: their records are counted (flowlog_records_total) and dropped.
 *
 * Returns null when nothing about the sinks changed, or when the output is not the configured
 * sinks (`run --output`).
 */
export function sinkChangesOnReload(output: RecordOutput, previous: AgentConfig, next: AgentConfig): { withoutSink: string[] } | null {
  if (!(output instanceof DeliveredOutput)) return null;
  const sinksOf = (c: AgentConfig) => JSON.stringify([c.flowLogs.map((f) => [f.id, f.sink]), c.delivery, c.credentials ?? null, c.stateDir]);
  if (sinksOf(previous) === sinksOf(next)) return null;
  return { withoutSink: next.flowLogs.filter((f) => !output.deliveries.has(f.id)).map((f) => f.id) };
}
