/**
 * Sticky server-side subscriptions of users ("subscribe this user to that channel until told
 * otherwise"): the server API's `POST /users/:id/subscriptions` adds one, `DELETE` removes it,
 * and every new connection of the user gets a server-side subscription to each (session
 * connect, next to the token's `channels`).
 *
 * Implementations: `SqliteUserChannelsStore`, `PgUserChannelsStore`, and the IPC proxy of
 * `--workers` (engine/ipc/ipc-stores.ts). Every implementation passes user-channels.contract.ts.
 *
 * Guarantees: `add` and `remove` are durable once they resolve (a restarted node lists what was
 * added and not removed); adding a pair that is there already changes nothing (and resolves
 * false), as does removing one that is not; `list` returns a user's channels sorted by name.
 */
export interface UserChannelsStore {
  /** Adds `channel` to the user's sticky channels; true when it was not there yet. */
  add(user: string, channel: string, now: number): Promise<boolean>;
  /** Removes `channel` from the user's sticky channels; true when it was there. */
  remove(user: string, channel: string): Promise<boolean>;
  /** The user's sticky channels, sorted by name. */
  list(user: string): Promise<string[]>;
  /** True when some user has a sticky channel (a node skips the read at connect while none has). */
  any(): Promise<boolean>;
}
