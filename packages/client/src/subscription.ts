/**
 * A subscription to one channel: its state, its position in the channel's stream, the
 * presence and typing it has seen, and the events it emits.
 *
 * Subscriptions are made by `client.subscribe(channel)`, or by the server (personal channel,
 * the token's `channels`); both kinds behave the same. The client restores them after every
 * reconnect, recovering what was missed from the last position (the stream bookkeeping:
 * subscription-stream.ts).
 */
import { unsubscribeCodeResubscribes, type HistoryResult, type PresenceResult, type PresenceStatsResult, type PresenceUser, type Push, type PublishResult, type StreamPosition, type SubscribeResult } from '@tidings/protocol';
import { ChannelPresence } from './channel-presence.js';
import { ClientErrorCode, TidingsError } from './errors.js';
import type { SubscriptionHost } from './subscription-host.js';
import { MessagingSubscription } from './subscription-messages.js';
import { withTimeout } from './timeout.js';
import { backoffDelay, startTimer } from './timers.js';
import type { Listener } from './emitter.js';
import type { CommandBody } from './outbox.js';
import type { GapContext, HistoryOptions, PublicationContext, PublishOptions, SubscriptionEvents, SubscriptionOptions, SubscriptionState, TypingUser } from './types.js';

/** The typed `on` of `Subscription` (merged into the class: overloads only, no code of their own). */
export interface Subscription<T = unknown, E extends object = {}> {
  /**
   * Adds a listener and returns a function that removes it: the subscription's own events
   * (`publication`, `gap`, …), or an event name its publications carry (`task:updated`), which
   * fires for each publication of that name, after `publication`.
   */
  on<K extends keyof SubscriptionEvents<T>>(event: K, listener: Listener<SubscriptionEvents<T>[K]>): () => void;
  on<K extends keyof E & string>(event: K, listener: Listener<PublicationContext<E[K]>>): () => void;
  on(event: string, listener: Listener<PublicationContext<T>>): () => void;
}

/**
 * One channel subscription. Typed by the publications' data: `client.subscribe<TaskEvent>('task:1')`,
 * and by event name when its publications are named: `client.subscribe<Task, { 'task:updated': Task }>('task:1')`
 * types `sub.on('task:updated', (p) => p.data)`.
 *
 * @example
 * ```ts
 * const sub = client.subscribe<{ text: string }>('chat:lobby');
 * sub.on('publication', (p) => render(p.data.text));
 * sub.on('gap', () => reloadMessages());
 * await sub.publish({ text: 'hello' });
 * ```
 */
export class Subscription<T = unknown, E extends object = {}> extends MessagingSubscription<T> {
  /** The channel name. */
  readonly channel: string;
  readonly #host: SubscriptionHost<Subscription<never>>;
  readonly #options: SubscriptionOptions;
  #serverSide: boolean;
  #state: SubscriptionState = 'subscribing';
  /** Bumped whenever an in-flight subscribe must be ignored. */
  #generation = 0;
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Who is here and who is typing, and this connection's presence state and typing. */
  readonly #members: ChannelPresence;

  /** @internal Made by the client. */
  constructor(host: SubscriptionHost<Subscription<never>>, channel: string, options: SubscriptionOptions, serverSide: boolean) {
    super();
    this.#host = host;
    this.channel = channel;
    this.#options = options;
    this.#serverSide = serverSide;
    this.#members = new ChannelPresence(channel, host, this, () => this.#state === 'subscribed' && this.#host.connected);
  }

  /** `subscribing`, `subscribed` or `unsubscribed`. */
  get state(): SubscriptionState {
    return this.#state;
  }

  /** True when the server made this subscription (personal channel, the token's `channels`). */
  get serverSide(): boolean {
    return this.#serverSide;
  }

  /**
   * Resolves once subscribed; rejects if the subscription ends first or `timeout` ms pass.
   *
   * @example
   * ```ts
   * await client.subscribe('chat:lobby').ready();
   * ```
   */
  ready(timeout = this.#host.timeout): Promise<void> {
    if (this.#state === 'subscribed') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        offSub();
        offUnsub();
        offErr();
      };
      const timer = startTimer(() => {
        cleanup();
        reject(new TidingsError(ClientErrorCode.Timeout, `not subscribed to ${this.channel} within ${timeout} ms`, { temporary: true }));
      }, timeout);
      const offSub = this.on('subscribed', () => {
        cleanup();
        resolve();
      });
      let lastError: TidingsError | undefined;
      const offErr = this.on('error', (e) => (lastError = e));
      const offUnsub = this.on('unsubscribed', (ctx) => {
        cleanup();
        reject(lastError ?? new TidingsError(ClientErrorCode.Unsubscribed, `subscription to ${this.channel} ended: ${ctx.reason}`, { temporary: false }));
      });
    });
  }

  /**
   * Publishes to this channel. Resolves with the server's ack (offset, epoch); queued while
   * disconnected, and published once even when resent after a lost ack.
   *
   * @example
   * ```ts
   * const { offset } = await sub.publish({ text: 'hello' });
   * ```
   */
  publish(data: T, options?: PublishOptions): Promise<PublishResult> {
    return this.#host.publish(this.channel, data, options);
  }

  /**
   * Reads the channel's history.
   *
   * @example
   * ```ts
   * const { publications } = await sub.history({ limit: 20, reverse: true });
   * ```
   */
  history(options?: HistoryOptions): Promise<HistoryResult> {
    return this.#host.history(this.channel, options);
  }

  /** Reads who is in the channel now, from the server. */
  presence(): Promise<PresenceResult> {
    return this.#host.presence(this.channel);
  }

  /** Reads the channel's counts of connections and users. */
  presenceStats(): Promise<PresenceStatsResult> {
    return this.#host.presenceStats(this.channel);
  }

  /**
   * Users in the channel, as last known: from the subscribe snapshot, kept up to date by
   * `join`, `leave` and `presence` pushes. The same array is returned until something changes.
   *
   * @example
   * ```ts
   * sub.on('presence', () => renderViewers(sub.presenceUsers().filter((u) => u.status === 'online')));
   * ```
   */
  presenceUsers(): readonly PresenceUser[] {
    return this.#members.presenceUsers();
  }

  /**
   * Other users typing in the channel now. The same array is returned until something changes.
   *
   * @example
   * ```ts
   * sub.on('typing', () => (hint.textContent = sub.typingUsers().map((t) => t.user).join(', ')));
   * ```
   */
  typingUsers(): readonly TypingUser[] {
    return this.#members.typingUsers();
  }

  /**
   * Sets this connection's presence state in the channel (`null` clears it); kept and set
   * again after every reconnect.
   *
   * @example
   * ```ts
   * sub.setState({ viewing: 'comments', cursor: 120 });
   * ```
   */
  setState(state: unknown): Promise<void> {
    return this.#members.setState(state);
  }

  /**
   * Tells the channel this user is typing (`true`, the default) or stopped (`false`). Call it on
   * every keystroke: `typing: true` goes out at most once per `typing.throttle`, and `typing: false`
   * follows by itself after `typing.idle` without a call.
   *
   * @example
   * ```ts
   * input.addEventListener('input', () => sub.setTyping());
   * form.addEventListener('submit', () => sub.setTyping(false));
   * ```
   */
  setTyping(typing = true): void {
    if (typing) this.#members.setTyping();
    else this.#members.stopTyping(true);
  }

  /**
   * Ends the subscription. The client forgets it; `subscribe()` starts it again.
   *
   * @example
   * ```ts
   * onLeaveRoom(() => sub.unsubscribe());
   * ```
   */
  unsubscribe(): void {
    if (this.#state === 'unsubscribed') return;
    this.#generation++;
    clearTimeout(this.#retryTimer);
    this.#members.stopTyping(false);
    if (this.#host.connected) this.#host.sendNow({ type: 'unsubscribe', channel: this.channel });
    this.#end(0, 'unsubscribed', false);
  }

  /** Starts an unsubscribed subscription again (after `unsubscribe()` or a final error). */
  subscribe(): void {
    if (this.#state !== 'unsubscribed') return;
    this.#setState('subscribing');
    this.#host.adopt(this as unknown as Subscription<never>);
    if (this.#host.connected) this._subscribeNow(false);
  }

  // ------------------------------------------------------------- internal, driven by the client

  /** @internal The position to recover from, when recovery applies. */
  _recoverPosition(): StreamPosition | undefined {
    if (this.#options.recover === false || !this.recoverable) return undefined;
    return this.position;
  }

  /**
   * @internal Sends `subscribe` (after `unsubscribe` when `resubscribe`), recovering from the
   * last position. With a subscription `getToken` the command goes out later: the returned
   * promise settles once it was sent or given up, so the client can hold queued commands
   * (a publish to this private channel) until then.
   */
  _subscribeNow(resubscribe: boolean): Promise<void> | undefined {
    const generation = ++this.#generation;
    clearTimeout(this.#retryTimer);
    this.#setState('subscribing');
    const recover = this._recoverPosition();
    // Without recovery, the last position still tells whether something was missed.
    const known = recover ? undefined : this.position;
    const send = (token: string | undefined) => {
      if (generation !== this.#generation || !this.#host.connected) return;
      if (resubscribe) this.#host.sendNow({ type: 'unsubscribe', channel: this.channel });
      this.#host.sendNow(
        { type: 'subscribe', channel: this.channel, ...(token ? { token } : {}), ...(recover ? { recover } : {}) },
        (err, result) => {
          if (generation !== this.#generation) return;
          if (err) this.#subscribeFailed(err);
          else this._applyResult(result as SubscribeResult, recover, known);
        },
      );
    };
    if (!this.#options.getToken) {
      send(undefined);
      return undefined;
    }
    return withTimeout(Promise.resolve().then(() => this.#options.getToken!(this.channel)), this.#host.timeout, 'getToken').then(send, (err: unknown) => {
      if (generation !== this.#generation) return;
      this.#subscribeFailed(new TidingsError(ClientErrorCode.TokenUnavailable, `getToken for ${this.channel} failed: ${String(err)}`, { temporary: true }));
    });
  }

  /**
   * @internal Applies a subscribe result (a reply, or an entry of the connect reply's `subs`).
   * `recover` is the position sent for recovery; `known` the last position when none was sent
   * (history without recovery), to report a gap when the stream moved on meanwhile.
   */
  _applyResult(result: SubscribeResult, recover: StreamPosition | undefined, known?: StreamPosition): void {
    clearTimeout(this.#retryTimer);
    this.#attempt = 0;
    const wasRecovering = recover !== undefined;
    const gap = this._advance(result, recover, known);
    if (result.presence) this.#members.reset(result.presence.users);
    this.#setState('subscribed');
    this.emit('subscribed', {
      channel: this.channel,
      recoverable: result.recoverable,
      wasRecovering,
      recovered: wasRecovering && result.recovered === true,
      serverSide: this.#serverSide,
      ...(result.epoch !== undefined ? { epoch: result.epoch } : {}),
      ...(result.offset !== undefined ? { offset: result.offset } : {}),
      ...(result.info !== undefined ? { info: result.info } : {}),
    });
    if (gap) this._gap(gap);
    this.#members.restoreState();
  }

  /** @internal A push for this channel. */
  _onPush(push: Push): void {
    switch (push.type) {
      case 'publication':
        // Publications that arrive while (re)subscribing belong to the previous subscription:
        // recovery delivers them.
        if (this.#state === 'subscribed') this._follow(push);
        break;
      case 'join':
      case 'leave':
      case 'presence':
      case 'typing':
        this.#members.onPush(push);
        break;
      case 'read':
        this.emit('read', push);
        break;
      case 'unsubscribe':
        if (unsubscribeCodeResubscribes(push.code) && !this.#serverSide) this._subscribeNow(false);
        else if (unsubscribeCodeResubscribes(push.code)) this.#host.resync(`server asked to resubscribe ${this.channel}`);
        else {
          this.#generation++;
          this.#members.stopTyping(false);
          this.#end(push.code, push.reason, true);
        }
        break;
      default:
        break;
    }
  }

  /** @internal The connection is gone: wait to be restored; typing state is reset. */
  _connectionLost(): void {
    this.#generation++;
    clearTimeout(this.#retryTimer);
    this.#members.stopTyping(false);
    this.#members.clear(false);
    if (this.#state === 'subscribed') this.#setState('subscribing');
  }

  /** @internal The server made (or stopped making) this subscription. */
  _setServerSide(serverSide: boolean): void {
    this.#serverSide = serverSide;
  }

  /** @internal The server no longer makes this server-side subscription. */
  _endByServer(reason: string): void {
    this.#generation++;
    this.#end(0, reason, true);
  }

  // ------------------------------------------------------------- private

  /** @internal */
  protected _call(body: CommandBody, resend = false): Promise<unknown> {
    return this.#host.call(body, { resend });
  }

  /** @internal */
  protected _gap(gap: GapContext): void {
    this.emit('gap', gap);
    this.#options.onGap?.(gap);
  }

  /** @internal */
  protected _recover(last: number, got: number): void {
    this.#host.debug('publication offset is not last + 1: recovering', { channel: this.channel, last, got });
    if (this.#serverSide) this.#host.resync(`gap in ${this.channel}`);
    else this._subscribeNow(true);
  }

  #subscribeFailed(err: TidingsError): void {
    if (err.code === 'connection_lost') return; // restored after the reconnect
    this.emit('error', err);
    if (err.temporary) {
      const delay = backoffDelay(this.#attempt++, this.#host.minRetryDelay, this.#host.maxRetryDelay);
      this.#host.debug(`subscribe ${this.channel} failed (${err.code}); retrying in ${delay} ms`);
      // A subscribe that timed out may have succeeded: resubscribe (unsubscribe first) to be sure.
      const resubscribe = err.code === 'timeout';
      this.#retryTimer = startTimer(() => {
        if (this.#host.connected && this.#state === 'subscribing') this._subscribeNow(resubscribe);
      }, delay);
      return;
    }
    this.#end(0, err.code, false);
  }

  #end(code: number, reason: string, server: boolean): void {
    clearTimeout(this.#retryTimer);
    this.#members.clear(true);
    this.#host.forget(this as unknown as Subscription<never>);
    this.#setState('unsubscribed');
    this.emit('unsubscribed', { channel: this.channel, code, reason, server });
  }

  #setState(state: SubscriptionState): void {
    const previous = this.#state;
    if (previous === state) return;
    this.#state = state;
    this.emit('state', { state, previous });
    if (state === 'subscribing') this.emit('subscribing', { channel: this.channel });
  }
}
