import { join } from 'node:path';
import type { AgentConfig } from '../config/types';
import type { RecordBatch } from '../flow/record';
import { Delivery } from '../sink/delivery';
import { SinkFactory } from '../sink/sink-factory';
import type { RecordOutput } from './record-output';

/** Each flow log's records through its own delivery (spool under stateDir, retry, sink). */
export class DeliveredOutput implements RecordOutput {
  /** Batches of a flow log without a delivery (none should arrive; counted, never silent). */
  unroutedRecords = 0;

  private constructor(
    private readonly byFlowLog: Map<string, Delivery>,
    private readonly flushTimeoutMs: number,
  ) {}

  get deliveries(): ReadonlyMap<string, Delivery> {
    return this.byFlowLog;
  }

  /**
   * Opens deliveries for flow logs of `next` that have none yet (added by a reload), so their
   * records are delivered from the first window. Flow logs already open keep their sink until
   * restart: their delivery holds the spool lock and batches of windows still draining.
   * Returns the ids it opened.
   */
  async addFlowLogs(next: AgentConfig): Promise<string[]> {
    const factory = new SinkFactory(next);
    const opened: string[] = [];
    for (const fl of next.flowLogs) {
      if (this.byFlowLog.has(fl.id)) continue;
      this.byFlowLog.set(fl.id, await Delivery.open(factory.create(fl), join(next.stateDir, 'spool', fl.id), next.delivery));
      opened.push(fl.id);
    }
    return opened;
  }

  static async open(config: AgentConfig, flushTimeoutMs: number): Promise<DeliveredOutput> {
    const factory = new SinkFactory(config);
    const deliveries = new Map<string, Delivery>();
    try {
      for (const fl of config.flowLogs) {
        deliveries.set(fl.id, await Delivery.open(factory.create(fl), join(config.stateDir, 'spool', fl.id), config.delivery));
      }
    } catch (err) {
      await Promise.all([...deliveries.values()].map((d) => d.close()));
      throw err;
    }
    return new DeliveredOutput(deliveries, flushTimeoutMs);
  }

  submit(batch: RecordBatch): void {
    const d = this.byFlowLog.get(batch.flowLogId);
    if (d !== undefined) d.submit(batch);
    else this.unroutedRecords += batch.records.length;
  }

  async close(): Promise<{ delivered: number; spooled: number }> {
    const deadline = Date.now() + this.flushTimeoutMs;
    let delivered = 0;
    let spooled = 0;
    await Promise.all(
      [...this.byFlowLog.values()].map(async (d) => {
        await d.flush(deadline);
        const result = await d.close();
        delivered += d.stats.recordsDelivered;
        spooled += result.remainingRecords;
      }),
    );
    return { delivered, spooled };
  }
}
