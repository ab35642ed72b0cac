import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode, ErrorCode, MAX_JSON_DEPTH } from '@tidings/protocol';
import { prepareDevInput } from '../dev-defaults.js';
import { createLogger, type Logger } from '../log.js';
import type { Tidings } from '../node.js';
import type { AuditEvent } from '../ops/audit.js';
import { NodeMetrics } from '../ops/metrics.js';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, TEST_API_KEY, type TestNode } from '../test-support/test-node.js';
import { sendError } from '../wire/http-responses.js';
import { ServerApi } from './server-api.js';

let t: TestNode;
beforeAll(async () => {
  t = await startTestNode();
});
afterAll(() => t.close());

const enc = encodeURIComponent;

describe('API keys and errors', () => {
  it('needs a key, accepts Bearer and X-API-Key, and checks scopes', async () => {
    expect(await t.api('GET', '/stats', undefined, { authorization: '' })).toEqual({
      status: 401,
      body: { error: { code: 'unauthorized', message: 'a valid API key is required (Authorization: Bearer or X-API-Key)' } },
    });
    expect((await t.api('GET', '/stats', undefined, { authorization: 'Bearer nope-nope-nope-nope' })).status).toBe(401);
    expect((await t.api('GET', '/stats', undefined, { authorization: '', 'x-api-key': TEST_API_KEY + '-read' })).status).toBe(200);
    const denied = await t.api('POST', '/publish', { channel: 'live:a', data: 1 }, { authorization: `Bearer ${TEST_API_KEY}-read` });
    expect(denied).toEqual({ status: 403, body: { error: { code: 'forbidden', message: 'API key "reader" lacks the "publish" scope' } } });
    expect((await t.api('POST', '/publish', { channel: 'live:a', data: 1 }, { authorization: `Bearer ${TEST_API_KEY}-pub` })).status).toBe(200);
    expect((await t.api('GET', '/stats', undefined, { authorization: `Bearer ${TEST_API_KEY}-pub` })).status).toBe(403);
  });

  it('answers unknown paths with 404 and wrong methods with 405', async () => {
    expect(await t.api('GET', '/nothing-here')).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(await t.api('GET', '/publish')).toMatchObject({ status: 405, body: { error: { code: 'method_not_allowed' } } });
  });

  it('rejects wrong content types, malformed JSON, bad fields and oversized bodies', async () => {
    expect(await t.api('POST', '/publish', 'channel=x', { 'content-type': 'application/x-www-form-urlencoded' })).toMatchObject({
      status: 415,
      body: { error: { code: 'unsupported_media_type' } },
    });
    expect(await t.api('POST', '/publish', '{"channel":')).toMatchObject({ status: 400, body: { error: { code: 'bad_request', message: 'body is not valid JSON' } } });
    expect(await t.api('POST', '/publish', { channel: 5, data: 1 })).toMatchObject({ status: 400, body: { error: { message: expect.stringMatching(/^channel: /) } } });
    expect(await t.api('POST', '/publish', { channel: 'live:a' })).toMatchObject({ status: 400, body: { error: { message: 'data: required' } } });
    expect(await t.api('POST', '/publish', { channel: 'live:a', data: 1, extra: true })).toMatchObject({ status: 400, body: { error: { message: 'unknown field "extra"' } } });
    expect(await t.api('POST', '/publish', { channel: 'bad channel', data: 1 })).toMatchObject({ status: 400, body: { error: { code: 'invalid_channel' } } });
    expect(await t.api('POST', '/publish', { channel: 'nope:a', data: 1 })).toMatchObject({ status: 400, body: { error: { code: 'unknown_namespace' } } });
    const small = await startTestNode({ api: { maxBodySize: 1024 } });
    try {
      expect(await small.api('POST', '/publish', { channel: 'live:a', data: 'x'.repeat(5000) })).toMatchObject({ status: 413, body: { error: { code: 'payload_too_large' } } });
      expect((await small.api('GET', '/health')).status).toBe(200);
    } finally {
      await small.close();
    }
  });
});

describe('CORS', () => {
  const APP = 'https://app.example.com';
  const EVIL = 'https://evil.example.net';
  const cors = (res: Response) => ({
    origin: res.headers.get('access-control-allow-origin'),
    credentials: res.headers.get('access-control-allow-credentials'),
    vary: res.headers.get('vary'),
  });
  const preflight = (url: string, origin: string) =>
    fetch(url, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
  const simple = (n: TestNode, origin?: string) =>
    fetch(`${n.apiUrl}/health`, { headers: { authorization: `Bearer ${TEST_API_KEY}`, ...(origin ? { origin } : {}) } });
  const httpOpen = (n: TestNode) => `http://${new URL(n.wsUrl).host}/connection/open`;

  it('serve config (allowedOrigins names the app): the app gets its origin echoed with credentials; another origin gets 403 and no CORS headers', async () => {
    const n = await startTestNode({ allowedOrigins: [APP] });
    try {
      for (const url of [`${n.apiUrl}/publish`, httpOpen(n)]) {
        const ok = await preflight(url, APP);
        expect(ok.status, url).toBe(204);
        expect(cors(ok), url).toEqual({ origin: APP, credentials: 'true', vary: 'Origin' });
        expect(ok.headers.get('access-control-allow-headers'), url).toContain('authorization');
        const refused = await preflight(url, EVIL);
        expect(refused.status, url).toBe(403);
        expect(cors(refused), url).toEqual({ origin: null, credentials: null, vary: null });
      }
      const ok = await simple(n, APP);
      expect(ok.status).toBe(200);
      expect(cors(ok)).toEqual({ origin: APP, credentials: 'true', vary: 'Origin' });
      const refused = await simple(n, EVIL);
      expect(refused.status).toBe(403);
      expect(await refused.json()).toEqual({ error: { code: 'forbidden', message: 'origin not allowed' } });
      expect(cors(refused)).toEqual({ origin: null, credentials: null, vary: null });
      // A backend (no Origin) gets no CORS headers at all.
      const backend = await simple(n);
      expect(backend.status).toBe(200);
      expect(cors(backend)).toEqual({ origin: null, credentials: null, vary: null });
    } finally {
      await n.close();
    }
  });

  it('dev config (allowedOrigins "*"): any origin may call, with "*" and never credentials; the server\'s own origin keeps them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tidings-cors-'));
    const { input } = await prepareDevInput(dir);
    expect(input.allowedOrigins).toEqual(['*']);
    const n = await startTestNode({ allowedOrigins: input.allowedOrigins });
    try {
      for (const url of [`${n.apiUrl}/publish`, httpOpen(n)]) {
        for (const origin of [APP, EVIL]) {
          const res = await preflight(url, origin);
          expect(res.status, url).toBe(204);
          expect(cors(res), `${url} ${origin}`).toEqual({ origin: '*', credentials: null, vary: null });
          expect(res.headers.get('access-control-allow-methods'), url).toContain('POST');
        }
      }
      const any = await simple(n, EVIL);
      expect(any.status).toBe(200);
      expect(cors(any)).toEqual({ origin: '*', credentials: null, vary: null });
      const own = `http://${new URL(n.apiUrl).host}`;
      expect(cors(await simple(n, own))).toEqual({ origin: own, credentials: 'true', vary: 'Origin' });
      const opened = await fetch(httpOpen(n), { method: 'POST', headers: { origin: EVIL, 'content-type': 'application/json' }, body: JSON.stringify({ transport: 'polling', token: await n.token('alice') }) });
      expect(opened.status).toBe(200);
      expect(cors(opened)).toEqual({ origin: '*', credentials: null, vary: null });
    } finally {
      await n.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('JSON depth limit of request bodies', () => {
  const nestedText = (levels: number): string => '['.repeat(levels) + '0' + ']'.repeat(levels);

  it('refuses a 6,000-level publish with 400 before it is stored; the channel and its history keep working', async () => {
    const { client } = await TestClient.connect(t.wsUrl, await t.token('alice'));
    await client.ok('subscribe', { channel: 'news:bomb' });
    const first = await t.api('POST', '/publish', { channel: 'news:bomb', data: { n: 1 } });
    expect(first.status).toBe(200);
    const bomb = `{"channel":"news:bomb","data":${nestedText(6000)}}`;
    expect(bomb.length).toBeGreaterThan(12_000);
    expect(await t.api('POST', '/publish', bomb)).toEqual({
      status: 400,
      body: { error: { code: 'bad_request', message: `data: nested deeper than ${MAX_JSON_DEPTH} levels` } },
    });
    expect(await t.api('POST', '/broadcast', `{"channels":["news:bomb"],"data":${nestedText(6000)}}`)).toMatchObject({
      status: 400,
      body: { error: { code: 'bad_request', message: `data: nested deeper than ${MAX_JSON_DEPTH} levels` } },
    });
    // A body that is itself too deep is named as the body.
    expect(await t.api('POST', '/publish', nestedText(100_000))).toMatchObject({ status: 400, body: { error: { message: `body: nested deeper than ${MAX_JSON_DEPTH} levels` } } });
    // Exactly MAX_JSON_DEPTH levels of data is fine.
    const atLimit = await t.api('POST', '/publish', `{"channel":"news:bomb","data":${nestedText(MAX_JSON_DEPTH)}}`);
    expect(atLimit).toMatchObject({ status: 200, body: { data: { offset: 2 } } });
    const history = await t.api('GET', `/channels/${enc('news:bomb')}/history`);
    expect(history.status).toBe(200);
    expect(history.body.data.offset).toBe(2);
    expect(history.body.data.publications.map((p: { offset: number }) => p.offset)).toEqual([1, 2]);
    expect(history.body.data.publications[0].data).toEqual({ n: 1 });
    expect(JSON.stringify(history.body.data.publications[1].data)).toBe(nestedText(MAX_JSON_DEPTH));
    // The subscriber got the two accepted publications and can still read history itself.
    await client.waitForPush((p) => p.type === 'publication' && p.offset === 2);
    expect(client.publications('news:bomb').map((p) => p.offset)).toEqual([1, 2]);
    expect(await client.ok('history', { channel: 'news:bomb' })).toMatchObject({ offset: 2 });
    client.close();
  });
});

describe('publishing', () => {
  it('publishes with offsets, deduplicates by idempotency key', async () => {
    const { client } = await TestClient.connect(t.wsUrl, await t.token('alice'));
    await client.ok('subscribe', { channel: 'news:api' });
    const first = await t.api('POST', '/publish', { channel: 'news:api', data: { n: 1 }, idempotencyKey: 'order-1' });
    expect(first).toEqual({ status: 200, body: { data: { offset: 1, epoch: expect.any(String) } } });
    const before = (await t.node.stats()).publicationsInTotal;
    const again = await t.api('POST', '/publish', { channel: 'news:api', data: { n: 1 }, idempotencyKey: 'order-1' });
    expect(again.body.data).toEqual({ ...first.body.data, deduplicated: true });
    expect((await t.node.stats()).publicationsInTotal).toBe(before);
    await t.api('POST', '/publish', { channel: 'news:api', data: { n: 2 } });
    await client.waitForPush((p) => p.type === 'publication' && p.offset === 2);
    expect(client.publications('news:api').map((p) => p.data)).toEqual([{ n: 1 }, { n: 2 }]);
    client.close();
  });

  it('broadcasts one payload to many channels with a result per channel', async () => {
    const { client } = await TestClient.connect(t.wsUrl, await t.token('alice'));
    await client.ok('subscribe', { channel: 'live:b1' });
    await client.ok('subscribe', { channel: 'news:b2' });
    const res = await t.api('POST', '/broadcast', { channels: ['live:b1', 'news:b2', 'nope:x'], data: { event: 'system:announcement' } });
    expect(res.status).toBe(200);
    expect(res.body.data.results).toEqual([
      { channel: 'live:b1' },
      { channel: 'news:b2', offset: 1, epoch: expect.any(String) },
      { channel: 'nope:x', error: { code: 'unknown_namespace', message: 'namespace "nope" is not configured' } },
    ]);
    await client.waitForPush((p) => p.type === 'publication' && p.channel === 'news:b2');
    expect(client.publications().map((p) => p.channel).sort()).toEqual(['live:b1', 'news:b2']);
    expect((await t.api('POST', '/broadcast', { channels: [], data: 1 })).status).toBe(400);
    client.close();
  });
});

describe('inspecting', () => {
  it('lists channels with subscriber counts, prefix filter and pagination', async () => {
    const clients = [];
    for (const user of ['u1', 'u2']) {
      const { client } = await TestClient.connect(t.wsUrl, await t.token(user));
      for (const ch of ['live:list-a', 'live:list-b', 'live:list-c']) await client.ok('subscribe', { channel: ch });
      clients.push(client);
    }
    const page1 = await t.api('GET', '/channels?prefix=live:list-&limit=2');
    expect(page1.body.data).toEqual({
      channels: [
        { channel: 'live:list-a', subscribers: 2 },
        { channel: 'live:list-b', subscribers: 2 },
      ],
      nextCursor: 'live:list-b',
    });
    const page2 = await t.api('GET', `/channels?prefix=live:list-&limit=2&cursor=${enc(page1.body.data.nextCursor)}`);
    expect(page2.body.data).toEqual({ channels: [{ channel: 'live:list-c', subscribers: 2 }] });
    expect((await t.api('GET', '/channels?limit=0')).status).toBe(400);
    clients.forEach((c) => c.close());
  });

  it('shows a channel with presence in seed field names', async () => {
    const { client: a } = await TestClient.connect(t.wsUrl, await t.token('alice', { info: { name: 'Alice' } }));
    const { client: a2 } = await TestClient.connect(t.wsUrl, await t.token('alice', { info: { name: 'Alice' } }));
    const { client: b } = await TestClient.connect(t.wsUrl, await t.token('bob'));
    for (const c of [a, a2, b]) await c.ok('subscribe', { channel: 'chat:task-123' });
    const res = await t.api('GET', `/channels/${enc('chat:task-123')}`);
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({
      channel: 'chat:task-123',
      subscribers: 3,
      totalViewing: 2,
      typingUsers: [],
      viewingUsers: [
        { userId: 'alice', info: { name: 'Alice' }, status: 'online', lastSeen: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), clients: 2 },
        { userId: 'bob', status: 'online', lastSeen: expect.any(String), clients: 1 },
      ],
    });
    expect(Object.keys(res.body.data.presence.clients)).toHaveLength(3);
    expect(res.body.data.presence.users.map((u: { user: string }) => u.user)).toEqual(['alice', 'bob']);
    expect((await t.api('GET', `/channels/${enc('live:nobody')}`)).body.data).toEqual({ channel: 'live:nobody', subscribers: 0 });
    [a, a2, b].forEach((c) => c.close());
  });

  it('reads history with limit, since/epoch and reverse', async () => {
    let epoch = '';
    for (let i = 1; i <= 5; i++) epoch = (await t.api('POST', '/publish', { channel: 'news:hist', data: i })).body.data.epoch;
    const path = `/channels/${enc('news:hist')}/history`;
    const all = await t.api('GET', path);
    expect(all.body.data).toMatchObject({ epoch, offset: 5 });
    expect(all.body.data.publications.map((p: { data: number }) => p.data)).toEqual([1, 2, 3, 4, 5]);
    const since = await t.api('GET', `${path}?since=3&epoch=${epoch}`);
    expect(since.body.data.publications.map((p: { offset: number }) => p.offset)).toEqual([4, 5]);
    const rev = await t.api('GET', `${path}?limit=2&reverse=true`);
    expect(rev.body.data.publications.map((p: { offset: number }) => p.offset)).toEqual([5, 4]);
    expect((await t.api('GET', `${path}?since=3`)).status).toBe(400);
    expect((await t.api('GET', `${path}?reverse=yes`)).status).toBe(400);
    expect(await t.api('GET', `/channels/${enc('live:x')}/history`)).toMatchObject({ status: 409, body: { error: { code: 'not_available' } } });
  });

  it('reports stats and health in seed field names', async () => {
    const { client } = await TestClient.connect(t.wsUrl, await t.token('stat-user'));
    const stats = await t.api('GET', '/stats');
    expect(stats.body.data).toMatchObject({
      connectedSockets: expect.any(Number),
      onlineUsers: expect.any(Number),
      activeRooms: expect.any(Number),
      publicationsInPerSecond: expect.any(Number),
      publicationsOutPerSecond: expect.any(Number),
    });
    expect(stats.body.data.connectedSockets).toBeGreaterThanOrEqual(1);
    const health = await t.api('GET', '/health', undefined, { authorization: '' });
    expect(health).toMatchObject({ status: 200, body: { data: { status: 'healthy', timestamp: expect.any(String), stats: { connectedSockets: expect.any(Number) } } } });
    expect(await t.api('GET', '/ready', undefined, { authorization: '' })).toEqual({ status: 200, body: { data: { ready: true } } });
    client.close();
  });

  it('/ready answers 503 with the reason while the database does not answer (PostgreSQL on a port nobody listens on)', async () => {
    const closed = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const node = await startTestNode({ store: { type: 'postgres', url: `postgres://tidings@127.0.0.1:${closed}/tidings`, connectTimeout: '300ms' } });
    try {
      // The pool connects on first use: the audit log's first write (or the first request) tries it.
      await node.api('GET', '/notifications?user=x').catch(() => undefined);
      let ready: { status: number; body: { data: { ready: boolean; reason?: string } } } | undefined;
      for (let i = 0; i < 50; i++) {
        ready = await node.api('GET', '/ready', undefined, { authorization: '' });
        if (ready.status === 503 && ready.body.data.reason?.startsWith('PostgreSQL:')) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(ready!.status).toBe(503);
      expect(ready!.body.data.ready).toBe(false);
      expect(ready!.body.data.reason).toMatch(/^PostgreSQL: /);
      expect(node.node.ready).toBe(false);
    } finally {
      await node.close();
    }
    // A node shutting down says so.
    const closing = await startTestNode();
    const stopped = closing.node.close();
    expect(closing.node.readiness()).toEqual({ ready: false, reason: 'shutting down' });
    await stopped;
  });

  it('counts publications per second', async () => {
    const { client } = await TestClient.connect(t.wsUrl, await t.token('rate'));
    await client.ok('subscribe', { channel: 'live:rate' });
    const until = Date.now() + 1300;
    while (Date.now() < until) {
      await t.node.publish('live:rate', 1);
      await new Promise((r) => setTimeout(r, 2));
    }
    const stats = await t.node.stats();
    expect(stats.publicationsInPerSecond).toBeGreaterThan(50);
    expect(stats.publicationsOutPerSecond).toBeGreaterThan(50);
    client.close();
  });
});

describe('steering connections', () => {
  it('disconnects a user with a reconnect code by default, or a terminal one', async () => {
    const { client: a } = await TestClient.connect(t.wsUrl, await t.token('kick-me'));
    const { client: b } = await TestClient.connect(t.wsUrl, await t.token('kick-me'));
    const res = await t.api('POST', `/users/kick-me/disconnect`, {});
    expect(res.body.data).toEqual({ disconnected: 2 });
    expect((await a.closed).code).toBe(CloseCode.ForceReconnect);
    expect(a.pushes.find((p) => p.type === 'disconnect')).toMatchObject({ reconnect: true });
    await b.closed;
    const { client: c } = await TestClient.connect(t.wsUrl, await t.token('ban-me'));
    expect((await t.api('POST', `/users/ban-me/disconnect`, { terminal: true, reason: 'banned' })).body.data).toEqual({ disconnected: 1 });
    expect(await c.closed).toEqual({ code: CloseCode.ForceDisconnect, reason: 'banned' });
    expect(c.pushes.find((p) => p.type === 'disconnect')).toMatchObject({ reconnect: false, reason: 'banned' });
    expect((await t.api('POST', `/users/x/disconnect`, { terminal: true, code: 4005 })).status).toBe(400);
    expect((await t.api('POST', `/users/x/disconnect`, { reason: 'é'.repeat(62) })).status).toBe(400);
    // No body at all is fine: every field is optional.
    const bare = await fetch(`${t.apiUrl}/users/nobody/disconnect`, { method: 'POST', headers: { authorization: `Bearer ${TEST_API_KEY}` } });
    expect(bare.status).toBe(200);
    await expect(t.node.disconnectUser('x', { code: 1000 })).rejects.toThrow('code: expected 4000..4999');
    expect((await t.api('POST', `/users/x/disconnect`, { code: 1000 })).status).toBe(400);
  });

  it('disconnects one connection by its id, leaving the user\'s others open', async () => {
    const { client: phone, result } = await TestClient.connect(t.wsUrl, await t.token('two-devices'));
    const { client: laptop } = await TestClient.connect(t.wsUrl, await t.token('two-devices'));
    const res = await t.api('POST', `/connections/${result.client}/disconnect`, { terminal: true, reason: 'this one' });
    expect(res).toMatchObject({ status: 200, body: { data: { disconnected: 1 } } });
    expect(await phone.closed).toEqual({ code: CloseCode.ForceDisconnect, reason: 'this one' });
    // The user's other connection still answers commands.
    expect(await laptop.ok('notification_count')).toEqual({ unread: 0, total: 0, unreadByType: {} });
    expect(await t.api('POST', `/connections/${result.client}/disconnect`, {})).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect((await t.api('POST', `/connections/x/disconnect`, { code: 1000 })).status).toBe(400);
    laptop.close();
  });

  it('unsubscribes one user from a channel with an unsubscribe push', async () => {
    const { client: a } = await TestClient.connect(t.wsUrl, await t.token('alice'));
    const { client: b } = await TestClient.connect(t.wsUrl, await t.token('bob'));
    await a.ok('subscribe', { channel: 'live:unsub' });
    await b.ok('subscribe', { channel: 'live:unsub' });
    const res = await t.api('POST', `/channels/${enc('live:unsub')}/unsubscribe`, { user: 'alice' });
    expect(res.body.data).toEqual({ unsubscribed: 1 });
    expect(await a.waitForPush((p) => p.type === 'unsubscribe')).toEqual({ type: 'unsubscribe', channel: 'live:unsub', code: 2000, reason: 'unsubscribed by server' });
    await t.node.publish('live:unsub', 'after');
    await b.waitForPush((p) => p.type === 'publication');
    expect(a.publications()).toEqual([]);
    expect((await t.api('POST', `/channels/${enc('live:unsub')}/unsubscribe`, {})).status).toBe(400);
    a.close();
    b.close();
  });
});

// ------------------------------------------------------------------ request ids, metrics, audit

/**
 * A ServerApi of our own in front of a node, on its own HTTP server, so its
 * metrics and audit events can be looked at directly (the node's own ServerApi
 * answers `t.api`).
 */
async function serveApi(node: Tidings, log: Logger = createLogger('silent')) {
  const metrics = new NodeMetrics({ defaultMetrics: false });
  const events: AuditEvent[] = [];
  // The API takes narrow parts; the library's Tidings has each of them under the same names.
  const parts = { config: node.config, publisher: node, steering: node, inspector: node, ready: () => node.ready, durable: node };
  const api = new ServerApi(parts, log, { metrics, audit: { emit: (e) => events.push(e) } });
  const server = createServer((req, res) => {
    if (api.handleMetrics(req, res) || api.handle(req, res)) return;
    sendError(res, ErrorCode.NotFound, 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    api,
    metrics,
    events,
    base,
    fetch: (path: string, init: RequestInit = {}) => fetch(base + path, init),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Every non-empty line is a HELP/TYPE comment or `name{labels} number` (metrics.test.ts parses strictly). */
function looksLikeExposition(text: string): boolean {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .every((l) => /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$/.test(l) || /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? (NaN|[+-]Inf|-?[0-9.e+-]+)$/.test(l));
}

describe('request ids', () => {
  it('adopts a well-formed X-Request-Id and makes one up otherwise', async () => {
    const s = await serveApi(t.node);
    try {
      const given = await s.fetch('/api/v1/stats', { headers: { ...bearer(TEST_API_KEY), 'x-request-id': 'req-42.A_b' } });
      expect(given.status).toBe(200);
      expect(given.headers.get('x-request-id')).toBe('req-42.A_b');
      const seen = new Set<string>();
      for (const bad of [undefined, '', 'has space', 'x'.repeat(129), 'semi;colon', 'ünïcode']) {
        const headers: Record<string, string> = bad === undefined ? {} : { 'x-request-id': bad };
        const res = await s.fetch('/api/v1/health', { headers });
        const id = res.headers.get('x-request-id')!;
        expect(id, String(bad)).toMatch(UUID);
        seen.add(id);
      }
      expect(seen.size).toBe(6);
      expect((await s.fetch('/api/v1/stats', { headers: { 'x-request-id': 'x'.repeat(128) } })).headers.get('x-request-id')).toBe('x'.repeat(128));
      // Error answers carry it too: 404, 401, 405.
      for (const [path, method] of [['/api/v1/nothing', 'GET'], ['/api/v1/stats', 'GET'], ['/api/v1/publish', 'GET']] as const) {
        const res = await s.fetch(path, { method, headers: { 'x-request-id': 'err-1' } });
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.headers.get('x-request-id')).toBe('err-1');
      }
    } finally {
      await s.close();
    }
  });

  it('goes on the log lines of the request', async () => {
    let text = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        text += chunk.toString();
        cb();
      },
    });
    const s = await serveApi(t.node, createLogger('debug', sink));
    try {
      await s.fetch('/api/v1/stats', { headers: { ...bearer(TEST_API_KEY), 'x-request-id': 'trace-me-1' } });
      const lines = text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
      expect(lines.find((l) => l.msg === 'api call')).toMatchObject({ requestId: 'trace-me-1', keyId: 'admin', status: 200 });
      expect(text).not.toContain(TEST_API_KEY);
    } finally {
      await s.close();
    }
  });

  it('is echoed by the API the node serves', async () => {
    const res = await fetch(`${t.apiUrl}/health`, { headers: { 'x-request-id': 'through-node' } });
    expect(res.headers.get('x-request-id')).toBe('through-node');
  });
});

describe('API metrics', () => {
  it('times requests by route pattern, never by concrete path', async () => {
    const s = await serveApi(t.node);
    try {
      await s.fetch(`/api/v1/channels/${enc('live:secret-room-42')}`, { headers: bearer(TEST_API_KEY) });
      await s.fetch(`/api/v1/channels/${enc('live:other-room')}`, { headers: bearer(TEST_API_KEY) });
      await s.fetch('/api/v1/no/such/thing', { headers: bearer(TEST_API_KEY) });
      await s.fetch('/api/v1/publish', { headers: bearer(TEST_API_KEY) });
      await s.fetch('/api/v1/stats');
      const text = await s.metrics.render();
      const count = (labels: string) => Number(new RegExp(`^tidings_api_request_duration_seconds_count\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1]);
      expect(count('method="GET",route="/channels/:channel",status="200"')).toBe(2);
      expect(count('method="GET",route="unmatched",status="404"')).toBe(1);
      expect(count('method="GET",route="/publish",status="405"')).toBe(1);
      expect(count('method="GET",route="/stats",status="401"')).toBe(1);
      for (const concrete of ['secret-room-42', 'other-room', 'no/such']) expect(text).not.toContain(concrete);
    } finally {
      await s.close();
    }
  });
});

describe('API audit', () => {
  it('records calls made with a key, and requests with a missing or unknown key', async () => {
    const s = await serveApi(t.node);
    try {
      const ok = await s.fetch('/api/v1/stats', { headers: bearer(`${TEST_API_KEY}-read`) });
      const forbidden = await s.fetch('/api/v1/publish', {
        method: 'POST',
        headers: { ...bearer(`${TEST_API_KEY}-read`), 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'live:a', data: 1 }),
      });
      const bad = await s.fetch('/api/v1/publish', { method: 'POST', headers: { ...bearer(`${TEST_API_KEY}-pub`), 'content-type': 'application/json' }, body: '{' });
      await s.fetch('/api/v1/stats');
      await s.fetch('/api/v1/stats', { headers: bearer('not-a-key-0123456789') });
      await s.fetch('/api/v1/health');
      await s.fetch('/api/v1/nothing');
      expect(s.events).toEqual([
        { type: 'api_call', keyId: 'reader', method: 'GET', route: '/stats', status: 200, requestId: ok.headers.get('x-request-id') },
        { type: 'api_call', keyId: 'reader', method: 'POST', route: '/publish', status: 403, requestId: forbidden.headers.get('x-request-id') },
        { type: 'api_call', keyId: 'publisher', method: 'POST', route: '/publish', status: 400, requestId: bad.headers.get('x-request-id') },
        { type: 'auth_failure', ip: '127.0.0.1', transport: 'api', reason: 'no API key' },
        { type: 'auth_failure', ip: '127.0.0.1', transport: 'api', reason: 'unknown API key' },
      ]);
      expect(JSON.stringify(s.events)).not.toContain('not-a-key');
    } finally {
      await s.close();
    }
  });

  it('uses the keys of a reloaded configuration', async () => {
    const n = await startTestNode();
    const s = await serveApi(n.node);
    try {
      const fresh = 'fresh-key-0123456789abcdef';
      expect((await s.fetch('/api/v1/stats', { headers: bearer(fresh) })).status).toBe(401);
      n.node.config.apiKeys = [{ id: 'fresh', key: fresh, scopes: ['read'] }];
      s.api.reload();
      expect((await s.fetch('/api/v1/stats', { headers: bearer(fresh) })).status).toBe(200);
      expect((await s.fetch('/api/v1/stats', { headers: bearer(TEST_API_KEY) })).status).toBe(401);
    } finally {
      await s.close();
      await n.close();
    }
  });
});

describe('the metrics endpoint', () => {
  it('serves the text exposition at metrics.path, outside the API prefix', async () => {
    const s = await serveApi(t.node);
    try {
      s.metrics.commandReceived('publish');
      const res = await s.fetch('/metrics', { headers: { 'x-request-id': 'scrape-1' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(s.metrics.contentType);
      expect(res.headers.get('x-request-id')).toBe('scrape-1');
      const text = await res.text();
      expect(looksLikeExposition(text)).toBe(true);
      expect(text).toMatch(/^tidings_commands_total\{type="publish"\} 1$/m);
      const head = await s.fetch('/metrics', { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(await head.text()).toBe('');
      const post = await s.fetch('/metrics', { method: 'POST' });
      expect(post.status).toBe(405);
      expect(post.headers.get('allow')).toBe('GET, HEAD');
      // Only the exact path; the query string does not matter.
      expect((await s.fetch('/metrics?x=1')).status).toBe(200);
      expect((await s.fetch('/metrics/')).status).toBe(404);
      // Scrapes are not API calls: no audit, no API timing.
      expect(s.events).toEqual([]);
      expect(await s.metrics.render()).not.toContain('_count{');
    } finally {
      await s.close();
    }
  });

  it('with requireKey, needs a key with the read scope', async () => {
    const n = await startTestNode({ metrics: { requireKey: true } });
    const s = await serveApi(n.node);
    try {
      const none = await s.fetch('/metrics');
      expect(none.status).toBe(401);
      expect(((await none.json()) as any).error.code).toBe('unauthorized');
      expect((await s.fetch('/metrics', { headers: bearer('wrong-key-0123456789') })).status).toBe(401);
      expect((await s.fetch('/metrics', { headers: bearer(`${TEST_API_KEY}-pub`) })).status).toBe(403);
      const read = await s.fetch('/metrics', { headers: bearer(`${TEST_API_KEY}-read`) });
      expect(read.status).toBe(200);
      expect(looksLikeExposition(await read.text())).toBe(true);
      expect((await s.fetch('/metrics', { headers: { 'x-api-key': TEST_API_KEY } })).status).toBe(200);
      expect(s.events).toEqual([
        { type: 'auth_failure', ip: '127.0.0.1', transport: 'metrics', reason: 'no API key' },
        { type: 'auth_failure', ip: '127.0.0.1', transport: 'metrics', reason: 'unknown API key' },
      ]);
    } finally {
      await s.close();
      await n.close();
    }
  });

  it('is not answered when disabled, and moves with metrics.path', async () => {
    const off = await startTestNode({ metrics: { enabled: false } });
    const moved = await startTestNode({ metrics: { path: '/internal/prom' } });
    const a = await serveApi(off.node);
    const b = await serveApi(moved.node);
    try {
      expect((await a.fetch('/metrics')).status).toBe(404);
      expect((await b.fetch('/metrics')).status).toBe(404);
      expect((await b.fetch('/internal/prom')).status).toBe(200);
    } finally {
      await Promise.all([a.close(), b.close(), off.close(), moved.close()]);
    }
  });
});

describe('the metrics endpoint through the node', () => {
  it('serves the metrics of the node: gauges from the hub, API timings', async () => {
    const { client } = await TestClient.connect(t.wsUrl, await t.token('metrics-user'));
    await client.ok('subscribe', { channel: 'live:metrics' });
    await t.api('GET', '/stats');
    const res = await fetch(`http://127.0.0.1:${t.port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(looksLikeExposition(text)).toBe(true);
    expect(Number(/^tidings_connections (\d+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(1);
    expect(Number(/^tidings_channels (\d+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^tidings_api_request_duration_seconds_count\{method="GET",route="\/stats",status="200"\} [1-9]\d*$/m);
    expect(text).toMatch(/^tidings_nodejs_eventloop_lag_seconds /m);
    expect(text).not.toContain('metrics-user');
    client.close();
  });

  it('falls through to the app when disabled, and honours requireKey', async () => {
    const off = await startTestNode({ metrics: { enabled: false } });
    const locked = await startTestNode({ metrics: { requireKey: true } });
    try {
      expect(await fetch(`http://127.0.0.1:${off.port}/metrics`).then((r) => r.status)).toBe(404);
      expect(await fetch(`http://127.0.0.1:${locked.port}/metrics`).then((r) => r.status)).toBe(401);
      expect(await fetch(`http://127.0.0.1:${locked.port}/metrics`, { headers: bearer(`${TEST_API_KEY}-read`) }).then((r) => r.status)).toBe(200);
    } finally {
      await Promise.all([off.close(), locked.close()]);
    }
  });
});
