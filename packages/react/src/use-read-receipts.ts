/**
 * `useReadReceipts`: who read how far in a channel (seen-by), live, and marking it read for
 * this user (docs/messaging.md). Holds the shared subscription, through which the channel's
 * `read` pushes come: other users' (with `messaging.seenBy`) and this user's, from any device.
 */
import { useMemo, useSyncExternalStore } from 'react';
import type { ReadPush, ReadReceipt, ReadResult, Subscription } from '@tidings/client';
import { useTidingsContext } from './context.js';
import { SubscriptionStore, type ChannelHookOptions, type SubscriptionSnapshot } from './subscription-store.js';
import { useIsomorphicLayoutEffect, useKeyedStore } from './use-store.js';

/** What `useReadReceipts` shows, besides `markRead`. */
export interface ReadReceiptsSnapshot extends SubscriptionSnapshot<unknown> {
  /** One per user who read anything in the channel, highest offset first. */
  receipts: readonly ReadReceipt[];
  /** True until the receipts were read from the server. */
  loading: boolean;
}

export interface UseReadReceiptsResult extends ReadReceiptsSnapshot {
  /** Marks the channel read up to `offset` for this user, on every device (receipts only move forward). Stable across renders. */
  markRead: (offset: number) => Promise<ReadResult>;
}

const EMPTY: readonly never[] = Object.freeze([]);

/** @internal */
export class ReadReceiptsStore extends SubscriptionStore<unknown, ReadReceiptsSnapshot> {
  #receipts: readonly ReadReceipt[] = EMPTY;
  #loading: boolean = this.enabled;
  /** Bumped by each read: an older read's answer is dropped. */
  #read = 0;
  /** Pushes that came while a read was under way, applied over its answer. */
  #pushes: ReadPush[] = [];

  readonly markRead = (offset: number): Promise<ReadResult> => this.client.markRead(this.channel, offset);

  protected override compute(): ReadReceiptsSnapshot {
    return { ...this.base(), receipts: this.#receipts, loading: this.#loading };
  }

  protected override listen(sub: Subscription<unknown>): Array<() => void> {
    return [
      // Each subscribe, reconnects included: pushes missed while disconnected are in the answer.
      sub.on('subscribed', () => this.#load(sub)),
      sub.on('read', (push) => {
        if (this.#loading) this.#pushes.push(push);
        this.#receipts = withReceipt(this.#receipts, push);
        this.changed();
      }),
    ];
  }

  protected override started(sub: Subscription<unknown>): void {
    if (sub.state === 'subscribed') this.#load(sub);
  }

  #load(sub: Subscription<unknown>): void {
    const read = ++this.#read;
    this.#loading = true;
    sub.readReceipts().then(
      ({ receipts }) => {
        if (read !== this.#read) return;
        let list: readonly ReadReceipt[] = [...receipts].sort(byOffset);
        for (const push of this.#pushes.splice(0)) list = withReceipt(list, push);
        this.#receipts = list;
        this.#loading = false;
        this.changed();
      },
      (error: unknown) => {
        if (read !== this.#read) return;
        this.#pushes = [];
        this.#loading = false;
        this.setError(error);
      },
    );
  }
}

const byOffset = (a: ReadReceipt, b: ReadReceipt): number => b.offset - a.offset;

/** The list with the user's receipt set from a push (a later one: pushes of a user come in order), highest offset first. */
function withReceipt(list: readonly ReadReceipt[], push: ReadPush): readonly ReadReceipt[] {
  const old = list.find((r) => r.user === push.user);
  if (old && old.at > push.at) return list;
  if (old && old.offset === push.offset && old.at === push.at) return list;
  const next = list.filter((r) => r.user !== push.user);
  next.push({ user: push.user, offset: push.offset, at: push.at });
  return next.sort(byOffset);
}

/**
 * The read receipts of a channel, live: who read up to which offset (the namespace needs
 * `messaging.readReceipts`, and `messaging.seenBy` for other users' receipts), and `markRead`
 * for this user, synced across the user's devices. Subscribes to the channel while mounted
 * (shared with `useMessages` on the same channel).
 *
 * @example
 * ```tsx
 * function SeenBy({ channel, offset }: { channel: string; offset: number }) {
 *   const { receipts, markRead } = useReadReceipts(channel);
 *   useEffect(() => void markRead(offset), [offset, markRead]);
 *   return <small>Seen by {receipts.filter((r) => r.offset >= offset).map((r) => r.user).join(', ')}</small>;
 * }
 * ```
 */
export function useReadReceipts(channel: string, options: ChannelHookOptions = {}): UseReadReceiptsResult {
  const { client, releaseDelay } = useTidingsContext('useReadReceipts');
  const enabled = options.enabled ?? true;
  const store = useKeyedStore([client, channel, enabled, releaseDelay], () => new ReadReceiptsStore({ client, channel, enabled, releaseDelay }));
  useIsomorphicLayoutEffect(() => {
    store.options = { getToken: options.getToken, recover: options.recover };
  });
  const snapshot = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  return useMemo(() => ({ ...snapshot, markRead: store.markRead }), [snapshot, store]);
}
