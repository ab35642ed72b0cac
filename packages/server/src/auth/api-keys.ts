/**
 * Server API keys: `Authorization: Bearer <key>` or `X-API-Key: <key>`, compared
 * in constant time. Only the key's id ever reaches logs and audit.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { ApiKeyConfig } from '../config/schema.js';

export type ApiScope = ApiKeyConfig['scopes'][number];

const digest = (s: string) => createHash('sha256').update(s).digest();

export class ApiKeyAuthenticator {
  private readonly keys: { config: ApiKeyConfig; digest: Buffer }[];

  constructor(keys: readonly ApiKeyConfig[]) {
    this.keys = keys.map((config) => ({ config, digest: digest(config.key) }));
  }

  /** The presented key, from either header; undefined when none. */
  static presented(req: IncomingMessage): string | undefined {
    const auth = req.headers.authorization;
    if (typeof auth === 'string' && /^bearer\s+/i.test(auth)) return auth.replace(/^bearer\s+/i, '').trim();
    const header = req.headers['x-api-key'];
    return typeof header === 'string' ? header.trim() : undefined;
  }

  /** The configured key matching `presented`. Compares against every key so timing reveals nothing. */
  authenticate(presented: string | undefined): ApiKeyConfig | undefined {
    if (!presented) return undefined;
    const d = digest(presented);
    let found: ApiKeyConfig | undefined;
    for (const k of this.keys) if (timingSafeEqual(d, k.digest) && !found) found = k.config;
    return found;
  }

  /** `admin` holds every scope. */
  static allows(key: ApiKeyConfig, scope: ApiScope): boolean {
    return key.scopes.includes('admin') || key.scopes.includes(scope);
  }
}
