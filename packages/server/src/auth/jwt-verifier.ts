import { createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyOptions,
  type KeyInput,
  type LocalJWKSet,
  type ProtectedHeaderParameters,
  type RemoteJWKSet,
  type RemoteJWKSetOptions,
} from 'jose';
import { ErrorCode, isValidChannel, isValidUserId } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import { boundedJwksFetch } from './jwks-fetch.js';
import { peekToken, type PeekedToken } from './token-peek.js';
import {
  SUPPORTED_ALGORITHMS,
  type ConnectionClaims,
  type JwtAlgorithm,
  type JwtOptions,
  type KeySourceOptions,
  type SubscriptionClaims,
  type TokenVerifier,
} from './token-verifier.js';

const HMAC_ALGORITHMS: readonly JwtAlgorithm[] = ['HS256', 'HS384', 'HS512'];
const PUBLIC_KEY_ALGORITHMS: readonly JwtAlgorithm[] = ['RS256', 'ES256'];

/** The keys of one trust domain: the top-level sources, or one `issuers` entry. */
interface KeySet {
  /** Names the set in configuration errors. */
  label: string;
  issuer?: string | string[];
  audience?: string | string[];
  secret?: Uint8Array;
  /** The secret imported once per HMAC algorithm: importing it for every token cost more than checking it. */
  secretKeys?: Map<string, Promise<webcrypto.CryptoKey>>;
  /** An SPKI key, with the one algorithm its type can verify. */
  publicKey?: { key: KeyObject; alg: JwtAlgorithm };
  localJwks?: LocalJWKSet;
  jwksUrl?: URL;
  /**
   * Created on first use. Each KeySet is one issuer, so this is the per-issuer cache:
   * two issuers never share a set, and one issuer's rotation never refetches another's.
   */
  remoteJwks?: RemoteJWKSet;
}

/**
 * Creates the `TokenVerifier` over `jose`. Configuration errors (unreadable
 * `jwksFile`, a PEM that is not an RSA or P-256 key, a bad `jwksUrl`) throw here,
 * at start, rather than on the first connection.
 *
 * @example
 * ```ts
 * const verifier = createJwtVerifier({
 *   secret: process.env.TIDINGS_SECRET,
 *   audience: 'tidings',
 *   clockToleranceMs: 5_000,
 *   jwksCacheMaxAgeMs: 600_000,
 *   jwksCooldownMs: 30_000,
 *   jwksTimeoutMs: 5_000,
 * });
 * const { user, roles } = await verifier.verifyConnection(token);
 * ```
 */
export function createJwtVerifier(options: JwtOptions): TokenVerifier {
  return new JwtVerifier(options);
}

export class JwtVerifier implements TokenVerifier {
  readonly #top: KeySet;
  readonly #issuers = new Map<string, KeySet>();
  readonly #allowed: ReadonlySet<string>;
  // Split by key kind so that jose itself refuses an HS* token on a public key and the
  // reverse, even if key selection below were ever wrong (algorithm confusion).
  readonly #secretAlgorithms: JwtAlgorithm[];
  readonly #publicAlgorithms: JwtAlgorithm[];
  readonly #clockTolerance: number;
  readonly #requireExp: boolean;
  readonly #remoteOptions: RemoteJWKSetOptions;

  constructor(options: JwtOptions) {
    const wanted = options.algorithms ?? SUPPORTED_ALGORITHMS;
    const allowed = SUPPORTED_ALGORITHMS.filter((alg) => wanted.includes(alg));
    this.#allowed = new Set(allowed);
    this.#secretAlgorithms = allowed.filter((alg) => HMAC_ALGORITHMS.includes(alg));
    this.#publicAlgorithms = allowed.filter((alg) => PUBLIC_KEY_ALGORITHMS.includes(alg));
    this.#clockTolerance = options.clockToleranceMs / 1000;
    this.#requireExp = options.requireExp === true;
    this.#remoteOptions = {
      cacheMaxAge: options.jwksCacheMaxAgeMs,
      cooldownDuration: options.jwksCooldownMs,
      // jose insists on an integer here.
      timeoutDuration: Math.max(0, Math.ceil(options.jwksTimeoutMs)),
      // The body is read up to MAX_JWKS_BYTES only (jose itself reads any size).
      [customFetch]: boundedJwksFetch(),
    };
    this.#top = buildKeySet('jwt', options, options.issuer, options.audience);
    for (const entry of options.issuers ?? []) {
      const label = `jwt issuer ${JSON.stringify(entry.issuer)}`;
      if (this.#issuers.has(entry.issuer)) throw new Error(`${label} is listed twice`);
      this.#issuers.set(entry.issuer, buildKeySet(label, entry, entry.issuer, entry.audience ?? options.audience));
    }
  }

  async verifyConnection(token: string, peeked?: PeekedToken): Promise<ConnectionClaims> {
    const payload = await this.#verify(token, peeked);
    // A subscription token is a narrower grant; accepting it here would let anyone
    // holding a channel grant open a full connection as that user.
    if (Object.hasOwn(payload, 'channel')) throw unauthorized('subscription token used to connect');
    const claims: ConnectionClaims = {
      user: userOf(payload),
      roles: stringList(payload, 'roles', (v) => typeof v === 'string'),
      channels: stringList(payload, 'channels', isValidChannel),
    };
    const info = infoOf(payload);
    if (info !== undefined) claims.info = info;
    if (payload.exp !== undefined) claims.expiresAt = payload.exp * 1000;
    return claims;
  }

  async verifySubscription(token: string): Promise<SubscriptionClaims> {
    const payload = await this.#verify(token);
    const channel = payload['channel'];
    if (channel === undefined) throw unauthorized('missing channel');
    if (!isValidChannel(channel)) throw unauthorized('invalid channel claim');
    const claims: SubscriptionClaims = { user: userOf(payload), channel };
    const info = infoOf(payload);
    if (info !== undefined) claims.info = info;
    if (payload.exp !== undefined) claims.expiresAt = payload.exp * 1000;
    return claims;
  }

  /** jose's remote sets hold no timers or sockets between fetches: nothing to release. */
  close(): void {}

  async #verify(token: string, peeked?: PeekedToken): Promise<JWTPayload> {
    try {
      return await this.#verifySignature(token, peeked);
    } catch (err) {
      throw toTidingsError(err);
    }
  }

  async #verifySignature(token: string, peeked = peekToken(token)): Promise<JWTPayload> {
    if (typeof token !== 'string' || !peeked) throw unauthorized('malformed token');
    const header = peeked.header as ProtectedHeaderParameters;
    // Only used to pick the key set; the chosen set's `issuer` check re-asserts it after verification.
    const unverifiedIss = peeked.payload['iss'];
    const alg = header.alg;
    // Checked before any key lookup so that `none` or an unexpected alg never reaches a key.
    if (typeof alg !== 'string' || !this.#allowed.has(alg)) throw unauthorized('algorithm not allowed');

    const set = (typeof unverifiedIss === 'string' && this.#issuers.get(unverifiedIss)) || this.#top;
    const checks: JWTVerifyOptions = { clockTolerance: this.#clockTolerance };
    if (this.#requireExp) checks.requiredClaims = ['exp'];
    if (set.issuer !== undefined) checks.issuer = set.issuer;
    if (set.audience !== undefined) checks.audience = set.audience;

    // The key follows the alg family: an HS* token is only ever checked against the
    // secret, so a token "signed" with the public key's PEM text finds no HMAC key.
    if (HMAC_ALGORITHMS.includes(alg as JwtAlgorithm)) {
      if (set.secret === undefined) throw unauthorized('no key for token');
      const result = await jwtVerify(token, await secretKey(set, set.secret, alg), { ...checks, algorithms: this.#secretAlgorithms });
      return result.payload;
    }
    return this.#verifyWithPublicKeys(token, header, set, { ...checks, algorithms: this.#publicAlgorithms });
  }

  async #verifyWithPublicKeys(
    token: string,
    header: ProtectedHeaderParameters,
    set: KeySet,
    checks: JWTVerifyOptions,
  ): Promise<JWTPayload> {
    let sawKey = false;
    for await (const key of this.#candidateKeys(set, header)) {
      sawKey = true;
      try {
        return (await jwtVerify(token, key, checks)).payload;
      } catch (err) {
        // Only a signature mismatch means "try the next key"; a claim failure is final.
        if (joseCode(err) !== 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') throw err;
      }
    }
    throw unauthorized(sawKey ? 'invalid signature' : 'no key for token');
  }

  /** Yields lazily so the remote JWKS is fetched only when the local keys did not verify. */
  async *#candidateKeys(set: KeySet, header: ProtectedHeaderParameters): AsyncGenerator<KeyInput> {
    if (set.publicKey !== undefined && set.publicKey.alg === header.alg) yield set.publicKey.key;
    if (set.localJwks !== undefined) yield* jwksKeys(set.localJwks, header, false);
    if (set.jwksUrl !== undefined) {
      set.remoteJwks ??= createRemoteJWKSet(set.jwksUrl, this.#remoteOptions);
      yield* jwksKeys(set.remoteJwks, header, true);
    }
  }
}

/** The keys of a JWK set matching the header; several when the token has no `kid` and keys overlap. */
async function* jwksKeys(
  jwks: LocalJWKSet | RemoteJWKSet,
  header: ProtectedHeaderParameters,
  remote: boolean,
): AsyncGenerator<KeyInput> {
  let key: KeyInput;
  try {
    key = await jwks(header);
  } catch (err) {
    if (joseCode(err) === 'ERR_JWKS_NO_MATCHING_KEY') return;
    // jose v6 leaves trying each candidate to the caller; tokens without `kid` during a
    // key rotation would otherwise be rejected.
    if (err instanceof errors.JWKSMultipleMatchingKeys) {
      yield* err;
      return;
    }
    // Network errors, timeouts, non-200 and malformed sets: the IdP's problem, not the client's,
    // so the client may retry later.
    if (remote) throw new TidingsError(ErrorCode.Unauthorized, 'key set unavailable', { temporary: true });
    throw err;
  }
  yield key;
}

/** The set's secret as a WebCrypto HMAC key for `alg` (HS256, HS384, HS512), imported on first use. */
function secretKey(set: KeySet, secret: Uint8Array, alg: string): Promise<webcrypto.CryptoKey> {
  set.secretKeys ??= new Map();
  let key = set.secretKeys.get(alg);
  if (!key) {
    key = webcrypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: `SHA-${alg.slice(2)}` }, false, ['verify']);
    set.secretKeys.set(alg, key);
  }
  return key;
}

function buildKeySet(
  label: string,
  sources: KeySourceOptions,
  issuer: string | string[] | undefined,
  audience: string | string[] | undefined,
): KeySet {
  const set: KeySet = { label };
  if (issuer !== undefined) set.issuer = issuer;
  if (audience !== undefined) set.audience = audience;
  if (sources.secret !== undefined) {
    // An empty HMAC key lets anyone mint tokens; refuse it instead of "working".
    if (sources.secret.length === 0) throw new Error(`${label}: secret must not be empty`);
    set.secret = new TextEncoder().encode(sources.secret);
  }
  if (sources.publicKey !== undefined) set.publicKey = importPublicKey(label, sources.publicKey);
  if (sources.jwksFile !== undefined) set.localJwks = readJwksFile(label, sources.jwksFile);
  if (sources.jwksUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(sources.jwksUrl);
    } catch {
      throw new Error(`${label}: jwksUrl is not a URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`${label}: jwksUrl must be http(s)`);
    set.jwksUrl = url;
  }
  return set;
}

/** An SPKI PEM does not say which alg it is for; the key type decides, and only one alg fits each. */
function importPublicKey(label: string, pem: string): { key: KeyObject; alg: JwtAlgorithm } {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new Error(`${label}: publicKey is not a PEM public key`);
  }
  if (key.asymmetricKeyType === 'rsa') return { key, alg: 'RS256' };
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return { key, alg: 'ES256' };
  throw new Error(`${label}: publicKey must be an RSA key (RS256) or a P-256 EC key (ES256)`);
}

function readJwksFile(label: string, path: string): LocalJWKSet {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${label}: cannot read jwksFile ${path}: ${(err as Error).message}`);
  }
  try {
    return createLocalJWKSet(json as JSONWebKeySet);
  } catch {
    throw new Error(`${label}: jwksFile ${path} is not a JWK set ({"keys": [...]})`);
  }
}

function userOf(payload: JWTPayload): string {
  if (payload.sub === undefined) throw unauthorized('missing sub');
  // The user id ends up inside channel names (`user:#<id>`), so its charset matters.
  if (!isValidUserId(payload.sub)) throw unauthorized('invalid sub');
  return payload.sub;
}

function infoOf(payload: JWTPayload): Record<string, unknown> | undefined {
  const info = payload['info'];
  if (info === undefined) return undefined;
  if (typeof info !== 'object' || info === null || Array.isArray(info)) throw unauthorized('invalid info claim');
  return info as Record<string, unknown>;
}

function stringList(payload: JWTPayload, claim: 'roles' | 'channels', valid: (v: unknown) => boolean): string[] {
  const value = payload[claim];
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every(valid)) throw unauthorized(`invalid ${claim} claim`);
  return value as string[];
}

function unauthorized(reason: string): TidingsError {
  return new TidingsError(ErrorCode.Unauthorized, reason);
}

function joseCode(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

/** Fixed reasons only: jose's messages can quote claim values, which come from the token. */
function toTidingsError(err: unknown): TidingsError {
  if (err instanceof TidingsError) return err;
  switch (joseCode(err)) {
    case 'ERR_JWT_EXPIRED':
      return new TidingsError(ErrorCode.TokenExpired, 'token expired');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return unauthorized(claimFailure(err as errors.JWTClaimValidationFailed));
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return unauthorized('algorithm not allowed');
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return unauthorized('invalid signature');
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return unauthorized('malformed token');
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return unauthorized('no key for token');
    default:
      return unauthorized('invalid token');
  }
}

function claimFailure(err: errors.JWTClaimValidationFailed): string {
  switch (err.claim) {
    case 'aud':
      return 'audience mismatch';
    case 'iss':
      return 'issuer mismatch';
    case 'nbf':
      return err.reason === 'check_failed' ? 'token not active yet' : 'invalid nbf claim';
    case 'exp':
      return err.reason === 'missing' ? 'missing exp claim' : 'invalid exp claim';
    case 'iat':
    case 'sub':
    case 'typ':
      return `invalid ${err.claim} claim`;
    default:
      return 'invalid claims';
  }
}
