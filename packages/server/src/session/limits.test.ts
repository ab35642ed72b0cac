import { connect as netConnect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { CloseCode } from '@tidings/protocol';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, TEST_NAMESPACES, type TestNode } from '../test-support/test-node.js';

async function withNode(options: Parameters<typeof startTestNode>[0], body: (t: TestNode) => Promise<void>) {
  const t = await startTestNode(options);
  try {
    await body(t);
  } finally {
    await t.close();
  }
}

describe('connection limits', () => {
  it('limits connections per user with limit_exceeded and close 4007', () =>
    withNode({ limits: { connectionsPerUser: 2 } }, async (t) => {
      const token = await t.token('greedy');
      const a = await TestClient.connect(t.wsUrl, token);
      const b = await TestClient.connect(t.wsUrl, token);
      const c = await TestClient.open(t.wsUrl);
      expect(await c.call('connect', { token })).toMatchObject({ error: { code: 'limit_exceeded', temporary: true } });
      expect((await c.closed).code).toBe(CloseCode.ConnectionLimit);
      // Other users are unaffected, and a freed slot can be used again.
      await TestClient.connect(t.wsUrl, await t.token('other'));
      a.client.close();
      await a.client.closed;
      await new Promise((r) => setTimeout(r, 20));
      const d = await TestClient.connect(t.wsUrl, token);
      expect(d.result.user).toBe('greedy');
      b.client.close();
      d.client.close();
    }));

  it('limits connections per node before the upgrade (503 limit_exceeded)', () =>
    withNode({ limits: { connectionsPerNode: 2 } }, async (t) => {
      const a = await TestClient.open(t.wsUrl);
      const b = await TestClient.open(t.wsUrl);
      const err = await TestClient.open(t.wsUrl).catch((e) => e);
      expect(err.status).toBe(503);
      expect(JSON.parse(err.body)).toMatchObject({ error: { code: 'limit_exceeded', temporary: true } });
      a.close();
      await a.closed;
      const c = await TestClient.open(t.wsUrl);
      b.close();
      c.close();
    }));

  it('limits new connections per IP, per client IP behind trusted proxies', () =>
    withNode({ limits: { connectionRatePerIp: 3 } }, async (t) => {
      const results = await Promise.allSettled(Array.from({ length: 12 }, () => TestClient.open(t.wsUrl)));
      const refused = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
      expect(refused.length).toBeGreaterThan(0);
      expect(refused[0]!.reason.status).toBe(429);
      expect(JSON.parse(refused[0]!.reason.body)).toMatchObject({ error: { code: 'rate_limited' } });
      for (const r of results) if (r.status === 'fulfilled') r.value.close();
    }));

  it('reads the client IP from X-Forwarded-For only through trusted proxies', async () => {
    await withNode({ limits: { connectionRatePerIp: 1 }, trustedProxies: ['127.0.0.1'] }, async (t) => {
      const clients = [];
      for (let i = 1; i <= 6; i++) clients.push(await TestClient.open(t.wsUrl, { headers: { 'x-forwarded-for': `203.0.113.${i}` } }));
      const listed = await t.api('GET', '/stats');
      expect(listed.status).toBe(200);
      clients.forEach((c) => c.close());
      // The same forwarded address again and again runs out of its own budget.
      const same = await Promise.allSettled(Array.from({ length: 6 }, () => TestClient.open(t.wsUrl, { headers: { 'x-forwarded-for': '198.51.100.1' } })));
      expect(same.some((r) => r.status === 'rejected')).toBe(true);
      for (const r of same) if (r.status === 'fulfilled') r.value.close();
    });
    // Without trust, the header changes nothing: everyone is 127.0.0.1.
    await withNode({ limits: { connectionRatePerIp: 1 } }, async (t) => {
      const spoofed = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => TestClient.open(t.wsUrl, { headers: { 'x-forwarded-for': `203.0.113.${i}` } })));
      expect(spoofed.some((r) => r.status === 'rejected')).toBe(true);
      for (const r of spoofed) if (r.status === 'fulfilled') r.value.close();
    });
  });

  it('does not throttle 200 clients from 127.0.0.1 with the defaults', () =>
    withNode({}, async (t) => {
      const clients = await Promise.all(Array.from({ length: 200 }, async (_, i) => (await TestClient.connect(t.wsUrl, await t.token(`crowd-${i}`))).client));
      expect((await t.node.stats()).connectedSockets).toBe(200);
      clients.forEach((c) => c.close());
    }));

  it('closes a connection that dribbles its handshake headers (slowloris)', () =>
    withNode({ limits: { handshakeTimeout: 300 } }, async (t) => {
      const started = Date.now();
      const socket = netConnect(t.port, '127.0.0.1');
      socket.on('error', () => {});
      await new Promise((r) => socket.once('connect', r));
      socket.write('GET /connection/websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      const drip = setInterval(() => socket.write('X-Slow: 1\r\n'), 100);
      await new Promise((r) => socket.once('close', r));
      clearInterval(drip);
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(250);
      expect(took).toBeLessThan(3000);
    }));
});

describe('subscription limits', () => {
  it('limits subscriptions per connection, counting server-side ones', () =>
    withNode({ limits: { subscriptionsPerConnection: 3 } }, async (t) => {
      const { client } = await TestClient.connect(t.wsUrl, await t.token('alice')); // holds user:#alice
      await client.ok('subscribe', { channel: 'live:1' });
      await client.ok('subscribe', { channel: 'live:2' });
      expect(await client.call('subscribe', { channel: 'live:3' })).toMatchObject({ error: { code: 'limit_exceeded' } });
      await client.ok('unsubscribe', { channel: 'live:1' });
      await client.ok('subscribe', { channel: 'live:3' });
      client.close();
    }));

  it('limits subscribers per channel (maxSubscribers)', () =>
    withNode({ namespaces: { ...TEST_NAMESPACES, room: { maxSubscribers: 2 } } }, async (t) => {
      const clients = [];
      for (const u of ['a', 'b', 'c']) clients.push((await TestClient.connect(t.wsUrl, await t.token(u))).client);
      await clients[0]!.ok('subscribe', { channel: 'room:1' });
      await clients[1]!.ok('subscribe', { channel: 'room:1' });
      expect(await clients[2]!.call('subscribe', { channel: 'room:1' })).toMatchObject({ error: { code: 'limit_exceeded' } });
      await clients[2]!.ok('subscribe', { channel: 'room:2' });
      clients.forEach((c) => c.close());
    }));
});

describe('rate limits', () => {
  it('limits commands per connection, then closes on sustained abuse', () =>
    withNode({ limits: { commandRate: 5, rateLimitStrikes: 5 } }, async (t) => {
      const { client } = await TestClient.connect(t.wsUrl, await t.token('spammer'));
      const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => client.call('subscribe', { channel: `live:s${i}` })));
      const limited = replies.filter((r) => 'error' in r && r.error.code === 'rate_limited');
      expect(limited.length).toBeGreaterThan(0);
      expect(limited[0]).toMatchObject({ error: { temporary: true } });
      // The connection survives a short burst...
      expect(client.ws.readyState).toBe(1);
      // ...but not a sustained one.
      for (let i = 0; i < 30; i++) client.send(JSON.stringify({ id: 100 + i, type: 'rpc', method: 'x' }));
      expect((await client.closed).code).toBe(CloseCode.RateLimit);
    }));

  it('applies the namespace publish rateLimit per user with rate_limited', () =>
    withNode({ namespaces: { ...TEST_NAMESPACES, course: { clientPublish: 'subscribers', rateLimit: { messages: 3, intervalMs: 60_000 } } } }, async (t) => {
      const { client } = await TestClient.connect(t.wsUrl, await t.token('student'));
      const { client: other } = await TestClient.connect(t.wsUrl, await t.token('classmate'));
      await client.ok('subscribe', { channel: 'course:c1' });
      await other.ok('subscribe', { channel: 'course:c1' });
      for (let i = 0; i < 3; i++) await client.ok('publish', { channel: 'course:c1', data: i });
      expect(await client.call('publish', { channel: 'course:c1', data: 3 })).toMatchObject({ error: { code: 'rate_limited', temporary: true } });
      // Per user: the classmate still has its budget, and the limited user stays connected.
      await other.ok('publish', { channel: 'course:c1', data: 'hi' });
      expect(client.ws.readyState).toBe(1);
      client.close();
      other.close();
    }));
});
