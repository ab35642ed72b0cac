/**
 * Coalesces writes: every connection that got pushes during one event-loop turn is
 * flushed once, in a single `setImmediate` after the turn, so N pushes become one
 * transport write. No timers: latency is one turn, never a fixed delay.
 */
export interface Flushable {
  flush(): void;
}

export class Flusher {
  private pending: Flushable[] = [];
  private scheduled = false;

  /** Queues `target` for the end-of-turn flush. Callers mark each target once per turn. */
  schedule(target: Flushable): void {
    this.pending.push(target);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }

  private readonly run = (): void => {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    for (let i = 0; i < batch.length; i++) batch[i]!.flush();
  };
}
