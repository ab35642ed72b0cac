/**
 * The server API's OpenAPI 3.1 document, built from the routes themselves: each route's
 * name, scope, summary, and the zod schemas its handler parses its body and query with
 * (rendered by zod's own `z.toJSONSchema`), so the document cannot drift from the checks.
 * Served at `<api.prefix>/openapi.json` (core-routes.ts); never written by hand.
 */
import { z } from 'zod';
import { ErrorCode } from '@tidings/protocol';
import { statusOf } from '../wire/http-responses.js';
import type { Route } from './route.js';

export interface OpenApiOptions {
  /** The API prefix (`/api/v1`): the document's server URL, relative to where it is served from. */
  prefix: string;
  /** The server's version, the document's `info.version`. */
  version: string;
}

type Json = Record<string, unknown>;

/** Every error code the API answers, whatever route. */
const ALL_ERROR_CODES = Object.values(ErrorCode);

/** What each scope lets a key do (the descriptions say the same as docs/server-api.md). */
const SCOPES: Record<string, string> = {
  publish: 'publish, notify, report activity and progress',
  read: 'inspect channels, history, users, nodes and stats',
  admin: 'every scope, plus steering connections and the audit log',
};

/** `/channels/:channel` → `/channels/{channel}`. */
export function openApiPath(name: string): string {
  return name.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function pathParamNames(name: string): string[] {
  return [...name.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
}

/** A zod schema as a JSON Schema (2020-12, what OpenAPI 3.1 uses), without its `$schema`. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
  const rendered = z.toJSONSchema(schema, {
    io,
    unrepresentable: 'any',
    target: 'draft-2020-12',
    // Requests are closed (unknown fields are refused); answers may gain fields, so theirs are left open.
    override: (ctx) => {
      if (io === 'output' && ctx.jsonSchema.additionalProperties === false) delete ctx.jsonSchema.additionalProperties;
    },
  }) as Json;
  delete rendered.$schema;
  return rendered;
}

/** The error codes a route may answer: its own, and the ones every route of its kind can. */
export function errorCodesOf(route: Route): string[] {
  const codes = new Set<string>([ErrorCode.Internal]);
  if (route.scope !== undefined) for (const c of [ErrorCode.Unauthorized, ErrorCode.Forbidden]) codes.add(c);
  if (route.query) codes.add(ErrorCode.BadRequest);
  if (route.body) for (const c of [ErrorCode.BadRequest, ErrorCode.PayloadTooLarge, ErrorCode.UnsupportedMediaType]) codes.add(c);
  if (pathParamNames(route.name).length > 0) codes.add(ErrorCode.BadRequest);
  for (const c of route.errors ?? []) codes.add(c);
  return [...codes];
}

function errorResponses(codes: string[]): Json {
  const byStatus = new Map<number, string[]>();
  for (const code of codes) byStatus.set(statusOf(code), [...(byStatus.get(statusOf(code)) ?? []), code]);
  const responses: Json = {};
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    responses[String(status)] = {
      description: list.map((c) => `\`${c}\``).join(', '),
      content: {
        'application/json': {
          schema: {
            type: 'object',
            properties: { error: { allOf: [{ $ref: '#/components/schemas/Error' }, { properties: { code: { enum: list } } }] } },
            required: ['error'],
          },
        },
      },
    };
  }
  return responses;
}

function operation(route: Route): Json {
  const parameters: Json[] = pathParamNames(route.name).map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
  for (const [name, schema] of Object.entries(route.query?.shape ?? {})) {
    const rendered = jsonSchema(schema as z.ZodType, 'input');
    const { description, ...rest } = rendered;
    parameters.push({
      name,
      in: 'query',
      required: !(schema as z.ZodType).safeParse(undefined).success,
      ...(typeof description === 'string' ? { description } : {}),
      schema: rest,
    });
  }
  const scopeLine = route.scope === undefined ? 'No API key needed.' : `Needs an API key with the \`${route.scope}\` scope (or \`admin\`).`;
  const data = route.response ? jsonSchema(route.response, 'output') : {};
  const success = {
    description: route.summary,
    content: { 'application/json': { schema: route.bare ? data : { type: 'object', properties: { data }, required: ['data'] } } },
  };
  return {
    operationId: operationId(route),
    summary: route.summary,
    description: [route.description, scopeLine].filter((s) => s !== undefined).join('\n\n'),
    tags: [tagOf(route.name)],
    ...(route.scope === undefined ? { security: [] } : { security: [{ bearer: [] }, { apiKey: [] }], 'x-tidings-scope': route.scope }),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(route.body ? { requestBody: { required: true, content: bodyContent(route.body, route.msgpackBody === true) } } : {}),
    responses: {
      ...Object.fromEntries((route.dataStatuses ?? [200]).map((status) => [String(status), success])),
      ...errorResponses(errorCodesOf(route)),
    },
  };
}

/** A request body's media types: JSON, and MessagePack (same schema) where the route reads it too. */
function bodyContent(body: z.ZodType, msgpack: boolean): Record<string, { schema: unknown }> {
  const schema = jsonSchema(body, 'input');
  return msgpack ? { 'application/json': { schema }, 'application/msgpack': { schema } } : { 'application/json': { schema } };
}

/** `GET /channels/:channel/history` → `getChannelsChannelHistory`. */
function operationId(route: Route): string {
  const words = openApiPath(route.name).split(/[^A-Za-z0-9]+/).filter((w) => w !== '');
  return route.method.toLowerCase() + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}

/** The first segment of the route's path groups it (`/users/:id/status` → users). */
function tagOf(name: string): string {
  return name.split('/')[1] ?? 'api';
}

/** The OpenAPI 3.1 document of `routes`. */
export function openApiDocument(routes: Route[], options: OpenApiOptions): Json {
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    const path = openApiPath(route.name);
    paths[path] = { ...paths[path], [route.method.toLowerCase()]: operation(route) };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tidings server API',
      version: options.version,
      description:
        'Backends publish and inspect or steer connections through this API. Every success is `{"data": …}`, every error `{"error": {"code", "message", "temporary"?}}` with the HTTP status of its code. Each operation names the scope its API key needs in `x-tidings-scope`; an `admin` key holds every scope.',
    },
    servers: [{ url: options.prefix }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API key: `Authorization: Bearer <key>`.' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'An API key in `X-API-Key`.' },
      },
      schemas: {
        ErrorCode: {
          type: 'string',
          enum: ALL_ERROR_CODES,
          description: 'Every error code, with its HTTP status in `x-tidings-status`.',
          'x-tidings-status': Object.fromEntries(ALL_ERROR_CODES.map((c) => [c, statusOf(c)])),
        },
        Error: {
          type: 'object',
          properties: {
            code: { $ref: '#/components/schemas/ErrorCode' },
            message: { type: 'string' },
            temporary: { type: 'boolean', description: 'True when retrying may succeed (with the same idempotency key).' },
          },
          required: ['code', 'message'],
        },
      },
    },
    'x-tidings-scopes': SCOPES,
  };
}
