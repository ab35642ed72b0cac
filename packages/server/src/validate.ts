/**
 * Validation shared by the server API, the library API and client commands: zod
 * schemas in, TidingsError `bad_request` out, with the field named in the message
 * (`notify.title: longer than 200 characters`).
 */
import { z } from 'zod';
import { ErrorCode } from '@tidings/protocol';
import { TidingsError } from './errors.js';

/** Parses `value` with `schema`; throws `bad_request` naming the first bad field. */
export function parseWith<T>(schema: z.ZodType<T>, value: unknown, prefix = ''): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const path = [prefix, ...issue.path.map(String)].filter((p) => p !== '').join('.');
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') message = `unknown field ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  else if (issue.code === 'invalid_type' && /received undefined$/.test(issue.message)) message = 'required';
  throw new TidingsError(ErrorCode.BadRequest, path ? `${path}: ${message}` : message);
}

/** Throws `bad_request` for a page size outside min..max (undefined: the default applies). */
export function checkLimit(limit: number | undefined, min: number, max: number): void {
  if (limit !== undefined && (!Number.isInteger(limit) || limit < min || limit > max)) throw new TidingsError(ErrorCode.BadRequest, `limit: expected integer ${min}..${max}`);
}

/** Throws `payload_too_large` when the JSON of `value` is larger than `max` bytes. */
export function checkJsonSize(field: string, value: unknown, max: number): void {
  if (value === undefined) return;
  const bytes = Buffer.byteLength(JSON.stringify(value) ?? '');
  if (bytes > max) throw new TidingsError(ErrorCode.PayloadTooLarge, `${field}: ${bytes} bytes of JSON, more than ${max}`);
}

/** A user id as the durable features accept it. */
export const userId = z.string().min(1).max(256);

/** A timestamp: ms since the epoch, or an ISO 8601 date-time. */
export const timestamp = z.union([
  z.number().int().nonnegative(),
  z.iso.datetime({ offset: true }).transform((s) => Date.parse(s)),
]);
