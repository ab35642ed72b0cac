/**
 * The UserStatusStore keeps every user's global status across channels and
 * nodes, and counts each user's connections (for the per-user limit).
 *
 * Implementations: `MemoryUserStatusStore` and `RedisUserStatusStore`. Every
 * implementation passes user-status.contract.ts.
 */
import type { PresenceStatus, UserStatusValue } from '@tidings/protocol';

export interface UserStatusEntry {
  user: string;
  /** `online` if any connection is online, `away` if all are away, `offline` with none (after the grace period). */
  status: UserStatusValue;
  /** Last time the user was seen connected, ms since the epoch; absent if never seen. */
  lastSeen?: number;
  /** The token's `info` of the user's latest connection. */
  info?: Record<string, unknown>;
  /** Open connections. */
  connections: number;
  /**
   * Set on the entries `settleOffline` and `sweepExpired` return when the user went offline from
   * online or away as its `cameOnline` edges count them (webhooks' `user.offline`): see below.
   */
  wentOffline?: true;
}

export interface AddConnectionResult {
  /** False when the user already had `limit` connections: nothing was added. */
  accepted: boolean;
  /** The user's connections after the call. */
  connections: number;
  /** The user's entry, when its status changed (e.g. offline → online). */
  changed?: UserStatusEntry;
  /** True when this add took the user from offline to online or away (webhooks' `user.online`): see below. */
  cameOnline?: true;
}

export interface UserListPage {
  users: UserStatusEntry[];
  /** Pass as `cursor` for the next page; absent on the last page. */
  nextCursor?: string;
}

export interface UserCounts {
  /** Users online or away: at least one connection open on some node (or in the offline grace period). */
  connected: number;
  /** Users connected now or seen within `lastSeenTtlMs`. */
  known: number;
}

export interface UserStatusSweep {
  /** Users whose status expiry changed, as they are now; each reported once. */
  changed: UserStatusEntry[];
  /** True when the sweep stopped at its limit: more may be due, call again. */
  more: boolean;
}

/**
 * Guarantees every implementation keeps:
 * - `addConnection` checks the limit and adds in one atomic step: concurrent adds
 *   from several nodes never take a user past `limit` (0 means no limit).
 * - Going offline takes two steps: `removeConnection` of the last connection starts
 *   a grace period (status unchanged); `settleOffline` afterwards turns the user
 *   `offline` unless a connection came back, and reports that change once.
 * - `lastSeen` survives the user going offline (kept for `lastSeenTtlMs`).
 * - Connections not refreshed (by `addConnection` or `touch`) for `ttlMs` disappear (a dead
 *   node leaves no ghosts); nodes refresh all their connections in one `touch`. An offline grace
 *   period not settled within `ttlMs` (its node died) ends with the user offline.
 * - A status changed by expiry (offline: the last connection expired or the grace period was
 *   abandoned; away: the online connections expired) is reported by `sweepExpired`, **exactly
 *   once across all nodes**, however many sweep at once; a user whose status is back to what it
 *   was before the expiry (it reconnected first) is not reported. Nothing else reports it.
 * - One state for every node: a user is online while any node holds an online connection
 *   of it, and the limit counts the user's connections on every node.
 * - Edges for webhooks: `cameOnline` (an add) and `wentOffline` (a settle, or a sweep that found
 *   the user offline by expiry) strictly alternate per user, each reported **once across all
 *   nodes**, starting with `cameOnline`. A connection that comes back within the grace period, or
 *   before a sweep reported its expiry, gives neither; online ↔ away gives neither.
 * - `listOnline` returns users that are online or away, sorted by user id, and a
 *   cursor walk visits each such user once.
 * - `countUsers` counts each user once however many nodes hold its connections: `connected`
 *   as `countOnline`, `known` adds the offline users whose `lastSeen` is still kept.
 */
export interface UserStatusStore {
  addConnection(user: string, client: string, status: PresenceStatus, info: Record<string, unknown> | undefined, limit: number): Promise<AddConnectionResult>;
  /** Changes one connection's status; returns the user's entry when the user's status changed. */
  setStatus(user: string, client: string, status: PresenceStatus): Promise<UserStatusEntry | undefined>;
  /** True when it was the user's last connection: call `settleOffline` after the grace period. */
  removeConnection(user: string, client: string): Promise<{ lastConnection: boolean }>;
  /** After the grace period: the user's entry if the user is now offline (a change to announce). */
  settleOffline(user: string): Promise<UserStatusEntry | undefined>;
  /**
   * Keeps many connections from expiring in one call (a node's periodic refresh of all its
   * connections) and moves their users' `lastSeen`. A connection that is not held (removed, or
   * already expired) is skipped, not put back: the limit counted at `addConnection` stays true.
   * An empty list does nothing.
   */
  touch(entries: readonly { user: string; client: string }[]): Promise<void>;
  get(user: string): Promise<UserStatusEntry>;
  listOnline(query: { cursor?: string; limit: number }): Promise<UserListPage>;
  countOnline(): Promise<number>;
  /**
   * Users across the whole deployment: `connected`, those online or away (what `countOnline`
   * counts: a connection open on any node, or its offline grace period not over), and `known`,
   * those connected or offline with a `lastSeen` still kept (seen within `lastSeenTtlMs`).
   */
  countUsers(): Promise<UserCounts>;
  /**
   * Takes the status changes expiry made since the last sweep (any node's) for at most `limit`
   * users, each in one atomic step: the users' entries as they are now (`offline` with
   * `lastSeen`, or `away`). Each node calls it every ~ttl/3.
   */
  sweepExpired(limit: number): Promise<UserStatusSweep>;
  close(): Promise<void>;
}
