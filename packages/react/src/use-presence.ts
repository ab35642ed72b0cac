/**
 * `usePresence`: who is in a channel, with each user's status and state.
 */
import { useMemo, useSyncExternalStore } from 'react';
import type { PresenceUser, Subscription } from '@tidings/client';
import { useTidingsContext } from './context.js';
import { SubscriptionStore, type ChannelHookOptions, type SubscriptionSnapshot } from './subscription-store.js';
import { useIsomorphicLayoutEffect, useKeyedStore } from './use-store.js';

/** What `usePresence` shows, besides `setState`. */
export interface PresenceSnapshot extends SubscriptionSnapshot<unknown> {
  /**
   * Users in the channel (this one included), one entry per user over all their connections:
   * `status` (`online`/`away`), `state` (the latest set with `setState`), `info`, `lastSeen`,
   * `clients`. The same array until something changes.
   */
  users: readonly PresenceUser[];
}

export interface UsePresenceResult extends PresenceSnapshot {
  /**
   * Sets this connection's presence state in the channel (`null` clears it). Kept on the
   * shared subscription and set again after every reconnect. Stable across renders.
   */
  setState: (state: unknown) => Promise<void>;
}

export type UsePresenceOptions = ChannelHookOptions;

const EMPTY: readonly never[] = Object.freeze([]);

/** @internal */
export class PresenceStore extends SubscriptionStore<unknown, PresenceSnapshot> {
  /** A state set before the store started, applied once it has the subscription. */
  #pending: { value: unknown } | undefined;

  readonly setState = (state: unknown): Promise<void> => {
    const sub = this.subscription ?? this.client.getSubscription(this.channel);
    if (sub) return sub.setState(state);
    this.#pending = { value: state };
    return Promise.resolve();
  };

  protected override compute(): PresenceSnapshot {
    return { ...this.base(), users: this.subscription?.presenceUsers() ?? EMPTY };
  }

  protected override listen(sub: Subscription<unknown>): Array<() => void> {
    const update = () => this.changed();
    return [sub.on('join', update), sub.on('leave', update), sub.on('presence', update), sub.on('subscribed', update), sub.on('unsubscribed', update)];
  }

  protected override started(sub: Subscription<unknown>): void {
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending) sub.setState(pending.value).catch((error: unknown) => this.setError(error));
  }
}

/**
 * Subscribes to a channel (of a namespace with `presence`) while the component is mounted
 * and returns who is there. Updated on join, leave and presence changes (status, state).
 * Shares the subscription with `useChannel` and `useTyping` on the same channel.
 *
 * @example
 * ```tsx
 * function Viewers({ taskId }: { taskId: string }) {
 *   const { users } = usePresence(`task:${taskId}`, { getToken: fetchTaskToken });
 *   return (
 *     <ul>
 *       {users.map((u) => <li key={u.user} className={u.status}>{String(u.info?.name ?? u.user)}</li>)}
 *     </ul>
 *   );
 * }
 * ```
 */
export function usePresence(channel: string, options: UsePresenceOptions = {}): UsePresenceResult {
  const { client, releaseDelay } = useTidingsContext('usePresence');
  const enabled = options.enabled ?? true;
  const store = useKeyedStore([client, channel, enabled, releaseDelay], () => new PresenceStore({ client, channel, enabled, releaseDelay }));
  useIsomorphicLayoutEffect(() => {
    store.options = { getToken: options.getToken, recover: options.recover };
  });
  const snapshot = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  return useMemo(() => ({ ...snapshot, setState: store.setState }), [snapshot, store]);
}
