/**
 * Server-side actions apps asked for (issue 16): a user's sticky server-side subscriptions
 * (`/users/:id/subscriptions`). Publishing to many users, `exceptClient` and the broadcast to
 * every connection are options of `/publish` and `/broadcast` (core-routes.ts).
 */
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { ErrorCode } from '@tidings/protocol';
import type { UserChannels } from '../features/user-channels.js';
import { parseWith as parseBody } from '../validate.js';
import { sendData } from '../wire/http-responses.js';
import type { Route } from './route.js';

/** What the routes act through (`features/user-channels.ts`). */
export type UserChannelsParts = Pick<UserChannels, 'subscribe' | 'unsubscribe' | 'list'>;

export const userSubscriptionBody = z.strictObject({ channel: z.string().min(1).describe('The channel every connection of the user is subscribed to, now and at every later connect') });

const userSubscriptionResult = z.object({ channel: z.string(), added: z.boolean(), subscribed: z.number().int() });
const userUnsubscriptionResult = z.object({ channel: z.string(), removed: z.boolean(), unsubscribed: z.number().int() });
const userSubscriptions = z.object({ user: z.string(), channels: z.array(z.string()) });

export function actionRoutes(userChannels: UserChannelsParts, readBody: (req: IncomingMessage) => Promise<unknown>): Route[] {
  return [
    {
      method: 'POST',
      name: '/users/:id/subscriptions',
      pattern: /^\/users\/([^/]+)\/subscriptions$/,
      scope: 'admin',
      summary: "Subscribe a user's connections to a channel on every node, and at each later connect until removed",
      body: userSubscriptionBody,
      response: userSubscriptionResult,
      errors: [ErrorCode.InvalidChannel, ErrorCode.UnknownNamespace, ErrorCode.LimitExceeded, ErrorCode.Unavailable],
      handle: async ({ req, res, params }) => {
        const { channel } = parseBody(userSubscriptionBody, await readBody(req));
        const done = await userChannels.subscribe(params[0]!, channel);
        sendData(res, { channel, ...done });
      },
    },
    {
      method: 'DELETE',
      name: '/users/:id/subscriptions/:channel',
      pattern: /^\/users\/([^/]+)\/subscriptions\/([^/]+)$/,
      scope: 'admin',
      summary: "Remove a user's sticky subscription and end it on every node",
      response: userUnsubscriptionResult,
      errors: [ErrorCode.InvalidChannel, ErrorCode.UnknownNamespace, ErrorCode.Unavailable],
      handle: async ({ res, params }) => {
        const done = await userChannels.unsubscribe(params[0]!, params[1]!);
        sendData(res, { channel: params[1]!, ...done });
      },
    },
    {
      method: 'GET',
      name: '/users/:id/subscriptions',
      pattern: /^\/users\/([^/]+)\/subscriptions$/,
      scope: 'read',
      summary: "A user's sticky server-side subscriptions, sorted by channel",
      response: userSubscriptions,
      handle: async ({ res, params }) => sendData(res, { user: params[0]!, channels: await userChannels.list(params[0]!) }),
    },
  ];
}
