/**
 * The Tidings client: one connection to a Tidings server, restored after every failure.
 *
 * - States `disconnected` → `connecting` → `connected`, each with an event.
 * - Reconnects with exponential backoff and full jitter; terminal close codes (4500–4999)
 *   stop it with a typed error.
 * - Restores subscriptions (recovering missed publications), status, presence state and
 *   follows after every reconnect; typing is reset.
 * - Queues commands made while disconnected and sends them in order once connected.
 * - Hands out the user-level features: the notification inbox, activity feeds, job progress.
 */
import {
  CloseCode,
  closeCodeReconnects,
  type ConnectResult,
  type DisconnectPush,
  type FollowResult,
  type HistoryResult,
  type PresenceResult,
  type PresenceStatsResult,
  type PresenceStatus,
  type PublishResult,
  type Push,
  type RefreshResult,
  type RpcResult,
  type StatusPush,
  type StreamPosition,
  type SubscribeResult,
  type UserStatus,
} from '@tidings/protocol';
import { ActivityFeed, type ActivityFeedOptions } from './activity.js';
import { Emitter } from './emitter.js';
import { onNetworkOnline, onVisibilityChange, isPageHidden } from './environment.js';
import { ClientErrorCode, TidingsError } from './errors.js';
import { randomId } from './ids.js';
import { Notifications } from './notifications.js';
import { Outbox, type CommandBody } from './outbox.js';
import { ProgressTracker } from './progress.js';
import { Subscription, type SubscriptionHost } from './subscription.js';
import { withTimeout } from './timeout.js';
import { backoffDelay, startTimer } from './timers.js';
import { pollingTransport } from './transports/polling.js';
import { sseTransport } from './transports/sse.js';
import type { ClientTransport, TransportFactory } from './transports/types.js';
import { globalWebSocket, websocketTransport, type WebSocketConstructor } from './transports/websocket.js';
import type {
  ClientEvents,
  ConnectionState,
  HistoryOptions,
  PublishOptions,
  SubscriptionOptions,
  TidingsOptions,
} from './types.js';
import { CLIENT_NAME, CLIENT_VERSION } from './version.js';

let defaultWebSocket: WebSocketConstructor | undefined;

/** @internal Sets the WebSocket used when neither the options nor the runtime provide one (the Node entry sets `ws`). */
export function setDefaultWebSocket(impl: WebSocketConstructor): void {
  defaultWebSocket = impl;
}

interface Resolved {
  minReconnectDelay: number;
  maxReconnectDelay: number;
  timeout: number;
  pingSlack: number;
  typing: { throttle: number; idle: number; timeout: number };
  awayWhenHidden: boolean;
  reconnectOnOnline: boolean;
  transportTimeout: number;
  blockedTransportRetry: number;
  upgradeProbeDelay: number | false;
  maxMessageBytes: number;
  activityNamespace: string;
}

/**
 * A connection to a Tidings server.
 *
 * @example
 * ```ts
 * import { Tidings } from '@tidings/client';
 *
 * const client = new Tidings('wss://rt.example.com/connection/websocket', {
 *   getToken: () => fetch('/api/tidings-token').then((r) => r.text()),
 * });
 * client.on('state', ({ state }) => console.log(state));
 * await client.connect();
 * const sub = client.subscribe<{ text: string }>('chat:lobby');
 * sub.on('publication', (p) => console.log(p.data.text));
 * ```
 */
export class Tidings extends Emitter<ClientEvents> {
  /** The server's connection URL. */
  readonly url: string;
  readonly #options: TidingsOptions;
  readonly #config: Resolved;
  readonly #outbox: Outbox;
  readonly #subs = new Map<string, Subscription<never>>();
  readonly #host: SubscriptionHost;
  readonly #factories: TransportFactory[];
  /** Transports that failed to open while a later one reached the server: skipped until then (ms). */
  readonly #blocked = new Map<string, number>();
  /** This round's transports, in order, and the one being tried. */
  #round: TransportFactory[] = [];
  #roundPos = 0;
  #roundFailed: string[] = [];
  #transportOpened = false;
  #transportTimer: ReturnType<typeof setTimeout> | undefined;
  /** The background upgrade probe (a preferred transport tried while connected over a fallback). */
  #probeTimer: ReturnType<typeof setTimeout> | undefined;
  #probe: ClientTransport | null = null;
  #probeFails = 0;
  #state: ConnectionState = 'disconnected';
  #transport: ClientTransport | null = null;
  /** Bumped for every transport: callbacks of an older one are ignored. */
  #generation = 0;
  #token: string | undefined;
  #attempt = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #deadTimer: ReturnType<typeof setTimeout> | undefined;
  #deadAfter = 0;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #disconnectHint: DisconnectPush | null = null;
  #connectError: TidingsError | null = null;
  #connection: (ConnectResult & { transport: string }) | null = null;
  #status: PresenceStatus = 'online';
  readonly #followed = new Set<string>();
  readonly #statuses = new Map<string, UserStatus>();
  #waiters: { resolve(): void; reject(err: TidingsError): void }[] = [];
  #detachEnvironment: (() => void) | null = null;
  /** Bumped each time the client stops: work begun before a listener called `disconnect()` is not carried on. */
  #stops = 0;
  #inbox: Notifications | undefined;
  readonly #call = (body: CommandBody): Promise<unknown> => this.#outbox.call(body);

  constructor(url: string, options: TidingsOptions = {}) {
    super();
    this.url = url;
    this.#options = options;
    if (options.token !== undefined) this.#token = options.token;
    const typing = options.typing ?? {};
    this.#config = {
      minReconnectDelay: options.minReconnectDelay ?? 500,
      maxReconnectDelay: options.maxReconnectDelay ?? 20_000,
      timeout: options.timeout ?? 10_000,
      pingSlack: options.pingSlack ?? 5_000,
      typing: { throttle: typing.throttle ?? 1_000, idle: typing.idle ?? 3_000, timeout: typing.timeout ?? 6_000 },
      awayWhenHidden: options.awayWhenHidden ?? false,
      reconnectOnOnline: options.reconnectOnOnline ?? true,
      transportTimeout: options.transportTimeout ?? 5_000,
      blockedTransportRetry: options.blockedTransportRetry ?? 60_000,
      upgradeProbeDelay: options.upgradeProbeDelay === false ? false : options.upgradeProbeDelay ?? options.blockedTransportRetry ?? 60_000,
      maxMessageBytes: options.maxMessageBytes ?? 65_536,
      activityNamespace: options.activityNamespace ?? 'activity',
    };
    if (this.#config.minReconnectDelay > this.#config.maxReconnectDelay) {
      throw new TypeError('minReconnectDelay must not exceed maxReconnectDelay');
    }
    this.#outbox = new Outbox({
      timeout: this.#config.timeout,
      queueMax: options.offlineQueue?.max ?? 1_000,
      queueTimeout: options.offlineQueue?.timeout ?? 60_000,
      maxMessageBytes: this.#config.maxMessageBytes,
    });
    const ws = options.websocket ?? globalWebSocket() ?? defaultWebSocket;
    const http = options.httpUrl !== undefined ? { base: options.httpUrl } : {};
    const wanted = options.transport ? [options.transport] : options.transports ?? ['websocket', 'sse', 'polling'];
    this.#factories = [];
    for (const t of wanted) {
      if (typeof t !== 'string') this.#factories.push(t);
      else if (t === 'websocket') {
        if (ws) this.#factories.push(websocketTransport(ws));
      } else if (t === 'sse') this.#factories.push(sseTransport(http));
      else if (t === 'polling') this.#factories.push(pollingTransport(http));
      else throw new TypeError(`unknown transport ${JSON.stringify(t)}: use "websocket", "sse", "polling" or a TransportFactory`);
    }
    this.#host = this.#makeHost();
  }

  /** `disconnected`, `connecting` or `connected`. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** This connection's id while connected. */
  get clientId(): string | undefined {
    return this.#connection?.client;
  }

  /** The user id of the current connection (`''` when anonymous), while connected. */
  get user(): string | undefined {
    return this.#connection?.user;
  }

  /** Name of the transport in use while connected (`websocket`, …). */
  get transport(): string | undefined {
    return this.#connection?.transport;
  }

  /** Commands waiting in the offline queue. */
  get queued(): number {
    return this.#outbox.queuedCount;
  }

  /**
   * Connects, and keeps reconnecting until `disconnect()` or a terminal error. Resolves once
   * connected; rejects when the client stops first (terminal error or `disconnect()`).
   *
   * @example
   * ```ts
   * try {
   *   await client.connect();
   * } catch (err) {
   *   if (err instanceof TidingsError && err.code === 'unauthorized') redirectToLogin();
   * }
   * ```
   */
  connect(): Promise<void> {
    if (this.#state === 'connected') return Promise.resolve();
    const promise = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    if (this.#state === 'disconnected') {
      this.#attachEnvironment();
      this.#enterConnecting(0, 'connect called', () => void this.#open());
    }
    return promise;
  }

  /**
   * While waiting to reconnect, tries now instead of waiting out the backoff: for apps that
   * know the network is back (React Native's NetInfo or AppState; browsers get the `online`
   * event handled already). Does nothing in other states.
   *
   * @example
   * ```ts
   * NetInfo.addEventListener((net) => net.isConnected && client.reconnectNow());
   * ```
   */
  reconnectNow(): void {
    if (this.#state !== 'connecting' || this.#reconnectTimer === undefined) return;
    this.#debug('reconnecting now');
    this.#attempt = 0;
    void this.#open();
  }

  /** Resolves when connected; unlike `connect()` it does not start connecting. */
  ready(timeout = this.#config.timeout): Promise<void> {
    if (this.#state === 'connected') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err: TidingsError) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = startTimer(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new TidingsError(ClientErrorCode.Timeout, `not connected within ${timeout} ms`, { temporary: true }));
      }, timeout);
      this.#waiters.push(waiter);
    });
  }

  /**
   * Closes the connection and stops reconnecting. Queued and pending commands reject with
   * `disconnected`. Subscriptions are kept and restored by the next `connect()`. May be
   * called from any listener, `connecting` and `state` included.
   *
   * @example
   * ```ts
   * let attempts = 0;
   * client.on('connecting', () => ++attempts > 5 && client.disconnect()); // give up
   * signOutButton.onclick = () => client.disconnect();
   * ```
   */
  disconnect(): void {
    if (this.#state === 'disconnected') return;
    this.#stop(CloseCode.Normal, 'disconnect called', null);
  }

  /**
   * Subscribes to a channel, or returns the existing subscription to it. Type the
   * publications with the generic parameter.
   *
   * @example
   * ```ts
   * type TaskEvent = { kind: 'moved'; column: string } | { kind: 'renamed'; title: string };
   * const sub = client.subscribe<TaskEvent>('task:1', { onGap: () => refetchTask() });
   * sub.on('publication', ({ data }) => data.kind === 'moved' && moveCard(data.column));
   * ```
   */
  subscribe<T = unknown>(channel: string, options: SubscriptionOptions = {}): Subscription<T> {
    const existing = this.#subs.get(channel);
    if (existing) return existing as unknown as Subscription<T>;
    const sub = new Subscription<T>(this.#host, channel, options, false);
    this.#subs.set(channel, sub as Subscription<never>);
    if (this.#state === 'connected') sub._subscribeNow(false);
    return sub;
  }

  /** The subscription to a channel, if any (server-side ones included). */
  getSubscription<T = unknown>(channel: string): Subscription<T> | undefined {
    return this.#subs.get(channel) as unknown as Subscription<T> | undefined;
  }

  /** Every subscription, server-side ones included. */
  subscriptions(): Subscription[] {
    return [...this.#subs.values()] as Subscription[];
  }

  /**
   * Publishes to a channel (subscribed or not, as the server allows). Queued while
   * disconnected; carries an idempotency key so that a resend after a lost ack publishes once.
   *
   * @example
   * ```ts
   * const { offset } = await client.publish('chat:lobby', { text: 'hi' });
   * ```
   */
  publish(channel: string, data: unknown, options: PublishOptions = {}): Promise<PublishResult> {
    const body: CommandBody = { type: 'publish', channel, data, idempotencyKey: options.idempotencyKey ?? randomId() };
    return this.#outbox.call(body, { resend: true }) as Promise<PublishResult>;
  }

  /**
   * Reads a channel's history.
   *
   * @example
   * ```ts
   * const { publications } = await client.history('chat:lobby', { limit: 50, reverse: true });
   * ```
   */
  history(channel: string, options: HistoryOptions = {}): Promise<HistoryResult> {
    return this.#outbox.call({ type: 'history', channel, ...options }) as Promise<HistoryResult>;
  }

  /**
   * Reads who is in a channel.
   *
   * @example
   * ```ts
   * const { users } = await client.presence('task:42');
   * console.log(users.map((u) => u.user));
   * ```
   */
  presence(channel: string): Promise<PresenceResult> {
    return this.#outbox.call({ type: 'presence', channel }) as Promise<PresenceResult>;
  }

  /** Reads a channel's counts of connections and users. */
  presenceStats(channel: string): Promise<PresenceStatsResult> {
    return this.#outbox.call({ type: 'presence_stats', channel }) as Promise<PresenceStatsResult>;
  }

  /**
   * Calls the server's RPC handler. Rejects with `timeout` after `options.timeout` ms.
   *
   * @example
   * ```ts
   * const { total } = await client.rpc<{ total: number }>('cart.total', { cartId: 7 }, { timeout: 3000 });
   * ```
   */
  async rpc<R = unknown>(method: string, data?: unknown, options: { timeout?: number } = {}): Promise<R> {
    const body: CommandBody = data === undefined ? { type: 'rpc', method } : { type: 'rpc', method, data };
    const result = (await this.#outbox.call(body, options.timeout !== undefined ? { timeout: options.timeout } : {})) as RpcResult;
    return result.data as R;
  }

  /** The status this client sets (`online` unless set otherwise). */
  get status(): PresenceStatus {
    return this.#status;
  }

  /**
   * Sets this connection's status everywhere; kept and set again after every reconnect.
   *
   * @example
   * ```ts
   * idleTimer.on('idle', () => void client.setStatus('away'));
   * ```
   */
  setStatus(status: PresenceStatus): Promise<void> {
    this.#status = status;
    if (this.#state !== 'connected') return Promise.resolve();
    return new Promise((resolve, reject) => this.#outbox.sendNow({ type: 'status', status }, (err) => (err ? reject(err) : resolve())));
  }

  /**
   * Follows users' global status (`status` events); followed again after every reconnect.
   * Resolves with their statuses; while disconnected, with what is known (the follow is sent on connect).
   *
   * @example
   * ```ts
   * client.on('status', ({ user, status }) => setBadge(user, status));
   * const now = await client.follow(['bob', 'carol']);
   * ```
   */
  follow(users: readonly string[]): Promise<Record<string, UserStatus>> {
    const fresh = users.filter((u) => !this.#followed.has(u));
    for (const u of fresh) this.#followed.add(u);
    if (this.#state !== 'connected' || fresh.length === 0) return Promise.resolve(this.#knownStatuses(users));
    return new Promise((resolve, reject) => {
      this.#outbox.sendNow({ type: 'follow', users: fresh }, (err, result) => {
        if (err) {
          // A reply lost with the connection is not a refusal: the reconnect follows them again.
          if (err.code !== ClientErrorCode.ConnectionLost) for (const u of fresh) this.#followed.delete(u);
          reject(err);
          return;
        }
        this.#applyStatuses(result as FollowResult);
        resolve(this.#knownStatuses(users));
      });
    });
  }

  /**
   * Stops following users.
   *
   * @example
   * ```ts
   * await client.unfollow(['carol']);
   * ```
   */
  unfollow(users: readonly string[]): Promise<void> {
    const gone = users.filter((u) => this.#followed.delete(u));
    for (const u of gone) this.#statuses.delete(u);
    if (this.#state !== 'connected' || gone.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.#outbox.sendNow({ type: 'unfollow', users: gone }, (err) => (err ? reject(err) : resolve())));
  }

  /** A followed user's last known status. */
  userStatus(user: string): UserStatus | undefined {
    return this.#statuses.get(user);
  }

  /** Users being followed. */
  followed(): string[] {
    return [...this.#followed];
  }

  /**
   * The current user's notification inbox: live unread count, the newest notifications,
   * read and delete, in sync across the user's devices. Made on first use (which loads it).
   *
   * @example
   * ```ts
   * client.notifications.on('unread', ({ unread }) => setBadge(unread));
   * await client.notifications.markAllRead();
   * ```
   */
  get notifications(): Notifications {
    return (this.#inbox ??= new Notifications(this, this.#call));
  }

  /**
   * A scope's activity feed: pages read from the server and new entries live, from the
   * channel `<activityNamespace>:<scope>`. Close it when done.
   *
   * @example
   * ```ts
   * const feed = client.activity('project-7', { limit: 20 });
   * feed.on('activity', (a) => console.log(a.actor, a.action, a.target));
   * ```
   */
  activity(scope = 'global', options: ActivityFeedOptions = {}): ActivityFeed {
    return new ActivityFeed(this, this.#call, this.#config.activityNamespace, scope, options);
  }

  /**
   * Tracks one of the user's jobs (`POST /api/v1/progress` on the backend): its current
   * state at once, then every update. Close it when done.
   *
   * @example
   * ```ts
   * const job = client.progress('summary-42');
   * job.on('progress', ({ percent }) => setPercent(percent));
   * ```
   */
  progress(jobId: string): ProgressTracker {
    return new ProgressTracker(this, this.#call, jobId);
  }

  // ------------------------------------------------------------- connection lifecycle

  async #open(): Promise<void> {
    const generation = ++this.#generation;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    if (this.#token === undefined && this.#options.getToken) {
      let token: string | null;
      try {
        token = await withTimeout(this.#options.getToken(), this.#config.timeout, 'getToken');
      } catch (err) {
        if (generation !== this.#generation) return;
        this.emit('error', new TidingsError(ClientErrorCode.TokenUnavailable, `getToken failed: ${String(err)}`, { temporary: true }));
        if (generation === this.#generation) this.#scheduleReconnect(undefined);
        return;
      }
      if (generation !== this.#generation) return;
      if (!token) {
        this.#stop(0, 'no token', new TidingsError('unauthorized', 'getToken returned no token', { temporary: false }));
        return;
      }
      this.#token = token;
    }
    if (this.#factories.length === 0) {
      this.#stop(0, 'no transport', new TidingsError(ClientErrorCode.NoTransport, 'no transport available: pass a WebSocket implementation as `websocket`, or list transports', { temporary: false }));
      return;
    }
    if (this.#roundPos === 0 || this.#roundPos >= this.#round.length) this.#startRound();
    this.#openTransport(generation, this.#round[this.#roundPos]!);
  }

  /** A new round of attempts: every transport in order, but those recently found blocked. */
  #startRound(): void {
    const now = Date.now();
    for (const [name, until] of this.#blocked) if (until <= now) this.#blocked.delete(name);
    const usable = this.#factories.filter((f) => !this.#blocked.has(f.name));
    this.#round = usable.length > 0 ? usable : [...this.#factories];
    this.#roundPos = 0;
    this.#roundFailed = [];
  }

  #openTransport(generation: number, factory: TransportFactory): void {
    this.#connectError = null;
    this.#disconnectHint = null;
    this.#transportOpened = false;
    this.#connectTimer = startTimer(() => {
      if (generation === this.#generation) this.#drop(CloseCode.ConnectTimeout, 'connect timeout');
    }, this.#config.timeout);
    this.#transportTimer = startTimer(() => {
      if (generation === this.#generation && !this.#transportOpened) this.#drop(1006, `${factory.name} did not open within ${this.#config.transportTimeout} ms`);
    }, this.#config.transportTimeout);
    this.#debug(`opening ${factory.name} to ${this.url}`);
    const transport = factory.open(
      this.url,
      {
        onOpen: () => {
          if (generation !== this.#generation) return;
          this.#transportOpened = true;
          clearTimeout(this.#transportTimer);
          this.#onOpen(factory.name);
        },
        onMessage: (text) => {
          if (generation === this.#generation) this.#onMessage(text);
        },
        onClose: (code, reason) => {
          if (generation === this.#generation) this.#onClose(code, reason);
        },
        onRefused: (text) => {
          if (generation === this.#generation) this.#outbox.refuse(text);
        },
      },
      { token: () => this.#token, maxMessageBytes: this.#config.maxMessageBytes },
    );
    if (generation === this.#generation) this.#transport = transport;
    else transport.close();
  }

  #onOpen(transportName: string): void {
    // Looked up at send time: a transport may report open before `open()` has returned it.
    this.#outbox.attach((text) => this.#transport?.send(text));
    const subs: Record<string, StreamPosition> = {};
    for (const sub of this.#subs.values()) {
      const position = sub.serverSide ? sub._recoverPosition() : undefined;
      if (position) subs[sub.channel] = position;
    }
    const body: CommandBody = {
      type: 'connect',
      ...(this.#token ? { token: this.#token } : {}),
      name: this.#options.name ?? CLIENT_NAME,
      version: this.#options.version ?? CLIENT_VERSION,
      ...(Object.keys(subs).length > 0 ? { subs } : {}),
    };
    this.#outbox.sendNow(body, (err, result) => {
      if (err) {
        this.#connectError = err;
        if (err.code === 'token_expired') this.#token = undefined;
        // The server closes after a failed connect; a timeout or a lost reply needs our own close.
        if (err.code === ClientErrorCode.Timeout) this.#drop(CloseCode.ConnectTimeout, 'connect timeout');
        return;
      }
      this.#onConnected(result as ConnectResult, subs, transportName);
    });
  }

  #onConnected(result: ConnectResult, sent: Record<string, StreamPosition>, transportName: string): void {
    clearTimeout(this.#connectTimer);
    this.#attempt = 0;
    // Transports that failed to open this round while this one got through are blocked for a while.
    for (const name of this.#roundFailed) if (name !== transportName) this.#blocked.set(name, Date.now() + this.#config.blockedTransportRetry);
    this.#roundFailed = [];
    this.#roundPos = 0;
    this.#connection = { ...result, transport: transportName };
    const generation = this.#generation;
    this.#setState('connected');
    // A `state` listener called disconnect(): nothing of this connection is left to set up.
    if (generation !== this.#generation) return;
    this.#deadAfter = result.ping > 0 ? (result.ping + result.pong) * 1000 + this.#config.pingSlack : 0;
    this.#resetDeadTimer();
    if (result.ttl !== undefined) this.#scheduleRefresh(result.ttl);

    // Server-side subscriptions: made (and recovered) by the connect itself.
    const serverSide = result.subs ?? {};
    for (const [channel, subResult] of Object.entries(serverSide)) {
      let sub = this.#subs.get(channel);
      if (!sub) {
        sub = new Subscription<never>(this.#host, channel, {}, true);
        this.#subs.set(channel, sub);
      }
      sub._setServerSide(true);
      sub._applyResult(subResult, sent[channel], sent[channel] ? undefined : sub.position);
    }
    const sending: Promise<void>[] = [];
    for (const sub of [...this.#subs.values()]) {
      if (channelIn(serverSide, sub.channel)) continue;
      if (sub.serverSide) sub._endByServer('no longer subscribed by the server');
      else {
        const later = sub._subscribeNow(false);
        if (later) sending.push(later);
      }
    }
    if (this.#status !== 'online') this.#outbox.sendNow({ type: 'status', status: this.#status });
    if (this.#followed.size > 0) {
      this.#outbox.sendNow({ type: 'follow', users: [...this.#followed] }, (err, res) => {
        if (err) this.emit('error', err);
        else this.#applyStatuses(res as FollowResult);
      });
    }
    // Queued commands go after every subscribe: a publish may need the subscription first.
    if (sending.length === 0) this.#outbox.open();
    else {
      void Promise.all(sending).then(() => {
        if (generation === this.#generation) this.#outbox.open();
      });
    }
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.resolve();
    this.emit('connected', {
      client: result.client,
      user: result.user,
      transport: transportName,
      ...(result.expires !== undefined ? { expires: result.expires } : {}),
    });
    if (generation === this.#generation) this.#scheduleProbe(transportName);
  }

  // ------------------------------------------------------------- background upgrade

  /**
   * Connected over a fallback because a preferred transport was blocked: try that one again
   * in the background after `upgradeProbeDelay` (doubling after each failed probe, up to 16×).
   */
  #scheduleProbe(current: string): void {
    clearTimeout(this.#probeTimer);
    this.#probeTimer = undefined;
    const delay = this.#config.upgradeProbeDelay;
    if (delay === false) return;
    const index = this.#factories.findIndex((f) => f.name === current);
    const preferred = this.#factories.slice(0, Math.max(index, 0)).find((f) => this.#blocked.has(f.name));
    if (!preferred) return;
    const generation = this.#generation;
    const wait = delay * 2 ** Math.min(this.#probeFails, 4);
    this.#debug(`probing ${preferred.name} in ${wait} ms`);
    this.#probeTimer = startTimer(() => {
      this.#probeTimer = undefined;
      if (generation === this.#generation && this.#state === 'connected') this.#runProbe(preferred, current);
    }, wait);
  }

  /** Opens `factory` beside the current transport, sends `connect` on it, and switches over once it is accepted. */
  #runProbe(factory: TransportFactory, current: string): void {
    const generation = this.#generation;
    let settled = false;
    let adopted = false;
    const subs: Record<string, StreamPosition> = {};
    for (const sub of this.#subs.values()) {
      const position = sub.serverSide ? sub._recoverPosition() : undefined;
      if (position) subs[sub.channel] = position;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    let probe: ClientTransport | null = null;
    let openedEarly = false;
    const sendConnect = (): void => {
      const connect = {
        id: 1,
        type: 'connect',
        ...(this.#token ? { token: this.#token } : {}),
        name: this.#options.name ?? CLIENT_NAME,
        version: this.#options.version ?? CLIENT_VERSION,
        ...(Object.keys(subs).length > 0 ? { subs } : {}),
      };
      probe!.send(JSON.stringify(connect));
    };
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      probe?.close(CloseCode.Normal, '');
      if (this.#probe === probe) this.#probe = null;
      this.#debug(`${factory.name} probe failed: ${why}`);
      if (generation !== this.#generation) return;
      this.#probeFails++;
      this.#blocked.set(factory.name, Date.now() + this.#config.blockedTransportRetry);
      this.#scheduleProbe(current);
    };
    let probeGeneration = -1;
    this.#debug(`probing ${factory.name}`);
    const opened: ClientTransport = factory.open(
      this.url,
      {
        onOpen: () => {
          if (settled) return;
          if (probe) sendConnect();
          else openedEarly = true;
        },
        onMessage: (text) => {
          if (adopted) {
            if (probeGeneration === this.#generation) this.#onMessage(text);
            return;
          }
          if (settled) return;
          const lines = text.split('\n');
          for (let i = 0; i < lines.length; i++) {
            const line = lines[i]!;
            if (line.length === 0) continue;
            let frame: { id?: unknown; type?: unknown; result?: unknown; error?: { message?: string } };
            try {
              frame = JSON.parse(line) as typeof frame;
            } catch {
              continue;
            }
            if (frame?.type === 'ping') probe?.send('{"type":"pong"}');
            if (frame?.id !== 1) continue;
            if (frame.error || !frame.result) {
              fail(`connect refused: ${frame.error?.message ?? 'no result'}`);
              return;
            }
            if (generation !== this.#generation || this.#state !== 'connected') {
              fail('the connection changed meanwhile');
              return;
            }
            settled = adopted = true;
            clearTimeout(timer);
            this.#probe = null;
            probeGeneration = this.#adopt(probe!, factory.name, frame.result as ConnectResult, subs);
            // Frames after the reply in the same message belong to the new connection.
            const rest = lines.slice(i + 1).join('\n');
            if (rest.length > 0 && probeGeneration === this.#generation) this.#onMessage(rest);
            return;
          }
        },
        onClose: (code, reason) => {
          if (adopted) {
            if (probeGeneration === this.#generation) this.#onClose(code, reason);
            return;
          }
          fail(`closed ${code} ${reason}`);
        },
        onRefused: (text) => {
          if (adopted && probeGeneration === this.#generation) this.#outbox.refuse(text);
        },
      },
      { token: () => this.#token, maxMessageBytes: this.#config.maxMessageBytes },
    );
    probe = opened;
    if (settled) {
      opened.close(CloseCode.Normal, '');
      return;
    }
    this.#probe = opened;
    timer = startTimer(() => fail('no connect reply in time'), this.#config.timeout);
    if (openedEarly) sendConnect();
  }

  /**
   * Switches to an accepted probe: the old connection is forgotten as a reconnect would
   * (commands in flight reject with `connection_lost`, publishes go out again with their
   * idempotency key), the old transport closes (its HTTP session is deleted), and the new one
   * is set up by the same code as any connect: every subscription recovers from its position.
   */
  #adopt(transport: ClientTransport, name: string, result: ConnectResult, sent: Record<string, StreamPosition>): number {
    this.#debug(`upgrading to ${name}`);
    const old = this.#transport;
    this.#transport = null;
    this.#teardown();
    old?.close(CloseCode.Normal, 'upgraded');
    this.#blocked.delete(name);
    this.#probeFails = 0;
    this.#transport = transport;
    this.#transportOpened = true;
    this.#roundFailed = [];
    this.#outbox.attach((text) => this.#transport?.send(text));
    const generation = this.#generation;
    this.#onConnected(result, sent, name);
    return generation;
  }

  #onMessage(text: string): void {
    this.#resetDeadTimer();
    for (const line of text.split('\n')) {
      if (line.length === 0) continue;
      let frame: { id?: unknown; type?: unknown; channel?: unknown };
      try {
        frame = JSON.parse(line) as typeof frame;
      } catch {
        this.#debug('ignoring a frame that is not JSON', line.slice(0, 200));
        continue;
      }
      if (typeof frame !== 'object' || frame === null) continue;
      if (typeof frame.id === 'number') {
        this.#outbox.handleReply(frame as { id: number });
        continue;
      }
      this.#onPush(frame as { type: string; channel?: string });
    }
  }

  #onPush(push: { type: string; channel?: string }): void {
    switch (push.type) {
      case 'ping':
        this.#outbox.sendRaw('{"type":"pong"}');
        return;
      case 'disconnect':
        this.#disconnectHint = push as unknown as DisconnectPush;
        return;
      case 'status': {
        const s = push as unknown as StatusPush;
        if (!this.#followed.has(s.user)) return;
        const status: UserStatus = s.lastSeen !== undefined ? { status: s.status, lastSeen: s.lastSeen } : { status: s.status };
        this.#statuses.set(s.user, status);
        this.emit('status', { user: s.user, ...status });
        return;
      }
      case 'subscribe': {
        // Reserved in v1: a server-side subscription made after connect.
        const channel = push.channel!;
        let sub = this.#subs.get(channel);
        if (!sub) {
          sub = new Subscription<never>(this.#host, channel, {}, true);
          this.#subs.set(channel, sub);
        }
        sub._setServerSide(true);
        sub._applyResult(push as unknown as SubscribeResult, undefined);
        return;
      }
      case 'notification':
      case 'notification_update':
      case 'progress':
        // User-level pushes, for the inbox and the progress trackers (and the application).
        this.emit(push.type, push as never);
        return;
      default:
        if (typeof push.channel === 'string') this.#subs.get(push.channel)?._onPush(push as unknown as Push);
        else this.#debug(`ignoring push ${String(push.type)}`);
    }
  }

  #onClose(code: number, reason: string): void {
    const hint = this.#disconnectHint;
    if (hint) {
      code = hint.code;
      reason = hint.reason;
    }
    const connectError = this.#connectError;
    const failedToOpen = !this.#transportOpened && this.#state === 'connecting';
    const failedName = this.#round[this.#roundPos]?.name;
    // 1009: the server refused a message as too big. Resending it would loop: drop the biggest command.
    this.#teardown(undefined, code === CloseCode.MessageTooBig);
    if (failedToOpen && failedName !== undefined && this.#roundPos + 1 < this.#round.length && closeCodeReconnects(code)) {
      // This transport could not reach the server: try the next one at once.
      this.#debug(`${failedName} failed to open (${code} ${reason}); trying ${this.#round[this.#roundPos + 1]!.name}`);
      this.#roundFailed.push(failedName);
      this.#roundPos++;
      void this.#open();
      return;
    }
    if (failedToOpen && failedName !== undefined) this.#roundFailed.push(failedName);
    this.#roundPos = 0;
    const reconnect = hint ? hint.reconnect : closeCodeReconnects(code);
    this.#debug(`connection closed: ${code} ${reason}`, { reconnect });
    if (!reconnect) {
      // A refused token is not offered again: the next connect() asks getToken for a fresh one.
      if (this.#options.getToken && (code === CloseCode.InvalidToken || connectError?.code === 'unauthorized')) this.#token = undefined;
      this.#stop(code, reason, connectError && !connectError.temporary ? withClose(connectError, code) : TidingsError.fromClose(code, reason));
      return;
    }
    if (code === CloseCode.TokenExpired) {
      this.#token = undefined;
      if (!this.#options.getToken) {
        this.#stop(code, reason, new TidingsError('token_expired', 'the token expired and there is no getToken to fetch another', { temporary: false, closeCode: code }));
        return;
      }
    }
    const stops = this.#stops;
    if (connectError && connectError.code !== ClientErrorCode.Timeout) this.emit('error', connectError);
    if (stops === this.#stops) this.#enterConnecting(code, reason, () => this.#scheduleReconnect(hint?.delay));
  }

  /**
   * State `connecting` and its event, then `next` (open, or wait to reopen) — unless a
   * listener of those events stopped the client meanwhile.
   */
  #enterConnecting(code: number, reason: string, next: () => void): void {
    const stops = this.#stops;
    this.#setState('connecting');
    if (stops === this.#stops) this.emit('connecting', { code, reason });
    if (stops === this.#stops) next();
  }

  /** Closes the current transport ourselves and handles it as a close with `code`. */
  #drop(code: number, reason: string): void {
    const transport = this.#transport;
    if (!transport) return;
    this.#transport = null;
    transport.close(code, reason);
    this.#onClose(code, reason);
  }

  /**
   * Forgets the current connection: timers, pending commands (rejected with `error`, or
   * `connection_lost`; publishes wait for the next connection), subscription states.
   */
  #teardown(error?: TidingsError, dropLargest = false): void {
    this.#generation++;
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#transportTimer);
    clearTimeout(this.#deadTimer);
    clearTimeout(this.#refreshTimer);
    clearTimeout(this.#probeTimer);
    this.#deadTimer = this.#refreshTimer = this.#connectTimer = this.#probeTimer = undefined;
    const probe = this.#probe;
    this.#probe = null;
    probe?.close(CloseCode.Normal, '');
    this.#transport = null;
    this.#connection = null;
    this.#disconnectHint = null;
    this.#connectError = null;
    this.#outbox.connectionLost(error ?? new TidingsError(ClientErrorCode.ConnectionLost, 'the connection closed before the reply', { temporary: true }), dropLargest);
    for (const sub of this.#subs.values()) sub._connectionLost();
  }

  #scheduleReconnect(hintDelay: number | undefined): void {
    const delay = hintDelay ?? backoffDelay(this.#attempt++, this.#config.minReconnectDelay, this.#config.maxReconnectDelay);
    this.#debug(`reconnecting in ${delay} ms`);
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = startTimer(() => {
      this.#reconnectTimer = undefined;
      void this.#open();
    }, delay);
  }

  #stop(code: number, reason: string, error: TidingsError | null): void {
    this.#stops++;
    const transport = this.#transport;
    this.#transport = null;
    transport?.close(CloseCode.Normal, '');
    const stopped = error ?? new TidingsError(ClientErrorCode.Disconnected, 'the client is disconnected', { temporary: false });
    this.#teardown(stopped);
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    this.#roundPos = 0;
    this.#outbox.rejectAll(stopped);
    this.#detachEnvironment?.();
    this.#detachEnvironment = null;
    this.#setState('disconnected');
    const waiters = this.#waiters;
    this.#waiters = [];
    const rejection = error ?? new TidingsError(ClientErrorCode.Disconnected, 'disconnect() was called before the connection was established', { temporary: false });
    for (const w of waiters) w.reject(rejection);
    if (error) this.emit('error', error);
    this.emit('disconnected', error ? { code, reason, error } : { code, reason });
  }

  #resetDeadTimer(): void {
    if (this.#deadAfter <= 0 || this.#state !== 'connected') return;
    clearTimeout(this.#deadTimer);
    this.#deadTimer = startTimer(() => this.#drop(CloseCode.Stale, 'no message from the server'), this.#deadAfter);
  }

  #scheduleRefresh(ttlSeconds: number): void {
    clearTimeout(this.#refreshTimer);
    if (!this.#options.getToken) return;
    const ttl = ttlSeconds * 1000;
    const delay = ttl - Math.min(60_000, ttl * 0.2);
    this.#refreshTimer = startTimer(() => void this.#refresh(), delay);
  }

  #refreshAttempt = 0;

  /** Tries the refresh again, with backoff (the token is still valid for a while). */
  #retryRefresh(): void {
    clearTimeout(this.#refreshTimer);
    const delay = backoffDelay(this.#refreshAttempt++, this.#config.minReconnectDelay, this.#config.maxReconnectDelay);
    this.#refreshTimer = startTimer(() => void this.#refresh(), delay);
  }

  async #refresh(): Promise<void> {
    const generation = this.#generation;
    let token: string | null;
    try {
      token = await withTimeout(this.#options.getToken!(), this.#config.timeout, 'getToken');
    } catch (err) {
      if (generation !== this.#generation) return;
      this.emit('error', new TidingsError(ClientErrorCode.TokenUnavailable, `getToken failed: ${String(err)}`, { temporary: true }));
      this.#retryRefresh();
      return;
    }
    if (generation !== this.#generation || this.#state !== 'connected') return;
    if (!token) {
      this.#stop(0, 'no token', new TidingsError('unauthorized', 'getToken returned no token', { temporary: false }));
      return;
    }
    this.#token = token;
    this.#outbox.sendNow({ type: 'refresh', token }, (err, result) => {
      if (generation !== this.#generation) return;
      if (err) {
        this.emit('error', err);
        if (err.temporary) this.#retryRefresh();
        return;
      }
      this.#refreshAttempt = 0;
      const ttl = (result as RefreshResult).ttl;
      if (ttl !== undefined) this.#scheduleRefresh(ttl);
    });
  }

  #attachEnvironment(): void {
    if (this.#detachEnvironment) return;
    const offOnline = this.#config.reconnectOnOnline
      ? onNetworkOnline(() => this.reconnectNow())
      : () => {};
    let offVisibility = () => {};
    if (this.#config.awayWhenHidden) {
      if (isPageHidden()) this.#status = 'away';
      offVisibility = onVisibilityChange((hidden) => void this.setStatus(hidden ? 'away' : 'online').catch(() => {}));
    }
    this.#detachEnvironment = () => {
      offOnline();
      offVisibility();
    };
  }

  #applyStatuses(result: FollowResult): void {
    for (const [user, status] of Object.entries(result.statuses)) {
      if (!this.#followed.has(user)) continue;
      const known = this.#statuses.get(user);
      this.#statuses.set(user, status);
      if (!known || known.status !== status.status || known.lastSeen !== status.lastSeen) this.emit('status', { user, ...status });
    }
  }

  #knownStatuses(users: readonly string[]): Record<string, UserStatus> {
    // No prototype: a user named `__proto__` is an entry like any other.
    const out: Record<string, UserStatus> = Object.create(null);
    for (const u of users) {
      const s = this.#statuses.get(u);
      if (s) out[u] = s;
    }
    return out;
  }

  #setState(state: ConnectionState): void {
    const previous = this.#state;
    if (previous === state) return;
    this.#state = state;
    this.emit('state', { state, previous });
  }

  #debug(message: string, details?: unknown): void {
    this.#options.debug?.(message, details);
  }

  #makeHost(): SubscriptionHost {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const client = this;
    return {
      get connected() {
        return client.#state === 'connected';
      },
      sendNow: (body, done) => this.#outbox.sendNow(body, done),
      publish: (channel, data, options) => this.publish(channel, data, options),
      history: (channel, options) => this.history(channel, options),
      presence: (channel) => this.presence(channel),
      presenceStats: (channel) => this.presenceStats(channel),
      adopt: (sub) => {
        const existing = this.#subs.get(sub.channel);
        if (existing && existing !== sub) throw new TidingsError('already_subscribed', `another subscription to ${sub.channel} exists`, { temporary: false });
        this.#subs.set(sub.channel, sub);
      },
      forget: (sub) => {
        if (this.#subs.get(sub.channel) === sub) this.#subs.delete(sub.channel);
      },
      resync: (reason) => {
        this.#debug(`reconnecting to recover: ${reason}`);
        this.#drop(CloseCode.ForceReconnect, reason);
      },
      typing: this.#config.typing,
      minRetryDelay: this.#config.minReconnectDelay,
      maxRetryDelay: this.#config.maxReconnectDelay,
      timeout: this.#config.timeout,
      debug: (message, details) => this.#debug(message, details),
    };
  }
}

function channelIn(subs: Record<string, SubscribeResult>, channel: string): boolean {
  return Object.prototype.hasOwnProperty.call(subs, channel);
}

function withClose(error: TidingsError, closeCode: number): TidingsError {
  return new TidingsError(error.code, error.message, { temporary: error.temporary, closeCode });
}

