/**
 * `useUserStatus`: the global status (online, away, offline, last seen) of some users.
 */
import { useSyncExternalStore } from 'react';
import type { Tidings, UserStatus } from '@tidings/client';
import { useTidingsContext } from './context.js';
import { acquireFollows } from './follow-registry.js';
import { Store } from './store.js';
import { useKeyedStore } from './use-store.js';

/** Each requested user's last known status; `undefined` until known (or when the server refused the follow). */
export type UserStatuses = Readonly<Record<string, UserStatus | undefined>>;

/** @internal */
export class UserStatusStore extends Store<UserStatuses> {
  readonly #client: Tidings;
  readonly #users: readonly string[];
  readonly #releaseDelay: number;
  #release: (() => void) | null = null;
  #off: (() => void) | null = null;

  constructor(client: Tidings, users: readonly string[], releaseDelay: number) {
    super();
    this.#client = client;
    this.#users = users;
    this.#releaseDelay = releaseDelay;
  }

  protected override compute(): UserStatuses {
    // No prototype: a user named `__proto__` is an entry like any other.
    const out: Record<string, UserStatus | undefined> = Object.create(null);
    for (const user of this.#users) out[user] = this.#client.userStatus(user);
    return out;
  }

  protected override start(): void {
    const users = new Set(this.#users);
    this.#off = this.#client.on('status', ({ user }) => {
      if (users.has(user)) this.changed();
    });
    this.#release = acquireFollows(this.#client, this.#users, this.#releaseDelay);
    this.changed();
  }

  protected override stop(): void {
    this.#off?.();
    this.#off = null;
    this.#release?.();
    this.#release = null;
  }
}

/**
 * Follows users' global status while the component is mounted and returns it, keyed by
 * user id. Follows are counted across components: a user stays followed while any mounted
 * component asks for them. The server decides who may follow whom (`status.follow`, the
 * `onFollow` hook); users it refuses stay `undefined`.
 *
 * @example
 * ```tsx
 * function Contacts({ ids }: { ids: string[] }) {
 *   const statuses = useUserStatus(ids);
 *   return (
 *     <ul>
 *       {ids.map((id) => (
 *         <li key={id}>
 *           {id}: {statuses[id]?.status ?? 'unknown'}
 *           {statuses[id]?.status === 'offline' && statuses[id]?.lastSeen && ` (seen ${new Date(statuses[id]!.lastSeen!).toLocaleString()})`}
 *         </li>
 *       ))}
 *     </ul>
 *   );
 * }
 * ```
 */
export function useUserStatus(users: readonly string[]): UserStatuses {
  const { client, releaseDelay } = useTidingsContext('useUserStatus');
  // A new array with the same ids (an inline literal) keeps the store and the follows.
  const unique = [...new Set(users)];
  const key = unique.join('\u0000');
  const store = useKeyedStore([client, key, releaseDelay], () => new UserStatusStore(client, unique, releaseDelay));
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}
