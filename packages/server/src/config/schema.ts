/**
 * Every setting of a Tidings node, its default and its validation, in one place (the larger
 * sections in config/schema-*.ts). docs/configuration.md lists the same options;
 * config/docs.test.ts checks the two agree.
 */
import { z } from 'zod';
import { ConfigError, configErrorMap, describeIssues } from './issues.js';
import { apiKeySchema, authSchema } from './schema-auth.js';
import { namespaceSchema } from './schema-namespaces.js';
import { proxySchema } from './schema-proxy.js';
import { clusterIssues, engineSchema } from './schema-engine.js';
import { activitySchema, auditSchema, notificationsSchema, progressSchema, storeSchema } from './schema-stores.js';
import { duration, size } from './schema-values.js';
import { webhooksSchema } from './schema-webhooks.js';

export const configSchema = z
  .strictObject({
    host: z.string().min(1).default('0.0.0.0'),
    port: z.number().int().min(0).max(65535).default(8080),
    dataDir: z.string().min(1).default('./data'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Log lines as JSON, or one readable line per event (pretty); auto: pretty when the log goes to a terminal (the tidings CLI). */
    logFormat: z.enum(['auto', 'json', 'pretty']).default('auto'),
    /** Worker processes of `tidings serve`/`dev`, sharing the port (docs/scaling.md); auto: one per core. */
    workers: z.union([z.literal('auto'), z.number().int().min(1).max(256)], { error: 'expected a number of workers (1 or more) or "auto"' }).default(1),
    /** Browser origins allowed to open WebSocket connections ("*" for any, "https://*.example.com" patterns). Empty: same origin only. */
    allowedOrigins: z.array(z.string().min(1)).default([]),
    auth: authSchema.prefault({}),
    apiKeys: z.array(apiKeySchema).default([]),
    websocket: z
      .strictObject({
        path: z.string().startsWith('/').default('/connection/websocket'),
        maxPayload: size('64KiB'),
        compression: z.boolean().default(false),
        /** Frames one message may arrive in (every connection); more close it with 1008. */
        maxFragments: z.number().int().min(1).default(32),
        /** Raw bytes a connection may send before its `connect` is accepted (0: no limit); more close it with 1008. */
        preConnectBytes: size('64KiB'),
        /** Data frames a connection may send before its `connect` is accepted (0: no limit); more close it with 1008. */
        preConnectFrames: z.number().int().min(0).default(16),
        /** Reads of an unfinished frame a connection may have buffered (every connection); more close it with 1008. */
        maxBufferedChunks: z.number().int().min(1).default(1024),
      })
      .prefault({}),
    /** HTTP transports: Server-Sent Events and long-polling, for networks that block WebSocket. */
    http: z
      .strictObject({
        enabled: z.boolean().default(true),
        /** Base path: `<path>/open`, `<path>/sse`, `<path>/sse/<session>`, `<path>/poll/<session>`. */
        path: z.string().startsWith('/').default('/connection'),
        /** How long a ticket may take to open its event stream. */
        ticketTtl: duration('30s'),
        /** A session with no open stream and no poll for this long ends. */
        sessionTimeout: duration('30s'),
        /** A poll with nothing to deliver is answered (empty) after this long. */
        pollTimeout: duration('25s'),
        /** Interval of SSE comment heartbeats that keep proxies from closing idle streams. */
        heartbeat: duration('15s'),
        /** Reconnect delay an EventSource is told to use (`retry:`). */
        retry: duration('1s'),
        /** Frames already sent on an event stream kept for a resume with `Last-Event-ID`. */
        replayBytes: size('1MiB'),
        /** Polls per session per second beyond which a poll is refused with `rate_limited`. */
        maxPollsPerSecond: z.number().int().min(1).default(20),
      })
      .prefault({}),
    client: z
      .strictObject({
        pingInterval: duration('25s'),
        pongTimeout: duration('10s'),
        connectTimeout: duration('10s'),
        maxQueueBytes: size('4MiB'),
        /** Grace for a slow consumer's close frame before the socket is destroyed. */
        closeTimeout: duration('1s'),
      })
      .prefault({}),
    history: z
      .strictObject({
        metaTtl: duration('30d'),
        maxLimit: z.number().int().min(1).default(1000),
        recoveryMaxPublications: z.number().int().min(1).default(1000),
        /** Bytes all stored publications of the node may hold; beyond it the oldest, of any channel, are evicted (0: no limit). */
        maxBytes: size('64MiB'),
        /** Bytes one user's client publications may hold in history; a publish beyond it is refused (0: no limit). */
        maxBytesPerUser: size('4MiB'),
        /** Channel streams (epoch and offset) kept; beyond it unsubscribed ones are forgotten, never-published and least recently used first (0: no limit). */
        maxStreams: z.number().int().min(0).default(100_000),
        /**
         * Where the memory engine's history lives: `memory` (lost on restart) or `sqlite` (also in the
         * node's SQLite database, loaded at start: clients recover across a restart). Ignored, with a
         * warning, where it cannot apply: the Redis engine, `store.type: postgres`, `--workers`.
         */
        store: z.enum(['memory', 'sqlite']).default('memory'),
      })
      .prefault({}),
    idempotency: z
      .strictObject({
        window: duration('5m'),
        /** Keys remembered at most on this node (memory engine); past it the least recently used is forgotten. */
        maxKeys: z.number().int().min(1).default(100_000),
        /** Approximate bytes of remembered keys and results at most (memory engine). */
        maxBytes: size('64MiB'),
      })
      .prefault({}),
    presence: z
      .strictObject({
        /** Engine entries not refreshed for this long disappear (a node that died leaves no ghosts). */
        ttl: duration('60s'),
        /** A user whose last connection left is announced as gone (leave, offline) only after this. */
        leaveGrace: duration('5s'),
        /** Largest JSON size of a connection's presence `state`. */
        maxStateSize: size('1KiB'),
      })
      .prefault({}),
    typing: z
      .strictObject({
        /** A typing indicator expires after this unless refreshed. */
        timeout: duration('5s'),
        /** A connection's typing starts are forwarded at most once per this interval per channel. */
        throttle: duration('1s'),
      })
      .prefault({}),
    status: z
      .strictObject({
        /** Who may follow user statuses: any authenticated connection, or nobody. The onFollow hook narrows it further. */
        follow: z.enum(['authenticated', 'none']).default('authenticated'),
        /** Users one connection may follow. */
        maxFollows: z.number().int().min(1).default(1000),
        /** How long the lastSeen of an offline user is kept. */
        lastSeenTtl: duration('30d'),
      })
      .prefault({}),
    limits: z
      .strictObject({
        /** Open connections per user across the cluster (0: no limit). */
        connectionsPerUser: z.number().int().min(0).default(100),
        /** Open connections on this node (0: no limit). */
        connectionsPerNode: z.number().int().min(0).default(20000),
        /** Open connections from one client IP on this node (0: no limit). */
        connectionsPerIp: z.number().int().min(0).default(1000),
        /** New connections per second from one client IP (0: no limit); bursts up to twice that. */
        connectionRatePerIp: z.number().int().min(0).default(200),
        /** Subscriptions one connection may hold (server-side ones included). */
        subscriptionsPerConnection: z.number().int().min(1).default(1000),
        /** Commands per second one connection may send (0: no limit); bursts up to twice that. */
        commandRate: z.number().int().min(0).default(200),
        /** Time allowed to send the HTTP request headers of the handshake (against slowloris). */
        handshakeTimeout: duration('10s'),
        /** `rate_limited` errors within 10 s after which the connection is closed with 4008. */
        rateLimitStrikes: z.number().int().min(1).default(20),
      })
      .prefault({}),
    /** Addresses (or CIDR ranges) of proxies whose X-Forwarded-For is trusted for the client IP. */
    trustedProxies: z.array(z.string().min(1)).default([]),
    metrics: z
      .strictObject({
        enabled: z.boolean().default(true),
        path: z.string().startsWith('/').default('/metrics'),
        /** Require an API key with the `read` scope to scrape. */
        requireKey: z.boolean().default(false),
      })
      .prefault({}),
    /** The personal channel `user:#<id>` every authenticated connection is subscribed to. */
    personal: z
      .strictObject({
        enabled: z.boolean().default(true),
        history: z.strictObject({ size: z.number().int().min(1).max(100_000), ttl: duration('1h') }).optional(),
        recover: z.boolean().default(false),
      })
      .prefault({})
      .refine((p) => !p.recover || p.history !== undefined, { message: 'personal.recover needs personal.history', path: ['recover'] }),
    /** The database of the durable stores (notifications, activity, audit): embedded SQLite, or PostgreSQL shared by every node. */
    store: storeSchema,
    notifications: notificationsSchema,
    activity: activitySchema,
    audit: auditSchema,
    progress: progressSchema,
    /** Signed HTTP calls to the app's backend when things happen (docs/webhooks.md), from a durable outbox. */
    webhooks: webhooksSchema,
    /** The admin dashboard. */
    dashboard: z
      .strictObject({
        enabled: z.boolean().default(true),
        path: z.string().regex(/^\/[A-Za-z0-9_\/-]*[A-Za-z0-9_-]$/, 'expected a path like /dashboard').default('/dashboard'),
        /** Directory of the built dashboard; empty: the one in the server package, else apps/dashboard/dist of this checkout. */
        dir: z.string().default(''),
        /** How long a sign-in lasts. */
        sessionTtl: duration('12h'),
        /** Failed sign-ins per client IP per minute before sign-in answers 429. */
        signInAttempts: z.number().int().min(1).default(5),
        /** Interval of the live stats published on `tidings-admin:stats`. */
        statsInterval: duration('1s'),
      })
      .prefault({}),
    api: z
      .strictObject({
        prefix: z.string().startsWith('/').default('/api/v1'),
        maxBodySize: size('1MiB'),
      })
      .prefault({}),
    shutdown: z
      .strictObject({
        /** Reconnect delay hint sent to clients when the node shuts down. */
        reconnectDelay: duration('1s'),
        /** Longest wait for in-flight work on shutdown. */
        timeout: duration('10s'),
      })
      .prefault({}),
    /** What the nodes of a deployment share (streams, presence, bus, limits): this process's memory, or Redis. */
    engine: engineSchema,
    /** The nodes of one deployment (NodeBus): heartbeat interval, how long a silent node stays listed, how long a cluster-wide request waits. */
    cluster: z.strictObject({ heartbeatInterval: duration('2s'), nodeTtl: duration('10s'), requestTimeout: duration('5s'), maxIpcBacklog: size('32MiB') }).prefault({}),
    /** Proxy hooks: the application's backend decides connects, subscribes, publishes and RPC over HTTP (docs/proxy.md). */
    proxy: proxySchema,
    namespaces: z.record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected 1-64 characters of A-Z a-z 0-9 _ -'), namespaceSchema).default({}),
  })
  .superRefine((cfg, ctx) => {
    if ('user' in cfg.namespaces) {
      ctx.addIssue({ code: 'custom', path: ['namespaces', 'user'], message: '"user" is reserved for personal channels' });
    }
    if ('tidings-admin' in cfg.namespaces) {
      ctx.addIssue({ code: 'custom', path: ['namespaces', 'tidings-admin'], message: '"tidings-admin" is reserved for the dashboard' });
    }
    if (cfg.activity.namespace === 'user' || cfg.activity.namespace === 'tidings-admin') {
      ctx.addIssue({ code: 'custom', path: ['activity', 'namespace'], message: `"${cfg.activity.namespace}" is reserved` });
    }
    for (const [name, ns] of Object.entries(cfg.namespaces)) {
      if (ns.history && ns.history.ttl > cfg.history.metaTtl) {
        ctx.addIssue({ code: 'custom', path: ['namespaces', name, 'history', 'ttl'], message: 'must not exceed history.metaTtl' });
      }
    }
    if (cfg.client.pongTimeout >= cfg.client.pingInterval && cfg.client.pingInterval > 0) {
      const { pingInterval, pongTimeout } = cfg.client;
      ctx.addIssue({ code: 'custom', path: ['client', 'pongTimeout'], message: `must be shorter than client.pingInterval (${pingInterval} ms), got ${pongTimeout} ms` });
    }
    for (const issue of clusterIssues(cfg)) ctx.addIssue({ code: 'custom', ...issue });
    const ids = new Set<string>();
    const keys = new Set<string>();
    cfg.apiKeys.forEach((k, i) => {
      if (ids.has(k.id)) ctx.addIssue({ code: 'custom', path: ['apiKeys', i, 'id'], message: `duplicate key id "${k.id}"` });
      if (keys.has(k.key)) ctx.addIssue({ code: 'custom', path: ['apiKeys', i, 'key'], message: 'the same key is configured twice' });
      ids.add(k.id);
      keys.add(k.key);
    });
    const issuers = new Set<string>();
    cfg.auth.issuers.forEach((iss, i) => {
      if (issuers.has(iss.issuer)) ctx.addIssue({ code: 'custom', path: ['auth', 'issuers', i, 'issuer'], message: `issuer "${iss.issuer}" is listed twice` });
      issuers.add(iss.issuer);
    });
  });

/** Settings as a user writes them (YAML, env, flags, or `createTidings(options)`). */
export type TidingsConfigInput = z.input<typeof configSchema>;
/** Settings after defaults and validation: durations in ms, sizes in bytes. */
export type TidingsConfig = z.output<typeof configSchema>;
export type NamespaceConfig = TidingsConfig['namespaces'][string];
export type ApiKeyConfig = TidingsConfig['apiKeys'][number];

export { ConfigError, type ConfigProblem } from './issues.js';

/** Validates settings and fills defaults. Throws ConfigError naming each bad key. */
export function resolveConfig(input: unknown): TidingsConfig {
  const parsed = configSchema.safeParse(input ?? {}, { error: configErrorMap });
  if (parsed.success) {
    const cfg = parsed.data;
    // The activity feed's channels need their namespace; unless configured, it gets the default rules.
    if (!Object.prototype.hasOwnProperty.call(cfg.namespaces, cfg.activity.namespace)) cfg.namespaces[cfg.activity.namespace] = namespaceSchema.parse({});
    // The dashboard's stats channel: only its own connections (role tidings-admin) may subscribe.
    cfg.namespaces['tidings-admin'] = namespaceSchema.parse({ allowedRoles: ['tidings-admin'] });
    return cfg;
  }
  throw new ConfigError(describeIssues(parsed.error.issues, configSchema, input ?? {}));
}
