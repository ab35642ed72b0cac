/**
 * The OpenAPI document (api/openapi.ts): valid OpenAPI 3.1 by a real validator, the same
 * routes as the live ServerApi registers (and each of them answering), every route with a
 * summary and a scope, every error code with its status, and the request schemas it shows
 * being the ones the routes check with (a documented body accepted, an unknown field refused).
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '@tidings/protocol';
import { createLogger } from '../log.js';
import { NodeMetrics } from '../ops/metrics.js';
import { packr } from '../test-support/msgpack-client.js';
import { startTestNode, TEST_API_KEY, TEST_NAMESPACES, type TestNode } from '../test-support/test-node.js';
import { VERSION } from '../version.js';
import { statusOf } from '../wire/http-responses.js';
import { openApiDocument, openApiPath } from './openapi.js';
import type { Route } from './route.js';
import { ServerApi } from './server-api.js';

type Json = Record<string, any>;

let t: TestNode;
let routes: readonly Route[];
let served: Json;
beforeAll(async () => {
  // chat: read receipts on, so /channels/{channel}/receipts answers for chat:probe.
  t = await startTestNode({ audit: { flushInterval: 20 }, namespaces: { ...TEST_NAMESPACES, chat: { ...TEST_NAMESPACES!.chat, messaging: { readReceipts: true } } } as never });
  // A ServerApi over the node's parts, as the node builds its own: its routes are the node's.
  const node = t.node;
  const parts = { config: node.config, publisher: node, steering: node, inspector: node, ready: () => node.ready, durable: node };
  routes = new ServerApi(parts as never, createLogger('silent'), { metrics: new NodeMetrics({ defaultMetrics: false }), audit: { emit: () => {} } }).registeredRoutes;
  const res = await fetch(`${t.apiUrl}/openapi.json`);
  expect(res.status).toBe(200);
  served = (await res.json()) as Json;
});
afterAll(() => t.close());

const HTTP_METHODS = ['get', 'post', 'delete', 'put', 'patch'];
function operations(doc: Json): { method: string; path: string; op: Json }[] {
  return Object.entries(doc.paths as Json).flatMap(([path, item]) =>
    Object.entries(item as Json)
      .filter(([m]) => HTTP_METHODS.includes(m))
      .map(([method, op]) => ({ method: method.toUpperCase(), path, op: op as Json })),
  );
}
/** A concrete path for a route name: a channel with history for `:channel`, `x` for the rest. */
const concrete = (path: string) => path.replace('{channel}', 'chat:probe').replace(/\{[^}]+\}/g, 'x');
const routeOf = (method: string, name: string) => routes.find((r) => r.method === method && r.name === name)!;

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1 by @seriousme/openapi-schema-validator', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(served));
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(served.servers).toEqual([{ url: '/api/v1' }]);
  });

  it('served at /api/v1/openapi.json without a key, equals the one generated from the routes', async () => {
    expect(served).toEqual(JSON.parse(JSON.stringify(openApiDocument(routes, { prefix: '/api/v1', version: VERSION }))));
    expect(served.info.version).toBe(VERSION);
  });

  it('has every route the server registers and no other, and each of its operations answers', async () => {
    const registered = routes.map((r) => `${r.method} ${openApiPath(r.name)}`).sort();
    const documented = operations(served).map((o) => `${o.method} ${o.path}`).sort();
    expect(documented).toEqual(registered);
    expect(registered).toContain('GET /openapi.json');
    expect(registered).toContain('POST /publish');
    expect(registered.length).toBeGreaterThanOrEqual(25);
    // Each documented operation reaches a route: never "no such endpoint" or a wrong method.
    for (const { method, path } of operations(served)) {
      const res = await t.api(method, concrete(path), method === 'POST' ? { probeField: true } : undefined);
      expect(res.status, `${method} ${path}`).not.toBe(405);
      expect(String(res.body?.error?.message ?? ''), `${method} ${path}`).not.toMatch(/^no such endpoint/);
    }
  });

  it('gives every operation a summary and a scope, or security [] for health, ready and openapi.json', () => {
    const open: string[] = [];
    for (const { method, path, op } of operations(served)) {
      expect(op.summary, `${method} ${path}`).toMatch(/\S/);
      expect(op.operationId).toMatch(/^[a-z][A-Za-z0-9]+$/);
      if (op['x-tidings-scope'] === undefined) {
        expect(op.security).toEqual([]);
        open.push(`${method} ${path}`);
      } else {
        expect(['publish', 'read', 'admin']).toContain(op['x-tidings-scope']);
        expect(op.security).toEqual([{ bearer: [] }, { apiKey: [] }]);
        expect(op.description).toContain(`\`${op['x-tidings-scope']}\` scope`);
        expect(op.responses['401']).toBeDefined();
        expect(op.responses['403']).toBeDefined();
      }
      expect(routeOf(method, path.replace(/\{([^}]+)\}/g, ':$1')).scope).toBe(op['x-tidings-scope']);
    }
    expect(open.sort()).toEqual(['GET /health', 'GET /openapi.json', 'GET /ready']);
    expect(Object.keys(served.components.securitySchemes).sort()).toEqual(['apiKey', 'bearer']);
    expect(served.components.securitySchemes.apiKey).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-API-Key' });
  });

  it('names every error code with its HTTP status, and the envelope of errors', () => {
    const codes = served.components.schemas.ErrorCode;
    expect([...codes.enum].sort()).toEqual(Object.values(ErrorCode).sort());
    for (const code of Object.values(ErrorCode)) expect(codes['x-tidings-status'][code]).toBe(statusOf(code));
    expect(served.components.schemas.Error.required).toEqual(['code', 'message']);
    // A route's own codes under their statuses: DELETE of a notification answers not_found as 404.
    const del = served.paths['/users/{id}/notifications/{notification}'].delete;
    expect(JSON.stringify(del.responses['404'])).toContain('not_found');
    expect(JSON.stringify(served.paths['/publish'].post.responses['413'])).toContain('payload_too_large');
  });
});

/** Bodies the document accepts, one per route with a body, and the status of the answer (404: validated, no such connection; 409: validated, no webhook endpoint configured). */
const BODIES: [string, Json, number?][] = [
  ['/publish', { channel: 'chat:body', data: { text: 'hi' }, idempotencyKey: 'k-1' }],
  ['/broadcast', { channels: ['chat:b1', 'news:b2'], data: 1 }],
  ['/notify', { user: 'alice', type: 'mention', title: 'Hello', priority: 'high' }],
  ['/activity', { type: 'task', action: 'created', actor: 'alice', scope: 'project-1' }],
  ['/progress', { user: 'alice', jobId: 'j1', percent: 50, stage: 'half' }],
  ['/users/{id}/notifications/read', { all: true }],
  ['/users/{id}/disconnect', { terminal: false }],
  ['/channels/{channel}/unsubscribe', { user: 'alice' }],
  ['/connections/{client}/disconnect', { code: 4001, reason: 'bye' }, 404],
  ['/webhooks/dead/replay', { all: true }],
  ['/users/{id}/subscriptions', { channel: 'chat:sticky' }],
  ['/webhooks/test', {}, 409],
  // Message operations: chat has no messaging.edits or .annotations here (not_available); api/message-routes.test.ts has the successes.
  ['/messages/edit', { channel: 'chat:probe', ref: 1, data: 'x' }, 409],
  ['/messages/delete', { channel: 'chat:probe', ref: 1 }, 409],
  ['/messages/annotate', { channel: 'chat:probe', ref: 1, user: 'alice', name: '👍' }, 409],
  ['/read', { user: 'alice', channel: 'chat:probe', offset: 0 }],
];

/** The document's own check of a body's top level: required fields present, none it does not name, primitive types right. */
function documentAccepts(schema: Json, body: Json): boolean {
  const keys = Object.keys(body);
  if ((schema.required ?? []).some((k: string) => !keys.includes(k))) return false;
  if (schema.additionalProperties === false && keys.some((k) => !(k in schema.properties))) return false;
  return keys.every((k) => {
    const type = schema.properties[k]?.type;
    const actual = Array.isArray(body[k]) ? 'array' : Number.isInteger(body[k]) ? 'integer' : typeof body[k];
    return type === undefined || type === actual || (type === 'number' && actual === 'integer');
  });
}

describe('request bodies: the document shows the schemas the routes check with', () => {
  it('covers every route with a body', () => {
    const withBody = operations(served).filter((o) => o.op.requestBody).map((o) => o.path);
    // A new route with a body gets a line in BODIES: one request per body schema.
    expect(withBody.sort()).toEqual(BODIES.map(([p]) => p).sort());
  });

  it.each(BODIES)('%s: a body the document accepts is accepted, one with an unknown field is refused', async (path, body, status = 200) => {
    const schema = served.paths[path].post.requestBody.content['application/json'].schema as Json;
    expect(schema.additionalProperties).toBe(false);
    expect(documentAccepts(schema, body)).toBe(true);
    const ok = await t.api('POST', concrete(path), body);
    expect(ok.status, JSON.stringify(ok.body)).toBe(status);
    // The answer is what the document says `data` holds.
    const route = routeOf('POST', path.replace(/\{([^}]+)\}/g, ':$1'));
    if (status === 200) expect(route.response!.safeParse(ok.body.data).error).toBeUndefined();
    const extra = { ...body, unknownField: 1 };
    expect(documentAccepts(schema, extra)).toBe(false);
    expect(await t.api('POST', concrete(path), extra)).toEqual({ status: 400, body: { error: { code: 'bad_request', message: 'unknown field "unknownField"' } } });
  });
});

describe('MessagePack request bodies', () => {
  it('lists application/msgpack beside application/json for /publish and /broadcast only, with the same schema; a MessagePack body there is accepted, elsewhere refused', async () => {
    const withMsgpack = operations(served).filter((o) => o.op.requestBody?.content['application/msgpack'] !== undefined).map((o) => `${o.method} ${o.path}`);
    expect(withMsgpack.sort()).toEqual(['POST /broadcast', 'POST /publish']);
    for (const path of ['/publish', '/broadcast']) {
      const content = served.paths[path].post.requestBody.content as Json;
      expect(Object.keys(content).sort()).toEqual(['application/json', 'application/msgpack']);
      expect(content['application/msgpack'].schema).toEqual(content['application/json'].schema);
    }
    const post = (path: string, body: unknown) =>
      fetch(`${t.apiUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/msgpack' }, body: packr.pack(body) });
    expect((await post('/publish', { channel: 'chat:probe', data: new Uint8Array([1, 2, 3]) })).status).toBe(200);
    expect((await post('/broadcast', { channels: ['chat:probe'], data: { n: 1 } })).status).toBe(200);
    // A route the document gives a JSON body only does not read MessagePack.
    expect((await post('/notify', { user: 'u1', type: 'task.assigned', title: 'x' })).status).toBe(415);
  });
});

describe('query parameters: the document shows the schemas the routes check with', () => {
  it('refuses an integer under its documented minimum, naming the parameter, on every route', async () => {
    let checked = 0;
    for (const { method, path, op } of operations(served)) {
      for (const p of (op.parameters ?? []).filter((p: Json) => p.in === 'query' && p.schema.type === 'integer')) {
        expect(p.schema.minimum, `${path} ${p.name}`).toBeTypeOf('number');
        const below = await t.api(method, `${concrete(path)}?${p.name}=${p.schema.minimum - 1}`);
        expect(below, `${path} ${p.name}`).toEqual({ status: 400, body: { error: { code: 'bad_request', message: `${p.name}: expected integer ${p.schema.minimum}..${p.schema.maximum}` } } });
        const at = await t.api(method, `${concrete(path)}?${p.name}=${p.schema.minimum}${p.name === 'since' ? '&epoch=e' : ''}`);
        expect(at.status, `${path} ${p.name}=${p.schema.minimum}: ${JSON.stringify(at.body)}`).toBe(200);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(8);
  });

  it('refuses a boolean other than true or false', async () => {
    const unread = served.paths['/users/{id}/notifications'].get.parameters.find((p: Json) => p.name === 'unread');
    expect(unread).toMatchObject({ in: 'query', required: false, schema: { type: 'string', enum: ['true', 'false'] } });
    expect(await t.api('GET', '/users/x/notifications?unread=yes')).toEqual({ status: 400, body: { error: { code: 'bad_request', message: 'unread: expected true or false' } } });
    expect(await t.api('GET', '/channels/chat:probe/history?reverse=1')).toEqual({ status: 400, body: { error: { code: 'bad_request', message: 'reverse: expected true or false' } } });
  });
});

describe('answers', () => {
  it('every GET route answers what the document says its data holds', async () => {
    for (const route of routes.filter((r) => r.method === 'GET')) {
      const res = await t.api('GET', concrete(openApiPath(route.name)));
      expect(route.dataStatuses ?? [200], `${route.name}: ${JSON.stringify(res.body)}`).toContain(res.status);
      const parsed = route.response!.safeParse(route.bare ? res.body : res.body.data);
      expect(parsed.error, route.name).toBeUndefined();
    }
  });

  it('a notification of an application type (task.assigned) answers what the document says: its type is any identifier, not a closed list', async () => {
    const sent = await t.api('POST', '/notify', { user: 'openapi-typed', type: 'task.assigned', title: 'Task 7 is yours' });
    expect(sent.status).toBe(200);
    expect(routeOf('POST', '/notify').response!.safeParse(sent.body.data).error).toBeUndefined();
    const listed = await t.api('GET', '/users/openapi-typed/notifications');
    expect(listed.body.data.notifications.map((n: Json) => n.type)).toEqual(['task.assigned']);
    expect(routeOf('GET', '/users/:id/notifications').response!.safeParse(listed.body.data).error).toBeUndefined();
    const type = served.components?.schemas?.notification?.properties?.type
      ?? served.paths['/notify'].post.responses['200'].content['application/json'].schema.properties.data.properties.notifications.items.properties.type;
    expect(type).toMatchObject({ type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,64}$' });
    expect(type).not.toHaveProperty('enum');
  });
});
