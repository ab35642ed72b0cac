/**
 * A subscription to one channel: its state, its position in the channel's stream, the
 * presence and typing it has seen, and the events it emits.
 *
 * Subscriptions are made by `client.subscribe(channel)`, or by the server (personal channel,
 * the token's `channels`); both kinds behave the same. The client restores them after every
 * reconnect, recovering what was missed from the last position.
 */
import {
  unsubscribeCodeResubscribes,
  type HistoryResult,
  type PresenceResult,
  type PresenceStatsResult,
  type PresenceUser,
  type Push,
  type PublishResult,
  type StreamPosition,
  type SubscribeResult,
} from '@tidings/protocol';
import { Emitter } from './emitter.js';
import { ClientErrorCode, TidingsError } from './errors.js';
import { withTimeout } from './timeout.js';
import type { CommandBody, Done } from './outbox.js';
import { backoffDelay, startTimer } from './timers.js';
import type {
  GapContext,
  HistoryOptions,
  PublishOptions,
  SubscriptionEvents,
  SubscriptionOptions,
  SubscriptionState,
  TypingUser,
} from './types.js';

/** @internal What a subscription needs from its client. */
export interface SubscriptionHost {
  readonly connected: boolean;
  /** Sends at once on the current connection (fails with `connection_lost` when there is none). */
  sendNow(body: CommandBody, done?: Done): void;
  publish(channel: string, data: unknown, options?: PublishOptions): Promise<PublishResult>;
  history(channel: string, options?: HistoryOptions): Promise<HistoryResult>;
  presence(channel: string): Promise<PresenceResult>;
  presenceStats(channel: string): Promise<PresenceStatsResult>;
  /** Registers a subscription (again) in the client. */
  adopt(sub: Subscription<never>): void;
  /** Removes a subscription from the client. */
  forget(sub: Subscription<never>): void;
  /** A server-side subscription lost continuity: reconnect and recover through `connect.subs`. */
  resync(reason: string): void;
  readonly typing: { throttle: number; idle: number; timeout: number };
  readonly minRetryDelay: number;
  readonly maxRetryDelay: number;
  /** The client's `timeout` option: replies, getToken, ready(). */
  readonly timeout: number;
  debug(message: string, details?: unknown): void;
}

/**
 * One channel subscription. Typed by the publications' data: `client.subscribe<TaskEvent>('task:1')`.
 *
 * @example
 * ```ts
 * const sub = client.subscribe<{ text: string }>('chat:lobby');
 * sub.on('publication', (p) => render(p.data.text));
 * sub.on('gap', () => reloadMessages());
 * await sub.publish({ text: 'hello' });
 * ```
 */
export class Subscription<T = unknown> extends Emitter<SubscriptionEvents<T>> {
  /** The channel name. */
  readonly channel: string;
  readonly #host: SubscriptionHost;
  readonly #options: SubscriptionOptions;
  #serverSide: boolean;
  #state: SubscriptionState = 'subscribing';
  #epoch: string | undefined;
  #offset: number | undefined;
  #recoverable = false;
  /** Bumped whenever an in-flight subscribe must be ignored. */
  #generation = 0;
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #presenceState: { value: unknown } | undefined;
  readonly #presence = new Map<string, PresenceUser>();
  #presenceSnapshot: PresenceUser[] | null = null;
  readonly #typing = new Map<string, { info?: Record<string, unknown>; timer: ReturnType<typeof setTimeout> }>();
  #typingSnapshot: TypingUser[] | null = null;
  #typingSentAt = -Infinity;
  #typingOn = false;
  #typingIdleTimer: ReturnType<typeof setTimeout> | undefined;

  /** @internal Made by the client. */
  constructor(host: SubscriptionHost, channel: string, options: SubscriptionOptions, serverSide: boolean) {
    super();
    this.#host = host;
    this.channel = channel;
    this.#options = options;
    this.#serverSide = serverSide;
  }

  /** `subscribing`, `subscribed` or `unsubscribed`. */
  get state(): SubscriptionState {
    return this.#state;
  }

  /** True when the server made this subscription (personal channel, the token's `channels`). */
  get serverSide(): boolean {
    return this.#serverSide;
  }

  /** The last position seen in the channel's stream (channels with history). */
  get position(): StreamPosition | undefined {
    return this.#epoch !== undefined && this.#offset !== undefined ? { epoch: this.#epoch, offset: this.#offset } : undefined;
  }

  /** Whether the namespace keeps history and allows recovery (known once subscribed). */
  get recoverable(): boolean {
    return this.#recoverable;
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
    this.#presenceSnapshot ??= [...this.#presence.values()];
    return this.#presenceSnapshot;
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
    this.#typingSnapshot ??= [...this.#typing].map(([user, t]) => (t.info ? { user, info: t.info } : { user }));
    return this.#typingSnapshot;
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
    this.#presenceState = state === null ? undefined : { value: state };
    if (this.#state !== 'subscribed' || !this.#host.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#host.sendNow({ type: 'presence_state', channel: this.channel, state }, (err) => (err ? reject(err) : resolve()));
    });
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
    if (!typing) {
      this.#stopTyping(true);
      return;
    }
    if (this.#state !== 'subscribed' || !this.#host.connected) return;
    clearTimeout(this.#typingIdleTimer);
    this.#typingIdleTimer = startTimer(() => this.#stopTyping(true), this.#host.typing.idle);
    const now = Date.now();
    if (this.#typingOn && now - this.#typingSentAt < this.#host.typing.throttle) return;
    this.#typingOn = true;
    this.#typingSentAt = now;
    this.#host.sendNow({ type: 'typing', channel: this.channel, typing: true }, (err) => this.#reportError(err));
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
    this.#stopTyping(false);
    if (this.#host.connected) this.#host.sendNow({ type: 'unsubscribe', channel: this.channel });
    this.#end(0, 'unsubscribed', false);
  }

  /** Starts an unsubscribed subscription again (after `unsubscribe()` or a final error). */
  subscribe(): void {
    if (this.#state !== 'unsubscribed') return;
    this.#setState('subscribing');
    this.#host.adopt(this as Subscription<never>);
    if (this.#host.connected) this._subscribeNow(false);
  }

  // ------------------------------------------------------------- internal, driven by the client

  /** @internal The position to recover from, when recovery applies. */
  _recoverPosition(): StreamPosition | undefined {
    if (this.#options.recover === false || !this.#recoverable) return undefined;
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
    let gap: GapContext | undefined;
    if (wasRecovering && result.recovered) {
      for (const pub of result.publications ?? []) {
        // Already delivered live: during an upgrade the old connection keeps delivering until the new one is ready.
        if (pub.offset !== undefined && this.#offset !== undefined && this.#epoch === result.epoch && pub.offset <= this.#offset) continue;
        if (pub.offset !== undefined) this.#offset = pub.offset;
        this.emit('publication', { channel: this.channel, data: pub.data as T, offset: pub.offset, ...(pub.info ? { info: pub.info } : {}), recovered: true });
      }
    } else if (wasRecovering) {
      gap = { channel: this.channel, from: recover, to: { epoch: result.epoch, offset: result.offset } };
    } else if (known && (known.epoch !== result.epoch || known.offset !== result.offset)) {
      gap = { channel: this.channel, from: known, to: { epoch: result.epoch, offset: result.offset } };
    }
    this.#epoch = result.epoch;
    this.#offset = result.offset;
    this.#recoverable = result.recoverable;
    if (result.presence) {
      this.#presence.clear();
      for (const user of result.presence.users) this.#presence.set(user.user, user);
      this.#presenceSnapshot = null;
    }
    this.#setState('subscribed');
    this.emit('subscribed', {
      channel: this.channel,
      recoverable: result.recoverable,
      wasRecovering,
      recovered: wasRecovering && result.recovered === true,
      serverSide: this.#serverSide,
      ...(result.epoch !== undefined ? { epoch: result.epoch } : {}),
      ...(result.offset !== undefined ? { offset: result.offset } : {}),
    });
    if (gap) {
      this.emit('gap', gap);
      this.#options.onGap?.(gap);
    }
    if (this.#presenceState) {
      this.#host.sendNow({ type: 'presence_state', channel: this.channel, state: this.#presenceState.value }, (err) => this.#reportError(err));
    }
  }

  /** @internal A push for this channel. */
  _onPush(push: Push): void {
    switch (push.type) {
      case 'publication':
        this.#onPublication(push);
        break;
      case 'join': {
        const { info } = push;
        const known = this.#presence.get(info.user);
        this.#presence.set(info.user, {
          ...(known ?? { user: info.user, status: 'online' }),
          ...(info.info ? { info: info.info } : {}),
          lastSeen: Date.now(),
          clients: Math.max(1, known?.clients ?? 0),
        } as PresenceUser);
        this.#presenceSnapshot = null;
        this.emit('join', { channel: this.channel, info });
        break;
      }
      case 'leave': {
        const { info } = push;
        if (this.#presence.delete(info.user)) this.#presenceSnapshot = null;
        this.#dropTyping(info.user);
        this.emit('leave', { channel: this.channel, info });
        break;
      }
      case 'presence': {
        const { user } = push;
        this.#presence.set(user.user, user);
        this.#presenceSnapshot = null;
        this.emit('presence', { channel: this.channel, user });
        break;
      }
      case 'typing': {
        const t = push;
        if (t.typing) {
          const known = this.#typing.get(t.user);
          if (known) clearTimeout(known.timer);
          const timer = startTimer(() => this.#dropTyping(t.user), this.#host.typing.timeout);
          this.#typing.set(t.user, t.info ? { info: t.info, timer } : { timer });
          if (!known) this.#typingSnapshot = null;
          this.emit('typing', { channel: this.channel, user: t.user, ...(t.info ? { info: t.info } : {}), typing: true });
        } else {
          this.#dropTyping(t.user);
        }
        break;
      }
      case 'unsubscribe': {
        const u = push;
        if (unsubscribeCodeResubscribes(u.code) && !this.#serverSide) this._subscribeNow(false);
        else if (unsubscribeCodeResubscribes(u.code)) this.#host.resync(`server asked to resubscribe ${this.channel}`);
        else {
          this.#generation++;
          this.#stopTyping(false);
          this.#end(u.code, u.reason, true);
        }
        break;
      }
      default:
        break;
    }
  }

  /** @internal The connection is gone: wait to be restored; typing state is reset. */
  _connectionLost(): void {
    this.#generation++;
    clearTimeout(this.#retryTimer);
    this.#stopTyping(false);
    for (const user of [...this.#typing.keys()]) this.#dropTyping(user);
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

  #onPublication(push: Extract<Push, { type: 'publication' }>): void {
    // Publications that arrive while (re)subscribing belong to the previous subscription:
    // recovery delivers them.
    if (this.#state !== 'subscribed') return;
    if (push.offset !== undefined && this.#offset !== undefined) {
      if (push.offset !== this.#offset + 1 && !this.#recoverable) {
        // Nothing can be replayed here: say so, and go on from this publication. (An offset that
        // went down means a new epoch, which publications do not carry: `to` has no epoch then.)
        const to = push.offset > this.#offset ? { epoch: this.#epoch, offset: push.offset } : { offset: push.offset };
        const gap: GapContext = { channel: this.channel, from: this.position!, to };
        this.emit('gap', gap);
        this.#options.onGap?.(gap);
      } else if (push.offset !== this.#offset + 1) {
        this.#host.debug('publication offset is not last + 1: recovering', { channel: this.channel, last: this.#offset, got: push.offset });
        if (this.#serverSide) this.#host.resync(`gap in ${this.channel}`);
        else this._subscribeNow(true);
        return;
      }
      this.#offset = push.offset;
    }
    this.emit('publication', {
      channel: this.channel,
      data: push.data as T,
      ...(push.offset !== undefined ? { offset: push.offset } : {}),
      ...(push.info ? { info: push.info } : {}),
    });
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
    for (const user of [...this.#typing.keys()]) this.#dropTyping(user);
    this.#presence.clear();
    this.#presenceSnapshot = null;
    this.#host.forget(this as Subscription<never>);
    this.#setState('unsubscribed');
    this.emit('unsubscribed', { channel: this.channel, code, reason, server });
  }

  #stopTyping(send: boolean): void {
    clearTimeout(this.#typingIdleTimer);
    this.#typingIdleTimer = undefined;
    if (!this.#typingOn) return;
    this.#typingOn = false;
    this.#typingSentAt = -Infinity;
    if (send && this.#state === 'subscribed' && this.#host.connected) {
      this.#host.sendNow({ type: 'typing', channel: this.channel, typing: false }, (err) => this.#reportError(err));
    }
  }

  #dropTyping(user: string): void {
    const known = this.#typing.get(user);
    if (!known) return;
    clearTimeout(known.timer);
    this.#typing.delete(user);
    this.#typingSnapshot = null;
    this.emit('typing', { channel: this.channel, user, ...(known.info ? { info: known.info } : {}), typing: false });
  }

  #reportError(err: TidingsError | null): void {
    if (err && err.code !== 'connection_lost') this.emit('error', err);
  }

  #setState(state: SubscriptionState): void {
    const previous = this.#state;
    if (previous === state) return;
    this.#state = state;
    this.emit('state', { state, previous });
    if (state === 'subscribing') this.emit('subscribing', { channel: this.channel });
  }
}
