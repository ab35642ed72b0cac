/**
 * The Tidings client: one connection to a Tidings server, restored after every failure
 * (`connection/`), and what the application does over it.
 *
 * - Subscriptions (`subscriptions.ts`), restored and recovered after every reconnect.
 * - Publish, history, presence and RPC, queued while disconnected (`outbox.ts`).
 * - Status (kept and set again after every reconnect; typing is reset) and status follows
 *   (`status-follows.ts`).
 * - The user-level features: the notification inbox, activity feeds, job progress.
 * - While it runs: reconnecting when the network is back, `away` while the page is hidden
 *   (`environment.ts`).
 */
import {
  CloseCode,
  type HistoryResult,
  type PresenceResult,
  type PresenceStatsResult,
  type PresenceStatus,
  type PublishResult,
  type Push,
  type RpcResult,
  type UserStatus,
} from '@tidings/protocol';
import { ActivityFeed, type ActivityFeedOptions } from './activity.js';
import { resolveConfig, transportFactories, type ClientConfig } from './config.js';
import { Connection } from './connection/connection.js';
import { transportRounds } from './connection/transport-rounds.js';
import { MessagingClient } from './client-messaging.js';
import { watchEnvironment } from './environment.js';
import { randomId } from './ids.js';
import type { Call } from './link.js';
import { Notifications } from './notifications.js';
import { Outbox, type CommandBody } from './outbox.js';
import { ProgressTracker } from './progress.js';
import { StatusFollows } from './status-follows.js';
import type { Subscription } from './subscription.js';
import { Subscriptions } from './subscriptions.js';
import type { ConnectionState, HistoryOptions, PublishOptions, SubscriptionOptions, TidingsOptions } from './types.js';

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
export class Tidings extends MessagingClient {
  /** The server's connection URL. */
  readonly url: string;
  readonly #config: ClientConfig;
  readonly #outbox: Outbox;
  readonly #conn: Connection;
  readonly #subs: Subscriptions;
  readonly #follows: StatusFollows;
  readonly #call: Call = (body) => this.#outbox.call(body);
  #status: PresenceStatus = 'online';
  #detachEnvironment: (() => void) | null = null;
  #inbox: Notifications | undefined;

  constructor(url: string, options: TidingsOptions = {}) {
    super();
    this.url = url;
    const config = (this.#config = resolveConfig(options));
    const outbox = (this.#outbox = new Outbox({
      timeout: config.timeout,
      queueMax: options.offlineQueue?.max ?? 1_000,
      queueTimeout: options.offlineQueue?.timeout ?? 60_000,
      maxMessageBytes: config.maxMessageBytes,
    }));
    const rounds = transportRounds(transportFactories(options), config.blockedTransportRetry);
    const debug = (message: string, details?: unknown): void => this.#conn.debug(message, details);
    const subs = (this.#subs = new Subscriptions(this, outbox, config, debug, (reason) => {
      debug(`reconnecting to recover: ${reason}`);
      this.#conn.drop(CloseCode.ForceReconnect, reason);
    }));
    const follows = (this.#follows = new StatusFollows(outbox, this, () => this.state === 'connected'));
    this.#conn = new Connection(url, options, config, rounds, outbox, this, {
      positions: () => subs.positions(),
      restore: (result, sent) => {
        const sending = subs.restore(result.subs ?? {}, sent);
        if (this.#status !== 'online') outbox.sendNow({ type: 'status', status: this.#status });
        follows.restore();
        return sending;
      },
      push: (push) => this.#onPush(push),
      lost: () => subs.lost(),
      stopped: () => {
        this.#detachEnvironment?.();
        this.#detachEnvironment = null;
      },
    });
  }

  /** `disconnected`, `connecting` or `connected`. */
  get state(): ConnectionState {
    return this.#conn.state;
  }

  /** This connection's id while connected. */
  get clientId(): string | undefined {
    return this.#conn.info?.client;
  }

  /** The user id of the current connection (`''` when anonymous), while connected. */
  get user(): string | undefined {
    return this.#conn.info?.user;
  }

  /** What the server's connect hook or connect proxy returned as `data` in the connect reply, while connected (as the `connected` event's `data`). */
  get connectData(): unknown {
    return this.#conn.info?.data;
  }

  /** Name of the transport in use while connected (`websocket`, …). */
  get transport(): string | undefined {
    return this.#conn.info?.transport;
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
    // The browser's online event and page visibility, while the client runs (environment.ts).
    if (this.#conn.state === 'disconnected') this.#detachEnvironment ??= watchEnvironment(this.#config, this);
    return this.#conn.connect();
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
    this.#conn.reconnectNow();
  }

  /** Resolves when connected; unlike `connect()` it does not start connecting. */
  ready(timeout = this.#config.timeout): Promise<void> {
    return this.#conn.ready(timeout);
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
    this.#conn.disconnect();
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
  subscribe<T = unknown, E extends object = {}>(channel: string, options: SubscriptionOptions = {}): Subscription<T, E> {
    return this.#subs.subscribe(channel, options) as unknown as Subscription<T, E>;
  }

  /** The subscription to a channel, if any (server-side ones included). */
  getSubscription<T = unknown>(channel: string): Subscription<T> | undefined {
    return this.#subs.getSubscription(channel) as unknown as Subscription<T> | undefined;
  }

  /** Every subscription, server-side ones included. */
  subscriptions(): Subscription[] {
    return this.#subs.subscriptions() as Subscription[];
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
    if (options.event !== undefined) body.event = options.event;
    if (options.replyTo !== undefined) body.replyTo = options.replyTo;
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
    const body: CommandBody = { type: 'rpc', method, ...(data === undefined ? {} : { data }) };
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
    if (this.#conn.state !== 'connected') return Promise.resolve();
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
    return this.#follows.follow(users);
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
    return this.#follows.unfollow(users);
  }

  /** A followed user's last known status. */
  userStatus(user: string): UserStatus | undefined {
    return this.#follows.userStatus(user);
  }

  /** Users being followed. */
  followed(): string[] {
    return this.#follows.followed();
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

  /** @internal */
  protected _call(body: CommandBody, resend = false): Promise<unknown> {
    return this.#outbox.call(body, { resend });
  }

  #onPush(push: Push): void {
    switch (push.type) {
      case 'status':
        this.#follows.onPush(push);
        return;
      case 'notification':
      case 'notification_update':
      case 'progress':
      case 'broadcast':
        // User-level pushes, for the inbox and the progress trackers (and the application).
        this.emit(push.type, push as never);
        return;
      case 'read':
        // A receipt of this user (any device) or, seen-by, of another user: the client's event and the channel's.
        this.emit('read', push);
        this.#subs.push(push);
        return;
      default:
        if (!this.#subs.push(push)) this.#conn.debug(`ignoring push ${String(push.type)}`);
    }
  }
}
