import { DeliveredOutput } from '../output/delivered-output';
import type { RecordOutput } from '../output/record-output';
import type { AgentConfig } from '../config/types';

/**
 * What a reload does to the configured sinks (`run` without `--output`): flow logs it adds get
 * their sinks, flow logs whose sink, delivery settings or credentials changed move to the new
 * ones with their spooled records (DeliveredOutput.addFlowLogs, replaceChangedSinks). A changed
 * `stateDir` is the exception: the spools stay where they are until restart. Logs one line for
 * each outcome; returns the flow logs moved.
 */
export async function applySinkChanges(
  output: RecordOutput,
  previous: AgentConfig,
  next: AgentConfig,
  log: { info(o: object, msg: string): void; warn(o: object, msg: string): void; error(o: object, msg: string): void },
): Promise<string[]> {
  if (!(output instanceof DeliveredOutput)) return [];
  try {
    const opened = await output.addFlowLogs(next);
    if (opened.length > 0) log.info({ flowLogs: opened }, 'opened the sinks of flow logs added by the reload');
  } catch (err) {
    log.error(
      { err: (err as Error).message },
      `open sinks of added flow logs: ${(err as Error).message} (their records are counted as unrouted until restart)`,
    );
  }
  if (previous.stateDir !== next.stateDir) {
    log.warn(
      { stateDir: next.stateDir, previous: previous.stateDir },
      'reload changed stateDir: it takes effect on restart; sinks and spools stay as they were',
    );
    return [];
  }
  const { moved, kept } = await output.replaceChangedSinks(previous, next);
  if (moved.length > 0)
    log.info({ flowLogs: moved }, 'moved flow logs to their changed sinks; records not yet delivered follow them');
  for (const k of kept) {
    log.error({ flowLog: k.id, err: k.error }, `move flow log ${k.id} to its changed sink: ${k.error}`);
  }
  return moved;
}
