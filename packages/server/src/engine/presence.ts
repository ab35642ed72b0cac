/**
 * The PresenceManager keeps who is in a channel, across nodes.
 *
 * Implementations: `MemoryPresenceManager` and, later, a Redis one. Every
 * implementation passes presence.contract.ts.
 */
import type { ClientInfo } from '@tidings/protocol';

export interface PresenceStats {
  /** Connections present. */
  clients: number;
  /** Distinct users among them (anonymous connections count as one user ""). */
  users: number;
}

/**
 * Guarantees every implementation keeps:
 * - `add` is an upsert keyed by `info.client`: adding again refreshes the entry
 *   and replaces its info, never duplicates it.
 * - An entry not refreshed for `ttlMs` (given at construction) disappears, so a
 *   node that dies without cleaning up leaves no ghosts. Nodes refresh their
 *   entries well within the TTL.
 * - `remove` of an absent entry is a no-op.
 * - `get` and `stats` of one channel agree with each other at any single moment.
 */
export interface PresenceManager {
  add(channel: string, info: ClientInfo): Promise<void>;
  remove(channel: string, clientId: string): Promise<void>;
  /** Entries by connection id. */
  get(channel: string): Promise<Record<string, ClientInfo>>;
  stats(channel: string): Promise<PresenceStats>;
  close(): Promise<void>;
}
