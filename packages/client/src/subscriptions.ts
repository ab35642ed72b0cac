/**
 * The client's subscriptions, one per channel: those the application made and those the
 * server made (personal channel, the token's `channels`), their pushes, and restoring them
 * after every (re)connect.
 */
import type {
  HistoryResult,
  PresenceResult,
  PresenceStatsResult,
  PublishResult,
  Push,
  StreamPosition,
  SubscribeResult,
} from '@tidings/protocol';
import type { ClientConfig } from './config.js';
import { TidingsError } from './errors.js';
import type { Outbox } from './outbox.js';
import { Subscription } from './subscription.js';
import type { SubscriptionHost } from './subscription-host.js';
import type { ConnectionState, HistoryOptions, PublishOptions, SubscriptionOptions } from './types.js';

/** @internal The client's commands its subscriptions use (the `Tidings` class has them). */
export interface ChannelCommands {
  readonly state: ConnectionState;
  publish(channel: string, data: unknown, options?: PublishOptions): Promise<PublishResult>;
  history(channel: string, options?: HistoryOptions): Promise<HistoryResult>;
  presence(channel: string): Promise<PresenceResult>;
  presenceStats(channel: string): Promise<PresenceStatsResult>;
}

/** @internal The client's subscriptions by channel. */
export class Subscriptions {
  readonly #subs = new Map<string, Subscription<never>>();
  readonly #host: SubscriptionHost<Subscription<never>>;

  /**
   * Subscriptions publish and read through `client`, send through `outbox`, and ask
   * `resync` to reconnect when a server-side one lost continuity.
   */
  constructor(client: ChannelCommands, outbox: Pick<Outbox, 'sendNow' | 'call'>, config: ClientConfig, debug: (message: string, details?: unknown) => void, resync: (reason: string) => void) {
    this.#host = {
      get connected() {
        return client.state === 'connected';
      },
      sendNow: (body, done) => outbox.sendNow(body, done),
      call: (body, options) => outbox.call(body, options),
      publish: (channel, data, options) => client.publish(channel, data, options),
      history: (channel, options) => client.history(channel, options),
      presence: (channel) => client.presence(channel),
      presenceStats: (channel) => client.presenceStats(channel),
      adopt: (sub) => this.adopt(sub),
      forget: (sub) => this.forget(sub),
      resync,
      typing: config.typing,
      minRetryDelay: config.minReconnectDelay,
      maxRetryDelay: config.maxReconnectDelay,
      timeout: config.timeout,
      debug,
    };
  }

  getSubscription(channel: string): Subscription<never> | undefined {
    return this.#subs.get(channel);
  }

  subscriptions(): Subscription<never>[] {
    return [...this.#subs.values()];
  }

  /** The subscription to `channel`: the existing one, or a new one (subscribed at once when connected). */
  subscribe(channel: string, options: SubscriptionOptions): Subscription<never> {
    const existing = this.#subs.get(channel);
    if (existing) return existing;
    const sub = new Subscription<never>(this.#host, channel, options, false);
    this.#subs.set(channel, sub);
    if (this.#host.connected) sub._subscribeNow(false);
    return sub;
  }

  /** Registers a subscription (again). */
  adopt(sub: Subscription<never>): void {
    const existing = this.#subs.get(sub.channel);
    if (existing && existing !== sub) throw new TidingsError('already_subscribed', `another subscription to ${sub.channel} exists`, { temporary: false });
    this.#subs.set(sub.channel, sub);
  }

  forget(sub: Subscription<never>): void {
    if (this.#subs.get(sub.channel) === sub) this.#subs.delete(sub.channel);
  }

  /** Positions of the server-side subscriptions to recover through `connect.subs`. */
  positions(): Record<string, StreamPosition> {
    const subs: Record<string, StreamPosition> = {};
    for (const sub of this.#subs.values()) {
      const position = sub.serverSide ? sub._recoverPosition() : undefined;
      if (position) subs[sub.channel] = position;
    }
    return subs;
  }

  /**
   * Connected: applies the server-side subscriptions of the connect reply (made and recovered
   * by the connect itself, from the positions `sent`), ends those the server no longer makes,
   * and subscribes the others again. Returns the subscribes still to be sent (after a getToken).
   */
  restore(serverSide: Record<string, SubscribeResult>, sent: Record<string, StreamPosition>): Promise<void>[] {
    for (const [channel, result] of Object.entries(serverSide)) {
      const sub = this.#serverSide(channel);
      sub._applyResult(result, sent[channel], sent[channel] ? undefined : sub.position);
    }
    const sending: Promise<void>[] = [];
    for (const sub of [...this.#subs.values()]) {
      if (Object.prototype.hasOwnProperty.call(serverSide, sub.channel)) continue;
      if (sub.serverSide) sub._endByServer('no longer subscribed by the server');
      else {
        const later = sub._subscribeNow(false);
        if (later) sending.push(later);
      }
    }
    return sending;
  }

  /** A push: a server-side subscription made after connect (reserved in v1), or a channel's. False for a push that names no channel. */
  push(push: Push): boolean {
    if (push.type === 'subscribe') {
      this.#serverSide(push.channel)._applyResult(push, undefined);
      return true;
    }
    const channel = (push as { channel?: unknown }).channel;
    if (typeof channel !== 'string') return false;
    this.#subs.get(channel)?._onPush(push);
    return true;
  }

  /** The connection is gone: every subscription waits to be restored. */
  lost(): void {
    for (const sub of this.#subs.values()) sub._connectionLost();
  }

  #serverSide(channel: string): Subscription<never> {
    let sub = this.#subs.get(channel);
    if (!sub) {
      sub = new Subscription<never>(this.#host, channel, {}, true);
      this.#subs.set(channel, sub);
    }
    sub._setServerSide(true);
    return sub;
  }
}
