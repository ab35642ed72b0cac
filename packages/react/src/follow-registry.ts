/**
 * Status follows shared by every hook of one client, counted by reference per user.
 *
 * `client.follow` / `client.unfollow` are not counted: one `unfollow('bob')` stops the
 * status of bob for everybody. Hooks therefore follow through here: the first reference
 * to a user follows them, and the release of the last one unfollows them after
 * `releaseDelay` ms, for the same StrictMode reasons as channel subscriptions.
 *
 * Users the application followed itself, before any hook did, are never unfollowed here.
 */
import { startTimer, type Tidings } from '@tidings/client';

interface Entry {
  refs: number;
  /** The registry followed this user, so it unfollows them when the last reference is gone. */
  readonly owned: boolean;
  /** The deferred unfollow that applies to this user, while `refs` is 0. */
  timer: ReturnType<typeof setTimeout> | undefined;
}

const registries = new WeakMap<Tidings, Map<string, Entry>>();

/**
 * Takes a reference to each of `users`' status, following those nobody followed yet (in one
 * `follow` command). Returns the function that releases them.
 */
export function acquireFollows(client: Tidings, users: readonly string[], releaseDelay: number): () => void {
  let known = registries.get(client);
  if (!known) registries.set(client, (known = new Map()));
  const map = known;
  const alreadyFollowed = new Set(client.followed());
  const fresh: string[] = [];
  const held: Array<[string, Entry]> = [];
  for (const user of users) {
    let entry = map.get(user);
    if (!entry) {
      entry = { refs: 0, owned: !alreadyFollowed.has(user), timer: undefined };
      map.set(user, entry);
      if (entry.owned) fresh.push(user);
    }
    // Users released together share one timer: taking one back must not cancel the others'
    // unfollow, so the timer is not cleared; it skips entries whose `timer` is no longer it.
    entry.timer = undefined;
    entry.refs++;
    held.push([user, entry]);
  }
  // A refused follow (the server's `onFollow` rules, `status.follow: none`) leaves the
  // status unknown; the hook then reports `undefined` for those users.
  if (fresh.length > 0) client.follow(fresh).catch(() => {});

  let released = false;
  return () => {
    if (released) return;
    released = true;
    const idle: Array<[string, Entry]> = [];
    for (const [user, entry] of held) {
      entry.refs--;
      if (entry.refs === 0) idle.push([user, entry]);
    }
    if (idle.length === 0) return;
    const timer = startTimer(() => {
      const gone: string[] = [];
      for (const [user, entry] of idle) {
        if (entry.timer !== timer || entry.refs > 0 || map.get(user) !== entry) continue;
        map.delete(user);
        if (entry.owned) gone.push(user);
      }
      if (gone.length > 0) client.unfollow(gone).catch(() => {});
    }, releaseDelay);
    for (const [, entry] of idle) entry.timer = timer;
  };
}
