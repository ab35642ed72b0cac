/**
 * The sticky channels a connection gets at connect (`POST /users/:id/subscriptions`), read from
 * the store at every connect unless the node knows the user has none (issue 18: that read was
 * a store query per accept, for users who almost never have any).
 *
 * What the node knows: "no user has any" (asked of the store at start and again at most every
 * `RECHECK_MS`), and per user "had none when last read" (an LRU of `MAX_USERS_WITHOUT`, each
 * entry trusted for `RECHECK_MS`). Both are dropped by `changed(user)`, which steering calls on
 * every node when a sticky channel is added anywhere (cluster/steering.ts, subscribeUser), before
 * it subscribes the user's connections there. A read that was under way when a change came
 * leaves no entry (`generation`), and session/commands.ts reads again when a change came while a
 * connection was being set up: a sticky channel added on any node applies at the next connect.
 * The time bound only covers a change whose message never reached this node.
 */
import { LRUCache } from 'lru-cache';
import type { UserChannelsStore } from '../store/user-channels-store.js';

const MAX_USERS_WITHOUT = 10_000;
const RECHECK_MS = 60_000;

export class StickyChannels {
  /** Bumped by every change this node hears of. */
  generation = 0;
  /** performance.now() until which "no user has any sticky channel" holds (0: not known). */
  private noneUntil = 0;
  private checking = false;
  private readonly without = new LRUCache<string, true>({ max: MAX_USERS_WITHOUT, ttl: RECHECK_MS });

  constructor(private readonly store: Pick<UserChannelsStore, 'list' | 'any'>) {}

  /** Asks the store whether any user has a sticky channel (at start; resolves once known, never rejects). */
  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    const generation = this.generation;
    try {
      const any = await this.store.any();
      if (!any && generation === this.generation) this.noneUntil = performance.now() + RECHECK_MS;
    } catch {
      // Unknown: every connect reads the store, as without this cache.
    } finally {
      this.checking = false;
    }
  }

  /** The user's sticky channels, sorted by name. */
  async list(user: string): Promise<string[]> {
    if (this.noneUntil !== 0) {
      if (performance.now() < this.noneUntil) return [];
      this.noneUntil = 0;
      void this.check();
    }
    if (this.without.has(user)) return [];
    const generation = this.generation;
    const channels = await this.store.list(user);
    if (channels.length === 0 && generation === this.generation) this.without.set(user, true);
    return channels;
  }

  /** A sticky channel was added for `user` (on any node): read the store again at the next connect. */
  changed(user: string): void {
    this.generation++;
    this.noneUntil = 0;
    this.without.delete(user);
  }
}
