/**
 * The server API's own routes: health and readiness, publishing, channels and history,
 * users and connections, nodes and stats. Each route carries what the OpenAPI document
 * says of it; the envelope, keys and audit of each call are ServerApi's.
 */
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { CloseCode, ErrorCode } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import { intParam, parseWith as parseBody } from '../validate.js';
import { sendData } from '../wire/http-responses.js';
import type { ApiParts } from './api-parts.js';
import type { Route } from './route.js';

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

/** The routes of `parts`; `readBody` reads a request's JSON body under the API's size limit. */
export function coreRoutes(parts: ApiParts, readBody: (req: IncomingMessage) => Promise<unknown>): Route[] {
  const { publisher, steering, inspector } = parts;
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
        const { ready, reason } = parts.readiness();
        sendData(res, ready ? { ready } : { ready, reason }, ready ? 200 : 503);
      },
    },
    {
      method: 'POST',
      name: '/publish',
      pattern: /^\/publish$/,
      scope: 'publish',
      handle: async ({ req, res }) => {
        const body = parseBody(publishBody, await readBody(req));
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
        const body = parseBody(broadcastBody, await readBody(req));
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
        const body = parseBody(unsubscribeBody, await readBody(req));
        sendData(res, { unsubscribed: await steering.unsubscribeUser(body.user, params[0]!) });
      },
    },
    {
      method: 'POST',
      name: '/users/:id/disconnect',
      pattern: /^\/users\/([^/]+)\/disconnect$/,
      scope: 'admin',
      handle: async ({ req, res, params }) => {
        sendData(res, { disconnected: await steering.disconnectUser(params[0]!, disconnectOptions(parseBody(disconnectBody, await readBody(req)))) });
      },
    },
    {
      method: 'POST',
      name: '/connections/:client/disconnect',
      pattern: /^\/connections\/([^/]+)\/disconnect$/,
      scope: 'admin',
      handle: async ({ req, res, params }) => {
        const found = await steering.disconnectClient(params[0]!, disconnectOptions(parseBody(disconnectBody, await readBody(req))));
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
  ];
}
