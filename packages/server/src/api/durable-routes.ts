/**
 * Server API routes of the durable features: notifications, activity feeds, the audit
 * log and job progress. The envelope, keys and audit of each call are ServerApi's.
 */
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { ErrorCode } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import { parseWith } from '../validate.js';
import { activityInputSchema, type ActivityFeature } from '../features/activity.js';
import type { NotificationsFeature } from '../features/notifications.js';
import { progressInputSchema, type ProgressFeature } from '../features/progress.js';
import type { StoredAuditLog } from '../ops/audit-log.js';
import { sendData } from '../wire/http-responses.js';
import { boolQuery, intQuery, parseQuery, stringQuery, timeQuery } from './query.js';
import * as data from './responses.js';
import type { Route } from './route.js';

export const readBody = z.strictObject({ ids: z.array(z.string().min(1).max(64)).min(1).max(100).optional(), all: z.literal(true).optional() }).refine((b) => (b.ids === undefined) !== (b.all === undefined), {
  message: 'give either "ids" or "all": true',
});

/** `GET /activity?scope=*`: the entries of every scope. */
const ALL_SCOPES = '*';

const notificationsQuery = z.object({ limit: intQuery(0, 100, 'Page size'), cursor: stringQuery(128, 'The `nextCursor` of the previous page'), unread: boolQuery('Unread ones only') });
const activityQuery = z.object({
  limit: intQuery(1, 100, 'Page size'),
  cursor: stringQuery(128, 'The `nextCursor` of the previous page'),
  scope: z.string().optional().describe('The feed (default `global`); `*`: every scope, newest first'),
});
const auditQuery = z.object({
  limit: intQuery(1, 1000, 'Page size (default 100)'),
  user: stringQuery(256, 'Events of this user only'),
  type: stringQuery(64, 'Events of this type only'),
  since: timeQuery('Events at or after this time: ms since the epoch, or an ISO 8601 date-time'),
  until: timeQuery('Events before this time: ms since the epoch, or an ISO 8601 date-time'),
  cursor: stringQuery(32, 'The `nextCursor` of the previous page'),
});
const progressQuery = z.object({ jobId: stringQuery(128, 'This job only') });

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
      summary: 'Store a notification for one user or many, then deliver it live',
      body: features.notifications.inputSchema,
      response: data.notifyResult,
      handle: async ({ req, res, keyId }) => sendData(res, await features.notifications.notify(await body(req), { keyScope: `api:${keyId ?? ''}` })),
    },
    {
      method: 'GET',
      name: '/users/:id/notifications',
      pattern: new RegExp(`^/users/${user}/notifications$`),
      scope: 'read',
      summary: "A user's notifications, newest first, with the unread and total counts",
      query: notificationsQuery,
      response: data.notificationPage,
      handle: async ({ res, params, query }) => {
        const { limit, cursor, unread } = parseQuery(notificationsQuery, query);
        const page = await features.notifications.list(params[0]!, { ...(limit !== undefined ? { limit } : {}), ...(cursor !== undefined ? { cursor } : {}), unread: unread === true });
        sendData(res, { ...page, ...(await features.notifications.counts(params[0]!)) });
      },
    },
    {
      method: 'POST',
      name: '/users/:id/notifications/read',
      pattern: new RegExp(`^/users/${user}/notifications/read$`),
      scope: 'publish',
      summary: "Mark some or all of a user's notifications read",
      body: readBody,
      response: data.markReadResult,
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
      summary: 'Delete one notification of a user',
      response: data.removeResult,
      errors: [ErrorCode.NotFound],
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
      summary: 'Append an entry to an activity feed',
      body: activityInputSchema,
      response: data.activity,
      handle: async ({ req, res }) => sendData(res, await features.activity.append(await body(req))),
    },
    {
      method: 'GET',
      name: '/activity',
      pattern: /^\/activity$/,
      scope: 'read',
      summary: 'An activity feed (or every feed), newest first, paginated',
      query: activityQuery,
      response: data.activityPage,
      handle: async ({ res, query }) => {
        const q = parseQuery(activityQuery, query);
        const page = { ...(q.limit !== undefined ? { limit: q.limit } : {}), ...(q.cursor !== undefined ? { cursor: q.cursor } : {}) };
        const scope = q.scope ?? 'global';
        // `*`: every scope (no scope can be named `*`); an operator view, read keys and the dashboard only.
        sendData(res, await (scope === ALL_SCOPES ? features.activity.recent(page) : features.activity.list(scope, page)));
      },
    },
    {
      method: 'GET',
      name: '/audit',
      pattern: /^\/audit$/,
      scope: 'admin',
      summary: 'The stored audit log, newest first, filtered and paginated',
      query: auditQuery,
      response: data.auditPage,
      errors: [ErrorCode.NotAvailable],
      handle: async ({ res, query }) => {
        const log = features.auditLog;
        if (!log) throw new TidingsError(ErrorCode.NotAvailable, 'the audit log is not stored on this node (audit.store is off)');
        const q = parseQuery(auditQuery, query);
        const filters = { ...q, limit: q.limit ?? 100 };
        const defined = Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== undefined)) as typeof filters & { limit: number };
        sendData(res, await log.query(defined));
      },
    },
    {
      method: 'POST',
      name: '/progress',
      pattern: /^\/progress$/,
      scope: 'publish',
      summary: "Report the progress of a user's long-running job",
      body: progressInputSchema,
      response: data.jobProgress,
      handle: async ({ req, res }) => sendData(res, await features.progress.report(await body(req))),
    },
    {
      method: 'GET',
      name: '/users/:id/progress',
      pattern: new RegExp(`^/users/${user}/progress$`),
      scope: 'read',
      summary: "The latest state of a user's jobs (or of one)",
      query: progressQuery,
      response: data.jobs,
      handle: async ({ res, params, query }) => sendData(res, { jobs: await features.progress.jobs(params[0]!, parseQuery(progressQuery, query).jobId) }),
    },
  ];
}
