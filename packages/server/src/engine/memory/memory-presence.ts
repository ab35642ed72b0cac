import type { ClientInfo } from '@tidings/protocol';
import type { PresenceManager, PresenceStats } from '../presence.js';

export interface MemoryPresenceOptions {
  /** An entry not refreshed by `add` for this long disappears. */
  ttlMs: number;
  /** Clock, for tests. */
  now?: () => number;
}

interface Entry {
  info: ClientInfo;
  expiresAt: number;
}

/** Presence for a single node. Expired entries are dropped when their channel is read. */
export class MemoryPresenceManager implements PresenceManager {
  private readonly channels = new Map<string, Map<string, Entry>>();
  private readonly now: () => number;

  constructor(private readonly options: MemoryPresenceOptions) {
    this.now = options.now ?? Date.now;
  }

  async add(channel: string, info: ClientInfo): Promise<void> {
    let entries = this.channels.get(channel);
    if (!entries) {
      entries = new Map();
      this.channels.set(channel, entries);
    }
    entries.set(info.client, { info, expiresAt: this.now() + this.options.ttlMs });
  }

  async remove(channel: string, clientId: string): Promise<void> {
    const entries = this.channels.get(channel);
    if (!entries) return;
    entries.delete(clientId);
    if (entries.size === 0) this.channels.delete(channel);
  }

  async get(channel: string): Promise<Record<string, ClientInfo>> {
    const out: Record<string, ClientInfo> = {};
    for (const [id, entry] of this.live(channel)) out[id] = entry.info;
    return out;
  }

  async stats(channel: string): Promise<PresenceStats> {
    const users = new Set<string>();
    let clients = 0;
    for (const [, entry] of this.live(channel)) {
      clients++;
      users.add(entry.info.user);
    }
    return { clients, users: users.size };
  }

  async close(): Promise<void> {
    this.channels.clear();
  }

  private live(channel: string): Map<string, Entry> {
    const entries = this.channels.get(channel);
    if (!entries) return new Map();
    const now = this.now();
    for (const [id, entry] of entries) if (entry.expiresAt <= now) entries.delete(id);
    if (entries.size === 0) this.channels.delete(channel);
    return entries;
  }
}
