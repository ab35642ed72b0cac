/**
 * A connection's own limits: its command rate (a token bucket) and its strikes. A bucket
 * holds up to `burst` tokens and regains `ratePerSecond` of them each second; each action
 * takes one. Limits keyed by IP or user hold across nodes and live in the engine's
 * SharedLimits instead (auth/limits.ts, auth/dashboard-sign-in.ts).
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
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
