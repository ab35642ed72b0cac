/**
 * `useTyping`: who else is typing in a channel, and this user's own typing indicator.
 */
import { useMemo, useSyncExternalStore } from 'react';
import type { Subscription, TypingUser } from '@tidings/client';
import { useTidingsContext } from './context.js';
import { SubscriptionStore, type ChannelHookOptions, type SubscriptionSnapshot } from './subscription-store.js';
import { useIsomorphicLayoutEffect, useKeyedStore } from './use-store.js';

/** What `useTyping` shows, besides `setTyping`. */
export interface TypingSnapshot extends SubscriptionSnapshot<unknown> {
  /** Other users typing now. The same array until something changes. */
  typing: readonly TypingUser[];
}

export interface UseTypingResult extends TypingSnapshot {
  /**
   * Says this user is typing (`true`, the default) or stopped (`false`). Call it on every
   * keystroke: the client throttles what it sends and sends `false` by itself after a pause.
   * Stable across renders.
   */
  setTyping: (typing?: boolean) => void;
}

export type UseTypingOptions = ChannelHookOptions;

const EMPTY: readonly never[] = Object.freeze([]);

/** @internal */
export class TypingStore extends SubscriptionStore<unknown, TypingSnapshot> {
  /** This component said it is typing and has not said it stopped. */
  #typing = false;

  readonly setTyping = (typing = true): void => {
    const sub = this.subscription;
    if (!sub) return;
    this.#typing = typing;
    sub.setTyping(typing);
  };

  protected override compute(): TypingSnapshot {
    return { ...this.base(), typing: this.subscription?.typingUsers() ?? EMPTY };
  }

  protected override listen(sub: Subscription<unknown>): Array<() => void> {
    const update = () => this.changed();
    return [sub.on('typing', update), sub.on('leave', update), sub.on('unsubscribed', update)];
  }

  protected override stopping(sub: Subscription<unknown>): void {
    // The composer is gone: others should not see this user typing until the idle timeout.
    if (this.#typing) sub.setTyping(false);
    this.#typing = false;
  }
}

/**
 * Subscribes to a channel (of a namespace with `typing`) while the component is mounted and
 * returns who else is typing, plus `setTyping` for this user. Shares the subscription with
 * `useChannel` and `usePresence` on the same channel.
 *
 * @example
 * ```tsx
 * function Composer({ room }: { room: string }) {
 *   const { typing, setTyping } = useTyping(`chat:${room}`);
 *   return (
 *     <>
 *       <input onChange={() => setTyping()} onBlur={() => setTyping(false)} />
 *       {typing.length > 0 && <small>{typing.map((t) => t.user).join(', ')} typing…</small>}
 *     </>
 *   );
 * }
 * ```
 */
export function useTyping(channel: string, options: UseTypingOptions = {}): UseTypingResult {
  const { client, releaseDelay } = useTidingsContext('useTyping');
  const enabled = options.enabled ?? true;
  const store = useKeyedStore([client, channel, enabled, releaseDelay], () => new TypingStore({ client, channel, enabled, releaseDelay }));
  useIsomorphicLayoutEffect(() => {
    store.options = { getToken: options.getToken, recover: options.recover };
  });
  const snapshot = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  return useMemo(() => ({ ...snapshot, setTyping: store.setTyping }), [snapshot, store]);
}
