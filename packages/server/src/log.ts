/**
 * Structured logs (pino). Tokens and API keys never reach a log line: the code
 * never logs them, and `redact` blanks the places they could hide in case a
 * future line passes a request or headers along.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'token',
  '*.token',
  'key',
  '*.key',
  'apiKey',
  '*.apiKey',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers["sec-websocket-protocol"]',
  'headers.cookie',
  '*.headers.authorization',
  '*.headers["x-api-key"]',
  '*.headers["sec-websocket-protocol"]',
  '*.headers.cookie',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, base: { service: 'tidings' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}

/** The path of a URL without its query string, safe to log. */
export function safePath(url: string | undefined): string {
  if (!url) return '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}
