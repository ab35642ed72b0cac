/**
 * Sign-in for the admin dashboard. An admin API key (or, in dev mode, a one-time
 * code printed by `tidings dev`) is exchanged for a short session kept in memory and
 * carried by an HttpOnly, SameSite=Strict cookie: the key never sits in a URL or in
 * browser storage. Wrong keys and codes are throttled per client IP: an attempt takes
 * one of the IP's `maxFailures` a minute before its key or code is even read, and gives
 * it back only when it signs in, so concurrent attempts cannot all slip past the check.
 *
 * The dashboard's own Tidings connection uses tokens this node signs with a random
 * secret of its own (`DashboardTokens`), with the role `tidings-admin`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import { ErrorCode } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import type { ConnectionClaims } from './token-verifier.js';

export const DASHBOARD_COOKIE = 'tidings_dashboard';
export const DASHBOARD_ROLE = 'tidings-admin';
const TOKEN_ISSUER = 'tidings-dashboard';

export interface DashboardSession {
  id: string;
  /** Id of the API key (or `dev` for a code) that signed in. */
  name: string;
  expiresAt: number;
}

/**
 * One sign-in attempt's place in its IP's budget: `granted` (call `succeeded` when it
 * signed in, which gives the place back), or refused for `retryAfterSeconds`.
 */
export type SignInAttempt = { granted: true; succeeded(): void } | { granted: false; retryAfterSeconds: number };

const THROTTLE_WINDOW_MS = 60_000;
/** IPs remembered at most: a flood of addresses cannot grow the map for long. */
const MAX_THROTTLED_IPS = 10_000;

export interface DashboardSessionsOptions {
  ttlMs: number;
  /** Failed attempts per IP per minute before sign-in answers 429. */
  maxFailures: number;
  now?: () => number;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export class DashboardSessions {
  private readonly sessions = new Map<string, DashboardSession>();
  private readonly codes = new Map<string, number>();
  private readonly failures = new Map<string, { count: number; since: number }>();
  private readonly now: () => number;

  constructor(private readonly options: DashboardSessionsOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Reserves a sign-in attempt for `ip` before its key or code is read: at most
   * `maxFailures` attempts are in flight or failed within a minute (from the first).
   * Every attempt counts until it signs in (`succeeded` gives its place back); a refused
   * one tells how long until the minute is over.
   */
  attempt(ip: string): SignInAttempt {
    const now = this.now();
    let window = this.failures.get(ip);
    if (window && now - window.since >= THROTTLE_WINDOW_MS) {
      this.failures.delete(ip);
      window = undefined;
    }
    if (!window) {
      window = { count: 0, since: now };
      this.failures.set(ip, window);
      if (this.failures.size > MAX_THROTTLED_IPS) this.failures.delete(this.failures.keys().next().value!);
    }
    if (window.count >= this.options.maxFailures) {
      return { granted: false, retryAfterSeconds: Math.max(1, Math.ceil((THROTTLE_WINDOW_MS - (now - window.since)) / 1000)) };
    }
    window.count++;
    const taken = window;
    return {
      granted: true,
      // Only into the window it was taken from: a later window owes this attempt nothing.
      succeeded: () => {
        if (this.failures.get(ip) === taken && taken.count > 0) taken.count--;
      },
    };
  }

  create(name: string): DashboardSession {
    this.sweep();
    const session = { id: randomBytes(32).toString('base64url'), name, expiresAt: this.now() + this.options.ttlMs };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The session of a request's Cookie header, if it is live. */
  fromCookie(header: string | undefined): DashboardSession | undefined {
    const id = cookieValue(header, DASHBOARD_COOKIE);
    if (!id) return undefined;
    const s = this.sessions.get(id);
    if (!s) return undefined;
    if (s.expiresAt <= this.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return s;
  }

  end(id: string): void {
    this.sessions.delete(id);
  }

  /** A one-time sign-in code, valid for `ttlMs` (dev mode prints it as a link). */
  issueCode(ttlMs = 15 * 60_000): string {
    const code = randomBytes(18).toString('base64url');
    this.codes.set(code, this.now() + ttlMs);
    return code;
  }

  /** True once per issued, unexpired code. Compared in constant time. */
  redeemCode(code: string): boolean {
    const d = digest(code);
    let hit: string | undefined;
    for (const [c, expires] of this.codes) {
      if (timingSafeEqual(digest(c), d) && expires > this.now()) hit = c;
    }
    if (hit === undefined) return false;
    this.codes.delete(hit);
    return true;
  }

  cookieFor(session: DashboardSession, secure: boolean): string {
    const maxAge = Math.max(0, Math.floor((session.expiresAt - this.now()) / 1000));
    return `${DASHBOARD_COOKIE}=${session.id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure ? '; Secure' : ''}`;
  }

  static clearCookie(): string {
    return `${DASHBOARD_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(id);
    for (const [c, expires] of this.codes) if (expires <= now) this.codes.delete(c);
  }
}

/** Signs and verifies the dashboard's connection tokens with a secret that never leaves this process. */
export class DashboardTokens {
  private readonly key = randomBytes(32);

  async mint(session: DashboardSession, ttlSeconds: number): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ info: { name: `dashboard (${session.name})` }, roles: [DASHBOARD_ROLE] })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(`dashboard.${session.name}`)
      .setIssuer(TOKEN_ISSUER)
      .setIssuedAt(now)
      .setExpirationTime(now + ttlSeconds)
      .sign(this.key);
  }

  /** True for a token that claims to be one of ours (checked for real by `verify`). */
  static claims(token: string): boolean {
    const payload = token.split('.')[1];
    if (!payload) return false;
    try {
      return (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { iss?: unknown }).iss === TOKEN_ISSUER;
    } catch {
      return false;
    }
  }

  async verify(token: string): Promise<ConnectionClaims> {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.key, { issuer: TOKEN_ISSUER, algorithms: ['HS256'] }));
    } catch (err) {
      if (err instanceof errors.JWTExpired) throw new TidingsError(ErrorCode.TokenExpired, 'dashboard token expired');
      throw new TidingsError(ErrorCode.Unauthorized, 'invalid dashboard token');
    }
    return { user: String(payload.sub), info: payload['info'] as Record<string, unknown>, roles: [DASHBOARD_ROLE], channels: [], ...(payload.exp ? { expiresAt: payload.exp * 1000 } : {}) };
  }
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
