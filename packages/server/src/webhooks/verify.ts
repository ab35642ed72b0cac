/**
 * `verifyWebhook`: what an app's Node backend calls on a webhook request from Tidings (or any
 * Standard Webhooks sender) before trusting it. It checks the signature over the exact body
 * bytes received (parse the JSON only afterwards), with any of the given secrets (several while
 * one is rotated), and that the timestamp is within `toleranceSeconds` of now (a captured
 * request replayed later is refused). The comparison takes constant time.
 */
import { timingSafeEqual } from 'node:crypto';
import { secretKey, signatureOf } from './sign.js';

export type WebhookVerificationReason = 'missing_header' | 'bad_timestamp' | 'timestamp_too_old' | 'timestamp_too_new' | 'bad_signature' | 'bad_body';

/** Thrown by `verifyWebhook`; `reason` says which check failed. */
export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
  constructor(
    readonly reason: WebhookVerificationReason,
    message: string,
  ) {
    super(message);
  }
}

/** Headers as node:http gives them, as fetch's `Headers`, or a plain object. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

export interface VerifyWebhookOptions {
  /** Largest difference between the `webhook-timestamp` and now, in seconds (default 300). */
  toleranceSeconds?: number;
  /** Now, in ms since the epoch (tests). */
  now?: number;
}

/** A verified webhook: its id, timestamp and parsed body (`{ type, timestamp, data }` from Tidings). */
export interface VerifiedWebhook<T = { type: string; timestamp: string; data: Record<string, unknown> }> {
  id: string;
  /** Seconds since the epoch, as signed. */
  timestamp: number;
  payload: T;
}

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const value = record[name] ?? Object.entries(record).find(([k]) => k.toLowerCase() === name)?.[1];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Verifies a webhook request and returns its parsed body; throws `WebhookVerificationError`
 * otherwise. `secret`: the endpoint's `whsec_…` secret, or several (any may have signed).
 * `body`: the raw request body, exactly as received.
 *
 * @example
 * ```ts
 * import { verifyWebhook } from '@tidings/server';
 * app.post('/tidings-webhooks', express.raw({ type: 'application/json' }), (req, res) => {
 *   const { id, payload } = verifyWebhook(process.env.TIDINGS_WEBHOOK_SECRET!, req.headers, req.body);
 *   // …handle payload.type and payload.data, once per id…
 *   res.sendStatus(204);
 * });
 * ```
 */
export function verifyWebhook<T = { type: string; timestamp: string; data: Record<string, unknown> }>(
  secret: string | readonly string[],
  headers: WebhookHeaders,
  body: string | Uint8Array,
  options: VerifyWebhookOptions = {},
): VerifiedWebhook<T> {
  const id = header(headers, 'webhook-id');
  const rawTimestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !rawTimestamp || !signatures) throw new WebhookVerificationError('missing_header', 'missing webhook-id, webhook-timestamp or webhook-signature header');
  if (!/^\d{1,15}$/.test(rawTimestamp)) throw new WebhookVerificationError('bad_timestamp', 'webhook-timestamp is not a number of seconds');
  const timestamp = Number(rawTimestamp);
  const tolerance = options.toleranceSeconds ?? 300;
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  if (timestamp < now - tolerance) throw new WebhookVerificationError('timestamp_too_old', `webhook-timestamp is more than ${tolerance} s old`);
  if (timestamp > now + tolerance) throw new WebhookVerificationError('timestamp_too_new', `webhook-timestamp is more than ${tolerance} s in the future`);
  const given = signatures
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .map((s) => Buffer.from(s));
  const secrets = typeof secret === 'string' ? [secret] : secret;
  let matched = false;
  for (const s of secrets) {
    const expected = Buffer.from(signatureOf(secretKey(s), id, timestamp, body));
    // Every candidate is compared (no early exit), each in constant time.
    for (const g of given) if (g.length === expected.length && timingSafeEqual(g, expected)) matched = true;
  }
  if (!matched) throw new WebhookVerificationError('bad_signature', 'no webhook-signature matches');
  let payload: T;
  try {
    payload = JSON.parse(typeof body === 'string' ? body : Buffer.from(body).toString('utf8')) as T;
  } catch {
    throw new WebhookVerificationError('bad_body', 'the body is not JSON');
  }
  return { id, timestamp, payload };
}
