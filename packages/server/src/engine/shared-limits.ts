/**
 * SharedLimits keeps the limits that must hold across every node of a deployment: the open
 * connections of a user or of a client IP, and per-user rates (a namespace's publish
 * `rateLimit`). A node asks before it admits or publishes; the answer counts all nodes.
 *
 * Implementations: memory (shared by the nodes of one process), IPC (`tidings serve
 * --workers`: the primary counts) and, later, Redis. Every implementation passes
 * shared-limits.contract.ts, with one node and with two.
 */

/**
 * Guarantees every implementation keeps:
 * - `acquire(key, holder, max)` takes one slot of `key` for `holder` when fewer than `max`
 *   slots of `key` are held (across all nodes) and resolves true; otherwise false and
 *   nothing is taken. Acquire and the count it checks are one atomic step: however many
 *   nodes race, at most `max` slots are held.
 * - `release(key, holder)` gives the slot back; releasing a slot not held does nothing.
 * - Slots are held on behalf of the node that took them; when that node leaves (closes,
 *   or dies and the deployment notices) its slots are released.
 * - `take(key, ratePerSecond, burst)` is a token bucket per key shared by all nodes: true
 *   when a token was taken.
 */
export interface SharedLimits {
  acquire(key: string, holder: string, max: number): Promise<boolean>;
  release(key: string, holder: string): Promise<void>;
  /** Slots of `key` held now. */
  held(key: string): Promise<number>;
  take(key: string, ratePerSecond: number, burst: number): Promise<boolean>;
  close(): Promise<void>;
}
