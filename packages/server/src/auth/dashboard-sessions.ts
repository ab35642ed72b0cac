/**
 * Sessions of the admin dashboard. An admin API key (or, in dev mode, a one-time
 * code printed by `tidings dev`) is exchanged for a session carried by an HttpOnly,
 * SameSite=Strict cookie: the key never sits in a URL or in browser storage. The sign-in
 * throttle and the one-time codes are in dashboard-sign-in.ts (kept across nodes).
 *
 * The session is the cookie itself, held nowhere on the server: `<payload>.<HMAC-SHA256>`,
 * the payload (base64url JSON) naming the API key id, a fingerprint of that key's value,
 * and the issue and expiry times. It is signed with a key derived by HKDF, under a label
 * of its own, from the node's root secret (auth.secret, else one kept in the data dir: see
 * api/dashboard.ts), so every process with the same configuration accepts it, a restart
 * keeps it, and the root secret itself never signs a cookie. What that leaves out (a
 * server-side sign-out) is in docs/dashboard.md.
 *
 * The dashboard's own Tidings connection uses tokens signed with another key derived from
 * the same root (`DashboardTokens`), with the role `tidings-admin`.
 */
import type { PeekedToken } from './token-peek.js';
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import { ErrorCode } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import type { ConnectionClaims } from './token-verifier.js';

export const DASHBOARD_COOKIE = 'tidings_dashboard';
export const DASHBOARD_ROLE = 'tidings-admin';
const TOKEN_ISSUER = 'tidings-dashboard';

/** The root every dashboard key is derived from; undefined when there is none (yet). */
export type RootSecret = () => string | Buffer | undefined;

/** HKDF labels: one key per purpose, none of them the root secret itself. */
const SESSION_LABEL = 'tidings dashboard session cookie v1';
const TOKEN_LABEL = 'tidings dashboard connection token v1';

/** A 32-byte key for `label`, derived from the current root (cached while the root is unchanged). */
export function derivedKey(root: RootSecret, label: string): () => Buffer | undefined {
  let seen: string | Buffer | undefined;
  let key: Buffer | undefined;
  return () => {
    const current = root();
    if (current === undefined) return undefined;
    if (key === undefined || seen === undefined || !sameRoot(seen, current)) {
      key = Buffer.from(hkdfSync('sha256', current, 'tidings', label, 32));
      seen = current;
    }
    return key;
  };
}

const sameRoot = (a: string | Buffer, b: string | Buffer) => (typeof a === 'string' && typeof b === 'string' ? a === b : Buffer.from(a).equals(Buffer.from(b)));

export interface DashboardSession {
  /** `key`: signed in with the API key `name`; `code`: with a one-time code (`name` is `dev`). */
  kind: 'key' | 'code';
  /** Id of the API key (or `dev` for a code) that signed in. */
  name: string;
  issuedAt: number;
  expiresAt: number;
  /** The signed cookie value. */
  token: string;
  /** For `key` sessions: the fingerprint of the key's value it was issued for (see `keyMatches`). */
  keyFingerprint?: string;
}

/** What a session is issued for: an API key (id and value) or a one-time code. */
export type SessionSubject = { kind: 'key'; id: string; key: string } | { kind: 'code' };

/** Clock difference between processes (or machines) tolerated on a cookie's issue time. */
const ISSUED_AT_SKEW_MS = 60_000;
/** A cookie longer than this is not ours: it is refused before any work. */
const MAX_COOKIE_LENGTH = 1024;

export interface DashboardSessionsOptions {
  ttlMs: number;
  /** The root secret, asked at each use: a reload that changes it ends every session. */
  rootSecret: RootSecret;
  now?: () => number;
}

interface Payload {
  v: 1;
  /** API key id, or null for a one-time code's session. */
  k: string | null;
  /** Fingerprint of the API key's value (HMAC under the session key), so a rotated key value ends its sessions. */
  f?: string;
  iat: number;
  exp: number;
}

const sign = (key: Buffer, payload: string) => createHmac('sha256', key).update(payload).digest();

export class DashboardSessions {
  private readonly now: () => number;
  private readonly key: () => Buffer | undefined;

  constructor(private readonly options: DashboardSessionsOptions) {
    this.now = options.now ?? Date.now;
    this.key = derivedKey(options.rootSecret, SESSION_LABEL);
  }

  /** A signed session for `subject`; throws when there is no root secret to sign with. */
  create(subject: SessionSubject): DashboardSession {
    const key = this.key();
    if (!key) throw new TidingsError(ErrorCode.Internal, 'no secret to sign dashboard sessions with');
    const issuedAt = this.now();
    const payload: Payload = { v: 1, k: subject.kind === 'key' ? subject.id : null, iat: issuedAt, exp: issuedAt + this.options.ttlMs };
    if (subject.kind === 'key') payload.f = fingerprint(key, subject.key);
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    const token = `${body}.${sign(key, body).toString('base64url')}`;
    return { kind: subject.kind, name: payload.k ?? 'dev', issuedAt, expiresAt: payload.exp, token, ...(payload.f ? { keyFingerprint: payload.f } : {}) };
  }

  /**
   * The session of a request's Cookie header, if its signature holds and it has not
   * expired (by its own expiry, or by `ttlMs` from its issue time, whichever comes first).
   * Whether its key is still an admin key is the caller's question (`keyMatches`).
   */
  fromCookie(header: string | undefined): DashboardSession | undefined {
    const token = cookieValue(header, DASHBOARD_COOKIE);
    if (!token || token.length > MAX_COOKIE_LENGTH) return undefined;
    const key = this.key();
    const dot = token.indexOf('.');
    if (!key || dot < 1) return undefined;
    const body = token.slice(0, dot);
    const mac = Buffer.from(token.slice(dot + 1), 'base64url');
    const expected = sign(key, body);
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return undefined;
    const p = parsePayload(body);
    if (!p) return undefined;
    const now = this.now();
    const expiresAt = Math.min(p.exp, p.iat + this.options.ttlMs);
    if (expiresAt <= now || p.iat > now + ISSUED_AT_SKEW_MS) return undefined;
    return { kind: p.k === null ? 'code' : 'key', name: p.k ?? 'dev', issuedAt: p.iat, expiresAt, token, ...(p.f ? { keyFingerprint: p.f } : {}) };
  }

  /** True when `session` was issued for an API key whose value is `keyValue` (a new value for the same id ends old sessions). */
  keyMatches(session: DashboardSession, keyValue: string): boolean {
    const key = this.key();
    if (!key || session.keyFingerprint === undefined) return false;
    const want = Buffer.from(fingerprint(key, keyValue));
    const got = Buffer.from(session.keyFingerprint);
    return want.length === got.length && timingSafeEqual(want, got);
  }

  cookieFor(session: DashboardSession, secure: boolean): string {
    const maxAge = Math.max(0, Math.floor((session.expiresAt - this.now()) / 1000));
    return `${DASHBOARD_COOKIE}=${session.token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure ? '; Secure' : ''}`;
  }

  static clearCookie(): string {
    return `${DASHBOARD_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
  }
}

/**
 * Signs and verifies the dashboard's connection tokens, with a key derived from the root
 * secret under a label of its own: a token from one process is good on every process of
 * the same configuration (the page may reach another worker than the one that signed it).
 */
export class DashboardTokens {
  private readonly key: () => Buffer | undefined;

  constructor(rootSecret: RootSecret) {
    this.key = derivedKey(rootSecret, TOKEN_LABEL);
  }

  private keyOrFail(): Buffer {
    const key = this.key();
    if (!key) throw new TidingsError(ErrorCode.Unauthorized, 'invalid dashboard token');
    return key;
  }

  async mint(session: DashboardSession, ttlSeconds: number): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ info: { name: `dashboard (${session.name})` }, roles: [DASHBOARD_ROLE] })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(`dashboard.${session.name}`)
      .setIssuer(TOKEN_ISSUER)
      .setIssuedAt(now)
      .setExpirationTime(now + ttlSeconds)
      .sign(this.keyOrFail());
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

  /** The same for a token already decoded (auth/token-peek.ts). */
  static issued(peeked: PeekedToken): boolean {
    return peeked.payload['iss'] === TOKEN_ISSUER;
  }

  async verify(token: string): Promise<ConnectionClaims> {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.keyOrFail(), { issuer: TOKEN_ISSUER, algorithms: ['HS256'] }));
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

/** The API key's value, as the cookie carries it: HMAC under the session key, never the value or a plain hash of it. */
function fingerprint(key: Buffer, apiKey: string): string {
  return createHmac('sha256', key).update('api-key\0').update(apiKey).digest().subarray(0, 16).toString('base64url');
}

/** The payload of a cookie whose signature held; undefined when it has not our shape. */
function parsePayload(body: string): Payload | undefined {
  let p: unknown;
  try {
    p = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof p !== 'object' || p === null) return undefined;
  const { v, k, f, iat, exp } = p as Record<string, unknown>;
  if (v !== 1 || !Number.isFinite(iat) || !Number.isFinite(exp)) return undefined;
  if (k === null && f === undefined) return { v, k, iat: iat as number, exp: exp as number };
  if (typeof k === 'string' && typeof f === 'string') return { v, k, f, iat: iat as number, exp: exp as number };
  return undefined;
}
