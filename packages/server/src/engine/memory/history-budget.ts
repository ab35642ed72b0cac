/**
 * Byte accounting of the memory broker's stored publications: node-wide, per
 * shared budget (namespace) and per owner (user), with eviction of the oldest
 * publications first across channels.
 *
 * Every stored item sits in its stream's array (oldest first) and in one FIFO per
 * budget it counts against, in publish order. Items that leave a stream for any
 * other reason (size, ttl, removal) are only marked `gone`; the FIFOs skip them
 * when evicting and drop them when they make up more than half of the queue, so
 * each item costs O(1) amortized in every queue.
 */
import type { ClientInfo } from '@tidings/protocol';
import { HistoryBudgetError, type HistoryOptions, type PublishOptions } from '../broker.js';

export interface StoredItem {
  offset: number;
  /** The data's JSON: what history holds (the data object itself is not kept). */
  json: string;
  info: ClientInfo | undefined;
  /** The publication's event name, when it has one. */
  event?: string;
  expiresAt: number;
  bytes: number;
  /** Oldest first; the item is in it while not `gone`. */
  streamItems: StoredItem[];
  pool: Pool | undefined;
  owner: Owner | undefined;
  gone: boolean;
}

interface Owner {
  id: string;
  bytes: number;
}

/** A budget over many channels: the node's, or a namespace's. */
class Pool {
  bytes = 0;
  maxBytes: number;
  private queue: StoredItem[] = [];
  private head = 0;
  private dead = 0;

  constructor(
    readonly name: string,
    maxBytes: number,
  ) {
    this.maxBytes = maxBytes;
  }

  push(item: StoredItem): void {
    this.queue.push(item);
  }

  /** An item of this pool left history. */
  released(bytes: number): void {
    this.bytes -= bytes;
    this.dead++;
    if (this.dead > 1024 && this.dead * 2 > this.queue.length - this.head) this.compact();
  }

  /** The oldest item still stored, taken off the queue. */
  takeOldest(): StoredItem | undefined {
    const queue = this.queue;
    let found: StoredItem | undefined;
    while (this.head < queue.length && !found) {
      const item = queue[this.head]!;
      // The slot lets go of the item: a taken item must not stay reachable from here.
      (queue as (StoredItem | undefined)[])[this.head++] = undefined;
      if (!item.gone) found = item;
      else this.dead--;
    }
    // Drop the consumed front once it is most of the array (amortized O(1) per item).
    if (this.head > 1024 && this.head * 2 > queue.length) {
      this.queue = queue.slice(this.head);
      this.head = 0;
    }
    return found;
  }

  /** Array slots the queue holds, consumed ones included (tests: bounded by twice the live items, plus 1024). */
  get slots(): number {
    return this.queue.length;
  }

  /** `released` was called for an item `takeOldest` had already taken off the queue. */
  releasedTaken(): void {
    if (this.dead > 0) this.dead--;
  }

  get empty(): boolean {
    return this.bytes <= 0;
  }

  private compact(): void {
    const live: StoredItem[] = [];
    for (let i = this.head; i < this.queue.length; i++) if (!this.queue[i]!.gone) live.push(this.queue[i]!);
    this.queue = live;
    this.head = 0;
    this.dead = 0;
  }
}

export class HistoryBudget {
  private readonly node: Pool;
  private readonly shared = new Map<string, Pool>();
  private readonly owners = new Map<string, Owner>();
  publications = 0;
  evictedByNodeBudget = 0;
  evictedByNamespaceBudget = 0;

  /** `maxBytes` 0: no node-wide budget. `onRelease`: told of every item that leaves history (a durable copy trims it too). */
  constructor(
    maxBytes: number,
    private readonly onRelease?: (item: StoredItem) => void,
  ) {
    this.node = new Pool('', maxBytes > 0 ? maxBytes : Infinity);
  }

  get bytes(): number {
    return this.node.bytes;
  }

  /**
   * Throws HistoryBudgetError when the publication may not be stored: larger than a
   * budget on its own, or over its owner's budget. Changes nothing.
   */
  check(bytes: number, history: HistoryOptions, options: PublishOptions): void {
    if (bytes > this.node.maxBytes) throw new HistoryBudgetError('node', this.node.maxBytes, bytes, true);
    const shared = history.shared;
    if (shared && shared.maxBytes > 0 && bytes > shared.maxBytes) throw new HistoryBudgetError('namespace', shared.maxBytes, bytes, true);
    const owner = options.owner;
    if (owner && owner.maxBytes > 0) {
      if (bytes > owner.maxBytes) throw new HistoryBudgetError('user', owner.maxBytes, bytes, true);
      const held = this.owners.get(owner.id)?.bytes ?? 0;
      if (held + bytes > owner.maxBytes) throw new HistoryBudgetError('user', owner.maxBytes, bytes, false);
    }
  }

  /** Accounts an item just appended to its stream; evicts the oldest items over a budget (never this one). */
  add(item: StoredItem, history: HistoryOptions, options: PublishOptions): void {
    this.publications++;
    this.node.bytes += item.bytes;
    this.node.push(item);
    const shared = history.shared;
    if (shared && shared.maxBytes > 0) {
      let pool = this.shared.get(shared.name);
      if (!pool) {
        pool = new Pool(shared.name, shared.maxBytes);
        this.shared.set(shared.name, pool);
      }
      pool.maxBytes = shared.maxBytes;
      pool.bytes += item.bytes;
      pool.push(item);
      item.pool = pool;
      while (pool.bytes > pool.maxBytes && this.evictOldest(pool)) this.evictedByNamespaceBudget++;
    }
    const owner = options.owner;
    if (owner && owner.maxBytes > 0) {
      let account = this.owners.get(owner.id);
      if (!account) {
        account = { id: owner.id, bytes: 0 };
        this.owners.set(owner.id, account);
      }
      account.bytes += item.bytes;
      item.owner = account;
    }
    while (this.node.bytes > this.node.maxBytes && this.evictOldest(this.node)) this.evictedByNodeBudget++;
  }

  /** An item left its stream (size, ttl, removal, eviction): its bytes count no more. */
  release(item: StoredItem): void {
    if (item.gone) return;
    item.gone = true;
    this.onRelease?.(item);
    this.publications--;
    this.node.released(item.bytes);
    const pool = item.pool;
    if (pool) {
      pool.released(item.bytes);
      // A namespace pool with nothing stored is dropped (a reload may have removed the namespace).
      if (pool.empty && this.shared.get(pool.name) === pool) this.shared.delete(pool.name);
    }
    const owner = item.owner;
    if (owner) {
      owner.bytes -= item.bytes;
      if (owner.bytes <= 0) this.owners.delete(owner.id);
    }
  }

  /** Slots of the node-wide eviction queue (tests: it must not keep evicted items). */
  get queueSlots(): number {
    return this.node.slots;
  }

  /** Held bytes of one owner (tests, inspection). */
  ownerBytes(id: string): number {
    return this.owners.get(id)?.bytes ?? 0;
  }

  /** Evicts the pool's oldest stored item from its stream; false when the pool holds none. */
  private evictOldest(pool: Pool): boolean {
    const item = pool.takeOldest();
    if (!item) return false;
    // A stream loses items only from its oldest end, so the pool's oldest is its stream's oldest.
    const items = item.streamItems;
    if (items[0] === item) items.shift();
    else {
      const i = items.indexOf(item);
      if (i >= 0) items.splice(i, 1);
    }
    this.release(item);
    pool.releasedTaken();
    return true;
  }
}
