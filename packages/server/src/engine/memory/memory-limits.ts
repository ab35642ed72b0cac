/**
 * SharedLimits in memory, shared by the nodes of one process (and, behind the IPC engine, by
 * the workers of `tidings serve --workers`: the primary holds one MemorySharedLimits and a
 * node() handle per worker).
 *
 * Each `node()` handle tags the slots it takes with itself; closing the handle releases them.
 * That is also the path for a node that dies: whoever holds its handle (the IPC primary, for a
 * worker that exited) closes it, and the node's slots are free for the others.
 */
import { TokenBucket } from '../../token-bucket.js';
import type { SharedLimits } from '../shared-limits.js';

export interface MemorySharedLimitsOptions {
  /** How often full (idle) token buckets are forgotten, so memory stays bounded. */
  sweepIntervalMs?: number;
}

/** The shared counters: slots per key (holder -> the node handle that took it) and token buckets per key. */
export class MemorySharedLimits {
  private readonly slots = new Map<string, Map<string, MemoryLimitsNode>>();
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly nodes = new Set<MemoryLimitsNode>();
  private readonly sweepIntervalMs: number;
  /** Runs only while buckets exist. */
  private timer: NodeJS.Timeout | undefined;

  constructor(options: MemorySharedLimitsOptions = {}) {
    this.sweepIntervalMs = options.sweepIntervalMs ?? 10_000;
  }

  /** A handle for one node: its slots are released when the handle closes. */
  node(): SharedLimits {
    const node = new MemoryLimitsNode(this);
    this.nodes.add(node);
    return node;
  }

  /** Closes every handle (releasing all slots) and forgets the buckets. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all([...this.nodes].map((n) => n.close()));
    this.buckets.clear();
  }

  /** Keys with slots held, and token buckets kept (full ones are forgotten by the sweep). */
  stats(): { slotKeys: number; buckets: number } {
    return { slotKeys: this.slots.size, buckets: this.buckets.size };
  }

  /** @internal */
  acquire(node: MemoryLimitsNode, key: string, holder: string, max: number): boolean {
    let holders = this.slots.get(key);
    if (holders?.has(holder)) return true; // already held: acquiring again takes nothing more
    if ((holders?.size ?? 0) >= max) return false;
    if (!holders) {
      holders = new Map();
      this.slots.set(key, holders);
    }
    holders.set(holder, node);
    node.taken(key, holder);
    return true;
  }

  /** @internal */
  release(key: string, holder: string): void {
    const holders = this.slots.get(key);
    const node = holders?.get(holder);
    if (!holders || !node) return;
    holders.delete(holder);
    if (holders.size === 0) this.slots.delete(key);
    node.given(key, holder);
  }

  /** @internal */
  held(key: string): number {
    return this.slots.get(key)?.size ?? 0;
  }

  /** @internal */
  take(key: string, ratePerSecond: number, burst: number): boolean {
    let bucket = this.buckets.get(key);
    if (!bucket || bucket.ratePerSecond !== ratePerSecond || bucket.burst !== burst) {
      // A key's rate changed (a namespace was reloaded): start it again, full.
      bucket = new TokenBucket(ratePerSecond, burst);
      this.buckets.set(key, bucket);
      if (!this.timer) {
        this.timer = setInterval(() => this.sweep(), this.sweepIntervalMs);
        this.timer.unref();
      }
    }
    return bucket.take();
  }

  /** @internal */
  forget(node: MemoryLimitsNode): void {
    this.nodes.delete(node);
  }

  private sweep(): void {
    for (const [key, bucket] of this.buckets) if (bucket.idle()) this.buckets.delete(key);
    if (this.buckets.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

/** One node's handle. */
class MemoryLimitsNode implements SharedLimits {
  /** The slots this node holds: key -> holders. */
  private readonly mine = new Map<string, Set<string>>();
  private closed = false;

  constructor(private readonly shared: MemorySharedLimits) {}

  async acquire(key: string, holder: string, max: number): Promise<boolean> {
    this.open();
    return this.shared.acquire(this, key, holder, max);
  }

  async release(key: string, holder: string): Promise<void> {
    if (this.closed) return; // its slots went with the close
    this.shared.release(key, holder);
  }

  async held(key: string): Promise<number> {
    return this.shared.held(key);
  }

  async take(key: string, ratePerSecond: number, burst: number): Promise<boolean> {
    this.open();
    return this.shared.take(key, ratePerSecond, burst);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [key, holders] of [...this.mine]) for (const holder of [...holders]) this.shared.release(key, holder);
    this.shared.forget(this);
  }

  /** @internal a slot was taken through this node */
  taken(key: string, holder: string): void {
    let holders = this.mine.get(key);
    if (!holders) {
      holders = new Set();
      this.mine.set(key, holders);
    }
    holders.add(holder);
  }

  /** @internal a slot this node took was released (through any node) */
  given(key: string, holder: string): void {
    const holders = this.mine.get(key);
    if (!holders) return;
    holders.delete(holder);
    if (holders.size === 0) this.mine.delete(key);
  }

  private open(): void {
    if (this.closed) throw new Error('SharedLimits: this node handle is closed');
  }
}
