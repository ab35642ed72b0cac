/**
 * Named codes of protocol v1: close codes (how a connection ends), unsubscribe
 * codes (how a subscription ends) and error codes (why a command failed).
 *
 * Close-code ranges tell a client what to do without knowing every code:
 * - 4000–4499: reconnect (with backoff; honour a `delay` hint when given).
 * - 4500–4999: terminal; do not reconnect until the application intervenes.
 * - 1000–2999: standard WebSocket codes. 1000 (normal closure) does not
 *   reconnect; every other one (1001 going away, 1006 network failure, 1009
 *   frame too big, 1011 server error) does.
 *
 * @example
 * ```ts
 * import { CloseCode, closeCodeReconnects } from '@tidings/protocol';
 * ws.onclose = (ev) => { if (closeCodeReconnects(ev.code)) scheduleReconnect(); };
 * ```
 */

/** Close codes sent by the server, with the reason string it sends beside each. */
export const CloseCode = {
  /** Standard: the client closed normally. */
  Normal: 1000,
  /** Standard: an endpoint is going away (browser navigation). */
  GoingAway: 1001,
  /** Standard: a frame exceeded the server's `maxPayload`. */
  MessageTooBig: 1009,

  // 4000–4499: reconnect
  /** The server is shutting down; a `disconnect` push may carry a `delay` hint. */
  Shutdown: 4000,
  /** No pong (or any frame) arrived within `pongTimeout` after a ping. */
  Stale: 4001,
  /** The outgoing queue passed `maxQueueBytes`: the client reads too slowly. */
  Slow: 4002,
  /** The connection token expired and was not refreshed: get a new token, then reconnect. */
  TokenExpired: 4003,
  /** No `connect` command arrived within `connectTimeout`. */
  ConnectTimeout: 4004,
  /** The server asked the client to reconnect (server API or library call). */
  ForceReconnect: 4005,
  /** An unexpected server error; reconnect with backoff. */
  InternalError: 4006,
  /** A connection limit was reached (per user, per node, or new connections per IP); retry with backoff. */
  ConnectionLimit: 4007,
  /** Sustained abuse of a rate limit after repeated `rate_limited` errors; reconnect with backoff. */
  RateLimit: 4008,

  // 4500–4999: terminal
  /** The token is invalid: bad signature, wrong audience or issuer, malformed, missing claims. */
  InvalidToken: 4500,
  /** A protocol violation: malformed JSON, a frame without a valid id, a binary message, a command before `connect`. */
  BadRequest: 4501,
  /** The connection is not allowed (anonymous access disabled, forbidden by a hook). */
  Forbidden: 4502,
  /** The server disconnected the client for good (server API with `terminal: true`). */
  ForceDisconnect: 4503,
} as const;

export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/**
 * Close codes an SDK reports for what it detects itself; a server never sends them.
 * They sit in the reconnect range, so a client that does not know them retries.
 */
export const ClientCloseCode = {
  /** The URL answered HTTP 404: no Tidings endpoint there. `@tidings/client` tries its next transport and stops after a round in which every transport found none. */
  NoEndpoint: 4404,
} as const;

/**
 * The reason string the server sends with each of its close codes. Literal keys (the
 * `CloseCode` values) rather than computed ones: a bundler can then drop the table from a
 * bundle that does not use it (the browser client's); `satisfies` keeps one reason per code.
 */
export const CloseReason: Readonly<Record<number, string>> = {
  1000: 'normal',
  1001: 'going away',
  1009: 'message too big',
  4000: 'shutdown',
  4001: 'stale',
  4002: 'slow',
  4003: 'token expired',
  4004: 'connect timeout',
  4005: 'force reconnect',
  4006: 'internal error',
  4007: 'connection limit',
  4008: 'rate limit',
  4500: 'invalid token',
  4501: 'bad request',
  4502: 'forbidden',
  4503: 'force disconnect',
} satisfies Record<CloseCode, string>;

/** True when a client should reconnect after a close with this code. */
export function closeCodeReconnects(code: number): boolean {
  if (code >= 4500 && code <= 4999) return false;
  if (code >= 4000 && code <= 4499) return true;
  // Standard and transport-level codes (1006 abnormal closure, 1009, 1011, …): retry.
  return code !== CloseCode.Normal;
}

/** True when this close code is terminal: the client must not reconnect on its own. */
export function closeCodeIsTerminal(code: number): boolean {
  return code >= 4500 && code <= 4999;
}

/**
 * Unsubscribe codes, sent in an `unsubscribe` push when the server ends a subscription.
 * - 2000–2499: final, the client must not resubscribe.
 * - 2500–2999: the client should subscribe again (with recovery).
 */
export const UnsubscribeCode = {
  /** Removed by the server (server API, library call or hook). */
  Server: 2000,
  /** The subscription's expiry (set by a subscribe hook) came and the sub-refresh hook did not extend it. */
  Expired: 2001,
  /** The server lost the subscription's state; subscribe again with recovery. */
  Resubscribe: 2500,
} as const;

export type UnsubscribeCode = (typeof UnsubscribeCode)[keyof typeof UnsubscribeCode];

/** True when a client should subscribe again after an `unsubscribe` push with this code. */
export function unsubscribeCodeResubscribes(code: number): boolean {
  return code >= 2500 && code <= 2999;
}

/**
 * Error codes carried in `error.code` of a reply, and in HTTP API error bodies.
 * `temporary: true` beside a code means the same command may succeed if retried later.
 */
export const ErrorCode = {
  /** A field has the wrong type, is missing, or is out of range. */
  BadRequest: 'bad_request',
  /** The command `type` is not known to this server. */
  UnknownCommand: 'unknown_command',
  /** A command other than `connect` arrived before `connect` succeeded. */
  NotConnected: 'not_connected',
  /** `connect` was sent twice on one connection. */
  AlreadyConnected: 'already_connected',
  /** No token, or a token that failed verification. */
  Unauthorized: 'unauthorized',
  /** The token has expired: fetch a new one. */
  TokenExpired: 'token_expired',
  /** The user may not do this (subscribe, publish, read history) on this channel. */
  PermissionDenied: 'permission_denied',
  /** The channel name is not valid (length, charset, missing namespace). */
  InvalidChannel: 'invalid_channel',
  /** The channel's namespace is not configured on this server. */
  UnknownNamespace: 'unknown_namespace',
  /** The connection is already subscribed to this channel. */
  AlreadySubscribed: 'already_subscribed',
  /** The connection is not subscribed to this channel. */
  NotSubscribed: 'not_subscribed',
  /** The feature is not enabled here: history off, no RPC handler, presence off. */
  NotAvailable: 'not_available',
  /** Too many requests; retry later. */
  RateLimited: 'rate_limited',
  /** A configured limit was reached. */
  LimitExceeded: 'limit_exceeded',
  /** A payload is larger than allowed. */
  PayloadTooLarge: 'payload_too_large',
  /** The resource does not exist (server API). */
  NotFound: 'not_found',
  /** The request is not allowed for this API key's scopes (server API). */
  Forbidden: 'forbidden',
  /** The HTTP method is not supported on this path (server API). */
  MethodNotAllowed: 'method_not_allowed',
  /** The request body must be `application/json` (server API). */
  UnsupportedMediaType: 'unsupported_media_type',
  /** The server is shutting down or not ready (server API). */
  Unavailable: 'unavailable',
  /** An unexpected server-side error. */
  Internal: 'internal',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Codes whose errors are temporary unless a reply says otherwise. */
export const TEMPORARY_ERROR_CODES: ReadonlySet<string> = new Set<string>([
  ErrorCode.TokenExpired,
  ErrorCode.RateLimited,
  ErrorCode.LimitExceeded,
  ErrorCode.Unavailable,
  ErrorCode.Internal,
]);
