/**
 * What the presence feature asks of the engine, through `cluster/presence-writes.ts`: channel
 * presence, user status and typing, written and read by intent. The feature holds no engine
 * store; `node.ts` hands it the cluster part, which fits this shape.
 */
import type { PresenceClient, PresenceStatus } from '@tidings/protocol';
import type { PresenceAddResult, PresenceExpiry, PresenceRemoveResult, PresenceTouch, PresenceUpdateResult } from '../engine/presence.js';
import type { TypingEntry } from '../engine/typing.js';
import type { AddConnectionResult, UserStatusEntry } from '../engine/user-status.js';

/** A node's periodic refresh: every entry it holds, sent as one batch per kind. */
export interface PresenceRefresh {
  /** Connections in channels' presence. */
  presence: PresenceTouch[];
  /** Connections counted in their user's status. */
  status: { user: string; client: string }[];
  /** Connections typing in a channel, with the expiry to extend to. */
  typing: { channel: string; user: string; info: Record<string, unknown> | undefined; ttlMs: number }[];
}

/** What expiry did since the last sweep (any node's), each reported to exactly one node. */
export interface PresenceSweepResult {
  /** Users gone from a channel, or changed there, by expiry. */
  presence: PresenceExpiry[];
  /** Users whose global status expiry changed (offline, or away). */
  status: UserStatusEntry[];
  /** True when a limit stopped the sweep: more may be due. */
  more: boolean;
}

export interface PresenceState {
  /** Adds the connection to the channel's presence; the result carries the snapshot the add produced. */
  enter(channel: string, client: PresenceClient): Promise<PresenceAddResult>;
  update(channel: string, clientId: string, patch: { status?: PresenceStatus; state?: unknown }): Promise<PresenceUpdateResult>;
  leave(channel: string, clientId: string): Promise<PresenceRemoveResult>;
  settleLeave(channel: string, user: string): Promise<boolean>;
  /** Counts the connection in its user's status, within `limit` connections per user (0: none). */
  connect(user: string, client: string, status: PresenceStatus, info: Record<string, unknown> | undefined, limit: number): Promise<AddConnectionResult>;
  setStatus(user: string, client: string, status: PresenceStatus): Promise<UserStatusEntry | undefined>;
  disconnect(user: string, client: string): Promise<{ lastConnection: boolean }>;
  settleOffline(user: string): Promise<UserStatusEntry | undefined>;
  /** A user's global status (what a new follower is told at once). */
  status(user: string): Promise<UserStatusEntry>;
  startTyping(channel: string, user: string, info: Record<string, unknown> | undefined, ttlMs: number): Promise<{ started: boolean }>;
  stopTyping(channel: string, user: string): Promise<{ stopped: boolean }>;
  typingUsers(channel: string): Promise<TypingEntry[]>;
  /** Keeps all of a node's entries alive: one engine call per kind, none for an empty kind. */
  refresh(batch: PresenceRefresh): Promise<void>;
  /** Takes what expiry did (a dead node's connections) in at most `limit` channels and `limit` users. */
  sweep(limit: number): Promise<PresenceSweepResult>;
}
