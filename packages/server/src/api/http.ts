/**
 * Request helpers of the server API: JSON bodies (size, content type, nesting depth) and
 * request ids. Responses (envelope, statuses) are wire/http-responses.ts.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { BINARY_KEY, ErrorCode, MAX_JSON_DEPTH, jsonDeeperThan, tooDeepMessage } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import { readBody, readBodyBytes } from '../wire/http-body.js';
import { decodeMsgpackMessage, MalformedMessagePack } from '../wire/msgpack.js';

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

/** Whether a request's body is MessagePack: `Content-Type: application/msgpack` (or `application/x-msgpack`). */
export function isMsgpackBody(req: IncomingMessage): boolean {
  return /^application\/(x-)?msgpack\s*(;|$)/i.test(req.headers['content-type'] ?? '');
}

/**
 * Reads a MessagePack body (one value; empty counts as `{}`, as an empty JSON body does) in the
 * JSON form the server works in: `bin` values become `{"$binary": base64}`, as a MessagePack
 * client's frames do (wire/msgpack.ts). Same size and depth limits as JSON. Throws TidingsError.
 */
export async function readMsgpack(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const bytes = await readBodyBytes(req, maxBytes);
  if (bytes.length === 0) return {};
  let values: unknown[];
  try {
    values = decodeMsgpackMessage(bytes);
  } catch (err) {
    if (!(err instanceof MalformedMessagePack)) throw err;
    throw new TidingsError(ErrorCode.BadRequest, `body is not valid MessagePack: ${err.message}`);
  }
  if (values.length !== 1) throw new TidingsError(ErrorCode.BadRequest, `body is not valid MessagePack: expected one value, got ${values.length}`);
  checkDepth(values[0]);
  return values[0];
}

/** Base64 as binary data's JSON form has it: standard alphabet, padded (docs/protocol.md, "Encodings"). */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const isBase64 = (s: string): boolean => s.length % 4 === 0 && BASE64.test(s);

/**
 * Refuses binary data in its JSON form (an object whose one key is `$binary`, holding a string)
 * whose string is not base64: `data.file.$binary: not valid base64 (standard alphabet, padded)`.
 * Such an object always stands for bytes (a MessagePack subscriber gets them as `bin`), so
 * text that is not base64 would turn into bytes nobody sent. `value` is depth-checked already.
 */
export function checkBinaryForms(value: unknown, path = 'body'): void {
  if (typeof value !== 'object' || value === null) return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkBinaryForms(v, `${path}[${i}]`));
    return;
  }
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1 && keys[0] === BINARY_KEY && typeof o[BINARY_KEY] === 'string') {
    if (!isBase64(o[BINARY_KEY])) throw new TidingsError(ErrorCode.BadRequest, `${path}.${BINARY_KEY}: not valid base64 (standard alphabet, padded)`);
    return;
  }
  for (const key of keys) checkBinaryForms(o[key], path === 'body' ? key : `${path}.${key}`);
}
