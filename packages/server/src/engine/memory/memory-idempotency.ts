/**
 * The memory broker's idempotency keys: what a publish with `PublishOptions.idempotency`
 * remembers, bounded in keys and bytes.
 *
 * The broker checks and remembers a key in the same synchronous step as the history append
 * (see `MemoryStreams.publish`), so no publish is ever "in flight" here: a repeat, however
 * concurrent, finds the key or publishes first. Only outcomes of publishes that succeeded are
 * remembered, so a refused publish can be retried.
 */
import { LRUCache } from 'lru-cache';

/** How much the store may hold (config `idempotency.maxKeys` and `idempotency.maxBytes`). */
export interface IdempotencyBounds {
  /** Keys held at most. */
  maxKeys?: number;
  /** Approximate bytes of the held keys and their outcomes at most. */
  maxBytes?: number;
}

export interface MemoryIdempotencyOptions extends IdempotencyBounds {
  /** How often keys past their window are dropped (they read as absent at once, whatever this interval). */
  sweepIntervalMs?: number;
}

/** Defaults of `idempotency.maxKeys` and `idempotency.maxBytes`. */
export const DEFAULT_IDEMPOTENCY_MAX_KEYS = 100_000;
export const DEFAULT_IDEMPOTENCY_MAX_BYTES = 64 * 1024 * 1024;

/** What a held key costs beside its key and outcome: the cache's slots, the entry object, the TTL bookkeeping. */
const ENTRY_OVERHEAD_BYTES = 128;
/** Charged for an outcome that has no JSON form. */
const OPAQUE_RESULT_BYTES = 256;

/** A held outcome (wrapped: the cache holds no `undefined`). */
interface Held<T> {
  value: T;
}

/**
 * Keys with the outcome of their first use, each for its window, in an LRU cache bounded by
 * `maxKeys` and `maxBytes` (key and outcome sizes, approximated). Past a bound the least
 * recently used key is forgotten, and a repeat of it runs again: the guarantee holds for the
 * keys still held, at least the most recent ones that fit.
 */
export class MemoryIdempotency<T> {
  private readonly held: LRUCache<string, Held<T>>;
  private readonly timer: NodeJS.Timeout;

  constructor(options: MemoryIdempotencyOptions = {}) {
    const maxKeys = options.maxKeys ?? DEFAULT_IDEMPOTENCY_MAX_KEYS;
    const maxBytes = options.maxBytes ?? DEFAULT_IDEMPOTENCY_MAX_BYTES;
    if (!(Number.isInteger(maxKeys) && maxKeys >= 1)) throw new RangeError('MemoryIdempotency: maxKeys must be an integer >= 1');
    if (!(Number.isInteger(maxBytes) && maxBytes >= 1)) throw new RangeError('MemoryIdempotency: maxBytes must be an integer >= 1');
    this.held = new LRUCache<string, Held<T>>({ max: maxKeys, maxSize: maxBytes });
    this.timer = setInterval(() => this.held.purgeStale(), options.sweepIntervalMs ?? 30_000);
    this.timer.unref();
  }

  /** The outcome remembered for `key`, if its window is still open. */
  get(key: string): T | undefined {
    // A stale key reads as absent (the cache checks its TTL on get).
    return this.held.get(key)?.value;
  }

  /** Remembers `value` for `key` during `windowMs`. */
  set(key: string, value: T, windowMs: number): void {
    if (windowMs > 0) this.held.set(key, { value }, { ttl: windowMs, size: entryBytes(key, value) });
  }

  /** Keys held now (at most `maxKeys`). */
  get size(): number {
    return this.held.size;
  }

  /** Approximate bytes of the held keys and outcomes (at most `maxBytes`). */
  get bytes(): number {
    return this.held.calculatedSize;
  }

  close(): void {
    clearInterval(this.timer);
    this.held.clear();
  }
}

/** Approximate heap bytes of a held key: UTF-16 strings, the outcome as its JSON size. */
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
