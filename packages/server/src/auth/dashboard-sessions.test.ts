/**
 * Dashboard sessions are signed cookies: any instance with the same root secret accepts
 * them, none with another; a tampered or expired one is refused. (The sign-in throttle and
 * the one-time codes: dashboard-sign-in.test.ts.)
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DASHBOARD_COOKIE, DashboardSessions, DashboardTokens, type DashboardSession } from './dashboard-sessions.js';

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const ROOT = 'root-secret-0123456789-abcdefghijklmnop';
const ADMIN = { kind: 'key', id: 'ops', key: 'ops-admin-key-0123456789' } as const;
const header = (s: DashboardSession) => `other=1; ${DASHBOARD_COOKIE}=${s.token}`;
/** Another instance of the sessions, as another process or a restarted one would build it. */
const instance = (root: string | Buffer | undefined, now: () => number, ttlMs = 3_600_000) => new DashboardSessions({ ttlMs, rootSecret: () => root, now });

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
