import type { FlowSlice, RecordBatch } from '../flow/record';

/** Where finished batches go. `submit` must not block or throw: it only queues. */
export interface RecordSubmitter {
  submit(batch: RecordBatch): void;
  /**
   * Optional: takes a window's OK records as flow-table entries (see FlowSlice), which the
   * submitter formats itself without record objects. Used by synchronous drains only (the slice
   * is borrowed for the call, the table reused after the drain); status records still come
   * through `submit`.
   */
  submitFlows?(slice: FlowSlice): void;
}

export interface RecordOutput extends RecordSubmitter {
  /** Delivers or spools everything submitted; counts records delivered and left spooled. */
  close(): Promise<{ delivered: number; spooled: number }>;
  /**
   * Resolves once every batch submitted so far survives a kill of the process: appended to its
   * spool, or written to the output file. Absent: at once (writes are synchronous).
   */
  appended?(): Promise<void>;
}
