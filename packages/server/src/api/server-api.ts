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
import { ErrorCode } from '@tidings/protocol';
import { ApiKeyAuthenticator, type ApiScope } from '../auth/api-keys.js';
import { createClientIpResolver, type ClientIpResolver } from '../auth/client-ip.js';
import type { OriginCheck } from '../auth/origin.js';
import { answerPreflight, createCorsPolicy, type CorsPolicy } from '../wire/cors.js';
import type { ApiKeyConfig } from '../config/schema.js';
import { TidingsError } from '../errors.js';
import { safePath, type Logger } from '../log.js';
import type { AuditSink } from '../ops/audit.js';
import type { NodeMetrics } from '../ops/metrics.js';
import type { ApiParts } from './api-parts.js';
import { coreRoutes } from './core-routes.js';
import { durableRoutes } from './durable-routes.js';
import { webhookRoutes } from './webhook-routes.js';
import { webhookTestRoutes } from './webhook-test-route.js';
import { actionRoutes } from './action-routes.js';
import { messageRoutes } from './message-routes.js';
import { receiptRoutes } from './receipt-routes.js';
import { sendError, sendText } from '../wire/http-responses.js';
import { readJson, requestIdOf } from './http.js';
import type { Route } from './route.js';

export type { ApiParts } from './api-parts.js';


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

  /** The routes this API answers, under its prefix: what its OpenAPI document (api/openapi.ts) describes. */
  get registeredRoutes(): readonly Route[] {
    return this.routes;
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
    return [...coreRoutes(this.parts, (req) => this.body(req), () => this.routes), ...durableRoutes(this.parts.durable, (req) => this.body(req)), ...webhookRoutes(this.parts.webhooks, (req) => this.body(req)), ...webhookTestRoutes(this.parts.webhookTest, (req) => this.body(req)), ...actionRoutes(this.parts.userChannels, (req) => this.body(req)), ...messageRoutes(this.parts.messages, (req) => this.body(req)), ...receiptRoutes(this.parts.readReceipts, (req) => this.body(req))];
  }
}
