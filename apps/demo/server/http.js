/**
 * Small HTTP helpers of the demo backend: JSON bodies in and out, and the error type
 * the routes throw. No framework: the backend answers a dozen routes.
 */

/** A request the backend refuses; `status` and `code` go to the browser as `{error: {code, message}}`. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** Largest request body the demo accepts: comments and titles are short. */
export const MAX_BODY_BYTES = 16 * 1024;

/**
 * Reads a JSON object body. Rejects with 415 for another content type, 413 past
 * MAX_BODY_BYTES and 400 for anything that is not a JSON object.
 *
 * @param {import('node:http').IncomingMessage} req
 * @returns {Promise<Record<string, unknown>>}
 */
export async function readJson(req) {
  const type = String(req.headers['content-type'] ?? '');
  if (!/^application\/json\b/i.test(type)) throw new ApiError(415, 'unsupported_media_type', 'send Content-Type: application/json');
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) throw new ApiError(413, 'payload_too_large', `body over ${MAX_BODY_BYTES} bytes`);
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, 'payload_too_large', `body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  let value;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ApiError(400, 'bad_request', 'body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ApiError(400, 'bad_request', 'body must be a JSON object');
  return value;
}

/**
 * @param {import('node:http').ServerResponse} res
 * @param {number} status
 * @param {unknown} body
 */
export function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(text);
}

/**
 * @param {import('node:http').ServerResponse} res
 * @param {number} status
 * @param {string} code
 * @param {string} message
 */
export function sendError(res, status, code, message) {
  sendJson(res, status, { error: { code, message } });
}

/**
 * A string field of a body, trimmed, with its length checked; 400 when it is missing.
 *
 * @param {Record<string, unknown>} body
 * @param {string} field
 * @param {number} max
 * @param {number} [min=1]
 * @returns {string}
 */
export function requiredString(body, field, max, min = 1) {
  const value = body[field];
  if (typeof value !== 'string') throw new ApiError(400, 'bad_request', `${field}: expected a string`);
  const text = value.trim();
  if (text.length < min) throw new ApiError(400, 'bad_request', `${field}: must not be empty`);
  if (text.length > max) throw new ApiError(400, 'bad_request', `${field}: at most ${max} characters`);
  return text;
}

/**
 * Like `requiredString`, but undefined when the field is absent (and empty allowed).
 *
 * @param {Record<string, unknown>} body
 * @param {string} field
 * @param {number} max
 * @returns {string | undefined}
 */
export function optionalString(body, field, max) {
  return body[field] === undefined ? undefined : requiredString(body, field, max, 0);
}
