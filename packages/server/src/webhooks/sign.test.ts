/**
 * Standard Webhooks signing and `verifyWebhook`: signatures checked by an independent
 * implementation (Python's standard library, in a subprocess), a published test vector, and the
 * helper's refusals (tampered body, old timestamp, wrong or rotated secret, missing headers).
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../config/schema.js';
import { generateSecret, secretKey, signHeaders } from './sign.js';
import { verifyWebhook, WebhookVerificationError } from './verify.js';

/** Python's answer: for each secret, whether one of the header's `v1,` signatures is its HMAC over id.timestamp.body. */
const PYTHON_CHECK = `
import base64, hashlib, hmac, json, sys
req = json.load(sys.stdin)
signed = (req["id"] + "." + req["timestamp"] + ".").encode() + req["body"].encode()
given = [s[3:] for s in req["signature"].split(" ") if s.startswith("v1,")]
out = []
for secret in req["secrets"]:
    key = base64.b64decode(secret[len("whsec_"):])
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    out.append(any(hmac.compare_digest(expected, g) for g in given))
print(json.dumps(out))
`;

function pythonCheck(secrets: string[], headers: Record<string, string>, body: string): boolean[] {
  const input = JSON.stringify({ secrets, id: headers['webhook-id'], timestamp: headers['webhook-timestamp'], signature: headers['webhook-signature'], body });
  return JSON.parse(execFileSync('python3', ['-c', PYTHON_CHECK], { input, encoding: 'utf8', timeout: 10_000 })) as boolean[];
}

const body = JSON.stringify({ type: 'channel.occupied', timestamp: '2026-01-02T03:04:05.000Z', data: { channel: 'chat:lobby', text: 'héllo ✓' } });
const now = Date.now();
const ts = Math.floor(now / 1000);

describe('signHeaders', () => {
  it('signs id.timestamp.body as Python\'s hmac/hashlib/base64 does, one signature per secret', () => {
    const [a, b, c] = [generateSecret(), generateSecret(), generateSecret()];
    const one = signHeaders([secretKey(a)], 'msg_1', ts, body);
    expect(one['webhook-id']).toBe('msg_1');
    expect(one['webhook-timestamp']).toBe(String(ts));
    expect(one['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(pythonCheck([a, b], one, body)).toEqual([true, false]);
    // Rotation: signed with [new, old], both verify; a third does not.
    const rotated = signHeaders([secretKey(b), secretKey(a)], 'msg_2', ts, body);
    expect(rotated['webhook-signature'].split(' ')).toHaveLength(2);
    expect(pythonCheck([a, b, c], rotated, body)).toEqual([true, true, false]);
    // The exact bytes: one changed character and Python refuses it.
    expect(pythonCheck([a], one, body.replace('lobby', 'lobbz'))).toEqual([false]);
  });

  it('matches the Standard Webhooks reference vector', () => {
    const headers = signHeaders([secretKey('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')], 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}');
    expect(headers['webhook-signature']).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('refuses secrets that are not whsec_ and 24-64 base64 bytes', () => {
    expect(() => secretKey('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toThrow(/whsec_/);
    expect(() => secretKey('whsec_not base64!')).toThrow(/base64/);
    expect(() => secretKey('whsec_' + Buffer.alloc(8).toString('base64'))).toThrow(/24 to 64 bytes/);
    expect(secretKey(generateSecret())).toHaveLength(32);
  });
});

describe('verifyWebhook', () => {
  const secret = generateSecret();
  const headers = signHeaders([secretKey(secret)], 'msg_abc', ts, body);

  it('returns the id, timestamp and parsed payload of a good request (node headers, fetch Headers, Buffer body)', () => {
    const verified = verifyWebhook(secret, headers, body, { now });
    expect(verified).toEqual({ id: 'msg_abc', timestamp: ts, payload: JSON.parse(body) });
    expect(verifyWebhook(secret, new Headers(headers), Buffer.from(body), { now }).id).toBe('msg_abc');
    const upper = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]));
    expect(verifyWebhook(secret, upper, body, { now }).id).toBe('msg_abc');
  });

  const reason = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(WebhookVerificationError);
      return (err as WebhookVerificationError).reason;
    }
    return 'accepted';
  };

  it('refuses a tampered body, another id, the wrong secret and missing headers', () => {
    expect(reason(() => verifyWebhook(secret, headers, body.replace('lobby', 'lobbz'), { now }))).toBe('bad_signature');
    expect(reason(() => verifyWebhook(secret, { ...headers, 'webhook-id': 'msg_abd' }, body, { now }))).toBe('bad_signature');
    expect(reason(() => verifyWebhook(generateSecret(), headers, body, { now }))).toBe('bad_signature');
    expect(reason(() => verifyWebhook(secret, { ...headers, 'webhook-signature': 'v2,' + headers['webhook-signature'].slice(3) }, body, { now }))).toBe('bad_signature');
    expect(reason(() => verifyWebhook(secret, { 'webhook-id': 'msg_abc', 'webhook-timestamp': String(ts) }, body, { now }))).toBe('missing_header');
    expect(reason(() => verifyWebhook(secret, { ...headers, 'webhook-timestamp': 'yesterday' }, body, { now }))).toBe('bad_timestamp');
  });

  it('refuses a timestamp outside the tolerance (a replayed capture), either way', () => {
    expect(reason(() => verifyWebhook(secret, headers, body, { now: now + 301_000 }))).toBe('timestamp_too_old');
    expect(reason(() => verifyWebhook(secret, headers, body, { now: now - 301_000 }))).toBe('timestamp_too_new');
    expect(reason(() => verifyWebhook(secret, headers, body, { now: now + 20_000, toleranceSeconds: 10 }))).toBe('timestamp_too_old');
    // Re-signing an old capture with a fresh timestamp needs the secret: the old signature no longer matches.
    expect(reason(() => verifyWebhook(secret, { ...headers, 'webhook-timestamp': String(ts + 400) }, body, { now: now + 400_000 }))).toBe('bad_signature');
    expect(reason(() => verifyWebhook(secret, headers, body, { now: now + 299_000 }))).toBe('accepted');
  });

  it('accepts a request signed during a rotation with either secret, and a list of secrets', () => {
    const [fresh, old] = [generateSecret(), generateSecret()];
    const rotating = signHeaders([secretKey(fresh), secretKey(old)], 'msg_rot', ts, body);
    expect(verifyWebhook(old, rotating, body, { now }).id).toBe('msg_rot');
    expect(verifyWebhook(fresh, rotating, body, { now }).id).toBe('msg_rot');
    const oldOnly = signHeaders([secretKey(old)], 'msg_old', ts, body);
    expect(verifyWebhook([fresh, old], oldOnly, body, { now }).id).toBe('msg_old');
    expect(reason(() => verifyWebhook(fresh, oldOnly, body, { now }))).toBe('bad_signature');
  });
});

describe('webhooks configuration', () => {
  const endpoint = { id: 'app', url: 'http://127.0.0.1:9/hooks', secret: generateSecret() };

  it('fills defaults and takes a rotation list of secrets', () => {
    const config = resolveConfig({ webhooks: { endpoints: [{ ...endpoint, secret: [generateSecret(), endpoint.secret] }] } });
    expect(config.webhooks.endpoints[0]).toMatchObject({ events: ['*'], timeout: 5000, concurrency: 8, headers: {} });
    expect(config.webhooks.retry).toEqual({ initial: 1000, max: 60_000, maxAttempts: 200, maxAge: 3 * 3600_000 });
  });

  it('refuses a bad secret, an unknown event type, duplicate ids and a timeout not shorter than the lease, naming each key', () => {
    const problems = (input: unknown) => {
      try {
        resolveConfig(input);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      return '';
    };
    expect(problems({ webhooks: { endpoints: [{ ...endpoint, secret: 'hunter2' }] } })).toMatch(/webhooks\.endpoints\.0\.secret/);
    expect(problems({ webhooks: { endpoints: [{ ...endpoint, events: ['user.onlin'] }] } })).toMatch(/webhooks\.endpoints\.0\.events/);
    expect(problems({ webhooks: { endpoints: [endpoint, endpoint] } })).toMatch(/duplicate endpoint id "app"/);
    expect(problems({ webhooks: { lease: '5s', endpoints: [{ ...endpoint, timeout: '5s' }] } })).toMatch(/webhooks\.endpoints\.0\.timeout/);
    expect(problems({ webhooks: { endpoints: [{ ...endpoint, url: 'ftp://x' }] } })).toMatch(/webhooks\.endpoints\.0\.url/);
  });
});
