import type { ClientInfo, PresenceClient, PresenceStatus, PresenceUser } from '@tidings/protocol';
import type { PresenceAddResult, PresenceExpiry, PresenceManager, PresenceRemoveResult, PresenceStats, PresenceSweep, PresenceTouch, PresenceUpdateResult } from '../presence.js';

export interface MemoryPresenceOptions {
  /** An entry not refreshed by `add` or `touch` for this long disappears. */
  ttlMs: number;
  /** Clock, for tests. */
  now?: () => number;
}

interface ClientEntry {
  client: PresenceClient;
  expiresAt: number;
  /** When its state was last set; the newest state wins in the user's aggregate. */
  stateAt: number;
}

interface UserEntry {
  clients: Set<string>;
  info?: Record<string, unknown>;
  lastSeen: number;
  /** Set while the user has no connection and waits out the leave grace period. */
  leavingSince?: number;
  /** The aggregate as it was when the last connection left, shown during the grace period. */
  last?: { status: PresenceStatus; state?: unknown };
  /** The connection whose removal started the grace period (what a leave after it carries). */
  lastClient?: ClientInfo;
}

/** What expiry did to a user, kept until a sweep reports it. */
interface Expired {
  /** Gone by expiry, and not back since. */
  left: boolean;
  /** The last connection of the user that expired. */
  info: ClientInfo;
  /** The user's visible aggregate before its first unreported expiry (what watchers were told). */
  before: string;
}

interface ChannelEntry {
  clients: Map<string, ClientEntry>;
  users: Map<string, UserEntry>;
  /** By user: expiries not reported by a sweep yet. */
  expired: Map<string, Expired>;
}

/**
 * Presence in this process's memory: one instance is the state every node sharing it sees (the
 * memory cluster hands the same instance to each node). Expired entries are dropped when their
 * channel is next read, written or swept, and what that did is kept for the next sweep (which
 * looks at every channel: cheap in memory).
 */
export class MemoryPresenceManager implements PresenceManager {
  private readonly channels = new Map<string, ChannelEntry>();
  private readonly now: () => number;

  constructor(private readonly options: MemoryPresenceOptions) {
    this.now = options.now ?? Date.now;
  }

  async add(channel: string, client: PresenceClient): Promise<PresenceAddResult> {
    const ch = this.channel(channel, true)!;
    const present = ch.users.get(client.user);
    const before = present ? visible(aggregate(client.user, present, ch)) : undefined;
    const { userJoined, user } = this.upsert(ch, client);
    const after = aggregate(client.user, user, ch);
    // Read in the same synchronous step as the add: nothing else runs in between.
    return { userJoined, user: after, changed: before !== undefined && visible(after) !== before, snapshot: { clients: clientsOf(ch), users: usersOf(ch) } };
  }

  async touch(entries: readonly PresenceTouch[]): Promise<void> {
    for (const { channel, client } of entries) this.upsert(this.channel(channel, true)!, client);
  }

  /** Adds or refreshes one connection: its entry's expiry, info and status; state kept unless given. */
  private upsert(ch: ChannelEntry, client: PresenceClient): { userJoined: boolean; user: UserEntry } {
    const now = this.now();
    const existing = ch.clients.get(client.client);
    const merged: PresenceClient = existing ? { ...existing.client, ...client } : client;
    if (existing && !('state' in client) && 'state' in existing.client) merged.state = existing.client.state;
    ch.clients.set(client.client, { client: merged, expiresAt: now + this.options.ttlMs, stateAt: existing?.stateAt ?? now });
    let user = ch.users.get(client.user);
    const userJoined = !user;
    if (!user) {
      user = { clients: new Set(), lastSeen: now };
      ch.users.set(client.user, user);
    }
    user.clients.add(client.client);
    user.lastSeen = now;
    // Back before a sweep reported it gone: it is not.
    const expired = ch.expired.get(client.user);
    if (expired) expired.left = false;
    delete user.leavingSince;
    delete user.last;
    if (client.info) user.info = client.info;
    return { userJoined, user };
  }

  async update(channel: string, clientId: string, patch: { status?: PresenceStatus; state?: unknown }): Promise<PresenceUpdateResult> {
    const ch = this.channel(channel, false);
    const entry = ch?.clients.get(clientId);
    if (!ch || !entry) return { user: undefined, changed: false };
    const user = ch.users.get(entry.client.user)!;
    const before = visible(aggregate(entry.client.user, user, ch));
    if (patch.status !== undefined) entry.client.status = patch.status;
    if ('state' in patch) {
      if (patch.state === null || patch.state === undefined) delete entry.client.state;
      else entry.client.state = patch.state;
      entry.stateAt = this.now();
    }
    user.lastSeen = this.now();
    const after = aggregate(entry.client.user, user, ch);
    return { user: after, changed: visible(after) !== before };
  }

  async remove(channel: string, clientId: string): Promise<PresenceRemoveResult> {
    const ch = this.channel(channel, false);
    const entry = ch?.clients.get(clientId);
    if (!ch || !entry) return { lastClient: false, changed: false };
    const userId = entry.client.user;
    const user = ch.users.get(userId)!;
    const snapshot = aggregate(userId, user, ch);
    ch.clients.delete(clientId);
    user.clients.delete(clientId);
    user.lastSeen = this.now();
    if (user.clients.size > 0) {
      const after = aggregate(userId, user, ch);
      return { lastClient: false, user: after, changed: visible(after) !== visible(snapshot) };
    }
    user.leavingSince = this.now();
    user.last = snapshot.state === undefined ? { status: snapshot.status } : { status: snapshot.status, state: snapshot.state };
    user.lastClient = clientInfo(entry.client);
    return { lastClient: true, changed: false };
  }

  async settleLeave(channel: string, userId: string): Promise<boolean> {
    const ch = this.channel(channel, false);
    const user = ch?.users.get(userId);
    if (!ch || !user || user.clients.size > 0 || user.leavingSince === undefined) return false;
    ch.users.delete(userId);
    this.dropIfEmpty(channel, ch);
    return true;
  }

  async clients(channel: string): Promise<Record<string, PresenceClient>> {
    const ch = this.channel(channel, false);
    return ch ? clientsOf(ch) : {};
  }

  async users(channel: string): Promise<PresenceUser[]> {
    const ch = this.channel(channel, false);
    return ch ? usersOf(ch) : [];
  }

  async stats(channel: string): Promise<PresenceStats> {
    const ch = this.channel(channel, false);
    return ch ? { clients: ch.clients.size, users: ch.users.size } : { clients: 0, users: 0 };
  }

  async sweepExpired(limit: number): Promise<PresenceSweep> {
    const expired: PresenceExpiry[] = [];
    let taken = 0;
    for (const name of [...this.channels.keys()]) {
      const ch = this.channel(name, false);
      if (!ch || ch.expired.size === 0) continue;
      if (taken >= limit) return { expired, more: true };
      taken++;
      for (const [id, e] of ch.expired) {
        const user = ch.users.get(id);
        const now = user ? aggregate(id, user, ch) : undefined;
        if (now && visible(now) !== e.before) expired.push({ channel: name, userLeft: false, info: e.info, user: now });
        else if (!user && e.left) expired.push({ channel: name, userLeft: true, info: e.info });
      }
      ch.expired.clear();
      this.dropIfEmpty(name, ch);
    }
    return { expired, more: false };
  }

  async close(): Promise<void> {
    this.channels.clear();
  }

  /** The channel's entry with expired connections and abandoned grace periods dropped. */
  private channel(channel: string, create: boolean): ChannelEntry | undefined {
    let ch = this.channels.get(channel);
    if (!ch) {
      if (!create) return undefined;
      ch = { clients: new Map(), users: new Map(), expired: new Map() };
      this.channels.set(channel, ch);
      return ch;
    }
    const now = this.now();
    for (const [id, entry] of ch.clients) {
      if (entry.expiresAt > now) continue;
      const userId = entry.client.user;
      const user = ch.users.get(userId);
      if (user && !ch.expired.has(userId)) ch.expired.set(userId, { left: false, info: clientInfo(entry.client), before: visible(aggregate(userId, user, ch)) });
      ch.clients.delete(id);
      if (!user) continue;
      user.clients.delete(id);
      const expired = ch.expired.get(userId)!;
      expired.info = clientInfo(entry.client);
      // A node that died leaves no ghost: the user disappears with its last expired connection.
      if (user.clients.size === 0 && user.leavingSince === undefined) {
        ch.users.delete(userId);
        expired.left = true;
      }
    }
    for (const [id, user] of ch.users) {
      if (user.leavingSince === undefined || now - user.leavingSince <= this.options.ttlMs) continue;
      // Its grace period was never settled (the node that started it died): a leave all the same.
      const before = ch.expired.get(id)?.before ?? visible(aggregate(id, user, ch));
      ch.expired.set(id, { left: true, info: user.lastClient ?? { user: id, client: '' }, before });
      ch.users.delete(id);
    }
    if (!create && this.dropIfEmpty(channel, ch)) return undefined;
    return ch;
  }

  private dropIfEmpty(channel: string, ch: ChannelEntry): boolean {
    if (ch.clients.size > 0 || ch.users.size > 0 || ch.expired.size > 0) return false;
    this.channels.delete(channel);
    return true;
  }
}

/** Copies: a snapshot does not change with later updates of the stored entries. */
function clientsOf(ch: ChannelEntry): Record<string, PresenceClient> {
  const out: Record<string, PresenceClient> = {};
  for (const [id, entry] of ch.clients) out[id] = { ...entry.client };
  return out;
}

function usersOf(ch: ChannelEntry): PresenceUser[] {
  return [...ch.users.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, user]) => aggregate(id, user, ch));
}

/** What a leave tells of a connection. */
function clientInfo(client: PresenceClient): ClientInfo {
  return client.info ? { user: client.user, client: client.client, info: client.info } : { user: client.user, client: client.client };
}

/** What a change of which a push must tell consists of: status and state. */
function visible(user: PresenceUser): string {
  return JSON.stringify([user.status, user.state ?? null]);
}

function aggregate(id: string, user: UserEntry, ch: ChannelEntry): PresenceUser {
  const out: PresenceUser = { user: id, status: 'away', lastSeen: user.lastSeen, clients: user.clients.size };
  if (user.info) out.info = user.info;
  if (user.clients.size === 0) {
    out.status = user.last?.status ?? 'away';
    if (user.last && 'state' in user.last) out.state = user.last.state;
    return out;
  }
  let stateAt = -1;
  for (const clientId of user.clients) {
    const entry = ch.clients.get(clientId);
    if (!entry) continue;
    if (entry.client.status === 'online') out.status = 'online';
    if ('state' in entry.client && entry.stateAt > stateAt) {
      stateAt = entry.stateAt;
      out.state = entry.client.state;
    }
  }
  return out;
}
