/**
 * Transport fallback: WebSocket blocked by a proxy → SSE; a blocked transport is remembered
 * only when another one got through, and tried again after a while; a server restart
 * (everything failing) pins nothing.
 */
import { afterEach, expect, test } from 'vitest';
import { startBlockingProxy } from '../../../test/support/blocking-proxy.js';
import { startTestNode, type TestNode } from '../../server/src/test-support/test-node.js';
import { Clients, FAST, sleep, startRestartableNode, until } from './support.js';

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
  const client = clients.make(proxy.url(server.wsUrl), { ...FAST, blockedTransportRetry: 800, token: await server.token('alice') });
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
