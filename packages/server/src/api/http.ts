/**
 * Request helpers of the server API: JSON bodies (size, content type, nesting depth) and
 * request ids. Responses (envelope, statuses) are wire/http-responses.ts.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ErrorCode, MAX_JSON_DEPTH, jsonDeeperThan, tooDeepMessage } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import { readBody } from '../wire/http-body.js';

/** What a caller's `X-Request-Id` may look like to be adopted: safe in logs and headers as is. */
const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * The request's id: the caller's `X-Request-Id` when it is 1-128 characters of
 * A-Z a-z 0-9 . _ -, so a backend can follow its own ids into our logs; otherwise
 * (absent, repeated, or anything else) a fresh random one.
 */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/** Reads and parses a JSON body, enforcing content type and size. Throws TidingsError. */
export async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const type = req.headers['content-type'];
  // A request without a body (all fields optional) needs no content type.
  const bodyless = type === undefined && (req.headers['content-length'] === undefined || req.headers['content-length'] === '0') && req.headers['transfer-encoding'] === undefined;
  if (bodyless) return {};
  if (!/^application\/json\s*(;|$)/i.test(type ?? '')) {
    throw new TidingsError(ErrorCode.UnsupportedMediaType, 'Content-Type must be application/json');
  }
  const text = await readBody(req, maxBytes);
  if (text.trim() === '') return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new TidingsError(ErrorCode.BadRequest, 'body is not valid JSON');
  }
  checkDepth(body);
  return body;
}

/**
 * Refuses a body with a field nested deeper than MAX_JSON_DEPTH levels (`data: nested deeper
 * than 64 levels`), before any handler sees it: such a value would overflow the stack of
 * whatever encodes it later. A body that is not an object is held to the same limit as a whole.
 */
function checkDepth(body: unknown): void {
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    if (!jsonDeeperThan(body, MAX_JSON_DEPTH + 1)) return;
    for (const [key, value] of Object.entries(body)) {
      if (jsonDeeperThan(value, MAX_JSON_DEPTH)) throw new TidingsError(ErrorCode.BadRequest, tooDeepMessage(key));
    }
  }
  if (jsonDeeperThan(body, MAX_JSON_DEPTH)) throw new TidingsError(ErrorCode.BadRequest, tooDeepMessage('body'));
}
