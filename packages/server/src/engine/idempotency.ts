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

/**
 * Guarantees every implementation keeps:
 * - Within `windowMs` of the first call, `produce` runs once per key; every call,
 *   including concurrent ones, resolves with that one result.
 * - A `produce` that fails is forgotten, so a retry with the same key can succeed.
 * - After the window the key is forgotten and the next call runs `produce` again.
 */
export interface IdempotencyStore {
  once<T>(key: string, windowMs: number, produce: () => Promise<T>): Promise<IdempotentResult<T>>;
  close(): Promise<void>;
}
