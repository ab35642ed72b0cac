/**
 * The composition root: the only place that wires the parts together.
 * `createTidings()` returns a node that a Node backend embeds (`attach` to its
 * HTTP server, or `listen`) and that the CLI wraps.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import {
  CloseCode,
  ErrorCode,
  UnsubscribeCode,
  encodeFrame,
  type ClientInfo,
  type HistoryResult,
  type PresenceResult,
  type PublishResult,
  type StreamPosition,
} from '@tidings/protocol';
import { Dashboard } from './api/dashboard.js';
import { attachHandlers, closeHttpServer, createGuardedServer } from './api/http-server.js';
import { NodeInspector, type ApiUserStatus, type ChannelListing, type ConnectionListing, type NodeHealth, type NodeStats } from './api/inspector.js';
import { ServerApi } from './api/server-api.js';
import { ChannelPolicy, type ResolvedChannel } from './auth/channel-policy.js';
import { createClientIpResolver } from './auth/client-ip.js';
import { NodeLimits } from './auth/limits.js';
import { DASHBOARD_ROLE, DashboardTokens } from './auth/dashboard-sessions.js';
import { createOriginCheck } from './auth/origin.js';
import type { TokenVerifier } from './auth/token-verifier.js';
import { buildVerifier } from './auth/verifier-config.js';
import { ConfigError, resolveConfig, type NamespaceConfig, type TidingsConfig, type TidingsConfigInput } from './config/schema.js';
import type { Broker, PublishOptions, PublishOutcome } from './engine/broker.js';
import type { IdempotencyStore } from './engine/idempotency.js';
import { MemoryBroker } from './engine/memory/memory-broker.js';
import { MemoryIdempotencyStore } from './engine/memory/memory-idempotency.js';
import { MemoryPresenceManager } from './engine/memory/memory-presence.js';
import { MemoryProgressStore } from './engine/memory/memory-progress.js';
import { MemoryTypingStore } from './engine/memory/memory-typing.js';
import { MemoryUserStatusStore } from './engine/memory/memory-user-status.js';
import type { PresenceManager } from './engine/presence.js';
import type { ProgressStore } from './engine/progress.js';
import type { TypingStore } from './engine/typing.js';
import type { UserStatusStore } from './engine/user-status.js';
import { ActivityFeature } from './features/activity.js';
import { ADMIN_STATS_CHANNEL, AdminStats } from './ops/admin-stats.js';
import { NotificationsFeature } from './features/notifications.js';
import { PresenceFeature } from './features/presence.js';
import { ProgressFeature } from './features/progress.js';
import { budgetLimitName, budgetRefusal, encodeData, HistoryBudgetError } from './features/publish-data.js';
import { TidingsError } from './errors.js';
import {
  emptyHooks,
  type ConnectHook,
  type DisconnectHook,
  type FollowHook,
  type Hooks,
  type PublishHook,
  type RpcHandler,
  type SubscribeHook,
} from './hooks.js';
import { Flusher } from './wire/flusher.js';
import { Hub } from './hub/hub.js';
import { OutFrame } from './wire/out-frame.js';
import { createLogger, type Logger } from './log.js';
import { LogAuditSink, type AuditSink } from './ops/audit.js';
import { StoredAuditLog } from './ops/audit-log.js';
import type { ActivityStore } from './store/activity-store.js';
import type { AuditStore } from './store/audit-store.js';
import type { NotificationStore } from './store/notification-store.js';
import type { SqliteDatabase } from './store/sqlite/database.js';
import { openSqliteStores } from './store/sqlite/sqlite-stores.js';
import { NodeMetrics } from './ops/metrics.js';
import type { Counters, PublishedOutcome, PublishRequest, SessionServices } from './session/services.js';
import { Session } from './session/session.js';
import { HttpTransportAcceptor } from './transport/http-transports.js';
import type { Transport, TransportRequestInfo } from './transport/transport.js';
import { WebSocketAcceptor } from './transport/websocket.js';
import type { ConnectionClaims } from './auth/token-verifier.js';
import { VERSION } from './version.js';

/** Options of `createTidings`: every config setting, plus parts to plug in. */
export interface TidingsOptions extends TidingsConfigInput {
  /** A pino logger to use instead of one built from `logLevel`. */
  logger?: Logger;
  /** Engine parts; default: in-memory. */
  broker?: Broker;
  presenceManager?: PresenceManager;
  userStatusStore?: UserStatusStore;
  typingStore?: TypingStore;
  idempotencyStore?: IdempotencyStore;
  progressStore?: ProgressStore;
  /** Durable stores; default: SQLite at `store.path` (opened unless all three are given). */
  notificationStore?: NotificationStore;
  activityStore?: ActivityStore;
  auditStore?: AuditStore;
  /** Token verification; default: JWT with the `auth` settings. */
  verifier?: TokenVerifier;
}

export interface BroadcastResultItem {
  channel: string;
  offset?: number;
  epoch?: string;
  deduplicated?: boolean;
  error?: { code: string; message: string };
}

export type { ApiUserStatus, ChannelListing, ConnectionListing, NodeHealth, NodeStats };
export { hasTokenKey } from './auth/verifier-config.js';

/**
 * Creates a Tidings node.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { createTidings, TidingsError } from '@tidings/server';
 *
 * const tidings = createTidings({ auth: { secret: process.env.TIDINGS_SECRET }, namespaces: { chat: { history: { size: 100 }, recover: true } } });
 * tidings.onRpc('task:join', async ({ user, data }) => ({ ok: true }));
 * tidings.attach(createServer(app).listen(3000));
 * await tidings.publish('chat:lobby', { text: 'hello' });
 * ```
 */
export function createTidings(options: TidingsOptions = {}): Tidings {
  return new Tidings(options);
}

export class Tidings {
  readonly config: TidingsConfig;
  readonly log: Logger;
  readonly nodeId: string;
  /** Prometheus metrics of this node (served at `metrics.path`). */
  readonly metrics: NodeMetrics;
  private readonly audit: AuditSink;
  /** Durable notifications: `notify`, and each user's inbox. */
  readonly notifications: NotificationsFeature;
  /** Durable activity feeds, streamed live on `<activity.namespace>:<scope>`. */
  readonly activity: ActivityFeature;
  /** Latest state of users' long-running jobs, pushed live. */
  readonly progress: ProgressFeature;
  /** The stored audit log; undefined when `audit.store` is off. */
  readonly auditLog: StoredAuditLog | undefined;
  /** The embedded database, when this node opened it. */
  private readonly database: SqliteDatabase | undefined;
  private readonly progressStore: ProgressStore;
  private readonly hooks: Hooks = emptyHooks();
  private readonly broker: Broker;
  private readonly presence: PresenceManager;
  private readonly userStatus: UserStatusStore;
  private readonly typing: TypingStore;
  private readonly idempotency: IdempotencyStore;
  private readonly presenceFeature: PresenceFeature;
  /** Everything holds this delegate, so a reload can swap `currentVerifier` underneath. */
  private readonly verifier: TokenVerifier;
  private currentVerifier: TokenVerifier;
  private readonly customVerifier: boolean;
  private readonly policy: ChannelPolicy;
  private readonly limits: NodeLimits;
  private readonly hub: Hub<Session>;
  private readonly services: SessionServices;
  private readonly websocket: WebSocketAcceptor;
  private readonly http: HttpTransportAcceptor;
  private readonly api: ServerApi;
  private readonly dashboard: Dashboard;
  private readonly adminStats: AdminStats;
  private readonly inspector: NodeInspector;
  private readonly counters: Counters = { connectsTotal: 0, disconnectsTotal: 0, publicationsIn: 0, badRequests: 0, slowDisconnects: 0 };
  private readonly historyOptions = new WeakMap<NamespaceConfig, PublishOptions>();
  private readonly ownServers: Server[] = [];
  /** Every open connection, including those that have not sent `connect` yet (the hub holds only connected ones). */
  private readonly connections = new Set<Session>();
  private readonly presenceTimer: NodeJS.Timeout;
  private closing = false;

  constructor(options: TidingsOptions = {}) {
    const { logger, broker, presenceManager, userStatusStore, typingStore, idempotencyStore, progressStore, notificationStore, activityStore, auditStore, verifier, ...input } =
      options;
    this.config = resolveConfig(input);
    const config = this.config;
    this.log = logger ?? createLogger(config.logLevel);
    this.nodeId = Math.random().toString(36).slice(2, 10);
    this.metrics = new NodeMetrics();
    const stores = this.openStores(notificationStore, activityStore, auditStore);
    this.database = stores.database;
    this.auditLog = config.audit.store
      ? new StoredAuditLog({
          log: this.log,
          store: stores.audit,
          flushIntervalMs: config.audit.flushInterval,
          maxQueue: config.audit.maxQueue,
          pruneIntervalMs: config.notifications.sweepInterval,
          onWritten: (n) => this.metrics.auditWritten(n),
          onDropped: (n) => this.metrics.auditDropped(n),
        })
      : undefined;
    this.audit = this.auditLog ?? new LogAuditSink(this.log);
    this.customVerifier = verifier !== undefined;
    this.currentVerifier = verifier ?? buildVerifier(config);
    this.verifier = {
      // The dashboard's own connections carry tokens this node signed itself.
      verifyConnection: (token) => (DashboardTokens.claims(token) ? this.dashboard.tokens.verify(token) : this.verifyAppToken(token)),
      verifySubscription: (token) => this.currentVerifier.verifySubscription(token),
      close: () => this.currentVerifier.close?.(),
    };
    let clientIp;
    try {
      clientIp = createClientIpResolver(config.trustedProxies);
    } catch (err) {
      throw new ConfigError([(err as Error).message]);
    }
    const limitHit = (limit: string, details: { user?: string; client?: string; ip?: string }) => this.limitHit(limit, details);
    this.limits = new NodeLimits(config, limitHit);
    this.broker =
      broker ?? new MemoryBroker({ metaTtlMs: config.history.metaTtl, maxBytes: config.history.maxBytes, maxStreams: config.history.maxStreams });
    this.presence = presenceManager ?? new MemoryPresenceManager({ ttlMs: config.presence.ttl });
    this.userStatus = userStatusStore ?? new MemoryUserStatusStore({ ttlMs: config.presence.ttl, lastSeenTtlMs: config.status.lastSeenTtl });
    this.typing = typingStore ?? new MemoryTypingStore();
    this.idempotency = idempotencyStore ?? new MemoryIdempotencyStore({ maxKeys: config.idempotency.maxKeys, maxBytes: config.idempotency.maxBytes });
    this.progressStore = progressStore ?? new MemoryProgressStore();
    this.hub = new Hub<Session>(this.broker, (n) => this.metrics.publicationsOut(n));
    this.broker.setHandler({
      onPublication: (channel, pub) => this.hub.deliverPublication(channel, pub),
      onControl: (channel, event) => this.hub.deliverControl(channel, event),
    });
    const { log, hub, hooks } = this;
    this.presenceFeature = new PresenceFeature({ config, log, hub, broker: this.broker, presence: this.presence, userStatus: this.userStatus, typing: this.typing, hooks, limitHit });
    this.policy = new ChannelPolicy(config, this.verifier);
    this.notifications = new NotificationsFeature({ config, store: stores.notifications, broker: this.broker, log });
    this.activity = new ActivityFeature({ config, store: stores.activity, log, publish: (channel, data) => this.publish(channel, data, { source: 'api' }) });
    this.progress = new ProgressFeature({ config, store: this.progressStore, broker: this.broker, log });
    this.services = {
      config,
      log,
      verifier: this.verifier,
      policy: this.policy,
      hub,
      broker: this.broker,
      presence: this.presence,
      presenceFeature: this.presenceFeature,
      flusher: new Flusher(),
      hooks,
      counters: this.counters,
      version: VERSION,
      publish: (target, data, opts) => this.publishTo(target, data, opts),
      publishAllowed: (target, user) => this.limits.publishAllowed(target.parsed.namespace, target.ns, user),
      limitHit,
      metrics: this.metrics,
      audit: this.audit,
      notifications: this.notifications,
      activity: this.activity,
      progress: this.progress,
    };
    const originAllowed = createOriginCheck(config.allowedOrigins);
    const badRequest = () => {
      this.counters.badRequests++;
      this.metrics.error('bad_request');
    };
    this.websocket = new WebSocketAcceptor({
      config,
      log,
      verifier: this.verifier,
      originAllowed,
      clientIp,
      admit: (ip) => this.limits.admit(ip, this.connections.size),
      accepting: () => !this.closing,
      createSession: (transport, request, claims) => this.openSession(transport, request, claims),
      onProtocolError: badRequest,
      onAuthFailure: (ip, reason) => this.audit.emit({ type: 'auth_failure', ip, transport: 'websocket', reason }),
      onLimit: (limit, ip) => limitHit(limit, { ip }),
    });
    this.http = new HttpTransportAcceptor({
      config,
      log,
      verifier: () => this.verifier,
      originAllowed,
      clientIp,
      admit: (ip) => this.limits.admit(ip, this.connections.size),
      accepting: () => !this.closing,
      createSession: (transport, request, claims) => this.openSession(transport, request, claims),
      onBadRequest: badRequest,
      onAuthFailure: (ip, transport, reason) => this.audit.emit({ type: 'auth_failure', ip, transport, reason }),
    });
    this.inspector = new NodeInspector({
      nodeId: this.nodeId,
      policy: this.policy,
      hub,
      presence: this.presence,
      userStatus: this.userStatus,
      presenceFeature: this.presenceFeature,
      counters: this.counters,
      closing: () => this.closing,
    });
    this.metrics.setSource(() => this.inspector.gauges());
    if (this.broker.historyStats) this.metrics.setHistorySource(() => this.broker.historyStats!());
    this.dashboard = new Dashboard({ config, log, clientIp, audit: this.audit });
    this.api = new ServerApi(this, log, { metrics: this.metrics, audit: this.audit, originAllowed, sessionKey: (req) => this.dashboard.apiKeyOf(req) });
    this.adminStats = new AdminStats({
      node: this.nodeId,
      version: VERSION,
      intervalMs: config.dashboard.statsInterval,
      watchers: () => hub.subscriberCount(ADMIN_STATS_CHANNEL),
      gauges: () => this.inspector.gauges(),
      dashboardShare: () => {
        const share = { connections: 0, users: 0, subscriptions: 0 };
        const users = new Set<string>();
        for (const s of hub.allSessions()) {
          if (!s.roles.includes(DASHBOARD_ROLE)) continue;
          share.connections++;
          share.subscriptions += s.subs.size;
          users.add(s.user);
        }
        share.users = users.size;
        return share;
      },
      totals: () => ({ publicationsIn: this.counters.publicationsIn, publicationsOut: hub.deliveredTotal, errors: this.metrics.errorCounts, disconnects: this.metrics.disconnectCounts }),
      // Straight to the broker: the stats' own publications are not counted as traffic.
      publish: (channel, data) => this.broker.publish(channel, data, {}),
    });
    this.presenceTimer = setInterval(() => this.presenceFeature.refresh(hub.allSessions()), Math.max(1000, Math.floor(config.presence.ttl / 3)));
    this.presenceTimer.unref();
  }

  /** The durable stores given in the options, with SQLite (at `store.path`) for those not given. */
  private openStores(notifications?: NotificationStore, activity?: ActivityStore, audit?: AuditStore) {
    if (notifications && activity && audit) return { notifications, activity, audit, database: undefined };
    const { config } = this;
    const sqlite = openSqliteStores({
      path: config.store.path || join(config.dataDir, 'tidings.db'),
      onCommit: ({ writes, ms }) => this.metrics.storeCommit(writes, ms / 1000),
      notifications: { maxPerUser: config.notifications.maxPerUser, maxAgeMs: config.notifications.maxAge, idempotencyWindowMs: config.notifications.idempotencyWindow },
      activity: { maxPerScope: config.activity.maxPerScope, maxAgeMs: config.activity.maxAge },
      audit: { retentionMs: config.audit.retention, maxRows: config.audit.maxRows },
    });
    return {
      notifications: notifications ?? sqlite.notifications,
      activity: activity ?? sqlite.activity,
      audit: audit ?? sqlite.audit,
      database: sqlite.database,
    };
  }

  // ------------------------------------------------------------ hooks

  /** Runs when a client connects, after its token is verified; throw a TidingsError to refuse it. */
  onConnect(hook: ConnectHook): this {
    this.hooks.connect.push(hook);
    return this;
  }

  /** Runs before a client subscribe is accepted (after the channel rules passed). */
  onSubscribe(hook: SubscribeHook): this {
    this.hooks.subscribe.push(hook);
    return this;
  }

  /** Runs before a client publication is published; may replace its data. */
  onPublish(hook: PublishHook): this {
    this.hooks.publish.push(hook);
    return this;
  }

  /** Answers `rpc` commands: for one method, or for every method without its own handler. */
  onRpc(method: string, handler: RpcHandler): this;
  onRpc(handler: RpcHandler): this;
  onRpc(a: string | RpcHandler, b?: RpcHandler): this {
    if (typeof a === 'string') this.hooks.rpc.set(a, b!);
    else this.hooks.rpc.set('', a);
    return this;
  }

  /**
   * Decides which users a connection may follow the status of: return the allowed
   * subset of `ctx.users`, or throw a TidingsError to refuse the whole request.
   */
  onFollow(hook: FollowHook): this {
    this.hooks.follow.push(hook);
    return this;
  }

  /** Runs after a connected client is gone. */
  onDisconnect(hook: DisconnectHook): this {
    this.hooks.disconnect.push(hook);
    return this;
  }

  // ------------------------------------------------------------ HTTP wiring

  /** A new connection on any transport becomes a Session. */
  private openSession(transport: Transport, request: TransportRequestInfo, claims: ConnectionClaims | undefined) {
    const session = new Session(this.services, transport, request, claims);
    this.connections.add(session);
    return {
      handleMessage: (text: string, bytes?: number) => session.handleMessage(text, bytes),
      handleBadMessage: (problem: string) => session.handleBadMessage(problem),
      handleTransportClosed: (code: number, reason: string) => {
        this.connections.delete(session);
        session.handleTransportClosed(code, reason);
      },
      user: () => session.user,
      connected: () => session.state === 'connected',
    };
  }

  /** Answers a request for the HTTP transports, the server API or metrics; false when the path is not Tidings'. */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    return this.http.handleRequest(req, res) || this.dashboard.handle(req, res) || this.api.handleMetrics(req, res) || this.api.handle(req, res);
  }

  /** Takes a WebSocket upgrade for Tidings' path; false when the path is not Tidings'. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    return this.websocket.handleUpgrade(req, socket, head);
  }

  /**
   * Serves Tidings on an existing HTTP server: its WebSocket path and API paths
   * are answered here, everything else goes to the server's own handlers.
   */
  attach(server: Server): this {
    attachHandlers(server, {
      handleRequest: (req, res) => this.handleRequest(req, res),
      handleUpgrade: (req, socket, head) => this.handleUpgrade(req, socket, head),
      closing: () => this.closing,
    });
    return this;
  }

  /**
   * Starts a standalone HTTP server. Resolves with the bound address (port 0 picks a free one).
   * `onRequest` answers the requests that are not Tidings' (an app's own routes).
   */
  async listen(port: number = this.config.port, host: string = this.config.host, options: { onRequest?: (req: IncomingMessage, res: ServerResponse) => void } = {}): Promise<AddressInfo> {
    const server = createGuardedServer(this.config.limits.handshakeTimeout, (ip) => this.limitHit('handshake_timeout', { ip }));
    if (options.onRequest) server.on('request', options.onRequest);
    this.attach(server);
    this.ownServers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    this.log.info({ host: address.address, port: address.port, version: VERSION }, 'tidings listening');
    return address;
  }

  /**
   * Verifies a connection token as a connect would (for an app backend that receives
   * the same tokens): resolves with the user, info and roles, or rejects with
   * `unauthorized` / `token_expired`.
   */
  verifyToken(token: string): Promise<ConnectionClaims> {
    return this.verifier.verifyConnection(token);
  }

  /** An application's token: the role of the dashboard's own connections cannot be claimed by one. */
  private async verifyAppToken(token: string): Promise<ConnectionClaims> {
    const claims = await this.currentVerifier.verifyConnection(token);
    if (claims.roles.includes(DASHBOARD_ROLE)) claims.roles = claims.roles.filter((r) => r !== DASHBOARD_ROLE);
    return claims;
  }

  /** A dashboard sign-in path with a fresh one-time code (`tidings dev` prints it as a link). */
  dashboardSignInPath(): string {
    return this.dashboard.signInPath();
  }

  // ------------------------------------------------------------ publishing

  /** Validates a channel name and finds its namespace; throws `invalid_channel` or `unknown_namespace`. */
  resolveChannel(channel: string): ResolvedChannel {
    return this.policy.resolve(channel);
  }

  /**
   * Publishes to a channel from the server side (no client permission rules apply).
   * With `idempotencyKey`, a repeat within the configured window publishes nothing
   * and returns the first result with `deduplicated: true`. `source` labels metrics.
   */
  publish(channel: string, data: unknown, options?: { idempotencyKey?: string; source?: 'api' | 'library' }): Promise<PublishResult> {
    try {
      const target = this.policy.resolve(channel);
      // Hot path: an in-process engine publishes at once, with no promise chain to build.
      if (options?.idempotencyKey === undefined && this.broker.publishSync) {
        const outcome = this.publishSyncNow(target, data);
        this.published(options?.source ?? 'library');
        return Promise.resolve(outcome.position ? { offset: outcome.position.offset, epoch: outcome.position.epoch } : {});
      }
      const request: PublishRequest = options === undefined ? LIBRARY_PUBLISH : { source: options.source ?? 'library' };
      // Scoped apart from clients' keys (['c', user, key]): a JSON array, so no key can spell another scope's.
      if (options?.idempotencyKey !== undefined) request.idempotencyKey = JSON.stringify(['s', options.idempotencyKey]);
      return this.publishTo(target, data, request).then(publishResult);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Publishes one payload to many channels; each channel gets its own result or error. */
  async broadcast(channels: string[], data: unknown, options: { idempotencyKey?: string; source?: 'api' | 'library' } = {}): Promise<BroadcastResultItem[]> {
    return Promise.all(
      channels.map(async (channel): Promise<BroadcastResultItem> => {
        try {
          return { channel, ...(await this.publish(channel, data, options)) };
        } catch (err) {
          if (!(err instanceof TidingsError)) throw err;
          return { channel, error: { code: err.code, message: err.message } };
        }
      }),
    );
  }

  private async publishTo(target: ResolvedChannel, data: unknown, options: PublishRequest): Promise<PublishedOutcome> {
    // Encoded once, before the idempotency window or history sees it: data JSON cannot encode is refused here.
    const json = encodeData(data);
    if (options.idempotencyKey === undefined) {
      const outcome = await this.publishNow(target, data, json, options);
      return outcome.position ? { position: outcome.position, deduplicated: false } : { deduplicated: false };
    }
    const key = JSON.stringify(['publish', target.channel, options.idempotencyKey]);
    const { value, fresh } = await this.idempotency.once(key, this.config.idempotency.window, () => this.publishNow(target, data, json, options));
    return { ...value, deduplicated: !fresh };
  }

  private async publishNow(target: ResolvedChannel, data: unknown, json: string, options: PublishRequest): Promise<PublishOutcome> {
    const info = options.info;
    const brokerOptions = this.brokerOptions(target, json, info);
    // Only clients' publications count against a user's budget; anonymous connections each have their own.
    if (options.source === 'client' && info && brokerOptions.history && this.config.history.maxBytesPerUser > 0) {
      brokerOptions.owner = { id: info.user === '' ? `#${info.client}` : info.user, maxBytes: this.config.history.maxBytesPerUser };
    }
    let outcome: PublishOutcome;
    try {
      outcome = await this.broker.publish(target.channel, data, brokerOptions);
    } catch (err) {
      throw this.publishRefusal(err, target, info);
    }
    this.published(options.source);
    return outcome;
  }

  /** The library's hot path on an in-process engine: encode once, publish, no promise. */
  private publishSyncNow(target: ResolvedChannel, data: unknown): PublishOutcome {
    const json = encodeData(data);
    try {
      return this.broker.publishSync!(target.channel, data, this.brokerOptions(target, json, undefined));
    } catch (err) {
      throw this.publishRefusal(err, target, undefined);
    }
  }

  /** A history budget's refusal becomes `limit_exceeded` (counted and audited); other errors pass. */
  private publishRefusal(err: unknown, target: ResolvedChannel, info: ClientInfo | undefined): unknown {
    if (!(err instanceof HistoryBudgetError)) return err;
    this.limitHit(budgetLimitName(err), info ? { user: info.user, client: info.client } : {});
    return budgetRefusal(err, target.parsed.namespace);
  }

  private published(source: PublishRequest['source']): void {
    this.counters.publicationsIn++;
    this.metrics.publicationIn(source);
  }

  /** Broker options of a publication (the namespace's history settings are built once per namespace). */
  private brokerOptions(target: ResolvedChannel, json: string, info: ClientInfo | undefined): PublishOptions {
    const ns = target.ns;
    let base = this.historyOptions.get(ns);
    if (!base) {
      const maxBytes = ns.history?.maxBytes;
      const shared = maxBytes !== undefined && maxBytes > 0 ? { shared: { name: target.parsed.namespace, maxBytes } } : {};
      base = ns.history ? { history: { size: ns.history.size, ttlMs: ns.history.ttl, ...shared } } : {};
      this.historyOptions.set(ns, base);
    }
    const history = base.history;
    if (info) return history ? { history, info, json } : { info, json };
    return history ? { history, json } : { json };
  }

  // ------------------------------------------------------------ reading

  /** A channel's history. `limit` is capped by `history.maxLimit`. */
  async history(channel: string, query: { limit?: number; since?: StreamPosition; reverse?: boolean } = {}): Promise<HistoryResult> {
    const target = this.policy.resolve(channel);
    if (!target.ns.history) throw new TidingsError(ErrorCode.NotAvailable, 'history is off in this namespace');
    const max = this.config.history.maxLimit;
    const page = await this.broker.history(target.channel, {
      limit: Math.min(query.limit ?? max, max),
      reverse: query.reverse === true,
      ...(query.since ? { since: query.since } : {}),
    });
    return { epoch: page.position.epoch, offset: page.position.offset, publications: page.publications };
  }

  /** Channels with subscribers on this node, sorted by name, paginated. */
  channels(query: { prefix?: string; limit?: number; cursor?: string | undefined } = {}): ChannelListing {
    return this.inspector.channels(query);
  }

  /** Subscribers, presence and typing of one channel (viewingUsers, typingUsers, totalViewing). */
  channelInfo(channel: string): Promise<Record<string, unknown>> {
    return this.inspector.channelInfo(channel);
  }

  /** Presence of a channel: connections by id and users aggregated. */
  presenceOf(channel: string): Promise<PresenceResult> {
    return this.inspector.presenceOf(channel);
  }

  /** A user's global status, in the shape of the server API. */
  userStatusOf(user: string): Promise<ApiUserStatus> {
    return this.inspector.userStatusOf(user);
  }

  /** Online and away users, sorted by id, paginated. */
  onlineUsers(query: { cursor?: string; limit?: number } = {}): Promise<{ count: number; users: ApiUserStatus[]; nextCursor?: string }> {
    return this.inspector.onlineUsers(query);
  }

  /** Connections on this node (those that sent `connect`), sorted by id, paginated; optionally one user's only. */
  listConnections(query: { user?: string; cursor?: string; limit?: number } = {}): { connections: ConnectionListing[]; nextCursor?: string } {
    return this.inspector.listConnections(query);
  }

  get ready(): boolean {
    return !this.closing;
  }

  health(): NodeHealth {
    return this.inspector.health();
  }

  stats(): NodeStats {
    return this.inspector.stats();
  }

  // ------------------------------------------------------------ steering

  /**
   * Disconnects every connection of a user on this node. Reconnect codes
   * (4000–4499, default 4005) let the client come back; terminal ones (4500–4999,
   * e.g. 4503) tell it to stay away. Returns how many connections were closed.
   */
  disconnectUser(user: string, options: { code?: number; reason?: string } = {}): number {
    const code = options.code ?? CloseCode.ForceReconnect;
    if (!Number.isInteger(code) || code < 4000 || code > 4999) throw new TidingsError(ErrorCode.BadRequest, 'code: expected 4000..4999');
    const sessions = this.hub.userSessions(user);
    for (const s of sessions) s.disconnect(code, options.reason !== undefined ? { reason: options.reason } : {});
    return sessions.length;
  }

  /** Disconnects one connection on this node by its id (reconnect code 4005 unless told otherwise); false when it is not here. */
  disconnectClient(client: string, options: { code?: number; reason?: string } = {}): boolean {
    const code = options.code ?? CloseCode.ForceReconnect;
    if (!Number.isInteger(code) || code < 4000 || code > 4999) throw new TidingsError(ErrorCode.BadRequest, 'code: expected 4000..4999');
    const session = this.hub.session(client);
    if (!session) return false;
    session.disconnect(code, options.reason !== undefined ? { reason: options.reason } : {});
    return true;
  }

  /** Ends a user's subscriptions to a channel on this node; the client gets an `unsubscribe` push. */
  unsubscribeUser(user: string, channel: string): number {
    channel = this.policy.resolve(channel).channel;
    let count = 0;
    const push = OutFrame.fromText(encodeFrame({ type: 'unsubscribe', channel, code: UnsubscribeCode.Server, reason: 'unsubscribed by server' }));
    for (const s of this.hub.userSessions(user)) {
      const sub = s.subs.get(channel);
      if (!sub) continue;
      s.detach(sub);
      s.push(push);
      count++;
    }
    return count;
  }

  /**
   * Applies a new configuration without dropping connections (SIGHUP): namespaces,
   * token keys (`auth`) and API keys. Other settings need a restart. Throws
   * ConfigError and changes nothing when the new settings are invalid.
   * Existing subscriptions keep the namespace settings they started with.
   */
  async reload(input: TidingsConfigInput): Promise<void> {
    const next = resolveConfig(input);
    const verifier = this.customVerifier ? this.currentVerifier : buildVerifier(next);
    const previous = this.currentVerifier;
    this.config.namespaces = next.namespaces;
    this.config.auth = next.auth;
    this.config.apiKeys = next.apiKeys;
    this.currentVerifier = verifier;
    if (previous !== verifier) previous.close?.();
    this.limits.resetPublishLimits();
    this.policy.forgetResolved();
    this.api.reload();
    this.log.info({ namespaces: Object.keys(next.namespaces), apiKeys: next.apiKeys.map((k) => k.id) }, 'configuration reloaded');
  }

  private limitHit(limit: string, details: { user?: string; client?: string; ip?: string }): void {
    this.log.info({ limit, ...details }, 'limit hit');
    this.metrics.limitHit(limit);
    this.audit.emit({ type: 'limit_hit', limit, ...details });
  }

  /**
   * Graceful shutdown: refuse new connections, tell every client to reconnect
   * (after `shutdown.reconnectDelay`, jittered per client to spread the reconnect
   * storm), let in-flight API requests finish, close servers this node started
   * and release the engine, all within `shutdown.timeout`.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.presenceTimer);
    const delay = this.config.shutdown.reconnectDelay;
    const sessions = [...this.connections];
    for (const session of sessions) {
      session.disconnect(CloseCode.Shutdown, { delay: Math.round(delay / 2 + Math.random() * delay) });
    }
    // Peers that do not complete the close handshake are cut off after the timeout.
    const cutoff = setTimeout(() => sessions.forEach((s) => s.transport.terminate()), this.config.shutdown.timeout);
    cutoff.unref();
    await Promise.all(this.ownServers.map((server) => closeHttpServer(server, this.config.shutdown.timeout)));
    clearTimeout(cutoff);
    this.websocket.close();
    this.http.close();
    this.verifier.close?.();
    this.presenceFeature.close();
    this.inspector.close();
    this.limits.close();
    this.notifications.close();
    this.activity.close();
    this.adminStats.close();
    // Disconnects above were audited: store them, then commit whatever is queued.
    await this.auditLog?.close();
    this.database?.close();
    await Promise.all([this.broker.close(), this.presence.close(), this.userStatus.close(), this.typing.close(), this.idempotency.close(), this.progressStore.close()]);
    this.log.info('tidings stopped');
  }
}

/** The request of a plain library publish, shared (it is never modified). */
const LIBRARY_PUBLISH: PublishRequest = Object.freeze({ source: 'library' });

function publishResult(outcome: PublishedOutcome): PublishResult {
  const result: PublishResult = outcome.position ? { offset: outcome.position.offset, epoch: outcome.position.epoch } : {};
  if (outcome.deduplicated) result.deduplicated = true;
  return result;
}
