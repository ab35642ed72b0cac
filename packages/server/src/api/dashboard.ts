/**
 * The admin dashboard at `dashboard.path` (default `/dashboard`): its built files
 * (apps/dashboard/dist) and the few endpoints it needs beside the server API:
 *
 * - `POST <path>/api/session` `{key}`: an admin API key in, a session cookie out.
 * - `GET <path>/api/sign-in?code=…`: a one-time code (printed by `tidings dev`) in,
 *   the cookie and a redirect to the dashboard out.
 * - `GET <path>/api/me`, `DELETE <path>/api/session`.
 * - `GET <path>/api/token`: a short connection token for the dashboard's own Tidings
 *   client, which reads live stats from the channel `tidings-admin:stats`.
 *
 * With the cookie and the header `X-Tidings-Dashboard: 1`, the page calls the server
 * API with the admin scope (ServerApi asks `apiKeyOf`).
 *
 * Sessions, connection tokens and one-time codes are signed with keys derived from one root
 * secret: `auth.secret`, else a random one kept in `<dataDir>/dashboard-secret` (`DashboardRoot`).
 * The sign-in throttle and the single use of codes are kept in the engine's shared limits, so
 * every node (every worker of `tidings serve --workers`) counts and checks the same.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ErrorCode } from '@tidings/protocol';
import { ApiKeyAuthenticator } from '../auth/api-keys.js';
import type { ClientIpResolver } from '../auth/client-ip.js';
import { DashboardSessions, DashboardTokens, type DashboardSession } from '../auth/dashboard-sessions.js';
import { DashboardSignIn, type SignInLimits } from '../auth/dashboard-sign-in.js';
import type { ApiKeyConfig, TidingsConfig } from '../config/schema.js';
import { TidingsError } from '../errors.js';
import { parseWith } from '../validate.js';
import { safePath, type Logger } from '../log.js';
import type { AuditSink } from '../ops/audit.js';
import { sendData, sendError } from '../wire/http-responses.js';
import { readJson } from './http.js';
import { serveStatic, type StaticApp } from './static-files.js';

/**
 * The built dashboard: `dashboard/` in the server package (copied there by `npm run build`,
 * shipped in the @tidings/server tarball), else apps/dashboard/dist of this checkout; both
 * relative to this module (packages/server/dist/api/, or src/api/ in tests). Joined as paths:
 * bundlers rewrite the `new URL(..., import.meta.url)` form as an asset.
 */
export function builtDashboardDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const packaged = join(here, '../../dashboard');
  return existsSync(join(packaged, 'index.html')) ? packaged : join(here, '../../../../apps/dashboard/dist');
}

const TOKEN_TTL_SECONDS = 300;
/** Where a node without `auth.secret` keeps the root of its dashboard keys, in `dataDir`. */
export const DASHBOARD_SECRET_FILE = 'dashboard-secret';
const signInBody = z.strictObject({ key: z.string().min(1).max(1024) });

export interface DashboardDeps {
  config: TidingsConfig;
  log: Logger;
  clientIp: ClientIpResolver;
  audit: AuditSink;
  /** Where the sign-in throttle and the codes' single use are kept: the engine's shared limits. */
  limits: SignInLimits;
}

export class Dashboard {
  readonly sessions: DashboardSessions;
  readonly tokens: DashboardTokens;
  readonly signIn: DashboardSignIn;
  private readonly root: DashboardRoot;
  private readonly prefix: string;
  private readonly files: StaticApp;

  constructor(private readonly deps: DashboardDeps) {
    const d = deps.config.dashboard;
    this.prefix = d.path;
    this.root = new DashboardRoot(deps.config);
    this.sessions = new DashboardSessions({ ttlMs: d.sessionTtl, rootSecret: this.root.current });
    this.signIn = new DashboardSignIn({ maxFailures: d.signInAttempts, rootSecret: this.root.current, limits: deps.limits });
    this.tokens = new DashboardTokens(this.root.current);
    // The page may only talk to its own origin; nothing may frame it.
    this.files = serveStatic(d.dir || builtDashboardDir(), d.path, {
      headers: { 'content-security-policy': "default-src 'self'; connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'", 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer' },
    });
  }

  /** The admin key a dashboard request stands for: a live session cookie plus the CSRF header. */
  apiKeyOf(req: IncomingMessage): ApiKeyConfig | undefined {
    if (req.headers['x-tidings-dashboard'] !== '1') return undefined;
    const session = this.liveSession(req);
    return session ? { id: `dashboard.${session.name}`, key: '', scopes: ['admin'] } : undefined;
  }

  /**
   * The request's session, while the key it signed in with is still an admin key of this
   * node, with the same value: removing a key, taking its admin scope or changing its value
   * (and reloading) signs its dashboards out. `code` sessions came from a one-time code.
   */
  private liveSession(req: IncomingMessage): DashboardSession | undefined {
    const session = this.sessions.fromCookie(req.headers.cookie);
    if (!session || session.kind === 'code') return session;
    const key = this.deps.config.apiKeys.find((k) => k.id === session.name);
    return key && ApiKeyAuthenticator.allows(key, 'admin') && this.sessions.keyMatches(session, key.key) ? session : undefined;
  }

  /** A sign-in link for `tidings dev`: `<path>/api/sign-in?code=…`, good once on any node of the deployment. */
  async signInPath(): Promise<string> {
    this.root.ensure();
    return `${this.prefix}/api/sign-in?code=${await this.signIn.issueCode()}`;
  }

  handle(req: IncomingMessage, res: ServerResponse): boolean {
    if (!this.deps.config.dashboard.enabled) return false;
    const path = safePath(req.url);
    if (path !== this.prefix && !path.startsWith(this.prefix + '/')) return false;
    const api = path.slice(this.prefix.length);
    if (!api.startsWith('/api/')) return this.files.handle(req, res);
    res.setHeader('cache-control', 'no-store');
    void this.answer(req, res, api.slice('/api'.length)).catch((err) => {
      if (res.headersSent) return;
      if (err instanceof TidingsError) sendError(res, err.code, err.message);
      else {
        this.deps.log.error({ err }, 'dashboard request failed');
        sendError(res, ErrorCode.Internal, 'internal error');
      }
    });
    return true;
  }

  private async answer(req: IncomingMessage, res: ServerResponse, route: string): Promise<void> {
    const method = req.method ?? 'GET';
    const ip = this.deps.clientIp(req);
    const secure = req.headers['x-forwarded-proto'] === 'https' || (req.socket as { encrypted?: boolean }).encrypted === true;
    if (route === '/session' && method === 'POST') {
      // The attempt is counted before the body is read: concurrent wrong keys cannot all be tried.
      const attempt = await this.signIn.attempt(ip);
      if (!attempt.granted) {
        res.setHeader('retry-after', String(attempt.retryAfterSeconds));
        throw new TidingsError(ErrorCode.RateLimited, `too many failed sign-ins: try again in ${attempt.retryAfterSeconds} s`);
      }
      const { key } = parseWith(signInBody, await readJson(req, 4096));
      const found = new ApiKeyAuthenticator(this.deps.config.apiKeys).authenticate(key);
      if (!found || !ApiKeyAuthenticator.allows(found, 'admin')) {
        this.deps.audit.emit({ type: 'auth_failure', ip, transport: 'dashboard', reason: found ? 'key lacks the admin scope' : 'unknown API key' });
        throw new TidingsError(ErrorCode.Unauthorized, 'that is not an admin API key of this server');
      }
      attempt.succeeded();
      this.root.ensure();
      return this.signedIn(res, this.sessions.create({ kind: 'key', id: found.id, key: found.key }), secure);
    }
    if (route === '/sign-in' && method === 'GET') {
      const code = new URL(req.url ?? '/', 'http://localhost').searchParams.get('code') ?? '';
      const attempt = await this.signIn.attempt(ip).catch(() => undefined);
      if (!attempt?.granted || !(await this.signIn.redeemCode(code))) {
        this.deps.audit.emit({ type: 'auth_failure', ip, transport: 'dashboard', reason: !attempt ? 'sign-in limits not answering' : attempt.granted ? 'bad sign-in code' : 'too many failed sign-ins' });
        res.writeHead(302, { location: `${this.prefix}/?signin=failed` });
        res.end();
        return;
      }
      attempt.succeeded();
      this.root.ensure();
      const session = this.sessions.create({ kind: 'code' });
      res.writeHead(302, { location: `${this.prefix}/`, 'set-cookie': this.sessions.cookieFor(session, secure) });
      res.end();
      return;
    }
    if (route === '/session' && method === 'DELETE') {
      // Clears this browser's cookie. The session is the cookie: nothing on the server to end
      // (docs/dashboard.md says what ends every session of a key).
      res.writeHead(204, { 'set-cookie': DashboardSessions.clearCookie() });
      res.end();
      return;
    }
    const session = this.liveSession(req);
    if (!session) throw new TidingsError(ErrorCode.Unauthorized, 'not signed in');
    if (route === '/me' && method === 'GET') return sendData(res, { name: session.name, expiresAt: session.expiresAt });
    if (route === '/token' && method === 'GET') return sendData(res, { token: await this.tokens.mint(session, TOKEN_TTL_SECONDS), expiresIn: TOKEN_TTL_SECONDS });
    throw new TidingsError(ErrorCode.NotFound, `no such dashboard endpoint: ${method} ${route}`);
  }

  private signedIn(res: ServerResponse, session: DashboardSession, secure: boolean): void {
    res.setHeader('set-cookie', this.sessions.cookieFor(session, secure));
    sendData(res, { name: session.name, expiresAt: session.expiresAt });
  }
}

/**
 * The root secret of the dashboard's keys: `auth.secret` (read at each use, so a reload
 * that rotates it ends every session), else a random secret in `<dataDir>/dashboard-secret`,
 * created once, at the first sign-in, by whichever process gets there first (written whole
 * to a file of its own, then linked into place: no process reads it half-written).
 */
class DashboardRoot {
  private fromFile: Buffer | undefined;

  constructor(private readonly config: TidingsConfig) {}

  readonly current = (): string | Buffer | undefined => this.config.auth.secret ?? this.file(false);

  /** Makes sure there is a root to sign with: creates the data-dir secret when there is no auth.secret. */
  ensure(): void {
    if (this.config.auth.secret === undefined) this.file(true);
  }

  private file(create: boolean): Buffer | undefined {
    if (this.fromFile) return this.fromFile;
    const path = join(this.config.dataDir, DASHBOARD_SECRET_FILE);
    try {
      if (!existsSync(path)) {
        if (!create) return undefined;
        mkdirSync(this.config.dataDir, { recursive: true });
        const own = `${path}.${process.pid}.${randomBytes(6).toString('hex')}`;
        writeFileSync(own, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
        try {
          linkSync(own, path);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        } finally {
          unlinkSync(own);
        }
      }
      const hex = readFileSync(path, 'utf8').trim();
      if (!/^[0-9a-f]{64,}$/.test(hex)) throw new Error(`${path} does not hold a hex secret of 32 bytes or more`);
      this.fromFile = Buffer.from(hex, 'hex');
      return this.fromFile;
    } catch (err) {
      throw new TidingsError(ErrorCode.Internal, `dashboard sessions need auth.secret or a secret in the data dir: ${(err as Error).message}`);
    }
  }
}
