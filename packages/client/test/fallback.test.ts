/**
 * Transport fallback: WebSocket blocked by a proxy → SSE; a blocked transport is remembered
 * only when another one got through, and tried again after a while; a server restart
 * (everything failing) pins nothing.
 */
import { afterEach, expect, test } from 'vitest';
import { startBlockingProxy } from '../../../test/support/blocking-proxy.js';
import { startTestNode, type TestNode } from '../../server/src/test-support/test-node.js';
import { Clients, FAST, collect, sleep, startRestartableNode, until } from './support.js';

/** Open HTTP (SSE and polling) sessions on the server (the node's HTTP transports live in its front door). */
function httpSessions(server: TestNode): number {
  return (server.node as unknown as { front: { http: { sessionCount: number } } }).front.http.sessionCount;
}

const clients = new Clients();
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  clients.closeAll();
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function node(): Promise<TestNode> {
  const server = await startTestNode();
  cleanups.push(() => server.close());
  return server;
}

test('with WebSocket upgrades refused, the client falls back to SSE, then retries WebSocket after a while', async () => {
  const server = await node();
  const proxy = await startBlockingProxy(server.port);
  cleanups.push(() => proxy.close());
  // Probing off: this test is about the reconnect path (the probe has its own tests below).
  const client = clients.make(proxy.url(server.wsUrl), { ...FAST, blockedTransportRetry: 800, upgradeProbeDelay: false, token: await server.token('alice') });
  const used: string[] = [];
  client.on('connected', (ctx) => used.push(ctx.transport));
  await client.connect();
  expect(client.transport).toBe('sse');
  expect(proxy.refusedUpgrades()).toBe(1);
  const sub = client.subscribe<{ n: number }>('chat:fallback');
  await sub.ready();
  // A reconnect soon after goes straight to SSE: WebSocket is remembered as blocked.
  await server.api('POST', '/users/alice/disconnect');
  await until(() => used.length === 2, 'reconnected');
  expect(used).toEqual(['sse', 'sse']);
  expect(proxy.refusedUpgrades()).toBe(1);
  // The proxy lets WebSocket through now; once the block expires, a reconnect uses it again.
  proxy.setBlocking(false);
  await sleep(900);
  await server.api('POST', '/users/alice/disconnect');
  await until(() => used.length === 3, 'reconnected again');
  expect(used).toEqual(['sse', 'sse', 'websocket']);
  await until(() => sub.state === 'subscribed', 'subscribed over websocket');
});

test('the transport list is configurable, in order', async () => {
  const server = await node();
  const proxy = await startBlockingProxy(server.port);
  cleanups.push(() => proxy.close());
  const client = clients.make(proxy.url(server.wsUrl), { ...FAST, transports: ['websocket', 'polling'], token: await server.token('alice') });
  await client.connect();
  expect(client.transport).toBe('polling');
});

test('a transport that hangs instead of failing is skipped after transportTimeout', async () => {
  const server = await node();
  // A "WebSocket" that never opens nor fails, like an upgrade swallowed by a middlebox.
  class Hanging {
    readyState = 0;
    onopen = null;
    onmessage = null;
    onclose = null;
    onerror = null;
    send() {}
    close() {}
  }
  const client = clients.make(server.wsUrl, { ...FAST, websocket: Hanging as never, transportTimeout: 200, token: await server.token('alice') });
  const started = Date.now();
  await client.connect();
  expect(client.transport).toBe('sse');
  expect(Date.now() - started).toBeGreaterThanOrEqual(190);
});

test('a server restart, where every transport fails for a while, does not pin the client to a fallback', async () => {
  const server = await startRestartableNode();
  cleanups.push(() => server.close());
  const client = clients.make(server.wsUrl, { ...FAST, minReconnectDelay: 30, maxReconnectDelay: 60, token: await server.token('alice') });
  const used: string[] = [];
  client.on('connected', (ctx) => used.push(ctx.transport));
  await client.connect();
  await server.stop();
  await until(() => client.state === 'connecting', 'connecting');
  // Several rounds of websocket → sse → polling fail while the server is down.
  await sleep(400);
  await server.start();
  await until(() => used.length === 2, 'reconnected', 5_000);
  expect(used).toEqual(['websocket', 'websocket']);
});

test('on SSE because WebSocket was blocked, the client probes WebSocket in the background and switches over without losing a message', async () => {
  const server = await node();
  const proxy = await startBlockingProxy(server.port);
  cleanups.push(() => proxy.close());
  const client = clients.make(proxy.url(server.wsUrl), { ...FAST, upgradeProbeDelay: 300, token: await server.token('alice') });
  const used: string[] = [];
  const states: string[] = [];
  client.on('connected', (ctx) => used.push(ctx.transport));
  client.on('state', ({ state }) => states.push(state));
  await client.connect();
  expect(client.transport).toBe('sse');
  await until(() => httpSessions(server) === 1, 'one SSE session on the server');
  const sub = client.subscribe<{ n: number }>('chat:upgrade');
  const got = collect(sub);
  await sub.ready();
  proxy.setBlocking(false);
  // A publisher sends numbered messages all through the switch.
  let sending = true;
  let sent = 0;
  const publisher = (async () => {
    while (sending || sent < 20) {
      const res = await server.api('POST', '/publish', { channel: 'chat:upgrade', data: { n: ++sent } });
      expect(res.status).toBe(200);
      await sleep(10);
    }
  })();
  await until(() => client.transport === 'websocket', 'upgraded to websocket', 3_000);
  await sleep(100);
  sending = false;
  await publisher;
  await until(() => got.length >= sent, () => `received ${got.length} of ${sent}`);
  await sleep(50);
  expect(got.map((d) => d.n)).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
  expect(used).toEqual(['sse', 'websocket']);
  // Never left `connected`; the SSE session was closed on the server.
  expect(states).toEqual(['connecting', 'connected']);
  await until(() => httpSessions(server) === 0, () => `SSE session still open (${httpSessions(server)})`);
  expect(sub.state).toBe('subscribed');
  // Publishing works on the new connection.
  await client.publish('chat:upgrade', { n: sent + 1 });
  await until(() => got.length === sent + 1, 'own publication received');
});

test('a failed upgrade probe keeps the client on SSE without disruption, and it probes again later', async () => {
  const server = await node();
  const proxy = await startBlockingProxy(server.port);
  cleanups.push(() => proxy.close());
  const client = clients.make(proxy.url(server.wsUrl), { ...FAST, upgradeProbeDelay: 150, token: await server.token('alice') });
  const used: string[] = [];
  const states: string[] = [];
  client.on('connected', (ctx) => used.push(ctx.transport));
  client.on('state', ({ state }) => states.push(state));
  await client.connect();
  expect(client.transport).toBe('sse');
  const sub = client.subscribe<{ n: number }>('chat:probe-fails');
  const got = collect(sub);
  await sub.ready();
  // The first probe comes after 150 ms and fails; the next one waits twice as long.
  await until(() => proxy.refusedUpgrades() >= 2, 'a probe was refused', 2_000);
  for (let n = 1; n <= 5; n++) await server.api('POST', '/publish', { channel: 'chat:probe-fails', data: { n } });
  await until(() => got.length === 5, 'publications over SSE');
  await until(() => proxy.refusedUpgrades() >= 3, 'probed again', 2_000);
  expect(client.transport).toBe('sse');
  expect(used).toEqual(['sse']);
  expect(states).toEqual(['connecting', 'connected']);
  expect(sub.state).toBe('subscribed');
  expect(got.map((d) => d.n)).toEqual([1, 2, 3, 4, 5]);
  expect(httpSessions(server)).toBe(1);
  // Once the proxy lets upgrades through, the next probe succeeds.
  proxy.setBlocking(false);
  await until(() => client.transport === 'websocket', 'upgraded after all', 3_000);
  await until(() => httpSessions(server) === 0, 'SSE session closed');
});
