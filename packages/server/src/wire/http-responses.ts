/**
 * HTTP answers, one way for every endpoint (the server API, the dashboard, the SSE and
 * long-polling transports, a WebSocket upgrade refused): the mapping of error codes to
 * HTTP statuses, the JSON envelope (`{"data": ...}` or `{"error": {code, message}}`), and
 * the shape of a refusal made before any connection exists.
 */
import type { ServerResponse } from 'node:http';
import { ErrorCode } from '@tidings/protocol';

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

/** The HTTP status of an error code (400 for a code the table does not name). */
export function statusOf(code: string): number {
  return Object.hasOwn(STATUS_BY_CODE, code) ? STATUS_BY_CODE[code]! : 400;
}

/**
 * Why a connection is refused before it exists (admission limits, a WebSocket upgrade):
 * the HTTP status and the error body.
 */
export interface Rejection {
  status: number;
  code: string;
  message: string;
  temporary?: boolean;
}

/** A JSON response, never cached; `headers` (CORS, for one) go out with it. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json), 'cache-control': 'no-store' });
  res.end(json);
}

/** A non-JSON response, such as the Prometheus text exposition. */
export function sendText(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

/** `{"data": data}`. */
export function sendData(res: ServerResponse, data: unknown, status = 200): void {
  sendJson(res, status, { data });
}

export interface ErrorResponseOptions {
  /** Headers to send with it (CORS, `X-Tidings-Error`). */
  headers?: Record<string, string>;
  /** Marks the error as temporary in the body (`"temporary": true`): the client may retry. */
  temporary?: boolean;
}

/** `{"error": {code, message, temporary?}}` with the code's status (`statusOf`). */
export function sendError(res: ServerResponse, code: string, message: string, options: ErrorResponseOptions = {}): void {
  sendJson(res, statusOf(code), { error: options.temporary ? { code, message, temporary: true } : { code, message } }, options.headers);
}
