/**
 * Server API routes of the durable features: notifications, activity feeds, the audit
 * log and job progress. The envelope, keys and audit of each call are ServerApi's.
 */
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { ErrorCode } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import { intParam, parseWith, timestamp } from '../validate.js';
import type { ActivityFeature } from '../features/activity.js';
import type { NotificationsFeature } from '../features/notifications.js';
import type { ProgressFeature } from '../features/progress.js';
import type { StoredAuditLog } from '../ops/audit-log.js';
import { sendData } from '../wire/http-responses.js';
import type { Route } from './route.js';

const readBody = z.strictObject({ ids: z.array(z.string().min(1).max(64)).min(1).max(100).optional(), all: z.literal(true).optional() }).refine((b) => (b.ids === undefined) !== (b.all === undefined), {
  message: 'give either "ids" or "all": true',
});

function boolParam(query: URLSearchParams, name: string): boolean | undefined {
  const raw = query.get(name);
  if (raw === null) return undefined;
  if (raw !== 'true' && raw !== 'false') throw new TidingsError(ErrorCode.BadRequest, `${name}: expected true or false`);
  return raw === 'true';
}

function stringParam(query: URLSearchParams, name: string, max = 256): string | undefined {
  const raw = query.get(name);
  if (raw === null) return undefined;
  if (raw.length === 0 || raw.length > max) throw new TidingsError(ErrorCode.BadRequest, `${name}: expected 1..${max} characters`);
  return raw;
}

/** `GET /activity?scope=*`: the entries of every scope. */
const ALL_SCOPES = '*';

/** A time filter: ms since the epoch, or an ISO 8601 date-time. */
function timeParam(query: URLSearchParams, name: string): number | undefined {
  const raw = query.get(name);
  if (raw === null) return undefined;
  return parseWith(timestamp, /^\d+$/.test(raw) ? Number(raw) : raw, name);
}

/** The durable features the routes call (the library's `Tidings` has them under the same names). */
export interface DurableParts {
  notifications: NotificationsFeature;
  activity: ActivityFeature;
  progress: ProgressFeature;
  /** Undefined when `audit.store` is off. */
  auditLog: Pick<StoredAuditLog, 'query'> | undefined;
}

export function durableRoutes(features: DurableParts, body: (req: IncomingMessage) => Promise<unknown>): Route[] {
  const user = '([^/]+)';
  return [
    {
      method: 'POST',
      name: '/notify',
      pattern: /^\/notify$/,
      scope: 'publish',
      handle: async ({ req, res, keyId }) => sendData(res, await features.notifications.notify(await body(req), { keyScope: `api:${keyId ?? ''}` })),
    },
    {
      method: 'GET',
      name: '/users/:id/notifications',
      pattern: new RegExp(`^/users/${user}/notifications$`),
      scope: 'read',
      handle: async ({ res, params, query }) => {
        const limit = intParam(query, 'limit', 0, 100);
        const cursor = stringParam(query, 'cursor', 128);
        const unread = boolParam(query, 'unread');
        const page = await features.notifications.list(params[0]!, { ...(limit !== undefined ? { limit } : {}), ...(cursor !== undefined ? { cursor } : {}), unread: unread === true });
        sendData(res, { ...page, ...(await features.notifications.counts(params[0]!)) });
      },
    },
    {
      method: 'POST',
      name: '/users/:id/notifications/read',
      pattern: new RegExp(`^/users/${user}/notifications/read$`),
      scope: 'publish',
      handle: async ({ req, res, params }) => {
        const b = parseWith(readBody, await body(req));
        sendData(res, await features.notifications.markRead(params[0]!, b.all ? 'all' : b.ids!));
      },
    },
    {
      method: 'DELETE',
      name: '/users/:id/notifications/:notification',
      pattern: new RegExp(`^/users/${user}/notifications/([^/]+)$`),
      scope: 'publish',
      handle: async ({ res, params }) => {
        const result = await features.notifications.remove(params[0]!, [params[1]!]);
        if (result.deleted === 0) throw new TidingsError(ErrorCode.NotFound, `user "${params[0]}" has no notification "${params[1]}"`);
        sendData(res, result);
      },
    },
    {
      method: 'POST',
      name: '/activity',
      pattern: /^\/activity$/,
      scope: 'publish',
      handle: async ({ req, res }) => sendData(res, await features.activity.append(await body(req))),
    },
    {
      method: 'GET',
      name: '/activity',
      pattern: /^\/activity$/,
      scope: 'read',
      handle: async ({ res, query }) => {
        const limit = intParam(query, 'limit', 1, 100);
        const cursor = stringParam(query, 'cursor', 128);
        const page = { ...(limit !== undefined ? { limit } : {}), ...(cursor !== undefined ? { cursor } : {}) };
        const scope = query.get('scope') ?? 'global';
        // `*`: every scope (no scope can be named `*`); an operator view, read keys and the dashboard only.
        sendData(res, await (scope === ALL_SCOPES ? features.activity.recent(page) : features.activity.list(scope, page)));
      },
    },
    {
      method: 'GET',
      name: '/audit',
      pattern: /^\/audit$/,
      scope: 'admin',
      handle: async ({ res, query }) => {
        const log = features.auditLog;
        if (!log) throw new TidingsError(ErrorCode.NotAvailable, 'the audit log is not stored on this node (audit.store is off)');
        const filters = {
          limit: intParam(query, 'limit', 1, 1000) ?? 100,
          user: stringParam(query, 'user'),
          type: stringParam(query, 'type', 64),
          since: timeParam(query, 'since'),
          until: timeParam(query, 'until'),
          cursor: stringParam(query, 'cursor', 32),
        };
        const defined = Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== undefined)) as typeof filters & { limit: number };
        sendData(res, await log.query(defined));
      },
    },
    {
      method: 'POST',
      name: '/progress',
      pattern: /^\/progress$/,
      scope: 'publish',
      handle: async ({ req, res }) => sendData(res, await features.progress.report(await body(req))),
    },
    {
      method: 'GET',
      name: '/users/:id/progress',
      pattern: new RegExp(`^/users/${user}/progress$`),
      scope: 'read',
      handle: async ({ res, params, query }) => sendData(res, { jobs: await features.progress.jobs(params[0]!, stringParam(query, 'jobId', 128)) }),
    },
  ];
}
