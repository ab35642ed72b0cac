/**
 * Who is in a channel and who is typing there, as one subscription knows it: the subscribe
 * snapshot kept up to date by `join`, `leave`, `presence` and `typing` pushes; and this
 * connection's own presence state (set again after every resubscribe) and typing (throttled,
 * and ended by itself when idle).
 */
import type { JoinPush, LeavePush, PresencePush, PresenceUser, TypingPush } from '@tidings/protocol';
import type { Emitter } from './emitter.js';
import type { TidingsError } from './errors.js';
import type { CommandBody, Done } from './outbox.js';
import { startTimer } from './timers.js';
import type { SubscriptionEvents, TypingUser } from './types.js';

/** @internal What presence and typing need from the client (a `SubscriptionHost` is one). */
export interface PresenceHost {
  sendNow(body: CommandBody, done?: Done): void;
  readonly typing: { throttle: number; idle: number; timeout: number };
}

/** @internal The subscription's events that presence and typing emit. */
export type PresenceEvents = Pick<Emitter<Pick<SubscriptionEvents<unknown>, 'join' | 'leave' | 'presence' | 'typing' | 'error'>>, 'emit'>;

/** @internal The presence and typing state of one subscription. */
export class ChannelPresence {
  readonly #channel: string;
  readonly #host: PresenceHost;
  readonly #events: PresenceEvents;
  /** Whether typing can be sent now: subscribed, and connected. */
  readonly #live: () => boolean;
  /** This connection's presence state, set again after every (re)subscribe. */
  #state: { value: unknown } | undefined;
  readonly #presence = new Map<string, PresenceUser>();
  #presenceSnapshot: PresenceUser[] | null = null;
  readonly #typing = new Map<string, { info?: Record<string, unknown>; timer: ReturnType<typeof setTimeout> }>();
  #typingSnapshot: TypingUser[] | null = null;
  #typingSentAt = -Infinity;
  #typingOn = false;
  #typingIdleTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(channel: string, host: PresenceHost, events: PresenceEvents, live: () => boolean) {
    this.#channel = channel;
    this.#host = host;
    this.#events = events;
    this.#live = live;
  }

  /** Users in the channel; the same array until something changes. */
  presenceUsers(): readonly PresenceUser[] {
    this.#presenceSnapshot ??= [...this.#presence.values()];
    return this.#presenceSnapshot;
  }

  /** Other users typing now; the same array until something changes. */
  typingUsers(): readonly TypingUser[] {
    this.#typingSnapshot ??= [...this.#typing].map(([user, t]) => (t.info ? { user, info: t.info } : { user }));
    return this.#typingSnapshot;
  }

  /** The users of a subscribe result. */
  reset(users: readonly PresenceUser[]): void {
    this.#presence.clear();
    for (const user of users) this.#presence.set(user.user, user);
    this.#presenceSnapshot = null;
  }

  onPush(push: JoinPush | LeavePush | PresencePush | TypingPush): void {
    const channel = this.#channel;
    switch (push.type) {
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
        this.#events.emit('join', { channel, info });
        break;
      }
      case 'leave': {
        const { info } = push;
        if (this.#presence.delete(info.user)) this.#presenceSnapshot = null;
        this.#dropTyping(info.user);
        this.#events.emit('leave', { channel, info });
        break;
      }
      case 'presence': {
        const { user } = push;
        this.#presence.set(user.user, user);
        this.#presenceSnapshot = null;
        this.#events.emit('presence', { channel, user });
        break;
      }
      default: {
        const t = push;
        if (t.typing) {
          const known = this.#typing.get(t.user);
          if (known) clearTimeout(known.timer);
          const timer = startTimer(() => this.#dropTyping(t.user), this.#host.typing.timeout);
          this.#typing.set(t.user, t.info ? { info: t.info, timer } : { timer });
          if (!known) this.#typingSnapshot = null;
          this.#events.emit('typing', { channel, user: t.user, ...(t.info ? { info: t.info } : {}), typing: true });
        } else {
          this.#dropTyping(t.user);
        }
      }
    }
  }

  /** Sets this connection's presence state (`null` clears it), sent now when it can be. */
  setState(state: unknown): Promise<void> {
    this.#state = state === null ? undefined : { value: state };
    if (!this.#live()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#host.sendNow({ type: 'presence_state', channel: this.#channel, state }, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Subscribed (again): sets this connection's presence state again. */
  restoreState(): void {
    if (this.#state) this.#host.sendNow({ type: 'presence_state', channel: this.#channel, state: this.#state.value }, (err) => this.reportError(err));
  }

  /** This user types: sent at most once per `typing.throttle`, ended after `typing.idle` without a call. */
  setTyping(): void {
    if (!this.#live()) return;
    clearTimeout(this.#typingIdleTimer);
    this.#typingIdleTimer = startTimer(() => this.stopTyping(true), this.#host.typing.idle);
    const now = Date.now();
    if (this.#typingOn && now - this.#typingSentAt < this.#host.typing.throttle) return;
    this.#typingOn = true;
    this.#typingSentAt = now;
    this.#host.sendNow({ type: 'typing', channel: this.#channel, typing: true }, (err) => this.reportError(err));
  }

  /** This user stopped typing: says so when `send` and it can be sent. */
  stopTyping(send: boolean): void {
    clearTimeout(this.#typingIdleTimer);
    this.#typingIdleTimer = undefined;
    if (!this.#typingOn) return;
    this.#typingOn = false;
    this.#typingSentAt = -Infinity;
    if (send && this.#live()) this.#host.sendNow({ type: 'typing', channel: this.#channel, typing: false }, (err) => this.reportError(err));
  }

  /** Forgets who is typing (the connection is gone), and who is here too when `presence`. */
  clear(presence: boolean): void {
    for (const user of [...this.#typing.keys()]) this.#dropTyping(user);
    if (!presence) return;
    this.#presence.clear();
    this.#presenceSnapshot = null;
  }

  /** An error of a command sent for this subscription, but for a lost connection (restored by itself). */
  reportError(err: TidingsError | null): void {
    if (err && err.code !== 'connection_lost') this.#events.emit('error', err);
  }

  #dropTyping(user: string): void {
    const known = this.#typing.get(user);
    if (!known) return;
    clearTimeout(known.timer);
    this.#typing.delete(user);
    this.#typingSnapshot = null;
    this.#events.emit('typing', { channel: this.#channel, user, ...(known.info ? { info: known.info } : {}), typing: false });
  }
}
