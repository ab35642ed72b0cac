/**
 * Server API routes of the webhook outbox (admin scope): the dead-letter list, replaying dead
 * letters, and the outbox's counts. They read the node's outbox (on a worker of `--workers`, the
 * primary's, through engine/ipc/ipc-stores.ts). Delivery itself is webhooks/'s.
 */
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { ErrorCode } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import { BadCursorError } from '../store/notification-store.js';
import type { WebhookOutbox } from '../store/webhook-outbox.js';
import { WEBHOOK_EVENT_TYPES } from '../webhook-events.js';
import { parseWith } from '../validate.js';
import { sendData } from '../wire/http-responses.js';
import { intQuery, parseQuery, stringQuery } from './query.js';
import type { Route } from './route.js';

/** What the routes use of the outbox. */
export type WebhookParts = Pick<WebhookOutbox, 'listDead' | 'replay' | 'stats'>;

export const deadLettersQuery = z.object({
  endpoint: stringQuery(256, "Dead letters of this endpoint (`webhooks.endpoints[].id`) only"),
  cursor: stringQuery(32, 'The `nextCursor` of the previous page'),
  limit: intQuery(1, 1000, 'Page size (default 100)'),
});

export const replayBody = z
  .strictObject({
    seqs: z.array(z.number().int().positive()).min(1).max(1000).optional().describe('The `seq` of each dead letter to send again'),
    all: z.literal(true).optional().describe('Every dead letter (of `endpoint`, when given)'),
    endpoint: z.string().min(1).max(256).optional().describe('With `all`: only this endpoint’s dead letters'),
  })
  .refine((b) => (b.seqs === undefined) !== (b.all === undefined), { message: 'give either "seqs" or "all": true' })
  .refine((b) => b.endpoint === undefined || b.all === true, { message: '"endpoint" goes with "all": true' });

const ms = z.number().int().describe('ms since the epoch');

export const deadLetter = z.object({
  seq: z.number().int().describe('Position in the outbox; what `replay` takes'),
  eventId: z.string().describe('The `webhook-id` header: the same on every attempt'),
  endpoint: z.string(),
  type: z.enum(WEBHOOK_EVENT_TYPES),
  orderKey: z.string().describe('Rows of one endpoint and key are sent in order'),
  payload: z.string().describe('The JSON body, exactly the bytes sent (and signed)'),
  createdAt: ms,
  state: z.enum(['pending', 'delivered', 'dead']),
  attempts: z.number().int(),
  nextAttemptAt: ms,
  lastStatus: z.number().int().optional().describe("The last attempt's HTTP status, when it got one"),
  lastError: z.string().optional().describe("The last attempt's error in words"),
  finishedAt: ms.optional().describe('When it went dead'),
});

export const deadLetterPage = z.object({
  deadLetters: z.array(deadLetter).describe('Oldest first'),
  nextCursor: z.string().optional().describe('Pass as `cursor` to get the next page; absent on the last page.'),
});

export const replayResult = z.object({ replayed: z.number().int().describe('Dead letters made pending again (due now)') });

export const outboxStats = z.object({
  pending: z.number().int().describe('Rows waiting to be delivered, on every endpoint'),
  dead: z.number().int().describe('Dead letters'),
  oldestPendingAt: ms.optional().describe('When the oldest pending row’s event happened'),
});

/** `outbox` undefined (an ApiParts without one): the routes answer `not_available`. */
export function webhookRoutes(parts: WebhookParts | undefined, body: (req: IncomingMessage) => Promise<unknown>): Route[] {
  const need = (): WebhookParts => {
    if (!parts) throw new TidingsError(ErrorCode.NotAvailable, 'this node has no webhook outbox');
    return parts;
  };
  return [
    {
      method: 'GET',
      name: '/webhooks/dead',
      pattern: /^\/webhooks\/dead$/,
      scope: 'admin',
      summary: 'Webhook dead letters (given up on after their retries), oldest first, paginated',
      query: deadLettersQuery,
      response: deadLetterPage,
      errors: [ErrorCode.Unavailable, ErrorCode.NotAvailable],
      handle: async ({ res, query }) => {
        const q = parseQuery(deadLettersQuery, query);
        let page;
        try {
          page = await need().listDead({ limit: q.limit ?? 100, ...(q.endpoint !== undefined ? { endpoint: q.endpoint } : {}), ...(q.cursor !== undefined ? { cursor: q.cursor } : {}) });
        } catch (err) {
          if (err instanceof BadCursorError) throw new TidingsError(ErrorCode.BadRequest, `cursor: ${err.message}`);
          throw err;
        }
        sendData(res, page.nextCursor === undefined ? { deadLetters: page.rows } : { deadLetters: page.rows, nextCursor: page.nextCursor });
      },
    },
    {
      method: 'POST',
      name: '/webhooks/dead/replay',
      pattern: /^\/webhooks\/dead\/replay$/,
      scope: 'admin',
      summary: 'Send dead letters again: the given seqs, or all (of one endpoint); attempts start over',
      body: replayBody,
      response: replayResult,
      errors: [ErrorCode.Unavailable, ErrorCode.NotAvailable],
      handle: async ({ req, res }) => {
        const outbox = need();
        const b = parseWith(replayBody, await body(req));
        const which = b.seqs !== undefined ? { seqs: b.seqs } : { all: true as const, ...(b.endpoint !== undefined ? { endpoint: b.endpoint } : {}) };
        sendData(res, { replayed: await outbox.replay(which, Date.now()) });
      },
    },
    {
      method: 'GET',
      name: '/webhooks/stats',
      pattern: /^\/webhooks\/stats$/,
      scope: 'admin',
      summary: 'Counts of the webhook outbox: pending rows, dead letters, the oldest pending event',
      response: outboxStats,
      errors: [ErrorCode.Unavailable, ErrorCode.NotAvailable],
      handle: async ({ res }) => sendData(res, await need().stats()),
    },
  ];
}
