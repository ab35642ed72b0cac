/**
 * The server API's own routes: health and readiness, publishing, channels and history,
 * users and connections, nodes and stats. Each route carries what the OpenAPI document
 * says of it; the envelope, keys and audit of each call are ServerApi's.
 */
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { CloseCode, ErrorCode, EVENT_NAME_PATTERN } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import { parseWith as parseBody } from '../validate.js';
import { VERSION } from '../version.js';
import { sendData, sendJson } from '../wire/http-responses.js';
import type { ApiParts } from './api-parts.js';
import { checkBinaryForms, isMsgpackBody, readMsgpack } from './http.js';
import { openApiDocument } from './openapi.js';
import { boolQuery, intQuery, parseQuery } from './query.js';
import * as data from './responses.js';
import type { Route } from './route.js';

const idempotencyKey = z.string().min(1).max(128).optional().describe('Publishes with the same key (per API key) within the dedup window are stored once');
const exceptClient = z.string().min(1).max(128).optional().describe('A connection id (`client` of its connect reply) that does not get the publication live: no echo to the sender');
const eventName = z
  .string()
  .regex(EVENT_NAME_PATTERN, 'expected 1..64 of letters, digits, _ . : -')
  .optional()
  .describe('The publication\'s event name (`task:updated`): 1..64 of letters, digits, `_ . : -`; subscribers get it as `event` (and as the SSE `event:` field)');
const replyTo = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional().describe('A reply to the message at this offset of the channel (namespaces with `messaging.replies`); `not_found` when it is not in history');
export const publishBody = z.strictObject({ channel: z.string(), data: z.unknown().describe('Any JSON value'), idempotencyKey, exceptClient, event: eventName, replyTo });
export const broadcastBody = z
  .strictObject({
    channels: z.array(z.string()).min(1).max(1000).optional().describe('Channels to publish to'),
    users: z.array(z.string().min(1)).min(1).max(1000).optional().describe("Users whose personal channel (`user:#<id>`) to publish to"),
    event: z
      .string()
      .min(1)
      .max(128)
      .optional()
      .describe('With `channels` or `users`: the publications\' event name (1..64 of letters, digits, `_ . : -`, as in `/publish`). Without them: the event name of a `broadcast` push to every connection'),
    data: z.unknown().describe('Any JSON value'),
    idempotencyKey,
    exceptClient,
  })
  .refine((b) => b.channels !== undefined || b.users !== undefined || b.event !== undefined, 'expected channels, users, or an event for every connection')
  .refine((b) => (b.channels === undefined && b.users === undefined) || b.event === undefined || EVENT_NAME_PATTERN.test(b.event), {
    message: 'expected 1..64 of letters, digits, _ . : -',
    path: ['event'],
  });
export const disconnectBody = z.strictObject({
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
export const unsubscribeBody = z.strictObject({ user: z.string().min(1) });

const pageLimit = intQuery(1, 1000, 'Page size (default 100)');
const pageCursor = z.string().optional().describe('The `nextCursor` of the previous page');
const channelsQuery = z.object({ prefix: z.string().optional().describe('Only channels starting with this'), limit: pageLimit, cursor: pageCursor });
const historyQuery = z.object({
  limit: intQuery(0, Number.MAX_SAFE_INTEGER, 'At most this many publications (capped by history.maxLimit)'),
  since: intQuery(0, Number.MAX_SAFE_INTEGER, 'Publications after this offset (needs `epoch`)'),
  epoch: z.string().optional().describe('The epoch `since` belongs to'),
  reverse: boolQuery('Newest first'),
});
const onlineQuery = z.object({ limit: pageLimit, cursor: pageCursor });
const connectionsQuery = z.object({ limit: pageLimit, user: z.string().optional().describe("Only this user's connections"), cursor: pageCursor });

/** The routes of `parts`; `readBody` reads a request's JSON body under the API's size limit. */
export function coreRoutes(parts: ApiParts, readBody: (req: IncomingMessage) => Promise<unknown>, allRoutes: () => Route[]): Route[] {
  const { publisher, steering, inspector } = parts;
  const channelParam = '([^/]+)';
  // Built at the first request, once every route exists; the routes do not change after.
  let document: unknown;
  /** A publish body: JSON, or MessagePack (`bin` as `{"$binary": …}`); binary data's JSON form must hold base64. */
  const readPublishBody = async (req: IncomingMessage): Promise<unknown> => {
    const body = isMsgpackBody(req) ? await readMsgpack(req, parts.config.api.maxBodySize) : await readBody(req);
    checkBinaryForms(body);
    return body;
  };
  return [
    {
      method: 'GET',
      name: '/health',
      pattern: /^\/health$/,
      scope: undefined,
      summary: "This node's liveness and local figures (503 while shutting down)",
      response: data.health,
      dataStatuses: [200, 503],
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
      summary: 'Whether this node takes traffic (503 with the reason when not)',
      response: data.readiness,
      dataStatuses: [200, 503],
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
      summary: 'Publish to one channel',
      body: publishBody,
      msgpackBody: true,
      response: data.publishResult,
      errors: [ErrorCode.InvalidChannel, ErrorCode.UnknownNamespace, ErrorCode.LimitExceeded, ErrorCode.NotAvailable, ErrorCode.NotFound, ErrorCode.Unavailable],
      handle: async ({ req, res }) => {
        const body = parseBody(publishBody, await readPublishBody(req));
        const options = { source: 'api' as const, ...(body.idempotencyKey !== undefined ? { idempotencyKey: body.idempotencyKey } : {}), ...(body.exceptClient !== undefined ? { exceptClient: body.exceptClient } : {}), ...(body.event !== undefined ? { event: body.event } : {}), ...(body.replyTo !== undefined ? { replyTo: body.replyTo } : {}) };
        sendData(res, await publisher.publish(body.channel, body.data, options));
      },
    },
    {
      method: 'POST',
      name: '/broadcast',
      pattern: /^\/broadcast$/,
      scope: 'publish',
      summary: 'Publish the same data to many channels or users (a result per channel), or an event to every connection',
      body: broadcastBody,
      msgpackBody: true,
      response: data.broadcastResult,
      errors: [ErrorCode.Unavailable],
      handle: async ({ req, res }) => {
        const body = parseBody(broadcastBody, await readPublishBody(req));
        // Neither channels nor users: a `broadcast` push to every connection, on every node.
        if (body.channels === undefined && body.users === undefined) return sendData(res, { results: [], connections: await steering.broadcastAll(body.event!, body.data) });
        const options = { source: 'api' as const, ...(body.idempotencyKey !== undefined ? { idempotencyKey: body.idempotencyKey } : {}), ...(body.exceptClient !== undefined ? { exceptClient: body.exceptClient } : {}), ...(body.event !== undefined ? { event: body.event } : {}) };
        sendData(res, { results: await publisher.broadcast(body.channels ?? [], body.data, { ...options, ...(body.users ? { users: body.users } : {}) }) });
      },
    },
    {
      method: 'GET',
      name: '/channels',
      pattern: /^\/channels$/,
      scope: 'read',
      summary: 'Channels with subscribers on any node, sorted by name, paginated',
      query: channelsQuery,
      response: data.channelListing,
      handle: async ({ res, query }) => {
        const q = parseQuery(channelsQuery, query);
        sendData(res, await inspector.channels({ prefix: q.prefix ?? '', limit: q.limit ?? 100, cursor: q.cursor }));
      },
    },
    {
      method: 'GET',
      name: '/channels/:channel',
      pattern: new RegExp(`^/channels/${channelParam}$`),
      scope: 'read',
      summary: 'Subscribers, presence and typing of one channel',
      response: data.channelInfo,
      errors: [ErrorCode.InvalidChannel, ErrorCode.UnknownNamespace],
      handle: async ({ res, params }) => sendData(res, await inspector.channelInfo(params[0]!)),
    },
    {
      method: 'GET',
      name: '/channels/:channel/history',
      pattern: new RegExp(`^/channels/${channelParam}/history$`),
      scope: 'read',
      summary: "A channel's stored publications",
      query: historyQuery,
      response: data.historyPage,
      errors: [ErrorCode.InvalidChannel, ErrorCode.UnknownNamespace, ErrorCode.NotAvailable, ErrorCode.Unavailable],
      handle: async ({ res, params, query }) => {
        const { limit, since, epoch, reverse } = parseQuery(historyQuery, query);
        if (since !== undefined && epoch === undefined) throw new TidingsError(ErrorCode.BadRequest, 'since: needs epoch too');
        const page = await publisher.history(params[0]!, {
          ...(limit !== undefined ? { limit } : {}),
          ...(since !== undefined ? { since: { epoch: epoch!, offset: since } } : {}),
          reverse: reverse === true,
        });
        sendData(res, page);
      },
    },
    {
      method: 'POST',
      name: '/channels/:channel/unsubscribe',
      pattern: new RegExp(`^/channels/${channelParam}/unsubscribe$`),
      scope: 'admin',
      summary: "Unsubscribe a user's connections (on every node) from a channel",
      body: unsubscribeBody,
      response: data.unsubscribed,
      errors: [ErrorCode.InvalidChannel, ErrorCode.UnknownNamespace],
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
      summary: "Disconnect every connection of a user (terminal or reconnecting)",
      body: disconnectBody,
      response: data.disconnected,
      handle: async ({ req, res, params }) => {
        sendData(res, { disconnected: await steering.disconnectUser(params[0]!, disconnectOptions(parseBody(disconnectBody, await readBody(req)))) });
      },
    },
    {
      method: 'POST',
      name: '/connections/:client/disconnect',
      pattern: /^\/connections\/([^/]+)\/disconnect$/,
      scope: 'admin',
      summary: 'Disconnect one connection, on whatever node it is',
      body: disconnectBody,
      response: data.disconnected,
      errors: [ErrorCode.NotFound],
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
      summary: 'Online and away users, sorted by id, paginated',
      query: onlineQuery,
      response: data.onlineUsers,
      handle: async ({ res, query }) => {
        const { limit, cursor } = parseQuery(onlineQuery, query);
        sendData(res, await inspector.onlineUsers({ limit: limit ?? 100, ...(cursor !== undefined ? { cursor } : {}) }));
      },
    },
    {
      method: 'GET',
      name: '/users/:id/status',
      pattern: /^\/users\/([^/]+)\/status$/,
      scope: 'read',
      summary: "A user's global status and last seen time",
      response: data.userStatus,
      handle: async ({ res, params }) => sendData(res, await inspector.userStatusOf(params[0]!)),
    },
    {
      method: 'GET',
      name: '/connections',
      pattern: /^\/connections$/,
      scope: 'admin',
      summary: 'Connected sessions on every node, sorted by id, paginated',
      query: connectionsQuery,
      response: data.connections,
      handle: async ({ res, query }) => {
        const { limit, user, cursor } = parseQuery(connectionsQuery, query);
        sendData(res, await inspector.listConnections({ limit: limit ?? 100, ...(user !== undefined ? { user } : {}), ...(cursor !== undefined ? { cursor } : {}) }));
      },
    },
    {
      method: 'GET',
      name: '/nodes',
      pattern: /^\/nodes$/,
      scope: 'read',
      summary: 'Live nodes of the deployment',
      response: data.nodes,
      handle: async ({ res }) => sendData(res, { nodes: await inspector.nodes() }),
    },
    {
      method: 'GET',
      name: '/stats',
      pattern: /^\/stats$/,
      scope: 'read',
      summary: "The deployment's figures, summed, and each node's own",
      response: data.stats,
      handle: async ({ res }) => sendData(res, await inspector.stats()),
    },
    {
      method: 'GET',
      name: '/openapi.json',
      pattern: /^\/openapi\.json$/,
      scope: undefined,
      summary: 'This document: the OpenAPI 3.1 description of the server API',
      description: 'Answered bare (not in `data`), for the tools that read it.',
      response: data.openApi,
      bare: true,
      handle: ({ res }) => {
        document ??= openApiDocument(allRoutes(), { prefix: parts.config.api.prefix, version: VERSION });
        sendJson(res, 200, document);
      },
    },
  ];
}
