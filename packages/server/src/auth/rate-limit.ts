/**
 * A connection's strikes. Its command rate is a TokenBucket (token-bucket.ts); limits keyed by
 * IP or user hold across nodes and live in the engine's SharedLimits instead (auth/limits.ts,
 * auth/dashboard-sign-in.ts).
 */

/**
 * Counts strikes (rejected actions) in a sliding window; past `max` within
 * `windowMs` the offender is cut off. Keeps a client that retries a little too
 * fast connected, and disconnects one that keeps hammering.
 */
export class StrikeCounter {
  private strikes: number[] = [];

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a strike; true when the offender went past the limit. */
  strike(): boolean {
    const now = this.now();
    this.strikes.push(now);
    while (this.strikes.length > 0 && now - this.strikes[0]! > this.windowMs) this.strikes.shift();
    return this.strikes.length > this.max;
  }
}
