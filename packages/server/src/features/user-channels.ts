/**
 * Sticky server-side subscriptions of users: `subscribe(user, channel)` stores the pair (so every
 * later connection of the user gets the channel at connect, see session/commands.ts) and subscribes
 * the user's connections on every node now; `unsubscribe` removes it and ends those subscriptions.
 * The store is the durable one (SQLite, PostgreSQL, or the primary's over IPC with `--workers`).
 */
import { ErrorCode } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import type { UserChannelsStore } from '../store/user-channels-store.js';

export interface UserChannelsDeps {
  store: UserChannelsStore;
  /** Validates a channel name and gives its canonical form (throws `invalid_channel`, `unknown_namespace`). */
  resolve(channel: string): string;
  /** Subscribes the user's connections on every node now; how many were subscribed. */
  subscribeNow(user: string, channel: string): Promise<number>;
  /** Ends the user's subscriptions to the channel on every node now; how many ended. */
  unsubscribeNow(user: string, channel: string): Promise<number>;
  /** At most this many sticky channels per user (`limits.subscriptionsPerConnection`). */
  maxPerUser(): number;
}

export class UserChannels {
  constructor(private readonly deps: UserChannelsDeps) {}

  /** Adds the channel to the user's sticky channels and subscribes the user's connections now. */
  async subscribe(user: string, channel: string): Promise<{ added: boolean; subscribed: number }> {
    checkUser(user);
    channel = this.deps.resolve(channel);
    const held = await this.deps.store.list(user);
    const max = this.deps.maxPerUser();
    if (!held.includes(channel) && held.length >= max) throw new TidingsError(ErrorCode.LimitExceeded, `a user may have ${max} sticky channels (limits.subscriptionsPerConnection)`);
    const added = await this.deps.store.add(user, channel, Date.now());
    return { added, subscribed: await this.deps.subscribeNow(user, channel) };
  }

  /** Removes the channel from the user's sticky channels and ends the user's subscriptions to it now. */
  async unsubscribe(user: string, channel: string): Promise<{ removed: boolean; unsubscribed: number }> {
    checkUser(user);
    channel = this.deps.resolve(channel);
    const removed = await this.deps.store.remove(user, channel);
    return { removed, unsubscribed: await this.deps.unsubscribeNow(user, channel) };
  }

  /** The user's sticky channels, sorted by name. */
  list(user: string): Promise<string[]> {
    checkUser(user);
    return this.deps.store.list(user);
  }
}

function checkUser(user: string): void {
  if (typeof user !== 'string' || user.length === 0 || user.length > 256) throw new TidingsError(ErrorCode.BadRequest, 'user: expected a user id of 1..256 characters');
}
