/**
 * Lets waiters sleep until "something changed" or a deadline, whichever comes first. The
 * owner calls `notify` after every state change that a waiter might care about; each waiter
 * re-checks its own condition after waking, so spurious wake-ups are harmless.
 */
export class ProgressSignal {
  private readonly waiters = new Set<() => void>();

  /** Resolves at the next `notify`, or at `deadlineMs` (Unix ms, `Date.now()` clock). */
  nextOrDeadline(deadlineMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, deadlineMs - Date.now()));
      this.waiters.add(done);
    });
  }

  notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
