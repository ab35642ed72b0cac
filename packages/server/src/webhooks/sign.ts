/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): every request carries
 * `webhook-id` (the event's id, the same on every retry), `webhook-timestamp` (seconds since the
 * epoch, of this attempt) and `webhook-signature`: `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`,
 * one per secret, space-separated, so an endpoint whose secret is being rotated (`[new, old]`)
 * accepts the request with either.
 *
 * Secrets are written `whsec_<base64 of 24 to 64 random bytes>`; the HMAC key is the decoded bytes.
 */
import { createHmac, randomBytes } from 'node:crypto';

export const SECRET_PREFIX = 'whsec_';
const MIN_KEY_BYTES = 24;
const MAX_KEY_BYTES = 64;

/** The HMAC key of a `whsec_…` secret; throws with the reason when it is not one. */
export function secretKey(secret: string): Buffer {
  if (!secret.startsWith(SECRET_PREFIX)) throw new Error(`expected a secret starting with "${SECRET_PREFIX}"`);
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) throw new Error(`expected base64 after "${SECRET_PREFIX}"`);
  const key = Buffer.from(encoded, 'base64');
  if (key.length < MIN_KEY_BYTES || key.length > MAX_KEY_BYTES) throw new Error(`expected ${MIN_KEY_BYTES} to ${MAX_KEY_BYTES} bytes after "${SECRET_PREFIX}", got ${key.length}`);
  return key;
}

/** A new random secret (32 bytes), as `whsec_…`. */
export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/** The `v1,<base64>` signature of one key over `<id>.<timestamp>.<body>`. */
export function signatureOf(key: Buffer, id: string, timestamp: number, body: string | Uint8Array): string {
  const hmac = createHmac('sha256', key);
  hmac.update(`${id}.${timestamp}.`);
  hmac.update(body);
  return `v1,${hmac.digest('base64')}`;
}

/** The three Standard Webhooks headers of one attempt: one signature per key, space-separated. */
export function signHeaders(keys: readonly Buffer[], id: string, timestamp: number, body: string): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': keys.map((key) => signatureOf(key, id, timestamp, body)).join(' '),
  };
}
