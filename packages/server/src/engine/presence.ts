/**
 * The PresenceManager keeps who is in a channel, per connection and per user,
 * across nodes.
 *
 * Implementations: `MemoryPresenceManager` and `RedisPresenceManager`. Every
 * implementation passes presence.contract.ts.
 */
import type { ClientInfo, PresenceClient, PresenceResult, PresenceStatus, PresenceUser } from '@tidings/protocol';

export interface PresenceStats {
  /** Connections present. */
  clients: number;
  /** Distinct users present (a user in the leave grace period still counts). */
  users: number;
}

export interface PresenceAddResult {
  /** True when this is the user's first connection in the channel and the user was not within a leave grace period. */
  userJoined: boolean;
  /** The user's aggregated entry after the add. */
  user: PresenceUser;
  /** True when a user already present changed status or state by this add (a push should follow). */
  changed: boolean;
  /**
   * The channel's presence right after this add, read in the same atomic step: it includes the
   * added connection, every add/remove that completed before this one and none that came after
   * (what a subscribe reply shows, consistent with the join events around it).
   */
  snapshot: PresenceResult;
}

/** One connection's entry to keep alive: what `touch` takes, many at a time. */
export interface PresenceTouch {
  channel: string;
  client: PresenceClient;
}

export interface PresenceRemoveResult {
  /** True when the user has no connection left here: call `settleLeave` after the grace period. */
  lastClient: boolean;
  /** With other connections left: the user's aggregated entry after the removal. */
  user?: PresenceUser;
  /** True when the remaining connections changed the user's status or state (a push should follow). */
  changed: boolean;
}

export interface PresenceUpdateResult {
  /** The user's aggregated entry after the change; undefined when the connection is not present. */
  user: PresenceUser | undefined;
  /** True when the aggregated entry changed (a push should follow). */
  changed: boolean;
}

/**
 * What expiry did to one user of one channel, for a node to announce (see `sweepExpired`): its
 * connections expired (their node died without goodbye), or its leave grace period was never
 * settled (the node that started it died).
 */
export interface PresenceExpiry {
  channel: string;
  /** True: the user is gone from the channel, announce a `leave` (with `info`). */
  userLeft: boolean;
  /** The user's last connection that expired (or that started the abandoned grace period): what a `leave` carries. */
  info: ClientInfo;
  /** With the user still present (other connections): its aggregate now, status or state changed (announce a `presence` push). */
  user?: PresenceUser;
}

export interface PresenceSweep {
  /** Users gone or changed by expiry since the last sweep, at most one entry per channel and user. */
  expired: PresenceExpiry[];
  /** True when the sweep stopped at its limit: more may be due, call again. */
  more: boolean;
}

/**
 * Guarantees every implementation keeps:
 * - `add` is an upsert keyed by `client.client`: adding again refreshes the entry,
 *   replaces its info and keeps its status and state unless given, never duplicates it.
 * - A user's **join** is reported once, by the `add` that brings the user's first
 *   connection while the user is absent. A connection added while the user still
 *   has another one, or within the leave grace period, is not a join.
 * - A user's **leave** happens in two steps: `remove` of the last connection
 *   starts a grace period (the user stays listed with `clients: 0`); after it,
 *   `settleLeave` removes the user and returns true unless a connection came back.
 *   Each leave is reported (true) at most once.
 * - Entries not refreshed (by `add` or `touch`) for `ttlMs` (given at construction)
 *   disappear from every read at once, so a node that dies leaves no ghosts; nodes
 *   refresh their entries well within the TTL, all of them in one `touch`. A leave grace
 *   period not settled within `ttlMs` ends the same way.
 * - What expiry did is reported by `sweepExpired`, **exactly once across all nodes**: each
 *   expired user of a channel is taken (and reported) by one sweep call, whichever node made
 *   it, however many sweep at once; a user that came back before that sweep (an `add` or
 *   `touch`) is not reported gone. Expiry is never reported by `add`, `remove` or a read, and a
 *   refreshed entry never expires.
 * - One state for every node: a user with connections on two nodes is one user
 *   (`clients` counts both), joins once and leaves only after both connections left.
 * - Aggregates: a user is `online` if any of its connections here is online, else
 *   `away`; its `state` is the most recently set state; `lastSeen` is the last
 *   time any of its connections was added, updated, refreshed or removed here.
 * - Reads of one channel are consistent with each other at any single moment.
 */
export interface PresenceManager {
  /**
   * Adds (or refreshes) a connection and returns what the add did together with the channel's
   * presence as it left it (`snapshot`), both from one atomic step: concurrent adds on any nodes
   * are ordered, and each snapshot holds exactly the adds ordered up to and including its own.
   */
  add(channel: string, client: PresenceClient): Promise<PresenceAddResult>;
  /**
   * Keeps many connections' entries alive in one call (a node's periodic refresh of all its
   * entries, across channels): each entry is upserted as `add` would (expiry and the user's
   * `lastSeen` moved, status and info as given, state kept), and an entry that already expired
   * is put back, but nothing is reported (no join, no change). An empty list does nothing.
   */
  touch(entries: readonly PresenceTouch[]): Promise<void>;
  /** Changes a present connection's status and/or state (state `null` clears it). */
  update(channel: string, clientId: string, patch: { status?: PresenceStatus; state?: unknown }): Promise<PresenceUpdateResult>;
  remove(channel: string, clientId: string): Promise<PresenceRemoveResult>;
  /** After the grace period: true when the user is now gone (a leave to announce). */
  settleLeave(channel: string, user: string): Promise<boolean>;
  /** Connections by id. */
  clients(channel: string): Promise<Record<string, PresenceClient>>;
  /** Users, aggregated, sorted by user id. */
  users(channel: string): Promise<PresenceUser[]>;
  stats(channel: string): Promise<PresenceStats>;
  /**
   * Takes what expiry did since the last sweep (any node's) in at most `limit` channels, in one
   * atomic step per channel: users gone (`userLeft`: announce a leave) and users whose remaining
   * connections now aggregate to another status or state (announce a `presence` push). Nothing
   * without an announcement is returned. Each node calls it every ~ttl/3.
   */
  sweepExpired(limit: number): Promise<PresenceSweep>;
  close(): Promise<void>;
}
