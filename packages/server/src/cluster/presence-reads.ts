/**
 * Reading presence and user status from the engine, for the server API, the inspector and
 * the `presence` / `presence_stats` commands: the part of `cluster/` they ask instead of
 * holding the engine's presence manager and user status store. (Writing presence, status
 * and typing is the presence feature's, `features/presence.ts`.)
 */
import type { PresenceClient, PresenceUser } from '@tidings/protocol';
import type { PresenceManager, PresenceStats } from '../engine/presence.js';
import type { UserCounts, UserListPage, UserStatusEntry, UserStatusStore } from '../engine/user-status.js';

export class PresenceReads {
  constructor(
    private readonly presence: PresenceManager,
    private readonly userStatus: UserStatusStore,
  ) {}

  /** A channel's presence: its connections by client id, and its users aggregated. */
  async of(channel: string): Promise<{ clients: Record<string, PresenceClient>; users: PresenceUser[] }> {
    const [clients, users] = await Promise.all([this.presence.clients(channel), this.presence.users(channel)]);
    return { clients, users };
  }

  /** How many connections and users a channel's presence holds. */
  stats(channel: string): Promise<PresenceStats> {
    return this.presence.stats(channel);
  }

  /** A user's global status. */
  status(user: string): Promise<UserStatusEntry> {
    return this.userStatus.get(user);
  }

  /** Online and away users, sorted by id, paginated, with how many there are. */
  async online(query: { cursor?: string; limit: number }): Promise<{ page: UserListPage; count: number }> {
    const [page, count] = await Promise.all([this.userStatus.listOnline(query), this.userStatus.countOnline()]);
    return { page, count };
  }

  /** The deployment's users, each once: connected (online or away) and known (seen within lastSeenTtl). */
  users(): Promise<UserCounts> {
    return this.userStatus.countUsers();
  }
}
