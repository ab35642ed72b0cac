import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode } from '@tidings/protocol';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, TEST_API_KEY, type TestNode } from '../test-support/test-node.js';

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

describe('publishing', () => {
  it('publishes with offsets, deduplicates by idempotency key', async () => {
    const { client } = await TestClient.connect(t.wsUrl, await t.token('alice'));
    await client.ok('subscribe', { channel: 'news:api' });
    const first = await t.api('POST', '/publish', { channel: 'news:api', data: { n: 1 }, idempotencyKey: 'order-1' });
    expect(first).toEqual({ status: 200, body: { data: { offset: 1, epoch: expect.any(String) } } });
    const before = t.node.stats().publicationsInTotal;
    const again = await t.api('POST', '/publish', { channel: 'news:api', data: { n: 1 }, idempotencyKey: 'order-1' });
    expect(again.body.data).toEqual({ ...first.body.data, deduplicated: true });
    expect(t.node.stats().publicationsInTotal).toBe(before);
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

  it('counts publications per second', async () => {
    const { client } = await TestClient.connect(t.wsUrl, await t.token('rate'));
    await client.ok('subscribe', { channel: 'live:rate' });
    const until = Date.now() + 1300;
    while (Date.now() < until) {
      await t.node.publish('live:rate', 1);
      await new Promise((r) => setTimeout(r, 2));
    }
    const stats = t.node.stats();
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
    expect(() => t.node.disconnectUser('x', { code: 1000 })).toThrow('code: expected 4000..4999');
    expect((await t.api('POST', `/users/x/disconnect`, { code: 1000 })).status).toBe(400);
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
