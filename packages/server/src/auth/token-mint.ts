import { SignJWT, type JWTPayload } from 'jose';
import { isValidChannel, isValidUserId } from '@tidings/protocol';

/** Claims of a token minted by `mintToken`. */
export interface MintTokenClaims {
  /** User id (`sub`). */
  sub: string;
  /** Public profile others see. */
  info?: Record<string, unknown>;
  roles?: string[];
  /** Server-side subscriptions. */
  channels?: string[];
  /** Makes it a subscription token for this channel (it can then not be used to connect). */
  channel?: string;
  /** Lifetime in seconds; undefined or 0: no `exp`. */
  ttlSeconds?: number;
  audience?: string;
  issuer?: string;
}

/**
 * Signs an HS256 token with `secret`, for `tidings token`, development and tests.
 * Claims the verifier would reject throw here, so a bad token is caught where it is made
 * rather than as an `unauthorized` at connect time.
 *
 * @example
 * ```ts
 * const token = await mintToken(process.env.TIDINGS_SECRET!, {
 *   sub: 'alice',
 *   info: { name: 'Alice' },
 *   channels: ['news:all'],
 *   ttlSeconds: 3600,
 * });
 * ```
 */
export async function mintToken(secret: string, claims: MintTokenClaims): Promise<string> {
  if (secret.length === 0) throw new TypeError('mintToken: secret must not be empty');
  if (!isValidUserId(claims.sub)) throw new TypeError('mintToken: sub is not a valid user id');
  if (claims.channel !== undefined && !isValidChannel(claims.channel)) {
    throw new TypeError('mintToken: channel is not a valid channel name');
  }
  const invalid = claims.channels?.find((c) => !isValidChannel(c));
  if (invalid !== undefined) throw new TypeError(`mintToken: ${JSON.stringify(invalid)} is not a valid channel name`);
  const ttl = claims.ttlSeconds;
  if (ttl !== undefined && !(Number.isFinite(ttl) && ttl >= 0)) {
    throw new RangeError('mintToken: ttlSeconds must be a non-negative number');
  }

  const payload: JWTPayload = {};
  if (claims.info !== undefined) payload['info'] = claims.info;
  if (claims.roles !== undefined) payload['roles'] = claims.roles;
  if (claims.channels !== undefined) payload['channels'] = claims.channels;
  if (claims.channel !== undefined) payload['channel'] = claims.channel;

  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(claims.sub).setIssuedAt(now);
  // Rounded up so that a fractional ttl never yields a token that is already expired.
  if (ttl !== undefined && ttl > 0) jwt.setExpirationTime(now + Math.ceil(ttl));
  if (claims.audience !== undefined) jwt.setAudience(claims.audience);
  if (claims.issuer !== undefined) jwt.setIssuer(claims.issuer);
  return jwt.sign(new TextEncoder().encode(secret));
}
