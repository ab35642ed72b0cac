/**
 * A token bucket: holds up to `burst` tokens and regains `ratePerSecond` of them each second;
 * each action takes one. A leaf, so both a connection's own command rate (session/) and the
 * memory engine's keyed buckets behind SharedLimits (engine/memory/memory-limits.ts) use it.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes a token; false when none is left (the action is over the limit). */
  take(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSecond);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** True when the bucket is full again, so a keyed limiter may forget it. */
  idle(): boolean {
    return this.tokens + ((this.now() - this.last) / 1000) * this.ratePerSecond >= this.burst;
  }
}
