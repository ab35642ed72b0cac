/**
 * The composition root: the only place that wires the parts together.
 * `createTidings()` returns a node that a Node backend embeds (`attach` to its
 * HTTP server, or `listen`) and that the CLI wraps.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
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
import { ServerApi } from './api/server-api.js';
import { sendError } from './api/http.js';
import { ChannelPolicy, type ResolvedChannel } from './auth/channel-policy.js';
import { createJwtVerifier } from './auth/jwt-verifier.js';
import { createClientIpResolver, type ClientIpResolver } from './auth/client-ip.js';
import { createOriginCheck } from './auth/origin.js';
import { KeyedRateLimiter } from './auth/rate-limit.js';
import type { TokenVerifier } from './auth/token-verifier.js';
import { ConfigError, resolveConfig, type NamespaceConfig, type TidingsConfig, type TidingsConfigInput } from './config/schema.js';
import type { Broker, HistoryOptions } from './engine/broker.js';
import type { IdempotencyStore } from './engine/idempotency.js';
import { MemoryBroker } from './engine/memory/memory-broker.js';
import { MemoryIdempotencyStore } from './engine/memory/memory-idempotency.js';
import { MemoryPresenceManager } from './engine/memory/memory-presence.js';
import { MemoryTypingStore } from './engine/memory/memory-typing.js';
import { MemoryUserStatusStore } from './engine/memory/memory-user-status.js';
import type { PresenceManager } from './engine/presence.js';
import type { TypingStore } from './engine/typing.js';
import type { UserListPage, UserStatusEntry, UserStatusStore } from './engine/user-status.js';
import { PresenceFeature, publicStatus } from './features/presence.js';
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
import { Flusher } from './hub/flusher.js';
import { Hub } from './hub/hub.js';
import { createLogger, type Logger } from './log.js';
import { LogAuditSink, type AuditSink } from './ops/audit.js';
import { NodeMetrics } from './ops/metrics.js';
import type { Counters, PublishedOutcome, PublishRequest, SessionServices } from './session/services.js';
import { Session } from './session/session.js';
import { WebSocketAcceptor } from './transport/websocket.js';
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

export interface ChannelListing {
  channels: { channel: string; subscribers: number }[];
  /** Pass as `cursor` to get the next page; absent on the last page. */
  nextCursor?: string;
}

/** One connection, as `GET /api/v1/connections` and the dashboard show it. */
export interface ConnectionListing {
  client: string;
  user: string;
  transport: string;
  /** Client IP (from the socket, or X-Forwarded-For through a trusted proxy). */
  ip: string;
  userAgent?: string;
  connectedAt: string;
  subscriptions: number;
  status: string;
}

export interface NodeStats {
  nodeId: string;
  version: string;
  uptimeSeconds: number;
  connectedSockets: number;
  onlineUsers: number;
  activeRooms: number;
  publicationsInPerSecond: number;
  publicationsOutPerSecond: number;
  publicationsInTotal: number;
  publicationsOutTotal: number;
  connectsTotal: number;
  disconnectsTotal: number;
  badRequestsTotal: number;
  slowDisconnectsTotal: number;
  /** Resident memory of the process, bytes. */
  memoryRssBytes: number;
  /** V8 heap in use, bytes. */
  heapUsedBytes: number;
}

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
  private readonly hooks: Hooks = emptyHooks();
  private readonly broker: Broker;
  private readonly presence: PresenceManager;
  private readonly userStatus: UserStatusStore;
  private readonly typing: TypingStore;
  private readonly idempotency: IdempotencyStore;
  private readonly presenceFeature: PresenceFeature;
  private readonly verifier: TokenVerifier;
  private currentVerifier: TokenVerifier;
  private readonly customVerifier: boolean;
  private readonly policy: ChannelPolicy;
  private readonly hub: Hub<Session>;
  private readonly services: SessionServices;
  private readonly websocket: WebSocketAcceptor;
  private readonly api: ServerApi;
  private readonly counters: Counters = { connectsTotal: 0, disconnectsTotal: 0, publicationsIn: 0, badRequests: 0, slowDisconnects: 0 };
  private readonly historyOptions = new WeakMap<NamespaceConfig, HistoryOptions>();
  private readonly startedAt = Date.now();
  private readonly ownServers: Server[] = [];
  /** Every open connection, including those that have not sent `connect` yet (the hub holds only connected ones). */
  private readonly connections = new Set<Session>();
  private readonly rates = { inPerSecond: 0, outPerSecond: 0, lastIn: 0, lastOut: 0 };
  private readonly rateTimer: NodeJS.Timeout;
  private readonly presenceTimer: NodeJS.Timeout;
  private closing = false;
  private readonly clientIp: ClientIpResolver;
  /** New connections per IP (limits.connectionRatePerIp). */
  private readonly ipLimiter: KeyedRateLimiter | undefined;
  /** Publishes per user, one limiter per namespace with a `rateLimit`. */
  private readonly publishLimiters = new Map<NamespaceConfig, KeyedRateLimiter>();

  constructor(options: TidingsOptions = {}) {
    const { logger, broker, presenceManager, userStatusStore, typingStore, idempotencyStore, verifier, ...input } = options;
    this.config = resolveConfig(input);
    const config = this.config;
    this.log = logger ?? createLogger(config.logLevel);
    this.nodeId = Math.random().toString(36).slice(2, 10);
    this.metrics = new NodeMetrics();
    this.audit = new LogAuditSink(this.log);
    this.customVerifier = verifier !== undefined;
    this.currentVerifier = verifier ?? buildVerifier(config);
    // Everything holds this delegate, so a reload can swap the keys underneath.
    this.verifier = {
      verifyConnection: (token) => this.currentVerifier.verifyConnection(token),
      verifySubscription: (token) => this.currentVerifier.verifySubscription(token),
      close: () => this.currentVerifier.close?.(),
    };
    try {
      this.clientIp = createClientIpResolver(config.trustedProxies);
    } catch (err) {
      throw new ConfigError([(err as Error).message]);
    }
    const perIp = config.limits.connectionRatePerIp;
    if (perIp > 0) this.ipLimiter = new KeyedRateLimiter(perIp, perIp * 2);
    this.broker = broker ?? new MemoryBroker({ metaTtlMs: config.history.metaTtl });
    this.presence = presenceManager ?? new MemoryPresenceManager({ ttlMs: config.presence.ttl });
    this.userStatus = userStatusStore ?? new MemoryUserStatusStore({ ttlMs: config.presence.ttl, lastSeenTtlMs: config.status.lastSeenTtl });
    this.typing = typingStore ?? new MemoryTypingStore();
    this.idempotency = idempotencyStore ?? new MemoryIdempotencyStore();
    this.hub = new Hub<Session>(this.broker, (n) => this.metrics.publicationsOut(n));
    this.metrics.setSource(() => {
      let subscriptions = 0;
      for (const s of this.hub.allSessions()) subscriptions += s.subs.size;
      return { connections: this.hub.sessionCount, users: this.localUserCount(), subscriptions, channels: this.hub.channelCount };
    });
    this.broker.setHandler({
      onPublication: (channel, pub) => this.hub.deliverPublication(channel, pub),
      onControl: (channel, event) => this.hub.deliverControl(channel, event),
    });
    this.presenceFeature = new PresenceFeature({
      config,
      log: this.log,
      hub: this.hub,
      broker: this.broker,
      presence: this.presence,
      userStatus: this.userStatus,
      typing: this.typing,
      hooks: this.hooks,
      limitHit: (limit, details) => this.limitHit(limit, details),
    });
    this.policy = new ChannelPolicy(config, this.verifier);
    this.services = {
      config,
      log: this.log,
      verifier: this.verifier,
      policy: this.policy,
      hub: this.hub,
      broker: this.broker,
      presence: this.presence,
      presenceFeature: this.presenceFeature,
      flusher: new Flusher(),
      hooks: this.hooks,
      counters: this.counters,
      version: VERSION,
      publish: (target, data, opts) => this.publishTo(target, data, opts),
      publishAllowed: (target, user) => this.publishAllowed(target.ns, `${target.parsed.namespace}\u0000${user}`),
      limitHit: (limit, details) => this.limitHit(limit, details),
      metrics: this.metrics,
      audit: this.audit,
    };
    this.websocket = new WebSocketAcceptor({
      config,
      log: this.log,
      verifier: this.verifier,
      originAllowed: createOriginCheck(config.allowedOrigins),
      clientIp: this.clientIp,
      admit: (ip) => this.admit(ip),
      accepting: () => !this.closing,
      createSession: (transport, request, claims) => {
        const session = new Session(this.services, transport, request, claims);
        this.connections.add(session);
        return {
          handleMessage: (text, bytes) => session.handleMessage(text, bytes),
          handleBadMessage: (problem) => session.handleBadMessage(problem),
          handleTransportClosed: (code, reason) => {
            this.connections.delete(session);
            session.handleTransportClosed(code, reason);
          },
        };
      },
      onProtocolError: () => {
        this.counters.badRequests++;
        this.metrics.error('bad_request');
      },
      onAuthFailure: (ip, reason) => this.audit.emit({ type: 'auth_failure', ip, transport: 'websocket', reason }),
    });
    this.api = new ServerApi(this, this.log, { metrics: this.metrics, audit: this.audit });
    this.rateTimer = setInterval(() => this.sampleRates(), 1000);
    this.rateTimer.unref();
    this.presenceTimer = setInterval(() => this.presenceFeature.refresh(this.hub.allSessions()), Math.max(1000, Math.floor(config.presence.ttl / 3)));
    this.presenceTimer.unref();
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

  /** Answers a request for the server API; false when the path is not Tidings'. */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    return this.api.handleMetrics(req, res) || this.api.handle(req, res);
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
    const previous = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
    server.removeAllListeners('request');
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      // While shutting down, requests still in flight end their connection when answered.
      if (this.closing) res.setHeader('connection', 'close');
      if (this.handleRequest(req, res)) return;
      if (previous.length === 0) sendError(res, ErrorCode.NotFound, 'not found');
      for (const listener of previous) listener.call(server, req, res);
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (this.handleUpgrade(req, socket, head)) return;
      // Another upgrade listener may want it; if none does, do not leave the socket hanging.
      if (server.listenerCount('upgrade') === 1) socket.destroy();
    });
    return this;
  }

  /** Starts a standalone HTTP server. Resolves with the bound address (port 0 picks a free one). */
  async listen(port: number = this.config.port, host: string = this.config.host): Promise<AddressInfo> {
    const handshake = this.config.limits.handshakeTimeout;
    // Slowloris: a peer must finish its request headers (a WebSocket handshake too) within the timeout.
    const server = createServer({ connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(handshake / 2))) });
    server.headersTimeout = handshake;
    server.requestTimeout = Math.max(handshake, 30_000);
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      // Taking this event over from Node means answering the socket ourselves.
      const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
      if (timedOut) this.limitHit('handshake_timeout', { ip: (socket as Duplex & { remoteAddress?: string }).remoteAddress ?? '' });
      if (socket.writable && !(socket as Duplex & { _httpMessage?: unknown })._httpMessage) {
        const response = timedOut ? 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n' : 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';
        socket.end(response, () => socket.destroy());
      } else {
        socket.destroy();
      }
    });
    server.keepAliveTimeout = 5000;
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

  // ------------------------------------------------------------ publishing

  /** Validates a channel name and finds its namespace; throws `invalid_channel` or `unknown_namespace`. */
  resolveChannel(channel: string): ResolvedChannel {
    return this.policy.resolve(channel);
  }

  /**
   * Publishes to a channel from the server side (no client permission rules apply).
   * With `idempotencyKey`, a repeat within the configured window publishes nothing
   * and returns the first result with `deduplicated: true`.
   */
  async publish(channel: string, data: unknown, options: { idempotencyKey?: string; source?: 'api' | 'library' } = {}): Promise<PublishResult> {
    const target = this.policy.resolve(channel);
    const opts = { source: options.source ?? 'library', ...(options.idempotencyKey !== undefined ? { idempotencyKey: `s:${options.idempotencyKey}` } : {}) };
    return publishResult(await this.publishTo(target, data, opts));
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
    const history = this.historyOf(target.ns);
    const publish = async () => {
      const outcome = await this.broker.publish(target.channel, data, { ...(history ? { history } : {}), ...(options.info ? { info: options.info } : {}) });
      this.counters.publicationsIn++;
      this.metrics.publicationIn(options.source);
      return outcome;
    };
    if (options.idempotencyKey === undefined) return { ...(await publish()), deduplicated: false };
    const key = `publish\u0000${target.channel}\u0000${options.idempotencyKey}`;
    const { value, fresh } = await this.idempotency.once(key, this.config.idempotency.window, publish);
    return { ...value, deduplicated: !fresh };
  }

  private historyOf(ns: NamespaceConfig): HistoryOptions | undefined {
    if (!ns.history) return undefined;
    let h = this.historyOptions.get(ns);
    if (!h) {
      h = { size: ns.history.size, ttlMs: ns.history.ttl };
      this.historyOptions.set(ns, h);
    }
    return h;
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
    const prefix = query.prefix ?? '';
    const limit = query.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new TidingsError(ErrorCode.BadRequest, 'limit: expected integer 1..1000');
    const names = [...this.hub.channelNames()].filter((c) => c.startsWith(prefix) && (query.cursor === undefined || c > query.cursor)).sort();
    const page = names.slice(0, limit);
    const listing: ChannelListing = { channels: page.map((channel) => ({ channel, subscribers: this.hub.subscriberCount(channel) })) };
    if (names.length > limit) listing.nextCursor = page[page.length - 1]!;
    return listing;
  }

  /** Subscribers and presence of one channel, with the field names task-viewer UIs already use (viewingUsers, typingUsers, totalViewing). */
  async channelInfo(channel: string): Promise<Record<string, unknown>> {
    const target = this.policy.resolve(channel);
    const info: Record<string, unknown> = { channel: target.channel, subscribers: this.hub.subscriberCount(target.channel) };
    if (target.ns.presence) {
      const [clients, users] = await Promise.all([this.presence.clients(target.channel), this.presence.users(target.channel)]);
      // Anonymous viewers count in subscribers and presence, not as users.
      const viewing = users.filter((u) => u.user !== '');
      info.presence = { clients, users };
      info.viewingUsers = viewing.map((u) => ({
        userId: u.user,
        ...(u.info ? { info: u.info } : {}),
        status: u.status,
        lastSeen: new Date(u.lastSeen).toISOString(),
        ...(u.state !== undefined ? { state: u.state } : {}),
        clients: u.clients,
      }));
      info.totalViewing = viewing.length;
    }
    if (target.ns.typing) {
      const typing = await this.presenceFeature.typingUsers(target.channel);
      info.typingUsers = typing.map((t) => t.user).sort();
    }
    return info;
  }

  /** Presence of a channel: connections by id and users aggregated. */
  async presenceOf(channel: string): Promise<PresenceResult> {
    const target = this.policy.resolve(channel);
    if (!target.ns.presence) throw new TidingsError(ErrorCode.NotAvailable, 'presence is off in this namespace');
    const [clients, users] = await Promise.all([this.presence.clients(target.channel), this.presence.users(target.channel)]);
    return { clients, users };
  }

  /** A user's global status, in the shape of the server API. */
  async userStatusOf(user: string): Promise<{ userId: string; isOnline: boolean; status: string; lastSeen: string | null; info?: Record<string, unknown> }> {
    const entry = await this.userStatus.get(user);
    return apiUserStatus(entry);
  }

  /** Online and away users, sorted by id, paginated. */
  async onlineUsers(query: { cursor?: string; limit?: number } = {}): Promise<{ count: number; users: ReturnType<typeof apiUserStatus>[]; nextCursor?: string }> {
    const limit = query.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new TidingsError(ErrorCode.BadRequest, 'limit: expected integer 1..1000');
    const [page, count]: [UserListPage, number] = await Promise.all([
      this.userStatus.listOnline({ limit, ...(query.cursor !== undefined ? { cursor: query.cursor } : {}) }),
      this.userStatus.countOnline(),
    ]);
    const out: { count: number; users: ReturnType<typeof apiUserStatus>[]; nextCursor?: string } = { count, users: page.users.map(apiUserStatus) };
    if (page.nextCursor !== undefined) out.nextCursor = page.nextCursor;
    return out;
  }

  /**
   * Connections on this node, sorted by id, paginated; optionally one user's only.
   * Connections that have not sent `connect` yet are not listed.
   */
  listConnections(query: { user?: string; cursor?: string; limit?: number } = {}): { connections: ConnectionListing[]; nextCursor?: string } {
    const limit = query.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new TidingsError(ErrorCode.BadRequest, 'limit: expected integer 1..1000');
    const sessions = (query.user !== undefined ? this.hub.userSessions(query.user) : [...this.hub.allSessions()])
      .filter((s) => query.cursor === undefined || s.id > query.cursor)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const page = sessions.slice(0, limit);
    const out: { connections: ConnectionListing[]; nextCursor?: string } = {
      connections: page.map((s) => {
        const ua = s.request.headers['user-agent'];
        return {
          client: s.id,
          user: s.user,
          transport: s.transport.kind,
          ip: s.request.remoteAddress,
          ...(typeof ua === 'string' ? { userAgent: ua } : {}),
          connectedAt: new Date(s.connectedAt).toISOString(),
          subscriptions: s.subs.size,
          status: s.status,
        };
      }),
    };
    if (sessions.length > limit) out.nextCursor = page[page.length - 1]!.id;
    return out;
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

  /** Ends a user's subscriptions to a channel on this node; the client gets an `unsubscribe` push. */
  unsubscribeUser(user: string, channel: string): number {
    channel = this.policy.resolve(channel).channel;
    let count = 0;
    const push = Buffer.from(encodeFrame({ type: 'unsubscribe', channel, code: UnsubscribeCode.Server, reason: 'unsubscribed by server' }));
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
    for (const limiter of this.publishLimiters.values()) limiter.close();
    this.publishLimiters.clear();
    this.api.reload();
    this.log.info({ namespaces: Object.keys(next.namespaces), apiKeys: next.apiKeys.map((k) => k.id) }, 'configuration reloaded');
  }

  // ------------------------------------------------------------ limits

  /** Node-wide admission of a new connection: per-node count and per-IP rate. */
  private admit(ip: string): { status: number; code: string; message: string; temporary: boolean } | undefined {
    const perNode = this.config.limits.connectionsPerNode;
    if (perNode > 0 && this.connections.size >= perNode) {
      this.limitHit('connections_per_node', { ip });
      return { status: 503, code: ErrorCode.LimitExceeded, message: `node has ${perNode} connections (limits.connectionsPerNode)`, temporary: true };
    }
    if (this.ipLimiter && !this.ipLimiter.take(ip)) {
      this.limitHit('connection_rate_per_ip', { ip });
      return { status: 429, code: ErrorCode.RateLimited, message: 'too many new connections from this address (limits.connectionRatePerIp)', temporary: true };
    }
    return undefined;
  }

  private publishAllowed(ns: NamespaceConfig, key: string): boolean {
    const rl = ns.rateLimit;
    if (!rl) return true;
    let limiter = this.publishLimiters.get(ns);
    if (!limiter) {
      limiter = new KeyedRateLimiter(rl.messages / (rl.intervalMs / 1000), rl.messages);
      this.publishLimiters.set(ns, limiter);
    }
    return limiter.take(key);
  }

  private limitHit(limit: string, details: { user?: string; client?: string; ip?: string }): void {
    this.log.info({ limit, ...details }, 'limit hit');
    this.metrics.limitHit(limit);
    this.audit.emit({ type: 'limit_hit', limit, ...details });
  }

  // ------------------------------------------------------------ health

  get ready(): boolean {
    return !this.closing;
  }

  health(): { status: 'healthy' | 'shutting_down'; timestamp: string; stats: { connectedSockets: number; onlineUsers: number; activeRooms: number } } {
    return {
      status: this.closing ? 'shutting_down' : 'healthy',
      timestamp: new Date().toISOString(),
      stats: { connectedSockets: this.hub.sessionCount, onlineUsers: this.localUserCount(), activeRooms: this.hub.channelCount },
    };
  }

  stats(): NodeStats {
    return {
      nodeId: this.nodeId,
      version: VERSION,
      uptimeSeconds: Math.floor((Date.now() - this.startedAt) / 1000),
      connectedSockets: this.hub.sessionCount,
      onlineUsers: this.localUserCount(),
      activeRooms: this.hub.channelCount,
      publicationsInPerSecond: this.rates.inPerSecond,
      publicationsOutPerSecond: this.rates.outPerSecond,
      publicationsInTotal: this.counters.publicationsIn,
      publicationsOutTotal: this.hub.deliveredTotal,
      connectsTotal: this.counters.connectsTotal,
      disconnectsTotal: this.counters.disconnectsTotal,
      badRequestsTotal: this.counters.badRequests,
      slowDisconnectsTotal: this.counters.slowDisconnects,
      memoryRssBytes: process.memoryUsage.rss(),
      heapUsedBytes: process.memoryUsage().heapUsed,
    };
  }

  /** Users with a connection on this node, not counting anonymous ones. */
  private localUserCount(): number {
    return this.hub.userCount - (this.hub.userSessions('').length > 0 ? 1 : 0);
  }

  private sampleRates(): void {
    const r = this.rates;
    r.inPerSecond = this.counters.publicationsIn - r.lastIn;
    r.outPerSecond = this.hub.deliveredTotal - r.lastOut;
    r.lastIn = this.counters.publicationsIn;
    r.lastOut = this.hub.deliveredTotal;
  }

  /**
   * Graceful shutdown: refuse new connections, tell every client to reconnect
   * (after `shutdown.reconnectDelay`, to spread the reconnect storm), close servers
   * this node started and release the engine.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.rateTimer);
    clearInterval(this.presenceTimer);
    const delay = this.config.shutdown.reconnectDelay;
    const sessions = [...this.connections];
    for (const session of sessions) {
      session.disconnect(CloseCode.Shutdown, { delay: Math.round(delay / 2 + Math.random() * delay) });
    }
    // Peers that do not complete the close handshake are cut off after the timeout.
    const cutoff = setTimeout(() => sessions.forEach((s) => s.transport.terminate()), this.config.shutdown.timeout);
    cutoff.unref();
    await Promise.all(
      this.ownServers.map(
        (server) =>
          new Promise<void>((resolve) => {
            const force = setTimeout(() => server.closeAllConnections(), this.config.shutdown.timeout);
            force.unref();
            // Keep-alive connections that finish their last request after close() began go idle later.
            const sweep = setInterval(() => server.closeIdleConnections(), 100);
            sweep.unref();
            server.close(() => {
              clearTimeout(force);
              clearInterval(sweep);
              resolve();
            });
            server.closeIdleConnections();
          }),
      ),
    );
    clearTimeout(cutoff);
    this.websocket.close();
    this.verifier.close?.();
    this.presenceFeature.close();
    this.ipLimiter?.close();
    for (const l of this.publishLimiters.values()) l.close();
    await Promise.all([this.broker.close(), this.presence.close(), this.userStatus.close(), this.typing.close(), this.idempotency.close()]);
    this.log.info('tidings stopped');
  }
}

/** Seed-style status body: userId, isOnline, status, lastSeen as ISO time. */
function apiUserStatus(entry: UserStatusEntry) {
  const s = publicStatus(entry);
  return {
    userId: entry.user,
    ...(entry.info ? { info: entry.info } : {}),
    isOnline: s.status !== 'offline',
    status: s.status,
    lastSeen: s.lastSeen !== undefined ? new Date(s.lastSeen).toISOString() : null,
  };
}

function publishResult(outcome: PublishedOutcome): PublishResult {
  const result: PublishResult = outcome.position ? { offset: outcome.position.offset, epoch: outcome.position.epoch } : {};
  if (outcome.deduplicated) result.deduplicated = true;
  return result;
}

/** The JWT verifier for `config.auth`; key-file and PEM problems are configuration errors. */
function buildVerifier(config: TidingsConfig): TokenVerifier {
  try {
    return createJwtVerifier(jwtOptions(config));
  } catch (err) {
    throw new ConfigError([`auth: ${(err as Error).message}`]);
  }
}

/** Maps config `auth` to the verifier's options, reading key files. */
function jwtOptions(config: TidingsConfig) {
  const a = config.auth;
  const publicKey = a.publicKey ?? (a.publicKeyFile ? readFileSync(a.publicKeyFile, 'utf8') : undefined);
  return {
    ...(a.secret ? { secret: a.secret } : {}),
    ...(publicKey ? { publicKey } : {}),
    ...(a.jwksFile ? { jwksFile: a.jwksFile } : {}),
    ...(a.jwksUrl ? { jwksUrl: a.jwksUrl } : {}),
    issuers: a.issuers.map((i) => {
      const pk = i.publicKey ?? (i.publicKeyFile ? readFileSync(i.publicKeyFile, 'utf8') : undefined);
      return {
        issuer: i.issuer,
        ...(i.audience ? { audience: i.audience } : {}),
        ...(i.secret ? { secret: i.secret } : {}),
        ...(pk ? { publicKey: pk } : {}),
        ...(i.jwksFile ? { jwksFile: i.jwksFile } : {}),
        ...(i.jwksUrl ? { jwksUrl: i.jwksUrl } : {}),
      };
    }),
    ...(a.audience ? { audience: a.audience } : {}),
    ...(a.issuer ? { issuer: a.issuer } : {}),
    ...(a.algorithms ? { algorithms: a.algorithms } : {}),
    clockToleranceMs: a.clockTolerance,
    jwksCacheMaxAgeMs: a.jwksCacheMaxAge,
    jwksCooldownMs: a.jwksCooldown,
    jwksTimeoutMs: a.jwksTimeout,
  };
}

/** True when the config names at least one way to verify tokens. */
export function hasTokenKey(config: TidingsConfig): boolean {
  const a = config.auth;
  return Boolean(a.secret || a.publicKey || a.publicKeyFile || a.jwksFile || a.jwksUrl || a.issuers.length > 0);
}
