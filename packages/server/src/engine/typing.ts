/**
 * The TypingStore keeps who is typing in which channel, across nodes, so the
 * server API can list typing users. Pushes travel through the Broker.
 *
 * Implementations: `MemoryTypingStore` and, later, a Redis one. Every
 * implementation passes typing.contract.ts.
 */

export interface TypingEntry {
  user: string;
  info?: Record<string, unknown>;
  /** When the entry expires unless refreshed, ms since the epoch. */
  expiresAt: number;
}

/**
 * Guarantees every implementation keeps:
 * - One entry per (channel, user); `start` again refreshes its expiry.
 * - An entry disappears at its expiry without any further call.
 * - `start` reports whether the user was not typing before; `stop` whether it was,
 *   so each start and stop is announced once.
 */
export interface TypingStore {
  start(channel: string, user: string, info: Record<string, unknown> | undefined, ttlMs: number): Promise<{ started: boolean }>;
  stop(channel: string, user: string): Promise<{ stopped: boolean }>;
  list(channel: string): Promise<TypingEntry[]>;
  close(): Promise<void>;
}
