/**
 * Writing presence, user status and typing to the engine, for the presence feature
 * (`features/presence.ts`, which asks for a `PresenceState`): the part of `cluster/` it calls
 * instead of holding the engine's presence manager, user status store and typing store. It also
 * answers the two reads the feature makes while writing (a followed user's status, who is typing),
 * and takes what expiry did for the feature to announce (`sweep`).
 * The API's and the commands' presence reads are `presence-reads.ts`.
 */
import type { PresenceClient, PresenceStatus } from '@tidings/protocol';
import type { PresenceAddResult, PresenceManager, PresenceRemoveResult, PresenceUpdateResult } from '../engine/presence.js';
import type { TypingEntry, TypingStore } from '../engine/typing.js';
import type { AddConnectionResult, UserStatusEntry, UserStatusStore } from '../engine/user-status.js';
import type { PresenceRefresh, PresenceState, PresenceSweepResult } from '../features/presence-state.js';

export class PresenceWrites implements PresenceState {
  constructor(
    private readonly presence: PresenceManager,
    private readonly userStatus: UserStatusStore,
    private readonly typing: TypingStore,
  ) {}

  enter(channel: string, client: PresenceClient): Promise<PresenceAddResult> {
    return this.presence.add(channel, client);
  }

  update(channel: string, clientId: string, patch: { status?: PresenceStatus; state?: unknown }): Promise<PresenceUpdateResult> {
    return this.presence.update(channel, clientId, patch);
  }

  leave(channel: string, clientId: string): Promise<PresenceRemoveResult> {
    return this.presence.remove(channel, clientId);
  }

  settleLeave(channel: string, user: string): Promise<boolean> {
    return this.presence.settleLeave(channel, user);
  }

  connect(user: string, client: string, status: PresenceStatus, info: Record<string, unknown> | undefined, limit: number): Promise<AddConnectionResult> {
    return this.userStatus.addConnection(user, client, status, info, limit);
  }

  setStatus(user: string, client: string, status: PresenceStatus): Promise<UserStatusEntry | undefined> {
    return this.userStatus.setStatus(user, client, status);
  }

  disconnect(user: string, client: string): Promise<{ lastConnection: boolean }> {
    return this.userStatus.removeConnection(user, client);
  }

  settleOffline(user: string): Promise<UserStatusEntry | undefined> {
    return this.userStatus.settleOffline(user);
  }

  status(user: string): Promise<UserStatusEntry> {
    return this.userStatus.get(user);
  }

  startTyping(channel: string, user: string, info: Record<string, unknown> | undefined, ttlMs: number): Promise<{ started: boolean }> {
    return this.typing.start(channel, user, info, ttlMs);
  }

  stopTyping(channel: string, user: string): Promise<{ stopped: boolean }> {
    return this.typing.stop(channel, user);
  }

  typingUsers(channel: string): Promise<TypingEntry[]> {
    return this.typing.list(channel);
  }

  /** One `touch` for the presence entries and one for the status connections; typing (few, short-lived) entry by entry. */
  async refresh(batch: PresenceRefresh): Promise<void> {
    const work: Promise<unknown>[] = [];
    if (batch.presence.length > 0) work.push(this.presence.touch(batch.presence));
    if (batch.status.length > 0) work.push(this.userStatus.touch(batch.status));
    for (const t of batch.typing) work.push(this.typing.start(t.channel, t.user, t.info, t.ttlMs));
    await Promise.all(work);
  }

  /** One presence sweep and one status sweep, side by side. */
  async sweep(limit: number): Promise<PresenceSweepResult> {
    const [presence, status] = await Promise.all([this.presence.sweepExpired(limit), this.userStatus.sweepExpired(limit)]);
    return { presence: presence.expired, status: status.changed, more: presence.more || status.more };
  }
}
