/**
 * Read receipts over the server API (docs/server-api.md): a channel's receipts, marking a channel
 * read for a user (a backend that knows what the user read: an email opened, a mobile app), and a
 * user's unread counts. The API is trusted: no subscribe checks, and the receipts need only the
 * namespace's `messaging.readReceipts` (not `seenBy`, which is what clients may see).
 */
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { ErrorCode } from '@tidings/protocol';
import type { ReadReceiptsFeature } from '../features/read-receipts.js';
import { TidingsError } from '../errors.js';
import { parseWith as parseBody, userId } from '../validate.js';
import { sendData } from '../wire/http-responses.js';
import { parseQuery } from './query.js';
import type { Route } from './route.js';

/** What the routes act through (`features/read-receipts.ts`). */
export type ReceiptParts = Pick<ReadReceiptsFeature, 'markRead' | 'receiptsOf' | 'unreadOf'>;

/** At most this many channels in one `GET /users/:id/unread` (as the `unread` command). */
const MAX_UNREAD_CHANNELS = 100;

export const readBody = z.strictObject({
  user: userId.describe('The user whose receipt moves'),
  channel: z.string().min(1).describe('The channel read'),
  offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).describe("Read up to this offset (clamped to the channel's newest; receipts only move forward)"),
});

const unreadQuery = z.object({
  channels: z
    .string({ error: `expected 1..${MAX_UNREAD_CHANNELS} channel names, comma-separated` })
    .transform((raw) => raw.split(','))
    .pipe(z.array(z.string().min(1, { error: 'expected no empty channel name' })).max(MAX_UNREAD_CHANNELS, { error: `expected at most ${MAX_UNREAD_CHANNELS} channels` }))
    .optional()
    .describe(`The channels, comma-separated (up to ${MAX_UNREAD_CHANNELS}); none: an empty answer`),
});

const readResult = z.object({ user: z.string(), channel: z.string(), offset: z.number().int() });
const receipt = z.object({ user: z.string(), offset: z.number().int(), at: z.number().int() });
const receiptsResult = z.object({ channel: z.string(), receipts: z.array(receipt) });
const unreadCount = z.object({ unread: z.number().int(), read: z.number().int(), offset: z.number().int(), more: z.literal(true).optional() });
const unreadResult = z.object({ user: z.string(), channels: z.record(z.string(), unreadCount) });

const CHANNEL_ERRORS = [ErrorCode.InvalidChannel, ErrorCode.UnknownNamespace, ErrorCode.NotAvailable, ErrorCode.Unavailable];

function feature(parts: ReceiptParts | undefined): ReceiptParts {
  if (!parts) throw new TidingsError(ErrorCode.NotAvailable, 'read receipts are not available on this server');
  return parts;
}

export function receiptRoutes(parts: ReceiptParts | undefined, readJsonBody: (req: IncomingMessage) => Promise<unknown>): Route[] {
  return [
    {
      method: 'GET',
      name: '/channels/:channel/receipts',
      pattern: /^\/channels\/([^/]+)\/receipts$/,
      scope: 'read',
      summary: "A channel's read receipts (its current epoch), highest offset first",
      response: receiptsResult,
      errors: CHANNEL_ERRORS,
      handle: async ({ res, params }) => {
        const channel = params[0]!;
        sendData(res, { channel, ...(await feature(parts).receiptsOf(channel)) });
      },
    },
    {
      method: 'POST',
      name: '/read',
      pattern: /^\/read$/,
      scope: 'publish',
      summary: "Mark a channel read up to an offset for a user: pushed to the user's devices (and, with seenBy, to the channel)",
      body: readBody,
      response: readResult,
      errors: CHANNEL_ERRORS,
      handle: async ({ req, res }) => {
        const { user, channel, offset } = parseBody(readBody, await readJsonBody(req));
        const done = await feature(parts).markRead(user, channel, offset);
        sendData(res, { user, channel, offset: done.offset });
      },
    },
    {
      method: 'GET',
      name: '/users/:id/unread',
      pattern: /^\/users\/([^/]+)\/unread$/,
      scope: 'read',
      summary: "A user's unread messages in channels (messages by others after the user's read offset)",
      query: unreadQuery,
      response: unreadResult,
      errors: CHANNEL_ERRORS,
      handle: async ({ res, params, query }) => {
        const user = params[0]!;
        const { channels = [] } = parseQuery(unreadQuery, query);
        sendData(res, { user, ...(await feature(parts).unreadOf(user, channels)) });
      },
    },
  ];
}
