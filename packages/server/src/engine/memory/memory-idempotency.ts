import { LRUCache } from 'lru-cache';
import type { IdempotencyBounds, IdempotencyStore, IdempotentResult } from '../idempotency.js';

export interface MemoryIdempotencyOptions extends IdempotencyBounds {
  /** How often keys past their window are dropped (they are refused at once, whatever this interval). */
  sweepIntervalMs?: number;
}

/** Defaults of `idempotency.maxKeys` and `idempotency.maxBytes`. */
export const DEFAULT_IDEMPOTENCY_MAX_KEYS = 100_000;
export const DEFAULT_IDEMPOTENCY_MAX_BYTES = 64 * 1024 * 1024;

/** What a held key costs beside its key and result: the cache's slots, the entry object, the TTL bookkeeping. */
const ENTRY_OVERHEAD_BYTES = 128;
/** Charged for a result that has no JSON form (cycles, BigInt): results here are small objects. */
const OPAQUE_RESULT_BYTES = 256;

/** A settled result (wrapped: the cache holds no `undefined`). */
interface Held {
  value: unknown;
}

/**
 * Idempotency for a single node, bounded in keys and bytes.
 *
 * - While its operation runs, a key sits in `running` (never evicted), holding the
 *   operation's promise: concurrent repeats wait for that one result instead of racing it.
 *   Entries there are as many as operations in flight, which the callers' own limits
 *   (connections, command rates, API body sizes) bound.
 * - Once it succeeds, the result moves to an LRU cache bounded by `maxKeys` and
 *   `maxBytes` (key and result sizes, approximated), for what is left of its window.
 *   Past a bound the least recently used key is forgotten, and a repeat of it runs again.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly running = new Map<string, Promise<unknown>>();
  private readonly held: LRUCache<string, Held>;
  private readonly timer: NodeJS.Timeout;

  constructor(options: MemoryIdempotencyOptions = {}) {
    const maxKeys = options.maxKeys ?? DEFAULT_IDEMPOTENCY_MAX_KEYS;
    const maxBytes = options.maxBytes ?? DEFAULT_IDEMPOTENCY_MAX_BYTES;
    if (!(Number.isInteger(maxKeys) && maxKeys >= 1)) throw new RangeError('MemoryIdempotencyStore: maxKeys must be an integer >= 1');
    if (!(Number.isInteger(maxBytes) && maxBytes >= 1)) throw new RangeError('MemoryIdempotencyStore: maxBytes must be an integer >= 1');
    this.held = new LRUCache<string, Held>({ max: maxKeys, maxSize: maxBytes });
    this.timer = setInterval(() => this.held.purgeStale(), options.sweepIntervalMs ?? 30_000);
    this.timer.unref();
  }

  async once<T>(key: string, windowMs: number, produce: () => Promise<T>): Promise<IdempotentResult<T>> {
    const running = this.running.get(key);
    if (running) return { value: (await running) as T, fresh: false };
    // A stale key reads as absent (the cache checks its TTL on get).
    const held = this.held.get(key);
    if (held) return { value: held.value as T, fresh: false };
    const expiresAt = Date.now() + windowMs;
    // Through a promise, so a producer that throws at once is handled like one that rejects.
    const promise = Promise.resolve().then(produce);
    this.running.set(key, promise);
    let value: T;
    try {
      value = await promise;
    } catch (err) {
      // Forgotten, so a retry can succeed.
      this.running.delete(key);
      throw err;
    }
    // Moved in one synchronous step: a repeat finds the key in one place or the other.
    const ttl = expiresAt - Date.now();
    if (ttl > 0) this.held.set(key, { value }, { ttl, size: entryBytes(key, value) });
    this.running.delete(key);
    return { value, fresh: true };
  }

  /** Keys held now: settled ones (at most `maxKeys`) plus those whose operation is running. */
  get size(): number {
    return this.held.size + this.running.size;
  }

  /** Approximate bytes of the settled keys and results (at most `maxBytes`). */
  get bytes(): number {
    return this.held.calculatedSize;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.held.clear();
    this.running.clear();
  }
}

/** Approximate heap bytes of a held key: UTF-16 strings, the result as its JSON size. */
function entryBytes(key: string, value: unknown): number {
  let valueBytes = OPAQUE_RESULT_BYTES;
  try {
    const json = JSON.stringify(value);
    if (json !== undefined) valueBytes = json.length * 2;
  } catch {
    // No JSON form: charged the flat amount.
  }
  return ENTRY_OVERHEAD_BYTES + key.length * 2 + valueBytes;
}
