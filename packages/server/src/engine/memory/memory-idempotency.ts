import type { IdempotencyStore, IdempotentResult } from '../idempotency.js';

interface Entry {
  promise: Promise<unknown>;
  expiresAt: number;
}

/**
 * Idempotency for a single node. The first call's promise itself is stored, so
 * concurrent repeats wait for the same result instead of racing it.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  /** Insertion order is close to expiry order, which keeps the sweep cheap. */
  private readonly entries = new Map<string, Entry>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    sweepIntervalMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => this.sweep(), sweepIntervalMs);
    this.timer.unref();
  }

  async once<T>(key: string, windowMs: number, produce: () => Promise<T>): Promise<IdempotentResult<T>> {
    const seen = this.entries.get(key);
    if (seen && seen.expiresAt > this.now()) return { value: (await seen.promise) as T, fresh: false };
    // Through a promise, so a producer that throws at once is handled like one that rejects.
    const promise = Promise.resolve().then(produce);
    this.entries.delete(key);
    const entry = { promise, expiresAt: this.now() + windowMs };
    this.entries.set(key, entry);
    try {
      return { value: await promise, fresh: true };
    } catch (err) {
      if (this.entries.get(key) === entry) this.entries.delete(key);
      throw err;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.entries.clear();
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt > now) break;
      this.entries.delete(key);
    }
  }
}
