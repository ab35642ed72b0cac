/**
 * Builds the token verifier from the `auth` settings, reading key files.
 */
import { readFileSync } from 'node:fs';
import type { TidingsConfig } from '../config/schema.js';
import { ConfigError } from '../config/schema.js';
import { createJwtVerifier } from './jwt-verifier.js';
import type { JwtOptions, TokenVerifier } from './token-verifier.js';

/** The JWT verifier for `config.auth`; key-file and PEM problems are configuration errors. */
export function buildVerifier(config: TidingsConfig): TokenVerifier {
  try {
    return createJwtVerifier(jwtOptions(config));
  } catch (err) {
    throw new ConfigError([`auth: ${(err as Error).message}`]);
  }
}

/** True when the config names at least one way to verify tokens. */
export function hasTokenKey(config: TidingsConfig): boolean {
  const a = config.auth;
  return Boolean(a.secret || a.publicKey || a.publicKeyFile || a.jwksFile || a.jwksUrl || a.issuers.length > 0);
}

function pem(inline: string | undefined, file: string | undefined): string | undefined {
  return inline ?? (file ? readFileSync(file, 'utf8') : undefined);
}

/** Maps config `auth` to the verifier's options. */
function jwtOptions(config: TidingsConfig): JwtOptions {
  const a = config.auth;
  const publicKey = pem(a.publicKey, a.publicKeyFile);
  return {
    ...(a.secret ? { secret: a.secret } : {}),
    ...(publicKey ? { publicKey } : {}),
    ...(a.jwksFile ? { jwksFile: a.jwksFile } : {}),
    ...(a.jwksUrl ? { jwksUrl: a.jwksUrl } : {}),
    issuers: a.issuers.map((i) => {
      const pk = pem(i.publicKey, i.publicKeyFile);
      return {
        issuer: i.issuer,
        ...(i.audience ? { audience: i.audience } : {}),
        ...(i.secret ? { secret: i.secret } : {}),
        ...(pk ? { publicKey: pk } : {}),
        ...(i.jwksFile ? { jwksFile: i.jwksFile } : {}),
        ...(i.jwksUrl ? { jwksUrl: i.jwksUrl } : {}),
      };
    }),
    ...(a.audience ? { audience: a.audience } : {}),
    ...(a.issuer ? { issuer: a.issuer } : {}),
    ...(a.algorithms ? { algorithms: a.algorithms } : {}),
    clockToleranceMs: a.clockTolerance,
    requireExp: a.requireExp,
    jwksCacheMaxAgeMs: a.jwksCacheMaxAge,
    jwksCooldownMs: a.jwksCooldown,
    jwksTimeoutMs: a.jwksTimeout,
  };
}
