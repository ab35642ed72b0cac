/**
 * `useUnreadCount`: this user's unread messages in one channel, live (docs/messaging.md). Read
 * from the server on each subscribe, then counted from the channel's publications (messages by
 * other users after the read offset) and read again when this user's read offset moves (from
 * any device) to somewhere short of the newest message.
 */
import { useSyncExternalStore } from 'react';
import type { PublicationContext, Subscription, UnreadCount } from '@tidings/client';
import { useTidingsContext } from './context.js';
import { SubscriptionStore, type ChannelHookOptions, type SubscriptionSnapshot } from './subscription-store.js';
import { useIsomorphicLayoutEffect, useKeyedStore } from './use-store.js';

/** @internal */
export interface UnreadSnapshot extends SubscriptionSnapshot<unknown> {
  unread: number | undefined;
}

/** @internal */
export class UnreadStore extends SubscriptionStore<unknown, UnreadSnapshot> {
  /** The count, the user's read offset and the channel's newest offset, once read from the server. */
  #count: UnreadCount | undefined;
  #read = 0;
  /** Publications that came while a read was under way: counted over its answer when newer. */
  #during: PublicationContext<unknown>[] | null = null;

  protected override compute(): UnreadSnapshot {
    return { ...this.base(), unread: this.#count?.unread };
  }

  protected override listen(sub: Subscription<unknown>): Array<() => void> {
    return [
      sub.on('subscribed', () => this.#load(sub)),
      sub.on('publication', (p) => {
        if (this.#during) this.#during.push(p);
        else if (this.#count && this.#take(this.#count, p)) this.changed();
      }),
      sub.on('read', (push) => {
        const count = this.#count;
        if (push.user !== this.client.user) return;
        // A read under way may have been answered before this receipt: read again.
        if (this.#during) return this.#load(sub);
        if (!count || push.offset <= count.read) return;
        if (push.offset >= count.offset) {
          this.#count = { unread: 0, read: push.offset, offset: count.offset };
          this.changed();
        } else this.#load(sub);
      }),
    ];
  }

  protected override started(sub: Subscription<unknown>): void {
    if (sub.state === 'subscribed') this.#load(sub);
  }

  /** Counts a publication into `count` (in place); true when the count changed. */
  #take(count: UnreadCount, p: PublicationContext<unknown>): boolean {
    if (p.offset === undefined || p.offset <= count.offset) return false;
    count.offset = p.offset;
    if (p.op !== undefined || p.info?.user === this.client.user || p.offset <= count.read) return false;
    count.unread++;
    return true;
  }

  #load(sub: Subscription<unknown>): void {
    const read = ++this.#read;
    this.#during ??= [];
    sub.unread().then(
      (answer) => {
        if (read !== this.#read) return;
        const count: UnreadCount = { ...answer };
        for (const p of this.#during ?? []) this.#take(count, p);
        this.#during = null;
        this.#count = count;
        this.changed();
      },
      (error: unknown) => {
        if (read !== this.#read) return;
        this.#during = null;
        this.setError(error);
      },
    );
  }
}

/**
 * This user's unread messages in a channel (messages by other users after the user's read
 * offset), live; `undefined` until known. Marking the channel read (`useReadReceipts`'s
 * `markRead`, on any device) brings it down. Subscribes to the channel while mounted (shared
 * with the other hooks on it). The namespace needs `messaging.readReceipts`.
 *
 * @example
 * ```tsx
 * function RoomLink({ room }: { room: string }) {
 *   const unread = useUnreadCount(`chat:${room}`);
 *   return <a href={`/rooms/${room}`}>{room}{unread ? <span className="badge">{unread}</span> : null}</a>;
 * }
 * ```
 */
export function useUnreadCount(channel: string, options: ChannelHookOptions = {}): number | undefined {
  const { client, releaseDelay } = useTidingsContext('useUnreadCount');
  const enabled = options.enabled ?? true;
  const store = useKeyedStore([client, channel, enabled, releaseDelay], () => new UnreadStore({ client, channel, enabled, releaseDelay }));
  useIsomorphicLayoutEffect(() => {
    store.options = { getToken: options.getToken, recover: options.recover };
  });
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot).unread;
}
