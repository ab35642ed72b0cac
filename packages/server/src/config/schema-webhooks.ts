/**
 * The `webhooks` section of the configuration schema: the endpoints Tidings tells about what
 * happens (each with its secret, events and namespaces), and how the durable outbox is
 * delivered: retries and their backoff, leases, polling, retention (docs/webhooks.md).
 */
import { z } from 'zod';
import { WEBHOOK_EVENT_TYPES } from '../webhook-events.js';
import { secretKey } from '../webhooks/sign.js';
import { duration } from './schema-values.js';

const webhookSecret = z.string().superRefine((s, ctx) => {
  try {
    secretKey(s);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `${(err as Error).message} (e.g. whsec_ followed by the output of \`openssl rand -base64 32\`)` });
  }
});

export const webhookEndpointSchema = z.strictObject({
  /** Names the endpoint in the outbox, metrics, logs and the dashboard. */
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'expected 1-64 characters of A-Z a-z 0-9 _ . -'),
  url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }),
  /** `whsec_…`; while rotating, a list `[new, old]`: each request is signed with every one. */
  secret: z.union([webhookSecret, z.array(webhookSecret).min(1).max(4)]),
  /** Event types sent to this endpoint; `['*']`: every type. */
  events: z.array(z.enum(['*', ...WEBHOOK_EVENT_TYPES])).min(1).default(['*']),
  /** Only events of channels in these namespaces (events without a channel always pass); absent: every namespace. */
  namespaces: z.array(z.string().min(1)).min(1).optional(),
  /** Extra request headers (the webhook-* and content-type headers are Tidings'). */
  headers: z.record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'expected an HTTP header name'), z.string()).default({}),
  /** One attempt's longest wait for the response. */
  timeout: duration('5s'),
  /** Requests to this endpoint in flight at once. */
  concurrency: z.number().int().min(1).max(256).default(8),
});

export const webhooksSchema = z
  .strictObject({
    endpoints: z.array(webhookEndpointSchema).default([]),
    retry: z
      .strictObject({
        /** Wait before the second attempt; doubled (with jitter) after each failure. */
        initial: duration('1s'),
        /** Longest wait between attempts. */
        max: duration('60s'),
        /** Attempts after which an event goes to the dead letters. */
        maxAttempts: z.number().int().min(1).default(200),
        /** Age (since the event) after which a failed event goes to the dead letters. */
        maxAge: duration('3h'),
      })
      .prefault({}),
    /** How long a claimed row is held by one node before another may take it (a node that died gives its rows up after this). */
    lease: duration('60s'),
    /** How often the outbox is looked at for due rows (a local enqueue wakes the dispatcher at once). */
    pollInterval: duration('1s'),
    /** Rows claimed at most per look. */
    batchSize: z.number().int().min(1).max(10_000).default(100),
    /** Events waiting to be written to the outbox beyond which new ones are dropped (and counted). */
    maxQueue: z.number().int().min(1).default(100_000),
    /** How long a channel stays without subscribers on every node before `channel.vacated`; one subscribed again meanwhile (a page refresh) sends neither event. */
    vacatedDelay: duration('3s'),
    retention: z
      .strictObject({
        /** Delivered rows are deleted this long after delivery. */
        delivered: duration('1h'),
        /** Dead rows (the dead letters) are deleted this long after they went dead. */
        dead: duration('7d'),
        /** How often old rows are deleted. */
        interval: duration('1m'),
      })
      .prefault({}),
  })
  .prefault({})
  .superRefine((w, ctx) => {
    const ids = new Set<string>();
    w.endpoints.forEach((e, i) => {
      if (ids.has(e.id)) ctx.addIssue({ code: 'custom', path: ['endpoints', i, 'id'], message: `duplicate endpoint id "${e.id}"` });
      ids.add(e.id);
      if (e.timeout >= w.lease) ctx.addIssue({ code: 'custom', path: ['endpoints', i, 'timeout'], message: `must be shorter than webhooks.lease (${w.lease} ms), got ${e.timeout} ms` });
    });
    if (w.retry.initial > w.retry.max) ctx.addIssue({ code: 'custom', path: ['retry', 'initial'], message: `must not exceed webhooks.retry.max (${w.retry.max} ms)` });
  });

export type WebhooksConfig = z.output<typeof webhooksSchema>;
export type WebhookEndpointConfig = WebhooksConfig['endpoints'][number];
