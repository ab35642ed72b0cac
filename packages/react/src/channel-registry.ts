/**
 * Channel subscriptions shared by every hook of one client, counted by reference.
 *
 * The client already keeps one `Subscription` per channel; what it cannot know is how many
 * components still need it. Each hook takes a lease here while it is mounted. The last
 * release does not unsubscribe at once but after `releaseDelay` ms (a macrotask even at 0):
 * StrictMode's mount → unmount → mount, and a route change that unmounts one component
 * and mounts another on the same channel, take the lease again before the timer fires,
 * so the server sees one `subscribe` and no `unsubscribe`.
 *
 * A subscription the registry did not make (the app called `client.subscribe` itself) or
 * that the server made (the personal channel `user:#<id>`, a token's `channels`) is never
 * unsubscribed by it: the registry only lets go of its reference.
 */
import { startTimer, type Subscription, type SubscriptionOptions, type Tidings } from '@tidings/client';

interface Entry {
  readonly subscription: Subscription<unknown>;
  /** Leases not yet released. */
  refs: number;
  /** The registry created the subscription, so it ends it when the last lease is gone. */
  readonly owned: boolean;
  /** The deferred unsubscribe, while `refs` is 0. */
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** One map per client: clients are independent, and a dropped client takes its map with it. */
const registries = new WeakMap<Tidings, Map<string, Entry>>();

/** A hook's hold on a channel subscription. */
export interface ChannelLease<T> {
  readonly subscription: Subscription<T>;
  /** Gives the hold back; calling it again does nothing. */
  release(): void;
}

/**
 * Takes a reference to the subscription to `channel`, subscribing when nobody holds one.
 * `options` apply only when this call creates the subscription.
 */
export function acquireChannel<T>(client: Tidings, channel: string, options: SubscriptionOptions, releaseDelay: number): ChannelLease<T> {
  let channels = registries.get(client);
  if (!channels) registries.set(client, (channels = new Map()));
  let entry = channels.get(channel);
  // A subscription that ended (the server removed it, a final error) and that nobody holds
  // is not worth reviving: a new holder gets a fresh one.
  if (entry && entry.refs === 0 && entry.subscription.state === 'unsubscribed') {
    clearTimeout(entry.timer);
    channels.delete(channel);
    entry = undefined;
  }
  if (!entry) {
    const owned = client.getSubscription(channel) === undefined;
    entry = { subscription: client.subscribe<unknown>(channel, options), refs: 0, owned, timer: undefined };
    channels.set(channel, entry);
  }
  clearTimeout(entry.timer);
  entry.timer = undefined;
  entry.refs++;

  const held = entry;
  const map = channels;
  let released = false;
  return {
    subscription: held.subscription as unknown as Subscription<T>,
    release() {
      if (released) return;
      released = true;
      held.refs--;
      if (held.refs > 0) return;
      held.timer = startTimer(() => {
        held.timer = undefined;
        if (held.refs > 0 || map.get(channel) !== held) return;
        map.delete(channel);
        if (held.owned && !held.subscription.serverSide) held.subscription.unsubscribe();
      }, releaseDelay);
    },
  };
}
