/**
 * A SharedLimits in front of a real one (MemorySharedLimits) whose answers wait until `open()`
 * is called, like an engine that is slow to answer; it counts the releases it passes on.
 */
import type { SharedLimits } from '../engine/shared-limits.js';

export class GatedLimits implements SharedLimits {
  releases = 0;
  readonly open: () => void;
  private readonly gate: Promise<void>;

  constructor(private readonly inner: SharedLimits) {
    let open!: () => void;
    this.gate = new Promise((r) => (open = r));
    this.open = open;
  }

  async acquire(key: string, holder: string, max: number): Promise<boolean> {
    await this.gate;
    return this.inner.acquire(key, holder, max);
  }

  async release(key: string, holder: string): Promise<void> {
    this.releases++;
    return this.inner.release(key, holder);
  }

  held(key: string): Promise<number> {
    return this.inner.held(key);
  }

  async take(key: string, ratePerSecond: number, burst: number): Promise<boolean> {
    await this.gate;
    return this.inner.take(key, ratePerSecond, burst);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
