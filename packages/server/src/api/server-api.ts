/**
 * The server HTTP API under `/api/v1` (configurable prefix). Backends call it to
 * publish and to inspect or steer connections. Keys and scopes: auth/api-keys.ts.
 * Every response is `{"data": ...}` or `{"error": {"code", "message"}}`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { CloseCode, ErrorCode } from '@tidings/protocol';
import { ApiKeyAuthenticator, type ApiScope } from '../auth/api-keys.js';
import { TidingsError } from '../errors.js';
import { safePath, type Logger } from '../log.js';
import type { Tidings } from '../node.js';
import { readJson, sendData, sendError } from './http.js';

interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: string[];
  query: URLSearchParams;
  /** Id of the API key used, for logs and audit. */
  keyId: string | undefined;
}

interface Route {
  method: 'GET' | 'POST';
  pattern: RegExp;
  /** Undefined: no key needed (health, readiness). */
  scope: ApiScope | undefined;
  handle(ctx: RequestContext): Promise<void> | void;
}

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
const unsubscribeBody = z.strictObject({ user: z.string().min(1) });

function parseBody<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const path = issue.path.map(String).join('.');
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') message = `unknown field ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  else if (issue.code === 'invalid_type' && /received undefined$/.test(issue.message)) message = 'required';
  throw new TidingsError(ErrorCode.BadRequest, path ? `${path}: ${message}` : message);
}

function intParam(query: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const raw = query.get(name);
  if (raw === null) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new TidingsError(ErrorCode.BadRequest, `${name}: expected integer ${min}..${max}`);
  return n;
}

export class ServerApi {
  private readonly keys: ApiKeyAuthenticator;
  private readonly routes: Route[];
  private readonly prefix: string;

  constructor(
    private readonly node: Tidings,
    private readonly log: Logger,
  ) {
    this.prefix = node.config.api.prefix;
    this.keys = new ApiKeyAuthenticator(node.config.apiKeys);
    this.routes = this.buildRoutes();
  }

  /** True when the request is for the API (and is now being answered). */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const path = safePath(req.url);
    if (path !== this.prefix && !path.startsWith(this.prefix + '/')) return false;
    void this.dispatch(req, res, path.slice(this.prefix.length) || '/');
    return true;
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    let keyId: string | undefined;
    try {
      const matches = this.routes.map((r) => ({ route: r, m: r.pattern.exec(path) })).filter((x) => x.m !== null);
      if (matches.length === 0) throw new TidingsError(ErrorCode.NotFound, `no such endpoint: ${path}`);
      const hit = matches.find((x) => x.route.method === req.method);
      if (!hit) {
        res.setHeader('allow', matches.map((x) => x.route.method).join(', '));
        throw new TidingsError(ErrorCode.MethodNotAllowed, `${req.method} is not allowed here`);
      }
      if (hit.route.scope !== undefined) {
        const key = this.keys.authenticate(ApiKeyAuthenticator.presented(req));
        if (!key) throw new TidingsError(ErrorCode.Unauthorized, 'a valid API key is required (Authorization: Bearer or X-API-Key)');
        keyId = key.id;
        if (!ApiKeyAuthenticator.allows(key, hit.route.scope)) {
          throw new TidingsError(ErrorCode.Forbidden, `API key "${key.id}" lacks the "${hit.route.scope}" scope`);
        }
      }
      const params = hit.m!.slice(1).map((p) => decodeURIComponent(p));
      const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
      await hit.route.handle({ req, res, params, query, keyId });
      if (hit.route.scope !== undefined) this.log.info({ method: req.method, path: `${this.prefix}${path}`, keyId, status: res.statusCode }, 'api call');
    } catch (err) {
      if (res.headersSent) return;
      if (err instanceof TidingsError) {
        if (err.code === ErrorCode.PayloadTooLarge) res.setHeader('connection', 'close');
        sendError(res, err.code, err.message);
      } else if (err instanceof URIError) {
        sendError(res, ErrorCode.BadRequest, 'malformed percent-encoding in path');
      } else {
        this.log.error({ err, path: `${this.prefix}${path}`, keyId }, 'api call failed');
        sendError(res, ErrorCode.Internal, 'internal error');
      }
    }
  }

  private body(req: IncomingMessage): Promise<unknown> {
    return readJson(req, this.node.config.api.maxBodySize);
  }

  private buildRoutes(): Route[] {
    const node = this.node;
    const channelParam = '([^/]+)';
    return [
      {
        method: 'GET',
        pattern: /^\/health$/,
        scope: undefined,
        handle: ({ res }) => {
          const health = node.health();
          sendData(res, health, health.status === 'healthy' ? 200 : 503);
        },
      },
      {
        method: 'GET',
        pattern: /^\/ready$/,
        scope: undefined,
        handle: ({ res }) => {
          const ready = node.ready;
          sendData(res, { ready }, ready ? 200 : 503);
        },
      },
      {
        method: 'POST',
        pattern: /^\/publish$/,
        scope: 'publish',
        handle: async ({ req, res }) => {
          const body = parseBody(publishBody, await this.body(req));
          const options = body.idempotencyKey !== undefined ? { idempotencyKey: body.idempotencyKey } : {};
          sendData(res, await node.publish(body.channel, body.data, options));
        },
      },
      {
        method: 'POST',
        pattern: /^\/broadcast$/,
        scope: 'publish',
        handle: async ({ req, res }) => {
          const body = parseBody(broadcastBody, await this.body(req));
          const options = body.idempotencyKey !== undefined ? { idempotencyKey: body.idempotencyKey } : {};
          sendData(res, { results: await node.broadcast(body.channels, body.data, options) });
        },
      },
      {
        method: 'GET',
        pattern: /^\/channels$/,
        scope: 'read',
        handle: ({ res, query }) => {
          const limit = intParam(query, 'limit', 1, 1000) ?? 100;
          sendData(res, node.channels({ prefix: query.get('prefix') ?? '', limit, cursor: query.get('cursor') ?? undefined }));
        },
      },
      {
        method: 'GET',
        pattern: new RegExp(`^/channels/${channelParam}$`),
        scope: 'read',
        handle: async ({ res, params }) => sendData(res, await node.channelInfo(params[0]!)),
      },
      {
        method: 'GET',
        pattern: new RegExp(`^/channels/${channelParam}/history$`),
        scope: 'read',
        handle: async ({ res, params, query }) => {
          const limit = intParam(query, 'limit', 0, Number.MAX_SAFE_INTEGER);
          const since = intParam(query, 'since', 0, Number.MAX_SAFE_INTEGER);
          const epoch = query.get('epoch');
          if (since !== undefined && epoch === null) throw new TidingsError(ErrorCode.BadRequest, 'since: needs epoch too');
          const reverse = query.get('reverse');
          if (reverse !== null && reverse !== 'true' && reverse !== 'false') throw new TidingsError(ErrorCode.BadRequest, 'reverse: expected true or false');
          const page = await node.history(params[0]!, {
            ...(limit !== undefined ? { limit } : {}),
            ...(since !== undefined ? { since: { epoch: epoch!, offset: since } } : {}),
            reverse: reverse === 'true',
          });
          sendData(res, page);
        },
      },
      {
        method: 'POST',
        pattern: new RegExp(`^/channels/${channelParam}/unsubscribe$`),
        scope: 'admin',
        handle: async ({ req, res, params }) => {
          const body = parseBody(unsubscribeBody, await this.body(req));
          sendData(res, { unsubscribed: node.unsubscribeUser(body.user, params[0]!) });
        },
      },
      {
        method: 'POST',
        pattern: /^\/users\/([^/]+)\/disconnect$/,
        scope: 'admin',
        handle: async ({ req, res, params }) => {
          const body = parseBody(disconnectBody, await this.body(req));
          const code = body.code ?? (body.terminal ? CloseCode.ForceDisconnect : CloseCode.ForceReconnect);
          if (body.terminal !== undefined && body.terminal !== code >= 4500) {
            throw new TidingsError(ErrorCode.BadRequest, 'code: terminal codes are 4500-4999, reconnect codes 4000-4499');
          }
          const options = body.reason !== undefined ? { code, reason: body.reason } : { code };
          sendData(res, { disconnected: node.disconnectUser(params[0]!, options) });
        },
      },
      {
        method: 'GET',
        pattern: /^\/users\/online$/,
        scope: 'read',
        handle: async ({ res, query }) => {
          const limit = intParam(query, 'limit', 1, 1000) ?? 100;
          const cursor = query.get('cursor');
          sendData(res, await node.onlineUsers({ limit, ...(cursor !== null ? { cursor } : {}) }));
        },
      },
      {
        method: 'GET',
        pattern: /^\/users\/([^/]+)\/status$/,
        scope: 'read',
        handle: async ({ res, params }) => sendData(res, await node.userStatusOf(params[0]!)),
      },
      {
        method: 'GET',
        pattern: /^\/stats$/,
        scope: 'read',
        handle: ({ res }) => sendData(res, node.stats()),
      },
    ];
  }
}
