/**
 * Query strings of the server API as zod schemas: a route declares one object schema
 * (`Route.query`), its handler parses the query with it once (`parseQuery`), and the
 * OpenAPI document renders each property as a parameter. The pieces keep the messages
 * the API has always given (`limit: expected integer 1..1000`).
 */
import { z } from 'zod';
import { parseWith, timestamp } from '../validate.js';

/** An integer in min..max (the document says `integer` with its bounds). */
export function intQuery(min: number, max: number, description?: string) {
  const error = `expected integer ${min}..${max}`;
  const schema = z.coerce.number({ error }).int({ error }).min(min, { error }).max(max, { error }).optional();
  return description ? schema.describe(description) : schema;
}

/** A string of 1..max characters. */
export function stringQuery(max = 256, description?: string) {
  const error = `expected 1..${max} characters`;
  const schema = z.string().min(1, { error }).max(max, { error }).optional();
  return description ? schema.describe(description) : schema;
}

/** `true` or `false`. */
export function boolQuery(description?: string) {
  const schema = z
    .enum(['true', 'false'], { error: 'expected true or false' })
    .transform((v) => v === 'true')
    .optional();
  return description ? schema.describe(description) : schema;
}

/** A time: ms since the epoch, or an ISO 8601 date-time. */
export function timeQuery(description: string) {
  return z
    .string()
    .transform((raw) => (/^\d+$/.test(raw) ? Number(raw) : raw))
    .pipe(timestamp)
    .optional()
    .describe(description);
}

/** The first value of each parameter, parsed with `schema`; `bad_request` naming the parameter otherwise. */
export function parseQuery<S extends z.ZodObject>(schema: S, query: URLSearchParams): z.output<S> {
  const first: Record<string, string> = {};
  for (const [name, value] of query) if (!Object.hasOwn(first, name)) first[name] = value;
  return parseWith(schema, first) as z.output<S>;
}
