/**
 * Base of the stores bound to one channel (`useChannel`, `usePresence`, `useTyping`): while
 * the component is mounted it holds a lease on the shared subscription and follows its
 * state and errors; subclasses add what they show.
 */
import { TidingsError, type Subscription, type SubscriptionOptions, type SubscriptionState, type Tidings } from '@tidings/client';
import { acquireChannel, type ChannelLease } from './channel-registry.js';
import { Store } from './store.js';

/** Options shared by the hooks that subscribe to a channel. */
export interface ChannelHookOptions {
  /** Subscribe only while true. Default true. While false the hook returns its empty state. */
  enabled?: boolean;
  /**
   * Fetches a subscription token (private namespaces). Used when this hook is the one that
   * creates the subscription; the latest function given is called.
   */
  getToken?: (channel: string) => string | Promise<string>;
  /**
   * Recover missed publications after a reconnect. Default true. Used when this hook is the
   * one that creates the subscription.
   */
  recover?: boolean;
}

/** What every channel hook reports about its subscription. */
export interface SubscriptionSnapshot<T> {
  /** `subscribing`, `subscribed` or `unsubscribed` (also while `enabled` is false). */
  state: SubscriptionState;
  /**
   * The last error: a refused subscribe (`permission_denied`, …), a failed history read, or
   * `unsubscribed` when the server ended the subscription. Cleared by the next successful subscribe.
   */
  error: TidingsError | null;
  /** The shared subscription while the component is mounted, for advanced use; `null` before. */
  subscription: Subscription<T> | null;
}

/** @internal Settings a channel store is made with (a change makes a new store). */
export interface ChannelStoreConfig {
  client: Tidings;
  channel: string;
  enabled: boolean;
  releaseDelay: number;
}

/** @internal */
export abstract class SubscriptionStore<T, S extends SubscriptionSnapshot<T>> extends Store<S> {
  readonly client: Tidings;
  readonly channel: string;
  readonly enabled: boolean;
  readonly #releaseDelay: number;
  /** The latest `getToken`/`recover` given to the hook; set by the hook before `start`. */
  options: Pick<ChannelHookOptions, 'getToken' | 'recover'> = {};
  #lease: ChannelLease<T> | null = null;
  #offs: Array<() => void> = [];
  #error: TidingsError | null = null;

  constructor(config: ChannelStoreConfig) {
    super();
    this.client = config.client;
    this.channel = config.channel;
    this.enabled = config.enabled;
    this.#releaseDelay = config.releaseDelay;
  }

  /** The subscription while started. */
  protected get subscription(): Subscription<T> | null {
    return this.#lease?.subscription ?? null;
  }

  /** The fields of `SubscriptionSnapshot`, for `compute()`. */
  protected base(): SubscriptionSnapshot<T> {
    const sub = this.subscription;
    let state: SubscriptionState;
    if (!this.enabled) state = 'unsubscribed';
    else if (sub) state = sub.state;
    // Not started yet (first render): the subscription starts on commit.
    else state = this.client.getSubscription(this.channel)?.state ?? 'subscribing';
    return { state, error: this.#error, subscription: sub };
  }

  /** Sets (or with `null` clears) the reported error; anything but a `TidingsError` is wrapped as `internal`. */
  protected setError(error: unknown): void {
    this.#error = error === null || error instanceof TidingsError ? error : new TidingsError('internal', `${this.channel}: ${String(error)}`, { temporary: false });
    this.changed();
  }

  /** Adds the subclass's listeners; returns the functions that remove them. */
  protected abstract listen(sub: Subscription<T>): Array<() => void>;

  /** Runs after the listeners are added (the subscription may already be subscribed). */
  protected started(_sub: Subscription<T>): void {}

  /** Runs before the lease is released. */
  protected stopping(_sub: Subscription<T>): void {}

  protected override start(): void {
    if (!this.enabled) return;
    const getToken = this.options.getToken;
    const subscribeOptions: SubscriptionOptions = {
      // Reads the latest function at each call: the hook may be re-rendered with another one.
      ...(getToken ? { getToken: (channel: string) => (this.options.getToken ?? getToken)(channel) } : {}),
      ...(this.options.recover !== undefined ? { recover: this.options.recover } : {}),
    };
    const lease = acquireChannel<T>(this.client, this.channel, subscribeOptions, this.#releaseDelay);
    this.#lease = lease;
    const sub = lease.subscription;
    this.#offs = [
      sub.on('state', () => this.changed()),
      sub.on('error', (error) => this.setError(error)),
      sub.on('subscribed', () => this.setError(null)),
      sub.on('unsubscribed', (ctx) => {
        if (ctx.server && !this.#error) {
          this.#error = new TidingsError('unsubscribed', `the server ended the subscription to ${ctx.channel}: ${ctx.code} ${ctx.reason}`.trim(), { temporary: false });
        }
        this.changed();
      }),
      ...this.listen(sub),
    ];
    this.started(sub);
    this.changed();
  }

  protected override stop(): void {
    const lease = this.#lease;
    if (!lease) return;
    for (const off of this.#offs.splice(0)) off();
    this.stopping(lease.subscription);
    this.#lease = null;
    lease.release();
    this.changed();
  }
}
