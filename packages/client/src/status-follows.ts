/**
 * Followed users' global status: the users followed, their last known statuses, the
 * `follow`/`unfollow` commands, `status` pushes, and following them all again after every
 * reconnect.
 */
import type { FollowResult, StatusPush, UserStatus } from '@tidings/protocol';
import type { Emitter } from './emitter.js';
import { ClientErrorCode } from './errors.js';
import type { Outbox } from './outbox.js';
import type { ClientEvents } from './types.js';

/** @internal The client's status follows (`client.follow`, `client.unfollow`, `client.userStatus`). */
export class StatusFollows {
  readonly #outbox: Pick<Outbox, 'sendNow'>;
  readonly #events: Pick<Emitter<ClientEvents>, 'emit'>;
  readonly #connected: () => boolean;
  readonly #followed = new Set<string>();
  readonly #statuses = new Map<string, UserStatus>();

  /** Sends through `outbox`, emits `status` (and `error`) on the client's `events`. */
  constructor(outbox: Pick<Outbox, 'sendNow'>, events: Pick<Emitter<ClientEvents>, 'emit'>, connected: () => boolean) {
    this.#outbox = outbox;
    this.#events = events;
    this.#connected = connected;
  }

  /** Follows users not followed yet; resolves with what is known of all of `users`. */
  follow(users: readonly string[]): Promise<Record<string, UserStatus>> {
    const fresh = users.filter((u) => !this.#followed.has(u));
    for (const u of fresh) this.#followed.add(u);
    if (!this.#connected() || fresh.length === 0) return Promise.resolve(this.#known(users));
    return new Promise((resolve, reject) => {
      this.#outbox.sendNow({ type: 'follow', users: fresh }, (err, result) => {
        if (err) {
          // A reply lost with the connection is not a refusal: the reconnect follows them again.
          if (err.code !== ClientErrorCode.ConnectionLost) for (const u of fresh) this.#followed.delete(u);
          reject(err);
          return;
        }
        this.#apply(result as FollowResult);
        resolve(this.#known(users));
      });
    });
  }

  /** Stops following users (and forgets their statuses). */
  unfollow(users: readonly string[]): Promise<void> {
    const gone = users.filter((u) => this.#followed.delete(u));
    for (const u of gone) this.#statuses.delete(u);
    if (!this.#connected() || gone.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.#outbox.sendNow({ type: 'unfollow', users: gone }, (err) => (err ? reject(err) : resolve())));
  }

  /** A followed user's last known status. */
  userStatus(user: string): UserStatus | undefined {
    return this.#statuses.get(user);
  }

  /** Users being followed. */
  followed(): string[] {
    return [...this.#followed];
  }

  /** A `status` push: kept and emitted for a followed user. */
  onPush(s: StatusPush): void {
    if (!this.#followed.has(s.user)) return;
    const status: UserStatus = s.lastSeen !== undefined ? { status: s.status, lastSeen: s.lastSeen } : { status: s.status };
    this.#statuses.set(s.user, status);
    this.#events.emit('status', { user: s.user, ...status });
  }

  /** Connected: follows every followed user again. */
  restore(): void {
    if (this.#followed.size === 0) return;
    this.#outbox.sendNow({ type: 'follow', users: [...this.#followed] }, (err, res) => {
      if (err) this.#events.emit('error', err);
      else this.#apply(res as FollowResult);
    });
  }

  #apply(result: FollowResult): void {
    for (const [user, status] of Object.entries(result.statuses)) {
      if (!this.#followed.has(user)) continue;
      const known = this.#statuses.get(user);
      this.#statuses.set(user, status);
      if (!known || known.status !== status.status || known.lastSeen !== status.lastSeen) this.#events.emit('status', { user, ...status });
    }
  }

  #known(users: readonly string[]): Record<string, UserStatus> {
    // No prototype: a user named `__proto__` is an entry like any other.
    const out: Record<string, UserStatus> = Object.create(null);
    for (const u of users) {
      const s = this.#statuses.get(u);
      if (s) out[u] = s;
    }
    return out;
  }
}
