import type { TypingEntry, TypingStore } from '../typing.js';

/** Typing state for a single node. Expired entries are dropped when their channel is read. */
export class MemoryTypingStore implements TypingStore {
  private readonly channels = new Map<string, Map<string, TypingEntry>>();

  constructor(private readonly now: () => number = Date.now) {}

  async start(channel: string, user: string, info: Record<string, unknown> | undefined, ttlMs: number): Promise<{ started: boolean }> {
    const entries = this.live(channel, true)!;
    const started = !entries.has(user);
    const entry: TypingEntry = { user, expiresAt: this.now() + ttlMs };
    if (info) entry.info = info;
    entries.set(user, entry);
    return { started };
  }

  async stop(channel: string, user: string): Promise<{ stopped: boolean }> {
    const entries = this.live(channel, false);
    const stopped = entries?.delete(user) ?? false;
    if (entries && entries.size === 0) this.channels.delete(channel);
    return { stopped };
  }

  async list(channel: string): Promise<TypingEntry[]> {
    return [...(this.live(channel, false)?.values() ?? [])];
  }

  async close(): Promise<void> {
    this.channels.clear();
  }

  private live(channel: string, create: boolean): Map<string, TypingEntry> | undefined {
    let entries = this.channels.get(channel);
    if (entries) {
      const now = this.now();
      for (const [user, e] of entries) if (e.expiresAt <= now) entries.delete(user);
      if (entries.size === 0 && !create) {
        this.channels.delete(channel);
        return undefined;
      }
    } else if (create) {
      entries = new Map();
      this.channels.set(channel, entries);
    }
    return entries;
  }
}
