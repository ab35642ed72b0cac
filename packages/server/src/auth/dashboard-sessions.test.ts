/**
 * The dashboard sign-in throttle: attempts are reserved before a key is read, given
 * back only by a sign-in, and the window reopens after a minute. Sessions are signed
 * cookies: any instance with the same root secret accepts them, none with another; a
 * tampered or expired one is refused.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DASHBOARD_COOKIE, DashboardSessions, DashboardTokens, type DashboardSession, type SignInAttempt } from './dashboard-sessions.js';

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const granted = (a: SignInAttempt) => a.granted;
const ROOT = 'root-secret-0123456789-abcdefghijklmnop';
const ADMIN = { kind: 'key', id: 'ops', key: 'ops-admin-key-0123456789' } as const;
const header = (s: DashboardSession) => `other=1; ${DASHBOARD_COOKIE}=${s.token}`;
/** Another instance of the sessions, as another process or a restarted one would build it. */
const instance = (root: string | Buffer | undefined, now: () => number, ttlMs = 3_600_000) => new DashboardSessions({ ttlMs, maxFailures: 5, rootSecret: () => root, now });

describe('dashboard sign-in throttle', () => {
  it('reserves maxFailures attempts per address a minute, in flight or failed; the next ones wait for the minute to end', () => {
    const c = clock();
    const sessions = new DashboardSessions({ ttlMs: 60_000, maxFailures: 5, rootSecret: () => ROOT, now: c.now });
    // Reserved before any key is read: none of them has failed yet, yet the sixth is refused.
    const first = Array.from({ length: 5 }, () => sessions.attempt('10.0.0.1'));
    expect(first.every(granted)).toBe(true);
    c.advance(20_000);
    const refused = sessions.attempt('10.0.0.1');
    expect(refused).toEqual({ granted: false, retryAfterSeconds: 40 });
    // Other addresses have their own budget.
    expect(sessions.attempt('10.0.0.2').granted).toBe(true);
    c.advance(40_000);
    expect(sessions.attempt('10.0.0.1').granted).toBe(true);
  });

  it('gives an attempt back when it signs in, only within the window it was taken from', () => {
    const c = clock();
    const sessions = new DashboardSessions({ ttlMs: 60_000, maxFailures: 2, rootSecret: () => ROOT, now: c.now });
    for (let i = 0; i < 10; i++) {
      const a = sessions.attempt('10.0.0.3');
      if (!a.granted) throw new Error('refused');
      a.succeeded();
    }
    const stale = sessions.attempt('10.0.0.3');
    expect(sessions.attempt('10.0.0.3').granted).toBe(true);
    expect(sessions.attempt('10.0.0.3').granted).toBe(false);
    // A new window: the old attempt's success gives nothing back to it.
    c.advance(60_000);
    expect(sessions.attempt('10.0.0.3').granted).toBe(true);
    if (stale.granted) stale.succeeded();
    expect(sessions.attempt('10.0.0.3').granted).toBe(true);
    expect(sessions.attempt('10.0.0.3').granted).toBe(false);
  });
});

describe('dashboard session cookies', () => {
  it('are accepted by every instance with the same root secret (another process, a restart), by none with another', () => {
    const c = clock();
    const session = instance(ROOT, c.now).create(ADMIN);
    expect(session).toMatchObject({ kind: 'key', name: 'ops', issuedAt: c.now(), expiresAt: c.now() + 3_600_000 });
    expect(session.token).not.toContain(ADMIN.key);
    const elsewhere = instance(ROOT, c.now);
    expect(elsewhere.fromCookie(header(session))).toEqual(session);
    expect(elsewhere.keyMatches(session, ADMIN.key)).toBe(true);
    expect(elsewhere.keyMatches(session, 'another-admin-key-0123456789')).toBe(false);
    expect(instance('another-root-secret-0123456789', c.now).fromCookie(header(session))).toBeUndefined();
    // No root (no auth.secret and no data-dir secret yet): nothing is accepted, nothing signed.
    expect(instance(undefined, c.now).fromCookie(header(session))).toBeUndefined();
    expect(() => instance(undefined, c.now).create(ADMIN)).toThrow(/no secret/);
    const code = instance(ROOT, c.now).create({ kind: 'code' });
    expect(elsewhere.fromCookie(header(code))).toMatchObject({ kind: 'code', name: 'dev' });
    expect(elsewhere.keyMatches(code, ADMIN.key)).toBe(false);
  });

  it('are signed with a key derived from the root, never with the root secret itself', () => {
    const c = clock();
    const session = instance(ROOT, c.now).create(ADMIN);
    const [body, mac] = session.token.split('.') as [string, string];
    expect(mac).not.toBe(createHmac('sha256', ROOT).update(body).digest('base64url'));
    // A cookie signed with the root secret itself (what anyone holding only a token-signing key could make) is refused.
    const forged = `${body}.${createHmac('sha256', ROOT).update(body).digest('base64url')}`;
    expect(instance(ROOT, c.now).fromCookie(`${DASHBOARD_COOKIE}=${forged}`)).toBeUndefined();
  });

  it('refuse a tampered cookie: another payload, another signature, or not our shape', () => {
    const c = clock();
    const sessions = instance(ROOT, c.now);
    const [body, mac] = sessions.create(ADMIN).token.split('.') as [string, string];
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
    const reencode = (p: Record<string, unknown>) => Buffer.from(JSON.stringify(p)).toString('base64url');
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    for (const token of [
      `${reencode({ ...payload, exp: (payload['exp'] as number) + 1e9 })}.${mac}`,
      `${reencode({ ...payload, k: 'admin' })}.${mac}`,
      `${body}.${flip(mac)}`,
      `${flip(body)}.${mac}`,
      `${body}.`,
      `${body}`,
      `.${mac}`,
      'x'.repeat(5000),
      '',
    ]) {
      expect(sessions.fromCookie(`${DASHBOARD_COOKIE}=${token}`), token).toBeUndefined();
    }
  });

  it('end at their expiry, and at sessionTtl from their issue when the ttl was lowered since', () => {
    const c = clock();
    const session = instance(ROOT, c.now, 60_000).create(ADMIN);
    c.advance(59_999);
    expect(instance(ROOT, c.now, 60_000).fromCookie(header(session))).toBeDefined();
    // A node whose sessionTtl is now 30 s no longer accepts a session issued 60 s ago for 60 s.
    expect(instance(ROOT, c.now, 30_000).fromCookie(header(session))).toBeUndefined();
    c.advance(1);
    expect(instance(ROOT, c.now, 60_000).fromCookie(header(session))).toBeUndefined();
  });

  it('connection tokens minted by one instance verify on another with the same root, not with another root', async () => {
    const session = instance(ROOT, Date.now).create(ADMIN);
    const token = await new DashboardTokens(() => ROOT).mint(session, 60);
    await expect(new DashboardTokens(() => ROOT).verify(token)).resolves.toMatchObject({ user: 'dashboard.ops', roles: ['tidings-admin'] });
    await expect(new DashboardTokens(() => 'another-root-secret-0123456789').verify(token)).rejects.toMatchObject({ code: 'unauthorized' });
    await expect(new DashboardTokens(() => undefined).verify(token)).rejects.toMatchObject({ code: 'unauthorized' });
  });
});
