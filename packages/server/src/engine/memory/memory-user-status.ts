import type { PresenceStatus } from '@tidings/protocol';
import type { AddConnectionResult, UserCounts, UserListPage, UserStatusEntry, UserStatusStore, UserStatusSweep } from '../user-status.js';

export interface MemoryUserStatusOptions {
  /** A connection not refreshed for this long disappears. */
  ttlMs: number;
  /** How long `lastSeen` of an offline user is kept. */
  lastSeenTtlMs: number;
  now?: () => number;
}

interface UserRecord {
  connections: Map<string, { status: PresenceStatus; expiresAt: number }>;
  info?: Record<string, unknown>;
  lastSeen?: number;
  /** Set while the user waits out the offline grace period. */
  leaving?: { since: number; status: PresenceStatus };
  offline: boolean;
  /** The status before expiry changed it, until a sweep reports the change. */
  expiredFrom?: UserStatusEntry['status'];
  /** Online as the `cameOnline` / `wentOffline` edges count it (reported online, not yet reported offline). */
  edgeOnline?: boolean;
}

/** User status in this process's memory: one instance is the state every node sharing it sees. */
export class MemoryUserStatusStore implements UserStatusStore {
  private readonly users = new Map<string, UserRecord>();
  private readonly now: () => number;

  constructor(private readonly options: MemoryUserStatusOptions) {
    this.now = options.now ?? Date.now;
  }

  async addConnection(user: string, client: string, status: PresenceStatus, info: Record<string, unknown> | undefined, limit: number): Promise<AddConnectionResult> {
    const rec = this.record(user, true)!;
    if (limit > 0 && !rec.connections.has(client) && rec.connections.size >= limit) return { accepted: false, connections: rec.connections.size };
    const before = statusOf(rec);
    const now = this.now();
    rec.connections.set(client, { status, expiresAt: now + this.options.ttlMs });
    rec.lastSeen = now;
    rec.offline = false;
    delete rec.leaving;
    if (info) rec.info = info;
    const result: AddConnectionResult = { accepted: true, connections: rec.connections.size };
    if (statusOf(rec) !== before) result.changed = entry(user, rec);
    if (!rec.edgeOnline) {
      rec.edgeOnline = true;
      result.cameOnline = true;
    }
    return result;
  }

  async setStatus(user: string, client: string, status: PresenceStatus): Promise<UserStatusEntry | undefined> {
    const rec = this.record(user, false);
    const conn = rec?.connections.get(client);
    if (!rec || !conn) return undefined;
    const before = statusOf(rec);
    conn.status = status;
    rec.lastSeen = this.now();
    return statusOf(rec) !== before ? entry(user, rec) : undefined;
  }

  async removeConnection(user: string, client: string): Promise<{ lastConnection: boolean }> {
    const rec = this.record(user, false);
    if (!rec || !rec.connections.has(client)) return { lastConnection: false };
    const before = statusOf(rec);
    rec.connections.delete(client);
    rec.lastSeen = this.now();
    if (rec.connections.size > 0) return { lastConnection: false };
    rec.leaving = { since: this.now(), status: before === 'offline' ? 'away' : before };
    return { lastConnection: true };
  }

  async settleOffline(user: string): Promise<UserStatusEntry | undefined> {
    const rec = this.record(user, false);
    if (!rec || rec.connections.size > 0 || !rec.leaving) return undefined;
    delete rec.leaving;
    rec.offline = true;
    return this.offlineEntry(user, rec);
  }

  async touch(entries: readonly { user: string; client: string }[]): Promise<void> {
    for (const { user, client } of entries) {
      const rec = this.record(user, false);
      const conn = rec?.connections.get(client);
      if (!rec || !conn) continue;
      const now = this.now();
      conn.expiresAt = now + this.options.ttlMs;
      rec.lastSeen = now;
    }
  }

  async get(user: string): Promise<UserStatusEntry> {
    const rec = this.record(user, false);
    return rec ? entry(user, rec) : { user, status: 'offline', connections: 0 };
  }

  async listOnline(query: { cursor?: string; limit: number }): Promise<UserListPage> {
    const ids = [...this.users.keys()]
      .filter((id) => (query.cursor === undefined || id > query.cursor) && statusOf(this.record(id, false)) !== 'offline')
      .sort();
    const page = ids.slice(0, query.limit);
    const out: UserListPage = { users: page.map((id) => entry(id, this.users.get(id)!)) };
    if (ids.length > query.limit) out.nextCursor = page[page.length - 1]!;
    return out;
  }

  async countOnline(): Promise<number> {
    let n = 0;
    for (const id of [...this.users.keys()]) if (statusOf(this.record(id, false)) !== 'offline') n++;
    return n;
  }

  async countUsers(): Promise<UserCounts> {
    const counts: UserCounts = { connected: 0, known: 0 };
    const now = this.now();
    for (const id of [...this.users.keys()]) {
      const rec = this.record(id, false);
      if (!rec) continue;
      if (statusOf(rec) !== 'offline') counts.connected++;
      // A record kept only for a sweep still to report it is not seen within the ttl.
      if (statusOf(rec) !== 'offline' || (rec.lastSeen !== undefined && now - rec.lastSeen <= this.options.lastSeenTtlMs)) counts.known++;
    }
    return counts;
  }

  async sweepExpired(limit: number): Promise<UserStatusSweep> {
    const changed: UserStatusEntry[] = [];
    for (const id of [...this.users.keys()]) {
      const rec = this.record(id, false);
      if (rec?.expiredFrom === undefined) continue;
      if (changed.length >= limit) return { changed, more: true };
      const from = rec.expiredFrom;
      delete rec.expiredFrom;
      if (statusOf(rec) !== from) changed.push(statusOf(rec) === 'offline' ? this.offlineEntry(id, rec) : entry(id, rec));
    }
    return { changed, more: false };
  }

  async close(): Promise<void> {
    this.users.clear();
  }

  /** The entry of a user now offline, with the `wentOffline` edge when it is the one that reports it. */
  private offlineEntry(user: string, rec: UserRecord): UserStatusEntry {
    const out = entry(user, rec);
    if (rec.edgeOnline) out.wentOffline = true;
    rec.edgeOnline = false;
    return out;
  }

  /** The user's record with expired connections and stale offline entries dropped. */
  private record(user: string, create: boolean): UserRecord | undefined {
    let rec = this.users.get(user);
    const now = this.now();
    if (rec) {
      const before = statusOf(rec);
      for (const [id, conn] of rec.connections) if (conn.expiresAt <= now) rec.connections.delete(id);
      if (rec.connections.size === 0 && !rec.offline && !rec.leaving) rec.offline = true; // its node died
      if (rec.leaving && now - rec.leaving.since > this.options.ttlMs) {
        // Its grace period was never settled (its node died): offline all the same.
        delete rec.leaving;
        rec.offline = true;
      }
      // Kept for the next sweep to report (once).
      if (rec.expiredFrom === undefined && statusOf(rec) !== before) rec.expiredFrom = before;
      if (rec.offline && rec.expiredFrom === undefined && (rec.lastSeen === undefined || now - rec.lastSeen > this.options.lastSeenTtlMs)) {
        this.users.delete(user);
        rec = undefined;
      }
    }
    if (!rec && create) {
      rec = { connections: new Map(), offline: true };
      this.users.set(user, rec);
    }
    return rec;
  }
}

function statusOf(rec: UserRecord | undefined): UserStatusEntry['status'] {
  if (!rec || rec.offline) return 'offline';
  if (rec.connections.size === 0) return rec.leaving?.status ?? 'offline';
  for (const conn of rec.connections.values()) if (conn.status === 'online') return 'online';
  return 'away';
}

function entry(user: string, rec: UserRecord): UserStatusEntry {
  const out: UserStatusEntry = { user, status: statusOf(rec), connections: rec.connections.size };
  if (rec.lastSeen !== undefined) out.lastSeen = rec.lastSeen;
  if (rec.info) out.info = rec.info;
  return out;
}
