import { join } from 'node:path';
import type { AgentConfig, FlowLogConfig } from '../config/types';
import type { FlowRecord, RecordBatch } from '../flow/record';
import { RecordBuilder } from '../flow/record-builder';
import { Delivery, type DeliveryDeps } from './delivery/delivery';
import { SinkFactory } from './sink-factory';
import type { RecordOutput } from './record-output';

/** Each flow log's records through its own delivery (spool under stateDir, retry, sink). */
export class DeliveredOutput implements RecordOutput {
  /** Batches of a flow log without a delivery (none should arrive; counted, never silent). */
  unroutedRecords = 0;
  /** Batches of flow logs being moved to a new sink, submitted to it once it is open. */
  private readonly holding = new Map<string, RecordBatch[]>();
  /** Records delivered by deliveries replaced in a reload. */
  private retiredDelivered = 0;

  private constructor(
    private readonly byFlowLog: Map<string, Delivery>,
    private readonly flushTimeoutMs: number,
  ) {}

  get deliveries(): ReadonlyMap<string, Delivery> {
    return this.byFlowLog;
  }

  /**
   * Opens deliveries for flow logs of `next` that have none yet (added by a reload), so their
   * records are delivered from the first window (flow logs already open: replaceChangedSinks).
   * Returns the ids it opened.
   */
  async addFlowLogs(next: AgentConfig): Promise<string[]> {
    const factory = new SinkFactory(next);
    const opened: string[] = [];
    for (const fl of next.flowLogs) {
      if (this.byFlowLog.has(fl.id)) continue;
      this.byFlowLog.set(
        fl.id,
        await Delivery.open(
          factory.create(fl),
          join(next.stateDir, 'spool', fl.id),
          next.delivery,
          deliveryDeps(next, fl),
        ),
      );
      opened.push(fl.id);
    }
    return opened;
  }

  /**
   * Moves each flow log whose sink, delivery settings or credentials changed in a reload onto a
   * delivery opened from `next`. The old delivery is closed first: it spools what it still holds,
   * lets requests in flight settle and releases the spool's lock; batches submitted meanwhile
   * wait here. The new delivery starts from the same spool, so records not yet delivered go to
   * the new sink too. A flow log whose new sink cannot be opened goes back to its previous one.
   * Not for a changed stateDir (the spool would stay behind): the caller leaves those to a restart.
   */
  async replaceChangedSinks(
    previous: AgentConfig,
    next: AgentConfig,
  ): Promise<{ moved: string[]; kept: Array<{ id: string; error: string }> }> {
    const moved: string[] = [];
    const kept: Array<{ id: string; error: string }> = [];
    for (const fl of next.flowLogs) {
      const old = this.byFlowLog.get(fl.id);
      const before = previous.flowLogs.find((f) => f.id === fl.id);
      if (old === undefined || before === undefined || sinkSettings(previous, before) === sinkSettings(next, fl))
        continue;
      const spoolDir = join(next.stateDir, 'spool', fl.id);
      const held: RecordBatch[] = [];
      this.holding.set(fl.id, held);
      try {
        await old.close();
        this.retiredDelivered += old.stats.recordsDelivered;
        try {
          this.byFlowLog.set(
            fl.id,
            await Delivery.open(new SinkFactory(next).create(fl), spoolDir, next.delivery, deliveryDeps(next, fl)),
          );
          moved.push(fl.id);
        } catch (err) {
          kept.push({ id: fl.id, error: `${(err as Error).message} (it keeps its previous sink)` });
          this.byFlowLog.set(
            fl.id,
            await Delivery.open(
              new SinkFactory(previous).create(before),
              spoolDir,
              previous.delivery,
              deliveryDeps(previous, before),
            ),
          );
        }
      } catch (err) {
        // Not even the previous sink reopens: its batches are counted as unrouted from now on.
        this.byFlowLog.delete(fl.id);
        const error = `${(err as Error).message} (its previous sink did not reopen either: its records are counted as unrouted until restart)`;
        const seen = kept.find((k) => k.id === fl.id);
        if (seen === undefined) kept.push({ id: fl.id, error });
        else seen.error = error;
      } finally {
        this.holding.delete(fl.id);
        for (const b of held) this.submit(b);
      }
    }
    return { moved, kept };
  }

  static async open(config: AgentConfig, flushTimeoutMs: number): Promise<DeliveredOutput> {
    const factory = new SinkFactory(config);
    const deliveries = new Map<string, Delivery>();
    try {
      for (const fl of config.flowLogs) {
        deliveries.set(
          fl.id,
          await Delivery.open(
            factory.create(fl),
            join(config.stateDir, 'spool', fl.id),
            config.delivery,
            deliveryDeps(config, fl),
          ),
        );
      }
    } catch (err) {
      await Promise.all([...deliveries.values()].map((d) => d.close()));
      throw err;
    }
    return new DeliveredOutput(deliveries, flushTimeoutMs);
  }

  submit(batch: RecordBatch): void {
    const held = this.holding.get(batch.flowLogId);
    if (held !== undefined) {
      held.push(batch); // its flow log is moving to a new sink (replaceChangedSinks)
      return;
    }
    const d = this.byFlowLog.get(batch.flowLogId);
    if (d !== undefined) d.submit(batch);
    else this.unroutedRecords += batch.records.length;
  }

  async appended(): Promise<void> {
    await Promise.all([...this.byFlowLog.values()].map((d) => d.appended()));
  }

  async close(): Promise<{ delivered: number; spooled: number }> {
    const deadline = Date.now() + this.flushTimeoutMs;
    let delivered = this.retiredDelivered;
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

/** The delivery's injections from the config: the configured ENIs a loss is written for when nothing else names them. */
export function deliveryDeps(config: AgentConfig, flowLog: FlowLogConfig): DeliveryDeps {
  return { lossFallback: () => configuredEniRecords(config, flowLog) };
}

/** One record (SKIPDATA, counts unknown) per configured ENI the flow log covers: their identities. */
export function configuredEniRecords(config: AgentConfig, flowLog: FlowLogConfig): FlowRecord[] {
  return new RecordBuilder(config, config.enis, [flowLog]).uncapturedBatches(0, 0).flatMap((b) => b.records);
}

/** What a flow log's delivery is opened from: its sink, the delivery settings and the credentials. */
function sinkSettings(config: AgentConfig, flowLog: FlowLogConfig): string {
  return JSON.stringify([flowLog.sink, config.delivery, config.credentials ?? null]);
}
