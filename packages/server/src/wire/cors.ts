/**
 * CORS for the browser-facing HTTP endpoints (the SSE and long-polling transports, the server
 * API), answered only to origins that `allowedOrigins` lets through (the origin check runs first
 * and refuses every other origin with 403, without CORS headers):
 *
 * - an origin listed by name or by a wildcard-label pattern (`https://*.example.com`), or the
 *   server's own origin: the origin is echoed, with `Access-Control-Allow-Credentials: true`
 *   (cookies, such as a load balancer's sticky-session cookie, may travel) and `Vary: Origin`;
 * - an origin let in only by `"*"` (what `tidings dev` sets): `Access-Control-Allow-Origin: *`
 *   and never credentials, so no page on another origin can read a response made with the
 *   browser's cookies (the dashboard's session cookie included);
 * - a request without `Origin` (not a browser): no CORS headers.
 */
import type { ServerResponse } from 'node:http';
import { createOriginCheck } from '../auth/origin.js';

/** The CORS headers for a request whose origin was allowed. */
export type CorsPolicy = (origin: string | undefined, host: string | undefined) => Record<string, string>;

/** Request headers a preflight allows. */
const ALLOWED_HEADERS = 'authorization, content-type, last-event-id, x-request-id, x-api-key, idempotency-key';

export function createCorsPolicy(allowedOrigins: readonly string[]): CorsPolicy {
  const wildcard = allowedOrigins.includes('*');
  // Named entries and patterns; with none, only the server's own origin is named.
  const named = createOriginCheck(allowedOrigins.filter((o) => o !== '*'));
  return (origin, host): Record<string, string> => {
    if (origin === undefined) return {};
    if (named(origin, host)) return { 'access-control-allow-origin': origin, 'access-control-allow-credentials': 'true', vary: 'Origin' };
    return wildcard ? { 'access-control-allow-origin': '*' } : {};
  };
}

/** Answers a CORS preflight of an allowed origin with `cors` (from a `CorsPolicy`). */
export function answerPreflight(res: ServerResponse, cors: Record<string, string>, methods: string): void {
  res.writeHead(204, {
    ...cors,
    'access-control-allow-methods': methods,
    'access-control-allow-headers': ALLOWED_HEADERS,
    'access-control-max-age': '600',
  });
  res.end();
}
