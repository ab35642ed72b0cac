/**
 * The server HTTP API under `/api/v1` (configurable prefix). Backends call it to
 * publish and to inspect or steer connections. Keys and scopes: auth/api-keys.ts.
 * Every response is `{"data": ...}` or `{"error": {"code", "message"}}`.
 *
 * Every request gets a request id (echoed in `X-Request-Id`, carried by its log
 * lines and audit event), is timed into `api_request_duration_seconds` by route
 * pattern, and, when it presents a key, is audited. The Prometheus endpoint
 * (`metrics.path`, outside the prefix) is answered here too, by `handleMetrics`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { CloseCode, ErrorCode } from '@tidings/protocol';
import { ApiKeyAuthenticator, type ApiScope } from '../auth/api-keys.js';
import { createClientIpResolver, type ClientIpResolver } from '../auth/client-ip.js';
import type { OriginCheck } from '../auth/origin.js';
import { answerPreflight, createCorsPolicy, type CorsPolicy } from '../wire/cors.js';
import type { Publisher } from '../cluster/publisher.js';
import type { Steering } from '../cluster/steering.js';
import type { ApiKeyConfig, TidingsConfig } from '../config/schema.js';
import { TidingsError } from '../errors.js';
import { safePath, type Logger } from '../log.js';
import type { AuditSink } from '../ops/audit.js';
import type { NodeMetrics } from '../ops/metrics.js';
import { intParam, parseWith as parseBody } from '../validate.js';
import { durableRoutes, type DurableParts } from './durable-routes.js';
import type { NodeInspector } from './inspector.js';
import { sendData, sendError, sendText } from '../wire/http-responses.js';
import { readJson, requestIdOf } from './http.js';
import type { RequestContext, Route } from './route.js';

const idempotencyKey = z.string().min(1).max(128).optional();
const publishBody = z.strictObject({ channel: z.string(), data: z.unknown(), idempotencyKey });
const broadcastBody = z.strictObject({ channels: z.array(z.string()).min(1).max(1000), data: z.unknown(), idempotencyKey });
const disconnectBody = z.strictObject({
  code: z.number().int().min(4000).max(4999).optional(),
  reason: z
    .string()
    .refine((r) => Buffer.byteLength(r) <= 123, 'at most 123 bytes of UTF-8 (the WebSocket close reason limit)')
    .optional(),
  terminal: z.boolean().optional(),
});
/** The close code and reason of a disconnect request: `terminal` picks 4503 or 4005 unless `code` says. */
function disconnectOptions(body: z.infer<typeof disconnectBody>): { code: number; reason?: string } {
  const code = body.code ?? (body.terminal ? CloseCode.ForceDisconnect : CloseCode.ForceReconnect);
  if (body.terminal !== undefined && body.terminal !== code >= 4500) {
    throw new TidingsError(ErrorCode.BadRequest, 'code: terminal codes are 4500-4999, reconnect codes 4000-4499');
  }
  return body.reason !== undefined ? { code, reason: body.reason } : { code };
}
const unsubscribeBody = z.strictObject({ user: z.string().min(1) });

/**
 * What the API acts through: narrow parts, never the node itself. node.ts wires its own; any
 * object with these methods will do (the library's `Tidings` has them all, under the same names).
 */
export interface ApiParts {
  /** The node's configuration (read live: a reload changes `apiKeys` and `namespaces` in place). */
  config: TidingsConfig;
  publisher: Pick<Publisher, 'publish' | 'broadcast' | 'history'>;
  steering: Pick<Steering, 'disconnectUser' | 'disconnectClient' | 'unsubscribeUser'>;
  inspector: Pick<NodeInspector, 'channels' | 'channelInfo' | 'userStatusOf' | 'onlineUsers' | 'listConnections' | 'nodes' | 'health' | 'stats'>;
  /** Not ready while the node shuts down or its database or engine does not answer (`/ready` answers 503 with the reason). */
  readiness(): { ready: boolean; reason?: string };
  durable: DurableParts;
}

export interface ServerApiDeps {
  /** Browser origins allowed to call the API (CORS); requests without Origin always pass. */
  originAllowed?: OriginCheck;
  metrics: NodeMetrics;
  audit: AuditSink;
  /** A key a request stands for without presenting one (the dashboard's session cookie). */
  sessionKey?: (req: IncomingMessage) => ApiKeyConfig | undefined;
}

/** Route name of requests that match no endpoint. */
const UNMATCHED = 'unmatched';
const MISSING_KEY = 'a valid API key is required (Authorization: Bearer or X-API-Key)';

export class ServerApi {
  private keys: ApiKeyAuthenticator;
  private readonly routes: Route[];
  private readonly prefix: string;
  private readonly metrics: NodeMetrics;
  private readonly audit: AuditSink;
  /** For auth_failure audit events; the node has validated `trustedProxies` already. */
  private readonly clientIp: ClientIpResolver;
  private readonly originAllowed: OriginCheck;
  /** Credentials only for origins `allowedOrigins` names; `*` alone gets a credential-less `*`. */
  private readonly cors: CorsPolicy;
  private readonly sessionKey: (req: IncomingMessage) => ApiKeyConfig | undefined;

  constructor(
    private readonly parts: ApiParts,
    private readonly log: Logger,
    deps: ServerApiDeps,
  ) {
    const config = parts.config;
    this.prefix = config.api.prefix;
    this.keys = new ApiKeyAuthenticator(config.apiKeys);
    this.metrics = deps.metrics;
    this.audit = deps.audit;
    this.clientIp = createClientIpResolver(config.trustedProxies);
    this.originAllowed = deps.originAllowed ?? (() => true);
    this.cors = createCorsPolicy(config.allowedOrigins);
    this.sessionKey = deps.sessionKey ?? (() => undefined);
    this.routes = this.buildRoutes();
  }

  /** Picks up `config.apiKeys` after a configuration reload. */
  reload(): void {
    this.keys = new ApiKeyAuthenticator(this.parts.config.apiKeys);
  }

  /** True when the request is for the API (and is now being answered). */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const path = safePath(req.url);
    if (path !== this.prefix && !path.startsWith(this.prefix + '/')) return false;
    // CORS, for browser apps on allowed origins (the API key still decides what a caller may do).
    const origin = typeof req.headers.origin === 'string' ? req.headers.origin : undefined;
    if (!this.originAllowed(origin, req.headers.host)) {
      sendError(res, ErrorCode.Forbidden, 'origin not allowed');
      return true;
    }
    const cors = this.cors(origin, req.headers.host);
    if (req.method === 'OPTIONS') {
      answerPreflight(res, cors, 'GET, POST, DELETE, OPTIONS');
      return true;
    }
    for (const [name, value] of Object.entries(cors)) res.setHeader(name, value);
    void this.dispatch(req, res, path.slice(this.prefix.length) || '/');
    return true;
  }

  /**
   * True when the request is for the Prometheus endpoint (`metrics.path`) and
   * metrics are enabled; it is then being answered. Call before `handle`.
   */
  handleMetrics(req: IncomingMessage, res: ServerResponse): boolean {
    const settings = this.parts.config.metrics;
    if (!settings.enabled || safePath(req.url) !== settings.path) return false;
    void this.scrape(req, res, settings.requireKey);
    return true;
  }

  private async scrape(req: IncomingMessage, res: ServerResponse, requireKey: boolean): Promise<void> {
    const requestId = requestIdOf(req);
    res.setHeader('x-request-id', requestId);
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD');
        throw new TidingsError(ErrorCode.MethodNotAllowed, `${req.method} is not allowed here`);
      }
      if (requireKey) this.authorize(this.authenticate(req, 'metrics'), 'read');
      const text = await this.metrics.render();
      // For HEAD, Node sends the headers (with the GET length) and drops the body.
      sendText(res, 200, this.metrics.contentType, text);
    } catch (err) {
      this.fail(res, err, this.log.child({ requestId }), { path: safePath(req.url) });
    }
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const started = performance.now();
    const requestId = requestIdOf(req);
    res.setHeader('x-request-id', requestId);
    const log = this.log.child({ requestId });
    let route = UNMATCHED;
    let keyId: string | undefined;
    try {
      const matches = this.routes.map((r) => ({ route: r, m: r.pattern.exec(path) })).filter((x) => x.m !== null);
      if (matches.length === 0) throw new TidingsError(ErrorCode.NotFound, `no such endpoint: ${path}`);
      // A wrong method on a known path still counts under that path's pattern.
      route = matches[0]!.route.name;
      const hit = matches.find((x) => x.route.method === req.method);
      if (!hit) {
        res.setHeader('allow', matches.map((x) => x.route.method).join(', '));
        throw new TidingsError(ErrorCode.MethodNotAllowed, `${req.method} is not allowed here`);
      }
      route = hit.route.name;
      if (hit.route.scope !== undefined) {
        const key = this.authenticate(req, 'api');
        keyId = key.id;
        this.authorize(key, hit.route.scope);
      }
      const params = hit.m!.slice(1).map((p) => decodeURIComponent(p));
      const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
      await hit.route.handle({ req, res, params, query, keyId, log });
      // The audit event below is the record at info level; this line is for debugging.
      if (keyId !== undefined) log.debug({ method: req.method, path: `${this.prefix}${path}`, keyId, status: res.statusCode }, 'api call');
    } catch (err) {
      this.fail(res, err, log, { path: `${this.prefix}${path}`, keyId });
    } finally {
      // Nothing here may throw: `handle` does not await this, so a rejection would be unhandled and end the process.
      try {
        const status = res.statusCode;
        this.metrics.apiRequest(req.method ?? 'GET', route, status, (performance.now() - started) / 1000);
        // Reads of an open dashboard (it refreshes every few seconds) are not worth a row each; its changes are.
        const dashboardRead = req.method === 'GET' && keyId?.startsWith('dashboard.') === true && this.keys.authenticate(ApiKeyAuthenticator.presented(req)) === undefined;
        if (keyId !== undefined && !dashboardRead) this.audit.emit({ type: 'api_call', keyId, method: req.method ?? 'GET', route, status, requestId });
      } catch (err) {
        log.error({ err }, 'recording an api call failed');
      }
    }
  }

  /** The key a request presents; 401 (and an auth_failure audit event) when it has none or an unknown one. */
  private authenticate(req: IncomingMessage, transport: string): ApiKeyConfig {
    const presented = ApiKeyAuthenticator.presented(req);
    const key = this.keys.authenticate(presented) ?? (presented === undefined ? this.sessionKey(req) : undefined);
    if (key) return key;
    this.audit.emit({ type: 'auth_failure', ip: this.clientIp(req), transport, reason: presented ? 'unknown API key' : 'no API key' });
    throw new TidingsError(ErrorCode.Unauthorized, MISSING_KEY);
  }

  private authorize(key: ApiKeyConfig, scope: ApiScope): void {
    if (!ApiKeyAuthenticator.allows(key, scope)) throw new TidingsError(ErrorCode.Forbidden, `API key "${key.id}" lacks the "${scope}" scope`);
  }

  /** Answers an error; unexpected ones are logged and answered as `internal`. */
  private fail(res: ServerResponse, err: unknown, log: Logger, context: Record<string, unknown>): void {
    if (res.headersSent) return;
    if (err instanceof TidingsError) {
      if (err.code === ErrorCode.PayloadTooLarge) res.setHeader('connection', 'close');
      // A temporary error (the engine not answering a publish) says so: retry it, with its idempotency key.
      sendError(res, err.code, err.message, err.temporary ? { temporary: true } : {});
    } else if (err instanceof URIError) {
      sendError(res, ErrorCode.BadRequest, 'malformed percent-encoding in path');
    } else {
      log.error({ err, ...context }, 'api call failed');
      sendError(res, ErrorCode.Internal, 'internal error');
    }
  }

  private body(req: IncomingMessage): Promise<unknown> {
    return readJson(req, this.parts.config.api.maxBodySize);
  }

  private buildRoutes(): Route[] {
    const { publisher, steering, inspector } = this.parts;
    const channelParam = '([^/]+)';
    return [
      {
        method: 'GET',
        name: '/health',
        pattern: /^\/health$/,
        scope: undefined,
        handle: ({ res }) => {
          const health = inspector.health();
          sendData(res, health, health.status === 'healthy' ? 200 : 503);
        },
      },
      {
        method: 'GET',
        name: '/ready',
        pattern: /^\/ready$/,
        scope: undefined,
        handle: ({ res }) => {
          const { ready, reason } = this.parts.readiness();
          sendData(res, ready ? { ready } : { ready, reason }, ready ? 200 : 503);
        },
      },
      {
        method: 'POST',
        name: '/publish',
        pattern: /^\/publish$/,
        scope: 'publish',
        handle: async ({ req, res }) => {
          const body = parseBody(publishBody, await this.body(req));
          const options = { source: 'api' as const, ...(body.idempotencyKey !== undefined ? { idempotencyKey: body.idempotencyKey } : {}) };
          sendData(res, await publisher.publish(body.channel, body.data, options));
        },
      },
      {
        method: 'POST',
        name: '/broadcast',
        pattern: /^\/broadcast$/,
        scope: 'publish',
        handle: async ({ req, res }) => {
          const body = parseBody(broadcastBody, await this.body(req));
          const options = { source: 'api' as const, ...(body.idempotencyKey !== undefined ? { idempotencyKey: body.idempotencyKey } : {}) };
          sendData(res, { results: await publisher.broadcast(body.channels, body.data, options) });
        },
      },
      {
        method: 'GET',
        name: '/channels',
        pattern: /^\/channels$/,
        scope: 'read',
        handle: async ({ res, query }) => {
          const limit = intParam(query, 'limit', 1, 1000) ?? 100;
          sendData(res, await inspector.channels({ prefix: query.get('prefix') ?? '', limit, cursor: query.get('cursor') ?? undefined }));
        },
      },
      {
        method: 'GET',
        name: '/channels/:channel',
        pattern: new RegExp(`^/channels/${channelParam}$`),
        scope: 'read',
        handle: async ({ res, params }) => sendData(res, await inspector.channelInfo(params[0]!)),
      },
      {
        method: 'GET',
        name: '/channels/:channel/history',
        pattern: new RegExp(`^/channels/${channelParam}/history$`),
        scope: 'read',
        handle: async ({ res, params, query }) => {
          const limit = intParam(query, 'limit', 0, Number.MAX_SAFE_INTEGER);
          const since = intParam(query, 'since', 0, Number.MAX_SAFE_INTEGER);
          const epoch = query.get('epoch');
          if (since !== undefined && epoch === null) throw new TidingsError(ErrorCode.BadRequest, 'since: needs epoch too');
          const reverse = query.get('reverse');
          if (reverse !== null && reverse !== 'true' && reverse !== 'false') throw new TidingsError(ErrorCode.BadRequest, 'reverse: expected true or false');
          const page = await publisher.history(params[0]!, {
            ...(limit !== undefined ? { limit } : {}),
            ...(since !== undefined ? { since: { epoch: epoch!, offset: since } } : {}),
            reverse: reverse === 'true',
          });
          sendData(res, page);
        },
      },
      {
        method: 'POST',
        name: '/channels/:channel/unsubscribe',
        pattern: new RegExp(`^/channels/${channelParam}/unsubscribe$`),
        scope: 'admin',
        handle: async ({ req, res, params }) => {
          const body = parseBody(unsubscribeBody, await this.body(req));
          sendData(res, { unsubscribed: await steering.unsubscribeUser(body.user, params[0]!) });
        },
      },
      {
        method: 'POST',
        name: '/users/:id/disconnect',
        pattern: /^\/users\/([^/]+)\/disconnect$/,
        scope: 'admin',
        handle: async ({ req, res, params }) => {
          sendData(res, { disconnected: await steering.disconnectUser(params[0]!, disconnectOptions(parseBody(disconnectBody, await this.body(req)))) });
        },
      },
      {
        method: 'POST',
        name: '/connections/:client/disconnect',
        pattern: /^\/connections\/([^/]+)\/disconnect$/,
        scope: 'admin',
        handle: async ({ req, res, params }) => {
          const found = await steering.disconnectClient(params[0]!, disconnectOptions(parseBody(disconnectBody, await this.body(req))));
          if (!found) throw new TidingsError(ErrorCode.NotFound, `no connection "${params[0]}" on any node`);
          sendData(res, { disconnected: 1 });
        },
      },
      {
        method: 'GET',
        name: '/users/online',
        pattern: /^\/users\/online$/,
        scope: 'read',
        handle: async ({ res, query }) => {
          const limit = intParam(query, 'limit', 1, 1000) ?? 100;
          const cursor = query.get('cursor');
          sendData(res, await inspector.onlineUsers({ limit, ...(cursor !== null ? { cursor } : {}) }));
        },
      },
      {
        method: 'GET',
        name: '/users/:id/status',
        pattern: /^\/users\/([^/]+)\/status$/,
        scope: 'read',
        handle: async ({ res, params }) => sendData(res, await inspector.userStatusOf(params[0]!)),
      },
      {
        method: 'GET',
        name: '/connections',
        pattern: /^\/connections$/,
        scope: 'admin',
        handle: async ({ res, query }) => {
          const limit = intParam(query, 'limit', 1, 1000) ?? 100;
          const user = query.get('user');
          const cursor = query.get('cursor');
          sendData(res, await inspector.listConnections({ limit, ...(user !== null ? { user } : {}), ...(cursor !== null ? { cursor } : {}) }));
        },
      },
      {
        method: 'GET',
        name: '/nodes',
        pattern: /^\/nodes$/,
        scope: 'read',
        handle: async ({ res }) => sendData(res, { nodes: await inspector.nodes() }),
      },
      {
        method: 'GET',
        name: '/stats',
        pattern: /^\/stats$/,
        scope: 'read',
        handle: async ({ res }) => sendData(res, await inspector.stats()),
      },
      ...durableRoutes(this.parts.durable, (req) => this.body(req)),
    ];
  }
}
