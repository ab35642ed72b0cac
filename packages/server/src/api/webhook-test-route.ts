/**
 * `POST /webhooks/test` (admin): a `webhook.test` event to one configured endpoint, or to every
 * one, written to the outbox before the answer, so an app can try its receiver and its signature
 * check. Delivery is the outbox's like any other event's (webhooks/).
 */
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { ErrorCode } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import { parseWith } from '../validate.js';
import { sendData } from '../wire/http-responses.js';
import type { Route } from './route.js';

/** What the route calls (webhooks/assemble.ts's tester). */
export interface WebhookTestParts {
  /** Resolves once the event is in the outbox; rejects when the write failed. */
  sendTest(endpoint?: string): Promise<{ id: string; endpoints: string[] }>;
  /** The configured endpoints' ids. */
  endpointIds(): string[];
}

export const webhookTestBody = z.strictObject({
  endpoint: z.string().min(1).max(64).optional().describe('The endpoint (`webhooks.endpoints[].id`) to send it to; absent: every endpoint, whatever events each subscribes to'),
});

export const webhookTestResult = z.object({
  id: z.string().describe('The event id: the `webhook-id` header the endpoint will see'),
  endpoints: z.array(z.string()).describe('The endpoints it goes to'),
});

export function webhookTestRoutes(parts: WebhookTestParts | undefined, body: (req: IncomingMessage) => Promise<unknown>): Route[] {
  return [
    {
      method: 'POST',
      name: '/webhooks/test',
      pattern: /^\/webhooks\/test$/,
      scope: 'admin',
      summary: 'Send a webhook.test event to one webhook endpoint, or to every one (written to the outbox before the answer)',
      body: webhookTestBody,
      response: webhookTestResult,
      errors: [ErrorCode.NotFound, ErrorCode.NotAvailable],
      handle: async ({ req, res }) => {
        const { endpoint } = parseWith(webhookTestBody, await body(req));
        const ids = parts?.endpointIds() ?? [];
        if (!parts || ids.length === 0) throw new TidingsError(ErrorCode.NotAvailable, 'no webhook endpoint is configured (webhooks.endpoints)');
        if (endpoint !== undefined && !ids.includes(endpoint)) throw new TidingsError(ErrorCode.NotFound, `no webhook endpoint "${endpoint}"`);
        sendData(res, await parts.sendTest(endpoint));
      },
    },
  ];
}
