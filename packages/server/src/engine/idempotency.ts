/**
 * The IdempotencyStore makes an operation with a key happen once within a window,
 * across nodes: publishes (and, later, notifications) with an idempotency key.
 *
 * Implementations: `MemoryIdempotencyStore` and, later, a Redis one. Every
 * implementation passes idempotency.contract.ts.
 */

export interface IdempotentResult<T> {
  value: T;
  /** True for the call that ran the operation; false for every repeat within the window. */
  fresh: boolean;
}

/** How much a store may hold (config `idempotency.maxKeys` and `idempotency.maxBytes`). */
export interface IdempotencyBounds {
  /** Keys with a settled result held at most. */
  maxKeys?: number;
  /** Approximate bytes of the held keys and their results at most. */
  maxBytes?: number;
}

/**
 * Guarantees every implementation keeps:
 * - Within `windowMs` of the first call, `produce` runs once per key *while the store
 *   still holds the key*; every call, including concurrent ones, resolves with that one result.
 * - A `produce` that fails is forgotten, so a retry with the same key can succeed.
 * - After the window the key is forgotten and the next call runs `produce` again.
 *
 * The store is bounded (`IdempotencyBounds`): past `maxKeys` keys or `maxBytes`, it
 * forgets settled keys, least recently used first, and a repeat of a forgotten key runs
 * `produce` again. That is the trade-off for bounded memory: the guarantee holds for the
 * keys still held, which are at least the most recent ones that fit the bounds. A key
 * whose `produce` is still running is never forgotten, so concurrent repeats cannot run
 * it twice however many other keys arrive meanwhile.
 */
export interface IdempotencyStore {
  once<T>(key: string, windowMs: number, produce: () => Promise<T>): Promise<IdempotentResult<T>>;
  close(): Promise<void>;
}
