/**
 * Edge cases found in review: an oversized message refused by the server (1009 on
 * WebSocket, 413 on the HTTP transports), request bodies kept under the message limit,
 * queued commands that need a subscription made with an async token, a transport that opens
 * synchronously, refused and hanging getToken, and reconnecting on demand.
 */
import { afterEach, describe, expect, test } from 'vitest';
import WS from 'ws';
import { pollingTransport, sseTransport, websocketTransport, type FetchLike, type TransportFactory, type WebSocketConstructor } from '@tidings/client';
import { mintToken } from '../../server/src/auth/token-mint.js';
import { startTestNode, TEST_SECRET, type TestNode } from '../../server/src/test-support/test-node.js';
import { Clients, FAST, TRANSPORTS, collect, recording, sleep, startRestartableNode, until } from './support.js';

const clients = new Clients();
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  clients.closeAll();
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function node(options: Parameters<typeof startTestNode>[0] = {}): Promise<TestNode> {
  const server = await startTestNode(options);
  cleanups.push(() => server.close());
  return server;
}

test('a message the server refuses as too big (1009) rejects that publish; the others go through, no resend loop', async () => {
  const server = await node();
  const client = clients.make(server.wsUrl, { ...FAST, maxMessageBytes: 1_000_000, token: await server.token('alice') });
  await client.connect();
  const sub = client.subscribe<{ n: number }>('chat:big');
  await sub.ready();
  const got = collect(sub);
  const big = client.publish('chat:big', { n: 0, pad: 'x'.repeat(100_000) });
  await expect(big).rejects.toMatchObject({ code: 'payload_too_large', temporary: false });
  await until(() => client.state === 'connected', 'reconnected');
  expect((await sub.publish({ n: 1 })).offset).toBe(1);
  await until(() => got.length === 1, 'small publication');
  await sleep(300);
  expect(got).toEqual([{ n: 1 }]);
});

describe.each(['sse', 'polling'] as const)('over %s', (transport) => {
  test('a message the server refuses as too big (413) rejects that publish, is not sent again, and the connection stays', async () => {
    const server = await node();
    const wire = recording(transport);
    const client = clients.make(server.wsUrl, { ...FAST, transports: [wire.factory], maxMessageBytes: 1_000_000, token: await server.token('alice') });
    await client.connect();
    const reconnects: number[] = [];
    client.on('connecting', (ctx) => reconnects.push(ctx.code));
    const sub = client.subscribe<{ n: number }>('chat:big');
    await sub.ready();
    const got = collect(sub);
    const big = client.publish('chat:big', { n: 0, pad: 'x'.repeat(100_000) });
    await expect(big).rejects.toMatchObject({ code: 'payload_too_large', temporary: false });
    expect((await sub.publish({ n: 1 })).offset).toBe(1);
    await until(() => got.length === 1, 'small publication');
    await sleep(300);
    expect(got).toEqual([{ n: 1 }]);
    expect(wire.sent.filter((f) => f.type === 'publish')).toHaveLength(2);
    expect(reconnects).toEqual([]);
    expect(client.state).toBe('connected');
  });

  test('frames made while a POST is out are joined into bodies under the message limit', async () => {
    const server = await node();
    const bodies: number[] = [];
    const fetchImpl: FetchLike = (input, init) => {
      if (init?.method === 'POST' && !input.endsWith('/open')) bodies.push(Buffer.byteLength(init.body ?? ''));
      return fetch(input, init) as ReturnType<FetchLike>;
    };
    const factory = transport === 'sse' ? sseTransport({ fetch: fetchImpl }) : pollingTransport({ fetch: fetchImpl });
    const client = clients.make(server.wsUrl, { ...FAST, transports: [factory], token: await server.token('alice') });
    await client.connect();
    const reconnects: number[] = [];
    client.on('connecting', (ctx) => reconnects.push(ctx.code));
    await client.subscribe('chat:burst').ready();
    // 20 publishes of 10 KB in one turn: 200 KB, more than three 64 KiB messages.
    const acks = Array.from({ length: 20 }, (_, n) => client.publish('chat:burst', { n, pad: 'y'.repeat(10_000) }));
    expect((await Promise.all(acks)).map((r) => r.offset)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(reconnects).toEqual([]);
    expect(Math.max(...bodies)).toBeLessThanOrEqual(65_536);
    expect(bodies.reduce((a, b) => a + b, 0)).toBeGreaterThan(200_000);
  });

  test('with maxMessageBytes above what the server takes, a refused body is split until it fits; every publish goes through once', async () => {
    const server = await node();
    const wire = recording(transport);
    const client = clients.make(server.wsUrl, { ...FAST, transports: [wire.factory], maxMessageBytes: 1_000_000, token: await server.token('alice') });
    await client.connect();
    const reconnects: number[] = [];
    client.on('connecting', (ctx) => reconnects.push(ctx.code));
    const sub = client.subscribe<{ n: number }>('chat:split');
    await sub.ready();
    const got = collect(sub);
    // One 200 KB message for the client; the server refuses it (413), and then each body above its limit.
    const acks = Array.from({ length: 20 }, (_, n) => client.publish('chat:split', { n, pad: 'z'.repeat(10_000) }));
    expect((await Promise.all(acks)).map((r) => r.offset).sort((a, b) => a! - b!)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await until(() => got.length === 20, () => `${got.length} of 20`);
    expect(got.map((d) => d.n)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(reconnects).toEqual([]);
    expect(wire.sent.filter((f) => f.type === 'publish')).toHaveLength(20);
  });
});

test('a command made offline that could never be sent is refused at once', async () => {
  const client = clients.make('ws://127.0.0.1:9/connection/websocket', { ...FAST, token: 'x', maxMessageBytes: 500 });
  await expect(client.publish('chat:x', 'y'.repeat(1000))).rejects.toMatchObject({ code: 'payload_too_large' });
  expect(client.queued).toBe(0);
});

test('a transport that reports open synchronously, inside open(), works', async () => {
  const server = await node();
  const inner = websocketTransport(WS as unknown as WebSocketConstructor);
  // Opens at once and buffers what is sent until the socket underneath is open.
  const eager: TransportFactory = {
    name: 'eager',
    open(url, handlers, context) {
      const buffered: string[] = [];
      let ready = false;
      const t = inner.open(url, { ...handlers, onOpen: () => ((ready = true), buffered.splice(0).forEach((x) => t.send(x))) }, context);
      handlers.onOpen();
      return { send: (text) => (ready ? t.send(text) : buffered.push(text)), close: (c, r) => t.close(c, r) };
    },
  };
  const client = clients.make(server.wsUrl, { ...FAST, transport: eager, token: await server.token('alice') });
  await client.connect();
  expect(client.transport).toBe('eager');
});

describe.each(TRANSPORTS)('over %s', (transport) => {
  const T = { ...FAST, transports: [transport] };

  test('queued commands wait for subscriptions whose token comes from an async getToken', async () => {
    const server = await startRestartableNode();
    cleanups.push(() => server.close());
    const client = clients.make(server.wsUrl, { ...T, token: await server.token('alice') });
    await client.connect();
    const sub = client.subscribe('task:9', {
      getToken: async (channel) => {
        await sleep(100);
        return mintToken(TEST_SECRET, { sub: 'alice', channel, ttlSeconds: 60 });
      },
    });
    await sub.ready();
    await server.stop();
    await until(() => client.state === 'connecting', 'connecting');
    const history = client.history('task:9', { limit: 5 });
    await server.start();
    await expect(history).resolves.toMatchObject({ publications: [] });
  });

  test('a token the server refused is not offered again: the next connect() asks getToken', async () => {
    const server = await node();
    const tokens = ['not-a-jwt', await server.token('alice')];
    let calls = 0;
    const client = clients.make(server.wsUrl, { ...T, getToken: () => tokens[calls++] ?? null });
    await expect(client.connect()).rejects.toMatchObject({ code: 'unauthorized' });
    await client.connect();
    expect(calls).toBe(2);
    expect(client.user).toBe('alice');
  });

  test('a getToken that never answers times out and is asked again', async () => {
    const server = await node();
    let calls = 0;
    const client = clients.make(server.wsUrl, {
      ...T,
      timeout: 300,
      getToken: () => (++calls === 1 ? new Promise<string>(() => {}) : server.token('alice')),
    });
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    await client.connect();
    expect(calls).toBe(2);
    expect(errors).toEqual(['token_unavailable']);
  });

  test('reconnectNow() skips the rest of the backoff', async () => {
    const server = await startRestartableNode();
    cleanups.push(() => server.close());
    const client = clients.make(server.wsUrl, { transports: [transport], minReconnectDelay: 10_000, maxReconnectDelay: 10_000, token: await server.token('alice') });
    await client.connect();
    client.reconnectNow();
    expect(client.state).toBe('connected');
    await server.stop();
    await until(() => client.state === 'connecting', 'connecting');
    await server.start();
    await sleep(100);
    expect(client.state).toBe('connecting');
    client.reconnectNow();
    await until(() => client.state === 'connected', 'connected', 3_000);
  });
});
