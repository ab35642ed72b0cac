/**
 * Small HTTP helpers for the server API: JSON bodies with a size limit, the
 * response envelope (`{"data": ...}` or `{"error": {code, message}}`), the
 * mapping of error codes to HTTP statuses, and request ids.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, MAX_JSON_DEPTH, jsonDeeperThan, tooDeepMessage } from '@tidings/protocol';
import { TidingsError } from '../errors.js';

const STATUS_BY_CODE: Record<string, number> = {
  [ErrorCode.BadRequest]: 400,
  [ErrorCode.InvalidChannel]: 400,
  [ErrorCode.UnknownNamespace]: 400,
  [ErrorCode.Unauthorized]: 401,
  [ErrorCode.TokenExpired]: 401,
  [ErrorCode.Forbidden]: 403,
  [ErrorCode.PermissionDenied]: 403,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.MethodNotAllowed]: 405,
  [ErrorCode.NotAvailable]: 409,
  [ErrorCode.PayloadTooLarge]: 413,
  [ErrorCode.UnsupportedMediaType]: 415,
  [ErrorCode.RateLimited]: 429,
  [ErrorCode.LimitExceeded]: 429,
  [ErrorCode.Internal]: 500,
  [ErrorCode.Unavailable]: 503,
};

export function statusOf(code: string): number {
  return Object.hasOwn(STATUS_BY_CODE, code) ? STATUS_BY_CODE[code]! : 400;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json), 'cache-control': 'no-store' });
  res.end(json);
}

/** A non-JSON response, such as the Prometheus text exposition. */
export function sendText(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

export function sendData(res: ServerResponse, data: unknown, status = 200): void {
  sendJson(res, status, { data });
}

export function sendError(res: ServerResponse, code: string, message: string, status = statusOf(code)): void {
  sendJson(res, status, { error: { code, message } });
}

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
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    throw new TidingsError(ErrorCode.PayloadTooLarge, `body is larger than ${maxBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new TidingsError(ErrorCode.PayloadTooLarge, `body is larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
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
