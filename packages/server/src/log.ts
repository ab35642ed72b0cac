/**
 * Structured logs (pino). Tokens and API keys never reach a log line: the code
 * never logs them, and `redact` blanks the places they could hide in case a
 * future line passes a request or headers along.
 *
 * Lines are JSON, or readable text for a terminal (`log-pretty.ts`); redaction
 * happens before either.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { createPrettyStream, type PrettyOptions } from './log-pretty.js';

export type { Logger };
export { chooseLogFormat, type LogFormat } from './log-pretty.js';

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

export interface LoggerOptions extends PrettyOptions {
  /** JSON lines (default), or one readable line per event. */
  format?: 'json' | 'pretty';
}

/** A logger at `level` writing to `destination` (default stdout), as JSON or, with `format: 'pretty'`, as text. */
export function createLogger(level: string, destination?: DestinationStream, opts: LoggerOptions = {}): Logger {
  const options = { level, base: { service: 'tidings' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  if (opts.format === 'pretty') return pino(options, createPrettyStream(destination ?? pino.destination(1), opts));
  return destination ? pino(options, destination) : pino(options);
}

/** The path of a URL without its query string, safe to log. */
export function safePath(url: string | undefined): string {
  if (!url) return '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}
