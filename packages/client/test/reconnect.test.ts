/**
 * Losing the connection and getting everything back: server drops, network cuts, a full
 * restart of a memory-engine server, a silent (frozen) server, the browser `online` event,
 * terminal errors, and what the client re-applies after a reconnect.
 */
import { afterEach, describe, expect, test } from 'vitest';
import type { GapContext, SubscribedContext } from '@tidings/client';
import { mintToken } from '../../server/src/auth/token-mint.js';
import { startServerProcess } from '../../../test/support/server-process.js';
import { startTestNode, type TestNode } from '../../server/src/test-support/test-node.js';
import { Clients, FAST, TRANSPORTS, collect, instrumentedWebSocket, sleep, startRestartableNode, tcpProxy, until } from './support.js';

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

describe('reconnecting', () => {
  test('after the server drops the socket: reconnects, resubscribes and recovers what was missed', async () => {
    const server = await node();
    const client = clients.make(server.wsUrl, { ...FAST, minReconnectDelay: 300, maxReconnectDelay: 400, token: await server.token('alice') });
    await client.connect();
    const sub = client.subscribe<{ n: number }>('chat:r');
    await sub.ready();
    const got = collect(sub);
    const subscribed: SubscribedContext[] = [];
    sub.on('subscribed', (ctx) => subscribed.push(ctx));
    await server.api('POST', '/publish', { channel: 'chat:r', data: { n: 1 } });
    await until(() => got.length === 1, 'first');
    const codes: number[] = [];
    client.on('connecting', (ctx) => codes.push(ctx.code));
    expect((await server.api('POST', '/users/alice/disconnect')).body.data.disconnected).toBe(1);
    await until(() => client.state === 'connecting', 'connecting');
    expect(sub.state).toBe('subscribing');
    // Published while the client is away (its reconnect waits at least 300 ms).
    for (let n = 2; n <= 4; n++) await server.api('POST', '/publish', { channel: 'chat:r', data: { n } });
    await until(() => client.state === 'connected' && sub.state === 'subscribed', 'reconnected');
    await server.api('POST', '/publish', { channel: 'chat:r', data: { n: 5 } });
    await until(() => got.length === 5, () => JSON.stringify(got));
    expect(got.map((d) => d.n)).toEqual([1, 2, 3, 4, 5]);
    expect(codes).toEqual([4005]);
    expect(subscribed).toEqual([expect.objectContaining({ wasRecovering: true, recovered: true, offset: 4 })]);
  });

  test('after a network cut (no close frame): the same, and the personal channel recovers through connect', async () => {
    const server = await node({ personal: { history: { size: 100, ttl: '10m' }, recover: true } });
    const ws = instrumentedWebSocket();
    const client = clients.make(server.wsUrl, { ...FAST, minReconnectDelay: 300, maxReconnectDelay: 400, websocket: ws.WebSocket, token: await server.token('alice') });
    await client.connect();
    const personal = client.getSubscription<{ n: number }>('user:#alice')!;
    const got = collect(personal);
    await server.api('POST', '/publish', { channel: 'user:#alice', data: { n: 1 } });
    await until(() => got.length === 1, 'first');
    ws.cut();
    await until(() => client.state === 'connecting', 'connecting');
    await server.api('POST', '/publish', { channel: 'user:#alice', data: { n: 2 } });
    await until(() => client.state === 'connected', 'reconnected');
    await until(() => got.length === 2, () => JSON.stringify(got));
    expect(got.map((d) => d.n)).toEqual([1, 2]);
    const connect = ws.sent.filter((f) => f.type === 'connect');
    expect(connect[1]).toMatchObject({ subs: { 'user:#alice': { epoch: expect.any(String), offset: 1 } } });
    expect(ws.opened()).toBe(2);
  });

  test('after a full server restart: reconnects on the hinted delay and reports a gap, never a silent loss', async () => {
    const server = await startRestartableNode({ shutdown: { reconnectDelay: 400 } });
    cleanups.push(() => server.close());
    const client = clients.make(server.wsUrl, { ...FAST, token: await server.token('alice') });
    await client.connect();
    const sub = client.subscribe<{ n: number }>('chat:restart');
    await sub.ready();
    const gaps: GapContext[] = [];
    sub.on('gap', (g) => gaps.push(g));
    const got = collect(sub);
    await server.api('POST', '/publish', { channel: 'chat:restart', data: { n: 1 } });
    await until(() => got.length === 1, 'first');
    const before = sub.position!;
    let closedAt = 0;
    let reconnectedAt = 0;
    client.on('connecting', (ctx) => {
      if (ctx.code === 4000) closedAt = Date.now();
    });
    client.on('connected', () => (reconnectedAt = Date.now()));
    await server.restart();
    await until(() => closedAt > 0, 'closed with 4000 (shutdown)');
    await until(() => reconnectedAt > 0 && sub.state === 'subscribed', 'reconnected', 8_000);
    // The shutdown push hinted a delay between 200 and 600 ms; the client waited for it.
    expect(reconnectedAt - closedAt).toBeGreaterThanOrEqual(190);
    expect(gaps).toEqual([{ channel: 'chat:restart', from: before, to: { epoch: expect.any(String), offset: 0 } }]);
    expect(gaps[0]!.to.epoch).not.toBe(before.epoch);
    // Live delivery continues in the new epoch.
    await server.api('POST', '/publish', { channel: 'chat:restart', data: { n: 2 } });
    await until(() => got.length === 2, () => JSON.stringify(got));
    expect(sub.position).toEqual({ epoch: gaps[0]!.to.epoch, offset: 1 });
  });

  test('with history but without recovery, what was missed is reported as a gap, live or across a reconnect', async () => {
    const server = await node({ namespaces: { feed: { history: { size: 100, ttl: '10m' }, recover: false } } });
    const ws = instrumentedWebSocket();
    const client = clients.make(server.wsUrl, { ...FAST, minReconnectDelay: 300, maxReconnectDelay: 400, websocket: ws.WebSocket, token: await server.token('alice') });
    await client.connect();
    const sub = client.subscribe<{ n: number }>('feed:f');
    await sub.ready();
    expect(sub.recoverable).toBe(false);
    const gaps: GapContext[] = [];
    sub.on('gap', (g) => gaps.push(g));
    const got = collect(sub);
    let dropped = 0;
    ws.drop = (f) => f.type === 'publication' && f.offset === 2 && dropped++ === 0;
    for (let n = 1; n <= 3; n++) await server.api('POST', '/publish', { channel: 'feed:f', data: { n } });
    await until(() => got.length === 2, () => JSON.stringify(got));
    expect(got.map((d) => d.n)).toEqual([1, 3]);
    expect(gaps).toEqual([{ channel: 'feed:f', from: { epoch: expect.any(String), offset: 1 }, to: { epoch: expect.any(String), offset: 3 } }]);
    ws.cut();
    await until(() => client.state === 'connecting', 'connecting');
    await server.api('POST', '/publish', { channel: 'feed:f', data: { n: 4 } });
    await until(() => sub.state === 'subscribed' && gaps.length === 2, () => JSON.stringify(gaps));
    expect(gaps[1]).toMatchObject({ from: { offset: 3 }, to: { offset: 4 } });
    // Nothing replayed without recovery.
    expect(got.map((d) => d.n)).toEqual([1, 3]);
  });

  test('status, presence state and follows are re-applied after a reconnect; typing is reset', async () => {
    const server = await node();
    const alice = clients.make(server.wsUrl, { ...FAST, token: await server.token('alice'), typing: { idle: 5_000, throttle: 50, timeout: 5_000 } });
    const bob = clients.make(server.wsUrl, { ...FAST, token: await server.token('bob') });
    await Promise.all([alice.connect(), bob.connect()]);
    const aSub = alice.subscribe('chat:re');
    const bSub = bob.subscribe('chat:re');
    await Promise.all([aSub.ready(), bSub.ready()]);
    await alice.setStatus('away');
    await aSub.setState({ viewing: 'task-1' });
    await alice.follow(['bob']);
    aSub.setTyping(true);
    await until(() => bSub.typingUsers().length === 1, 'alice typing');
    // Bob loses his connection: what he knew of typing is cleared at once.
    await server.api('POST', '/users/bob/disconnect');
    await until(() => bob.state === 'connecting', 'bob connecting');
    expect(bSub.typingUsers()).toEqual([]);
    await until(() => bob.state === 'connected' && bSub.state === 'subscribed', 'bob back');
    // Alice reconnects: her status, state and follow come back; her typing does not.
    await server.api('POST', '/users/alice/disconnect');
    await until(() => alice.state === 'connecting', 'alice connecting');
    await until(() => alice.state === 'connected' && aSub.state === 'subscribed', 'alice back');
    const aliceEntry = () => bSub.presenceUsers().find((u) => u.user === 'alice');
    await until(() => aliceEntry()?.status === 'away' && (aliceEntry()?.state as { viewing?: string })?.viewing === 'task-1', () => JSON.stringify(aliceEntry()));
    const statusEvents: string[] = [];
    alice.on('status', (s) => statusEvents.push(`${s.user}:${s.status}`));
    await bob.setStatus('away');
    await until(() => statusEvents.includes('bob:away'), () => statusEvents.join());
    await sleep(150);
    expect(bSub.typingUsers()).toEqual([]);
    // Typing again after the reconnect sends a fresh typing:true at once.
    aSub.setTyping(true);
    await until(() => bSub.typingUsers().length === 1, 'typing after reconnect');
  });

  test('the browser online event reconnects at once instead of waiting out the backoff', async () => {
    const win = new EventTarget();
    (globalThis as { window?: unknown }).window = win;
    cleanups.push(async () => void delete (globalThis as { window?: unknown }).window);
    const server = await startRestartableNode();
    cleanups.push(() => server.close());
    const client = clients.make(server.wsUrl, { minReconnectDelay: 10_000, maxReconnectDelay: 10_000, token: await server.token('alice') });
    await client.connect();
    await server.stop();
    await until(() => client.state === 'connecting', 'connecting');
    await server.start();
    await sleep(200);
    expect(client.state).toBe('connecting');
    const started = Date.now();
    win.dispatchEvent(new Event('online'));
    await until(() => client.state === 'connected', 'connected after online', 3_000);
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});

describe.each(TRANSPORTS)('over %s', (transport) => {
  test('a TCP cut in the middle of a burst loses nothing: every publication once, in order', async () => {
    const server = await node();
    const proxy = await tcpProxy(server.port);
    cleanups.push(() => proxy.close());
    const client = clients.make(proxy.url(server.wsUrl), { ...FAST, transports: [transport], token: await server.token('alice') });
    let reconnects = 0;
    client.on('connecting', (ctx) => ctx.code !== 0 && reconnects++);
    await client.connect();
    const sub = client.subscribe<{ n: number }>('chat:burst');
    await sub.ready();
    const got = collect(sub);
    const burst = (async () => {
      for (let n = 1; n <= 500; n++) {
        await server.node.publish('chat:burst', { n });
        if (n % 50 === 0) await sleep(5);
      }
    })();
    await until(() => got.length >= 100, 'first part of the burst');
    proxy.cut();
    await burst;
    await until(() => got.length >= 500, () => `${got.length} of 500`, 10_000);
    await sleep(50);
    expect(got.map((d) => d.n)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    // WebSocket reconnects and recovers; SSE resumes from Last-Event-ID and polling asks again, in the same session.
    expect(reconnects).toBe(transport === 'websocket' ? 1 : 0);
  });

  test('a server that drops the connection: reconnect, resubscribe, recover', async () => {
    const server = await node();
    const client = clients.make(server.wsUrl, { ...FAST, minReconnectDelay: 200, maxReconnectDelay: 300, transports: [transport], token: await server.token('alice') });
    await client.connect();
    const sub = client.subscribe<{ n: number }>('chat:drop');
    await sub.ready();
    const got = collect(sub);
    await server.api('POST', '/publish', { channel: 'chat:drop', data: { n: 1 } });
    await until(() => got.length === 1, 'first');
    await server.api('POST', '/users/alice/disconnect');
    await until(() => client.state === 'connecting', 'connecting');
    for (let n = 2; n <= 4; n++) await server.api('POST', '/publish', { channel: 'chat:drop', data: { n } });
    await until(() => got.length === 4 && client.state === 'connected', () => JSON.stringify(got));
    expect(got.map((d) => d.n)).toEqual([1, 2, 3, 4]);
    expect(client.transport).toBe(transport);
  });
});

describe('over sse: the session ends while the stream is cut', () => {
  // The stream's resume then gets 401 for its ticket: the session is gone, not the token.
  // The client opens a new session and recovers (docs/protocol.md section 16).
  test('by its idle timeout: a new session, and every missed publication recovered', async () => {
    const server = await node({ http: { sessionTimeout: 150, retry: 500 } });
    const proxy = await tcpProxy(server.port);
    cleanups.push(() => proxy.close());
    const client = clients.make(proxy.url(server.wsUrl), { ...FAST, transports: ['sse'], token: await server.token('alice') });
    await client.connect();
    const sub = client.subscribe<{ n: number }>('chat:idle');
    await sub.ready();
    const got = collect(sub);
    const subscribed: SubscribedContext[] = [];
    sub.on('subscribed', (ctx) => subscribed.push(ctx));
    await server.api('POST', '/publish', { channel: 'chat:idle', data: { n: 1 } });
    await until(() => got.length === 1, 'first');
    const codes: number[] = [];
    client.on('connecting', (ctx) => codes.push(ctx.code));
    proxy.cut();
    await sleep(50);
    for (let n = 2; n <= 3; n++) await server.api('POST', '/publish', { channel: 'chat:idle', data: { n } });
    await until(() => codes.length > 0 && client.state === 'connected' && sub.state === 'subscribed', () => `${client.state} ${JSON.stringify(codes)}`, 8_000);
    await until(() => got.length === 3, () => JSON.stringify(got));
    expect(got.map((d) => d.n)).toEqual([1, 2, 3]);
    expect(codes).toEqual([1006]);
    expect(subscribed).toEqual([expect.objectContaining({ wasRecovering: true, recovered: true })]);
    expect(client.transport).toBe('sse');
  });

  test('by a server restart: a new session, and the lost stream reported as a gap', async () => {
    const server = await startRestartableNode({ http: { retry: 800 } });
    cleanups.push(() => server.close());
    const proxy = await tcpProxy(server.port);
    cleanups.push(() => proxy.close());
    const client = clients.make(proxy.url(server.wsUrl), { ...FAST, transports: ['sse'], token: await server.token('alice') });
    await client.connect();
    const sub = client.subscribe<{ n: number }>('chat:restart-sse');
    await sub.ready();
    const gaps: GapContext[] = [];
    sub.on('gap', (g) => gaps.push(g));
    await server.api('POST', '/publish', { channel: 'chat:restart-sse', data: { n: 1 } });
    await until(() => sub.position?.offset === 1, 'first');
    const codes: number[] = [];
    client.on('connecting', (ctx) => codes.push(ctx.code));
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    proxy.cut();
    const restartedAt = Date.now();
    await server.restart();
    // The stream resumes 800 ms after the cut: on the new server, whose tickets are all new.
    expect(Date.now() - restartedAt).toBeLessThan(700);
    await until(() => codes.length > 0 && client.state === 'connected' && sub.state === 'subscribed', () => `${client.state} ${JSON.stringify(codes)} ${errors}`, 8_000);
    expect(codes).toEqual([1006]);
    expect(errors).toEqual([]);
    expect(gaps).toHaveLength(1);
    const got = collect(sub);
    await server.api('POST', '/publish', { channel: 'chat:restart-sse', data: { n: 2 } });
    await until(() => got.length === 1, 'live after the restart');
  });
});

describe('a silent server', () => {
  test('is detected when its pings stop, and the client reconnects once it answers again', async () => {
    const proc = await startServerProcess('client:\n  pingInterval: 1s\n  pongTimeout: 500ms\nnamespaces:\n  chat:\n    history: { size: 100, ttl: 10m }\n    recover: true\n');
    cleanups.push(() => proc.cleanup());
    const token = await mintToken(proc.secret, { sub: 'alice', ttlSeconds: 600 });
    const client = clients.make(proc.wsUrl, { ...FAST, token, pingSlack: 300 });
    await client.connect();
    const codes: number[] = [];
    client.on('connecting', (ctx) => codes.push(ctx.code));
    // Pings keep a healthy connection up well past ping + pong + slack.
    await sleep(2_500);
    expect(client.state).toBe('connected');
    proc.child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    try {
      await until(() => codes.length > 0, 'dead server detected', 6_000);
      // No frame for ping (1 s) + pong (1 s, announced rounded up) + slack (0.3 s), at most one ping period late.
      expect(Date.now() - stoppedAt).toBeLessThan(4_500);
      expect(codes[0]).toBe(4001);
    } finally {
      proc.child.kill('SIGCONT');
    }
    await until(() => client.state === 'connected', 'reconnected', 8_000);
  });
});

describe('terminal errors', () => {
  test('a bad token stops the client with a typed unauthorized error and no retries', async () => {
    const server = await node();
    const client = clients.make(server.wsUrl, { ...FAST, token: 'not-a-jwt' });
    const connecting: number[] = [];
    client.on('connecting', (ctx) => connecting.push(ctx.code));
    const errors: unknown[] = [];
    client.on('error', (e) => errors.push(e));
    const disconnected = new Promise<{ code: number; error?: unknown }>((resolve) => client.on('disconnected', resolve));
    await expect(client.connect()).rejects.toMatchObject({ name: 'TidingsError', code: 'unauthorized', temporary: false, closeCode: 4500 });
    expect((await disconnected).code).toBe(4500);
    await sleep(300);
    expect(client.state).toBe('disconnected');
    expect(connecting).toEqual([0]);
    expect(errors).toHaveLength(1);
  });

  test('a terminal disconnect from the server stops reconnecting; a reconnect code does not', async () => {
    const server = await node();
    const client = clients.make(server.wsUrl, { ...FAST, token: await server.token('alice') });
    await client.connect();
    const disconnected = new Promise<{ code: number; reason: string; error?: { code: string } }>((resolve) => client.on('disconnected', resolve));
    await server.api('POST', '/users/alice/disconnect', { terminal: true, reason: 'banned' });
    const ctx = await disconnected;
    expect(ctx).toMatchObject({ code: 4503, reason: 'banned', error: { code: 'force_disconnect' } });
    await sleep(200);
    expect(client.state).toBe('disconnected');
    expect((await server.node.listConnections({ user: 'alice' })).connections).toHaveLength(0);
  });

  test('a client that cannot reach the server keeps retrying with growing delays', async () => {
    const client = clients.make('ws://127.0.0.1:9/connection/websocket', { minReconnectDelay: 20, maxReconnectDelay: 80, token: 'x' });
    const attempts: number[] = [];
    client.on('connecting', () => attempts.push(Date.now()));
    void client.connect().catch(() => {});
    await until(() => attempts.length >= 6, () => `${attempts.length} attempts`, 3_000);
    expect(client.state).toBe('connecting');
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    // Every delay is within [min, max] (plus scheduling slack).
    for (const g of gaps.slice(1)) expect(g).toBeGreaterThanOrEqual(15);
  });
});
