/**
 * The role of turning a JWT into verified claims. The session knows only this
 * interface; `JwtVerifier` (jwt-verifier.ts) is the implementation over `jose`.
 */

/** Algorithms Tidings accepts; any other `alg` (including `none`) is rejected. */
import type { PeekedToken } from './token-peek.js';
export const SUPPORTED_ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'ES256'] as const;
export type JwtAlgorithm = (typeof SUPPORTED_ALGORITHMS)[number];

/** Where verification keys come from. Exactly the sources that are set are used. */
export interface KeySourceOptions {
  /** Shared secret for HS256/384/512. */
  secret?: string;
  /** PEM-encoded public key (SPKI) for RS256 or ES256. */
  publicKey?: string;
  /** Path to a JWKS file (`{"keys": [...]}`). Read once at start. */
  jwksFile?: string;
  /** URL of a JWKS; cached, refetched on an unknown `kid` at a bounded rate. */
  jwksUrl?: string;
}

/** A trusted issuer with its own keys (Auth0, Clerk, Supabase, ...). Chosen by the token's `iss`. */
export interface IssuerOptions extends KeySourceOptions {
  issuer: string;
  /** Audience required for this issuer's tokens; falls back to the top-level `audience`. */
  audience?: string | string[];
}

export interface JwtOptions extends KeySourceOptions {
  /** Per-issuer key sources. A token whose `iss` matches one uses that entry's keys. */
  issuers?: IssuerOptions[];
  /** Required `aud` (any of). Unset: `aud` is not checked. */
  audience?: string | string[];
  /** Required `iss` (any of) for tokens verified with the top-level keys. */
  issuer?: string | string[];
  /** Allowed algorithms; default all of `SUPPORTED_ALGORITHMS`. */
  algorithms?: JwtAlgorithm[];
  /** Tolerated clock skew for `exp` and `nbf`, ms. */
  clockToleranceMs: number;
  /** Refuse tokens without `exp` (a token that never expires is valid for as long as its key). Default false. */
  requireExp?: boolean;
  /** JWKS URL cache: keys are kept this long (ms) before a refetch. */
  jwksCacheMaxAgeMs: number;
  /** JWKS URL: at most one refetch per this many ms (unknown `kid` does not stampede the IdP). */
  jwksCooldownMs: number;
  /** JWKS URL fetch timeout, ms. */
  jwksTimeoutMs: number;
}

/** Verified claims of a connection token. */
export interface ConnectionClaims {
  /** `sub`. */
  user: string;
  /** `info`: public profile others see (name, avatar). */
  info?: Record<string, unknown>;
  /** `roles`. */
  roles: string[];
  /** `channels`: server-side subscriptions. */
  channels: string[];
  /** `exp` in ms since the epoch; undefined when the token has no `exp`. */
  expiresAt?: number;
}

/** Verified claims of a subscription token: grants `user` access to `channel`. */
export interface SubscriptionClaims {
  user: string;
  channel: string;
  /** `info` of the subscription token, if any (overrides nothing; for hooks). */
  info?: Record<string, unknown>;
  expiresAt?: number;
}

/**
 * Verifies tokens. Both methods reject with a `TidingsError`:
 * `token_expired` when `exp` has passed (beyond the clock tolerance), `unauthorized`
 * for anything else (bad signature, wrong alg/aud/iss, missing or ill-typed claims).
 * Error messages never contain the token.
 */
export interface TokenVerifier {
  /** `peeked`: the node's own unverified reading of the token (auth/token-peek.ts), when it made one; a verifier may ignore it. */
  verifyConnection(token: string, peeked?: PeekedToken): Promise<ConnectionClaims>;
  verifySubscription(token: string): Promise<SubscriptionClaims>;
  /** Releases timers or sockets (JWKS fetches). */
  close?(): void;
}
