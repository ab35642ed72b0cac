/**
 * `useChannel`: the live publications of one channel, with its recent history.
 */
import { useMemo, useSyncExternalStore } from 'react';
import type { PublicationContext, PublishOptions, PublishResult } from '@tidings/client';
import { ChannelStore, type ChannelSnapshot } from './channel-store.js';
import { useTidingsContext } from './context.js';
import type { ChannelHookOptions } from './subscription-store.js';
import { useIsomorphicLayoutEffect, useKeyedStore } from './use-store.js';

export interface UseChannelOptions<T> extends ChannelHookOptions {
  /**
   * Called for each live publication (recovered ones included, history reads not). The
   * latest function is called: changing it does not resubscribe.
   */
  onPublication?: (publication: PublicationContext<T>) => void;
  /**
   * Once subscribed, read this many of the newest publications from the channel's history
   * and merge them with the live ones (the namespace needs `history`). Default 0: live only.
   */
  history?: number;
  /** Most publications kept in `messages` (the newest). Default 100. */
  keep?: number;
}

export interface UseChannelResult<T> extends ChannelSnapshot<T> {
  /** Publishes to the channel; resolves with the server's ack. Stable across renders. */
  publish: (data: T, options?: PublishOptions) => Promise<PublishResult>;
}

/** Default of `keep`. */
export const DEFAULT_KEEP = 100;

/**
 * Subscribes to a channel while the component is mounted and returns its newest
 * publications. Components using the same channel share one subscription.
 *
 * - `messages` holds at most `keep` publications, oldest first, ordered by offset and
 *   de-duplicated by offset (channels with history).
 * - With `history: n`, the n newest publications are read once subscribed and merged
 *   with the live ones (`loading` is true until then).
 * - After a `gap` (publications missed and not recoverable), history is read again: the
 *   last `history` publications, or `keep` when `history` is 0.
 *
 * @example
 * ```tsx
 * type Message = { text: string };
 *
 * function Room({ room }: { room: string }) {
 *   const { messages, publish, state, loading } = useChannel<Message>(`chat:${room}`, { history: 50, keep: 200 });
 *   if (loading) return <Spinner />;
 *   return (
 *     <>
 *       {messages.map((m) => <p key={m.offset}>{m.info?.user}: {m.data.text}</p>)}
 *       <Composer disabled={state !== 'subscribed'} onSend={(text) => publish({ text })} />
 *     </>
 *   );
 * }
 * ```
 */
export function useChannel<T = unknown>(channel: string, options: UseChannelOptions<T> = {}): UseChannelResult<T> {
  const { client, releaseDelay } = useTidingsContext('useChannel');
  const enabled = options.enabled ?? true;
  const history = options.history ?? 0;
  const keep = options.keep ?? DEFAULT_KEEP;
  if (!Number.isInteger(history) || history < 0) throw new TypeError(`useChannel: history must be an integer ≥ 0, got ${String(history)}`);
  if (!Number.isInteger(keep) || keep < 1) throw new TypeError(`useChannel: keep must be an integer ≥ 1, got ${String(keep)}`);

  const store = useKeyedStore([client, channel, enabled, history, keep, releaseDelay], () => new ChannelStore<T>({ client, channel, enabled, releaseDelay, history, keep }));
  // Before the store starts (layout effects run before the effect that subscribes).
  useIsomorphicLayoutEffect(() => {
    store.onPublication = options.onPublication;
    store.options = { getToken: options.getToken, recover: options.recover };
  });
  const snapshot = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  return useMemo(() => ({ ...snapshot, publish: store.publish }), [snapshot, store]);
}
