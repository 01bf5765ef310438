import { DeliveredOutput } from '../cli/delivered-output';
import type { RecordOutput } from '../cli/record-output';
import type { AgentConfig } from '../config/types';

/**
 * What a reload cannot change: a flow log's sink, once open, stays until restart, because its
 * delivery holds the flow log's spool lock and windows still draining hand their batches to it.
 * (Flow logs new in the reload get their sinks at the reload: DeliveredOutput.addFlowLogs.) This
 * says what stays as it was, for one warning per reload that changes sinks or delivery settings;
 * `withoutSink` lists flow logs whose sink could not be opened.
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
