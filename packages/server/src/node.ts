/**
 * The composition root: the only place that wires the parts together.
 * `createTidings()` returns a node that a Node backend embeds (`attach` to its
 * HTTP server, or `listen`) and that the CLI wraps.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { HistoryResult, PresenceResult, PublishResult, StreamPosition } from '@tidings/protocol';
import { NodeInspector, type ApiUserStatus, type ChannelListing, type ConnectionListing, type NodeHealth, type NodeListing, type NodeStats } from './api/inspector.js';
import { ChannelPolicy, type ResolvedChannel } from './auth/channel-policy.js';
import { createClientIpResolver } from './auth/client-ip.js';
import { NodeLimits } from './auth/limits.js';
import { NodeVerifier } from './auth/node-verifier.js';
import type { ConnectionClaims } from './auth/token-verifier.js';
import { assembleCluster, type ClusterParts } from './cluster/assemble.js';
import type { BroadcastResultItem, ServerPublishOptions } from './cluster/publisher.js';
import type { ServerAnnotation } from './features/messages.js';
import type { DisconnectOptions } from './cluster/steering.js';
import { ConfigError, resolveConfig, type TidingsConfig, type TidingsConfigInput } from './config/schema.js';
import { ActivityFeature } from './features/activity.js';
import { NotificationsFeature } from './features/notifications.js';
import { PresenceFeature } from './features/presence.js';
import { ProgressFeature } from './features/progress.js';
import { StickyChannels } from './features/sticky-channels.js';
import { UserChannels } from './features/user-channels.js';
import { ReadReceiptsFeature } from './features/read-receipts.js';
import { FrontDoor, type ListenOptions } from './front-door.js';
import { HookMethods } from './hook-methods.js';
import { Hub } from './hub/hub.js';
import { createLogger, type Logger } from './log.js';
import type { TidingsOptions } from './options.js';
import { watchAdminStats, type AdminStats } from './ops/admin-stats.js';
import type { StoredAuditLog } from './ops/audit-log.js';
import { nodeEngineMetrics } from './ops/engine-metrics.js';
import { NodeMetrics } from './ops/metrics.js';
import { openNodeAudit } from './ops/node-audit.js';
import { registerProxyHooks } from './proxy/proxy-hooks.js';
import { COMMAND_HANDLERS } from './session/commands.js';
import type { Counters, SessionServices } from './session/services.js';
import { Session } from './session/session.js';
import { openHistoryStore } from './store/history-store.js';
import { openStores, type DurableStores } from './store/open-stores.js';
import { FORWARD_TYPE, type SessionForwarding } from './transport/http-forwarding.js';
import { VERSION } from './version.js';
import { assembleWebhooks, type NodeWebhooks } from './webhooks/assemble.js';
import { Flusher } from './wire/flusher.js';

export type { ApiUserStatus, BroadcastResultItem, ChannelListing, ConnectionListing, NodeHealth, NodeListing, NodeStats, TidingsOptions };
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

export class Tidings extends HookMethods {
  readonly config: TidingsConfig;
  readonly log: Logger;
  readonly nodeId: string;
  /** Prometheus metrics of this node (served at `metrics.path`). */
  readonly metrics: NodeMetrics;
  /** Durable notifications: `notify`, and each user's inbox. */
  readonly notifications: NotificationsFeature;
  /** Durable activity feeds, streamed live on `<activity.namespace>:<scope>`. */
  readonly activity: ActivityFeature;
  /** Latest state of users' long-running jobs, pushed live. */
  readonly progress: ProgressFeature;
  /** Users' sticky server-side subscriptions: `subscribe(user, channel)` (now and at every later connect), `unsubscribe`, `list`. */
  readonly userChannels: UserChannels;
  /** Users' read receipts per channel: `markRead(user, channel, offset)`, `receiptsOf(channel)`, `unreadOf(user, channels)`. */
  readonly readReceipts: ReadReceiptsFeature;
  /** The stored audit log; undefined when `audit.store` is off. */
  readonly auditLog: StoredAuditLog | undefined;
  /** The durable stores (and the database behind them, when this node opened it). */
  private readonly stores: DurableStores;
  /** Hands the memory engine's queued history changes (`history.store: sqlite`) to the database before it closes. */
  private readonly closeHistory: () => void;
  /** webhooks/: the emitter event sources call, and the dispatcher where this process delivers the outbox. */
  private readonly webhooks: NodeWebhooks;
  private readonly presenceFeature: PresenceFeature;
  /** Everything holds this one, so a reload can swap the application's verifier underneath. */
  private readonly verifier: NodeVerifier;
  private readonly policy: ChannelPolicy;
  private readonly limits: NodeLimits;
  private readonly hub: Hub<Session>;
  /** cluster/: the engine and the only parts that call it (channels, publisher, presence, nodes, steering). */
  private readonly cluster: ClusterParts;
  private readonly inspector: NodeInspector;
  private readonly front: FrontDoor;
  private readonly adminStats: AdminStats;
  private readonly counters: Counters = { connectsTotal: 0, disconnectsTotal: 0, publicationsIn: 0, badRequests: 0, slowDisconnects: 0 };
  private readonly presenceTimer: NodeJS.Timeout;

  constructor(options: TidingsOptions = {}) {
    super();
    const { logger, notificationStore, activityStore, auditStore, userChannelsStore, readReceiptsStore, webhookOutbox, verifier, engine: engineOption, nodeInfo, ...rest } = options;
    // `engine`: an Engine to use, or the configuration's engine section.
    const given = engineOption !== undefined && 'broker' in engineOption ? engineOption : undefined;
    const input = engineOption !== undefined && given === undefined ? { ...rest, engine: engineOption as Exclude<typeof engineOption, typeof given> } : rest;
    const config = (this.config = resolveConfig(input));
    const log = (this.log = logger ?? createLogger(config.logLevel, undefined, { format: config.logFormat === 'pretty' ? 'pretty' : 'json' }));
    this.nodeId = Math.random().toString(36).slice(2, 10);
    const metrics = (this.metrics = new NodeMetrics());
    const stores = openStores(config, { notificationStore, activityStore, auditStore, userChannelsStore, readReceiptsStore, webhookOutbox }, (writes, seconds) => metrics.storeCommit(writes, seconds));
    this.stores = stores;
    const { auditLog, audit, limitHit } = openNodeAudit(config, log, stores.audit, metrics);
    // Webhooks: this process delivers the outbox unless another does (a worker of --workers only enqueues into the primary's).
    const webhooks = (this.webhooks = assembleWebhooks({ config, outbox: stores.webhooks, holder: this.nodeId, log, metrics }));
    this.auditLog = auditLog;
    this.verifier = new NodeVerifier(verifier, config, () => this.front.dashboard.tokens);
    let clientIp;
    try {
      clientIp = createClientIpResolver(config.trustedProxies);
    } catch (err) {
      throw new ConfigError([(err as Error).message]);
    }

    // The local hub, and cluster/ around the engine (in-memory unless given): the channels
    // between them (the engine's handler), publisher, presence, node membership, steering.
    const hub = (this.hub = new Hub<Session>((n) => metrics.publicationsOut(n)));
    this.policy = new ChannelPolicy(config, this.verifier);
    const engineOps = nodeEngineMetrics(given ? undefined : config.engine.type, metrics.registry, nodeInfo);
    // history.store: sqlite: the memory engine's history also in the SQLite database (write-behind, loaded now).
    const historyStore = openHistoryStore(config, given !== undefined, stores.database, (error) => log.error({ error: error.message }, 'history store: a write failed'));
    if (historyStore.ignored) log.warn(historyStore.ignored);
    this.closeHistory = historyStore.close;
    const cluster = (this.cluster = assembleCluster({ config, nodeId: this.nodeId, log, metrics, engine: given, historyPersistence: historyStore.persistence, nodeInfo: engineOps.nodeInfo, engineObserver: engineOps.observer, hub, policy: this.policy, counters: this.counters, limitHit, webhooks: webhooks.emitter, vacatedDelayMs: config.webhooks.vacatedDelay }));
    const { channels, sessionHub, presenceReads, publisher, nodes } = cluster;
    this.limits = new NodeLimits(config, limitHit, cluster.engine.limits);

    // Rules and features.
    const hooks = this.hookRegistry.hooks;
    registerProxyHooks(this.hookRegistry, { config, metrics, log }); // proxy/: the backend's HTTP hooks run first
    const namespaceOf = (channel: string) => this.policy.namespaceOf(channel);
    this.presenceFeature = new PresenceFeature({ config, log, channels, control: channels, state: cluster.presenceWrites, hooks, limitHit, namespaceOf, webhooks: webhooks.emitter });
    this.notifications = new NotificationsFeature({ config, store: stores.notifications, control: channels, log, webhooks: webhooks.emitter });
    this.activity = new ActivityFeature({ config, store: stores.activity, log, publish: (channel, data) => publisher.publish(channel, data, { source: 'api' }) });
    this.progress = new ProgressFeature({ config, store: cluster.progressState, control: channels, log });
    const steering = cluster.steering;
    // The sticky channels read at connect, skipped for users known to have none (dropped on every node when one is added).
    const stickyChannels = new StickyChannels(stores.userChannels);
    void stickyChannels.check();
    steering.onSubscribeUser((user) => stickyChannels.changed(user));
    this.userChannels = new UserChannels({ store: stores.userChannels, resolve: (c) => this.policy.resolve(c).channel, subscribeNow: (u, c) => steering.subscribeUser(u, c), unsubscribeNow: (u, c) => steering.unsubscribeUser(u, c), maxPerUser: () => config.limits.subscriptionsPerConnection });
    this.readReceipts = new ReadReceiptsFeature({ store: stores.readReceipts, resolve: (c) => this.policy.resolve(c), streams: channels, control: channels, pageSize: config.history.maxLimit, log });
    const { policy, counters, notifications, activity, progress, userChannels, readReceipts } = this;
    const services: SessionServices = {
      config, log, verifier: this.verifier, policy, hub: sessionHub, streams: channels, presence: presenceReads, presenceFeature: this.presenceFeature, flusher: new Flusher(), hooks, counters,
      version: VERSION, limitHit, metrics, audit, notifications, activity, progress, userChannels: stickyChannels, readReceipts, webhooks: webhooks.emitter,
      publish: (target, data, opts) => publisher.publishTo(target, data, opts),
      publishAllowed: (target, user) => this.limits.publishAllowed(target.parsed.namespace, target.ns, user),
    };

    // Inspection, the server API, the dashboard and its live stats.
    const { nodeId, presenceFeature } = this;
    const inspector = (this.inspector = new NodeInspector({ nodeId, policy, hub, presence: presenceReads, presenceFeature, counters, closing: () => this.front.closing, nodes }));
    metrics.setSource(() => inspector.gauges());
    const durable = { notifications, activity, progress, auditLog: this.auditLog };
    const api = { config, publisher, messages: cluster.messages, steering: cluster.steering, inspector, readiness: () => this.readiness(), durable, webhooks: stores.webhooks, webhookTest: webhooks.tester, userChannels, readReceipts };
    const forwarding: SessionForwarding = { nodeId, timeoutMs: config.cluster.requestTimeout, request: (node, message, timeoutMs) => nodes.ask(node, message, timeoutMs) };
    this.front = new FrontDoor({ config, log, verifier: this.verifier, clientIp, limits: this.limits, services, commands: COMMAND_HANDLERS, audit, metrics, api, limitHit, forwarding });
    nodes.router.handle(FORWARD_TYPE, (message) => this.front.answerForwarded(message));
    const gauges = () => inspector.gauges();
    this.adminStats = watchAdminStats({ node: nodeId, version: VERSION, intervalMs: config.dashboard.statsInterval, hub, gauges, counters, metrics, cluster: nodes, publish: (channel, data) => publisher.publishUncounted(channel, data) });
    // Keeps this node's entries alive, and announces the entries of nodes that died (expired).
    this.presenceTimer = setInterval(() => {
      presenceFeature.refresh(hub.allSessions());
      presenceFeature.sweepExpired();
    }, Math.max(1000, Math.floor(config.presence.ttl / 3)));
    this.presenceTimer.unref();
  }

  // ------------------------------------------------------------ HTTP wiring

  /** Answers a request for the HTTP transports, the server API or metrics; false when the path is not Tidings'. */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    return this.front.handleRequest(req, res);
  }

  /** Takes a WebSocket upgrade for Tidings' path; false when the path is not Tidings'. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    return this.front.handleUpgrade(req, socket, head);
  }

  /**
   * Serves Tidings on an existing HTTP server: its WebSocket path and API paths
   * are answered here, everything else goes to the server's own handlers.
   */
  attach(server: Server): this {
    this.front.attach(server);
    return this;
  }

  /**
   * Starts a standalone HTTP server. Resolves with the bound address (port 0 picks a free one).
   * `onRequest` answers the requests that are not Tidings' (an app's own routes); `landing`
   * serves a small HTML page at `GET /` for browsers (`tidings dev` does; leave it off when
   * `onRequest` serves `/`).
   */
  listen(port: number = this.config.port, host: string = this.config.host, options: ListenOptions = {}): Promise<AddressInfo> {
    return this.front.listen(port, host, options);
  }

  /**
   * Verifies a connection token as a connect would (for an app backend that receives
   * the same tokens): resolves with the user, info and roles, or rejects with
   * `unauthorized` / `token_expired`.
   */
  verifyToken(token: string): Promise<ConnectionClaims> {
    return this.verifier.verifyConnection(token);
  }

  /** A dashboard sign-in path with a fresh one-time code (`tidings dev` prints it as a link). */
  dashboardSignInPath(): Promise<string> {
    return this.front.dashboard.signInPath();
  }

  // ------------------------------------------------------------ publishing and reading (cluster/publisher.ts, api/inspector.ts)

  /** Validates a channel name and finds its namespace; throws `invalid_channel` or `unknown_namespace`. */
  resolveChannel(channel: string): ResolvedChannel {
    return this.policy.resolve(channel);
  }

  /**
   * Publishes to a channel from the server side (no client permission rules apply).
   * With `idempotencyKey`, a repeat within the configured window publishes nothing
   * and returns the first result with `deduplicated: true`. `source` labels metrics.
   */
  publish(channel: string, data: unknown, options?: ServerPublishOptions): Promise<PublishResult> {
    return this.cluster.publisher.publish(channel, data, options);
  }

  /** Publishes one payload to many channels; each channel gets its own result or error. */
  broadcast(channels: string[], data: unknown, options: ServerPublishOptions = {}): Promise<BroadcastResultItem[]> {
    return this.cluster.publisher.broadcast(channels, data, options);
  }

  /**
   * Replaces the content of the message at offset `ref` (namespaces with `messaging.edits`): published
   * as an `edit` operation, live to subscribers and folded into history. Any message, whoever wrote it.
   */
  editMessage(channel: string, ref: number, data: unknown): Promise<PublishResult> {
    return this.cluster.messages.edit(channel, ref, data);
  }

  /** Deletes the message at offset `ref` (its content becomes `null`; `messaging.edits`), whoever wrote it. */
  deleteMessage(channel: string, ref: number): Promise<PublishResult> {
    return this.cluster.messages.delete(channel, ref);
  }

  /** Adds (or with `remove`, takes back) `user`'s annotation `name` (kind `reaction` by default) on a message (`messaging.annotations`). */
  annotate(channel: string, ref: number, annotation: ServerAnnotation): Promise<PublishResult> {
    return this.cluster.messages.annotate(channel, ref, annotation);
  }

  /** A channel's history. `limit` is capped by `history.maxLimit`. */
  history(channel: string, query: { limit?: number; since?: StreamPosition; reverse?: boolean } = {}): Promise<HistoryResult> {
    return this.cluster.publisher.history(channel, query);
  }

  /** Channels with subscribers on any node, sorted by name, paginated; `subscribers` counts every node's. */
  channels(query: { prefix?: string; limit?: number; cursor?: string | undefined } = {}): Promise<ChannelListing> {
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

  /** Connections on every node (those that sent `connect`; each names its node), sorted by id, paginated; optionally one user's only. */
  listConnections(query: { user?: string; cursor?: string; limit?: number } = {}): Promise<{ connections: ConnectionListing[]; nextCursor?: string }> {
    return this.inspector.listConnections(query);
  }

  /** Live nodes of the deployment (id, pid, host, started, connections, last heartbeat), sorted by id. */
  nodes(): Promise<NodeListing[]> {
    return this.inspector.nodes();
  }

  /** Whether this node takes traffic (`/api/v1/ready`), and why not: shutting down, or a database or engine that does not answer. */
  readiness(): { ready: boolean; reason?: string } {
    if (this.front.closing) return { ready: false, reason: 'shutting down' };
    for (const status of [this.stores.status(), this.cluster.engine.status?.()]) {
      if (status && !status.ready) return { ready: false, reason: status.reason ?? 'not ready' };
    }
    return { ready: true };
  }

  get ready(): boolean {
    return this.readiness().ready;
  }

  health(): NodeHealth {
    return this.inspector.health();
  }

  /** The deployment's stats: every node's figures summed, each node's own under `nodes`. */
  stats(): Promise<NodeStats> {
    return this.inspector.stats();
  }

  // ------------------------------------------------------------ steering (cluster/steering.ts)

  /**
   * Disconnects every connection of a user on every node. Reconnect codes
   * (4000–4499, default 4005) let the client come back; terminal ones (4500–4999,
   * e.g. 4503) tell it to stay away. Resolves with how many connections were closed.
   */
  disconnectUser(user: string, options: DisconnectOptions = {}): Promise<number> {
    return this.cluster.steering.disconnectUser(user, options);
  }

  /** Disconnects one connection, on whichever node has it, by its id (reconnect code 4005 unless told otherwise); false when none has it. */
  disconnectClient(client: string, options: DisconnectOptions = {}): Promise<boolean> {
    return this.cluster.steering.disconnectClient(client, options);
  }

  /** Ends a user's subscriptions to a channel on every node; each client gets an `unsubscribe` push. */
  unsubscribeUser(user: string, channel: string): Promise<number> {
    return this.cluster.steering.unsubscribeUser(user, channel);
  }

  /** Sends `{type: 'broadcast', event, data}` to every connection on every node (the client's `broadcast` event); resolves with how many got it. */
  broadcastAll(event: string, data: unknown): Promise<number> {
    return this.cluster.steering.broadcastAll(event, data);
  }

  // ------------------------------------------------------------ life cycle

  /**
   * Applies a new configuration without dropping connections (SIGHUP): namespaces,
   * token keys (`auth`) and API keys. Other settings need a restart. Throws
   * ConfigError and changes nothing when the new settings are invalid.
   * Existing subscriptions keep the namespace settings they started with.
   */
  async reload(input: TidingsConfigInput): Promise<void> {
    const next = resolveConfig(input);
    const verifier = this.verifier.prepare(next);
    this.config.namespaces = next.namespaces;
    this.config.auth = next.auth;
    this.config.apiKeys = next.apiKeys;
    this.verifier.use(verifier);
    this.policy.forgetResolved();
    this.front.api.reload();
    this.log.info({ namespaces: Object.keys(next.namespaces), apiKeys: next.apiKeys.map((k) => k.id) }, 'configuration reloaded');
  }

  /**
   * Graceful shutdown: refuse new connections, tell every client to reconnect
   * (after `shutdown.reconnectDelay`, jittered per client to spread the reconnect
   * storm), let in-flight API requests finish, close servers this node started
   * and release the engine, all within `shutdown.timeout`.
   */
  async close(): Promise<void> {
    if (this.front.closing) return;
    clearInterval(this.presenceTimer);
    await this.front.close();
    this.verifier.close();
    this.presenceFeature.close();
    this.inspector.close();
    this.notifications.close();
    this.activity.close();
    this.adminStats.close();
    // Disconnects above were audited: store them, then commit whatever is queued.
    await this.auditLog?.close();
    // Events of the connections closed above go to the outbox; in-flight deliveries end or are handed back.
    await this.webhooks.close();
    // No more publications: the history written behind them goes into the database's last commit.
    this.closeHistory();
    await this.stores.close();
    await this.cluster.close();
    this.log.info('tidings stopped');
  }
}
