/**
 * Recovery soak: 20 clients are cut off again and again while 2,000 numbered messages are
 * published. Every client must end with every message exactly once, in order. Across a
 * restart of the memory engine, every client must get an explicit gap instead.
 */
import { afterEach, expect, test } from 'vitest';
import type { Subscription, Tidings } from '@tidings/client';
import { prng } from '../../protocol/test/prng.js';
import { startTestNode, type TestNode } from '../../server/src/test-support/test-node.js';
import { Clients, TRANSPORTS, instrumentedWebSocket, sleep, startRestartableNode, tcpProxy, until, type TransportName } from './support.js';

const CLIENTS = 20;
const clients = new Clients();
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  clients.closeAll();
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Watcher {
  client: Tidings;
  sub: Subscription<{ n: number }>;
  /** Cuts this client's TCP connections, as a broken network would. */
  cut(): void;
  got: number[];
  gaps: number;
  reconnects: number;
}

/** 20 clients over `transport`, each through its own TCP proxy. */
async function watchers(server: TestNode, channel: string, transport: TransportName): Promise<Watcher[]> {
  const out: Watcher[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const proxy = await tcpProxy(server.port);
    cleanups.push(() => proxy.close());
    const client = clients.make(proxy.url(server.wsUrl), { transports: [transport], minReconnectDelay: 10, maxReconnectDelay: 150, token: await server.token(`soak-${i}`) });
    const w: Watcher = { client, cut: () => proxy.cut(), sub: client.subscribe<{ n: number }>(channel, { onGap: () => w.gaps++ }), got: [], gaps: 0, reconnects: 0 };
    w.sub.on('publication', (p) => w.got.push(p.data.n));
    client.on('connecting', (ctx) => ctx.code !== 0 && w.reconnects++);
    out.push(w);
  }
  await Promise.all(out.map((w) => w.client.connect()));
  await Promise.all(out.map((w) => w.sub.ready()));
  return out;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test.each(TRANSPORTS)('over %s: 20 clients repeatedly cut off while 2,000 messages are published: every message exactly once, in order, no gap', async (transport) => {
  const server = await startTestNode();
  cleanups.push(() => server.close());
  const ws = await watchers(server, 'chat:soak', transport);
  const random = prng(20261122);
  const TOTAL = 2_000;
  let published = 0;
  let disruptions = 0;
  let dropped = 0;
  const publishing = (async () => {
    // 10 messages every 10 ms: about two seconds of traffic.
    while (published < TOTAL) {
      for (let i = 0; i < 10 && published < TOTAL; i++) await server.node.publish('chat:soak', { n: ++published });
      await sleep(10);
    }
  })();
  const disrupting = (async () => {
    for (let round = 0; round < 200 && published < TOTAL; round++) {
      const w = ws[Math.floor(random() * ws.length)]!;
      // Alternate a server-side drop (disconnect push, close frame) and a broken network (no close at all).
      if (round % 2 === 0) dropped += await server.node.disconnectUser(`soak-${ws.indexOf(w)}`);
      else w.cut();
      disruptions++;
      await sleep(15 + Math.floor(random() * 25));
    }
  })();
  await Promise.all([publishing, disrupting]);
  await until(
    () => ws.every((w) => w.got.length >= TOTAL && w.client.state === 'connected'),
    () => `counts: ${ws.map((w) => w.got.length).join(',')}; gaps told: ${ws.map((w) => w.gaps).join(',')}; last: ${ws.map((w) => w.got.at(-1) ?? 0).join(',')}`,
    20_000,
  );
  await sleep(100);
  const expected = range(1, TOTAL);
  for (const w of ws) {
    expect(w.got).toEqual(expected);
    expect(w.gaps).toBe(0);
  }
  const reconnects = ws.reduce((sum, w) => sum + w.reconnects, 0);
  console.log(`soak over ${transport}: ${disruptions} disruptions (${dropped} connections dropped by the server), ${reconnects} reconnects`);
  expect(disruptions).toBeGreaterThanOrEqual(30);
  expect(dropped).toBeGreaterThanOrEqual(10);
  // Every connection the server dropped came back. (A cut of the TCP connection may be absorbed
  // without a reconnect: SSE resumes with Last-Event-ID and a poll is asked again.)
  expect(reconnects).toBeGreaterThanOrEqual(dropped);
// Above the 20 s bound of the wait for every message, so a stuck client fails with its counts, not a bare timeout.
}, 45_000);

test('a publication lost in transit on a live subscription is noticed (offset jump) and recovered', async () => {
  const server = await startTestNode();
  cleanups.push(() => server.close());
  const ws = instrumentedWebSocket();
  const client = clients.make(server.wsUrl, { websocket: ws.WebSocket, transports: ['websocket'], token: await server.token('lossy') });
  let reconnects = 0;
  client.on('connecting', (ctx) => ctx.code !== 0 && reconnects++);
  await client.connect();
  let gaps = 0;
  const sub = client.subscribe<{ n: number }>('chat:lossy', { onGap: () => gaps++ });
  await sub.ready();
  const got: number[] = [];
  sub.on('publication', (p) => got.push(p.data.n));
  // A middlebox loses the publication with offset 5.
  let dropped = 0;
  ws.drop = (frame) => frame.type === 'publication' && frame.offset === 5 && dropped++ === 0;
  for (let n = 1; n <= 10; n++) await server.node.publish('chat:lossy', { n });
  await until(() => got.length === 10, () => JSON.stringify(got));
  expect(dropped).toBe(1);
  expect(got).toEqual(range(1, 10));
  expect(gaps).toBe(0);
  // It recovered by resubscribing with its last position, without reconnecting.
  const subscribes = ws.sent.filter((f) => f.type === 'subscribe');
  expect(subscribes.at(-1)).toMatchObject({ channel: 'chat:lossy', recover: { offset: 4 } });
  expect(reconnects).toBe(0);
});

test.each(TRANSPORTS)('over %s: across a restart of the memory engine every client gets an explicit gap, never a silent loss', async (transport) => {
  const server = await startRestartableNode({ shutdown: { reconnectDelay: 100 } });
  cleanups.push(() => server.close());
  const ws = await watchers(server, 'chat:epoch', transport);
  for (let n = 1; n <= 300; n++) await server.node.publish('chat:epoch', { n });
  await until(() => ws.every((w) => w.got.length === 300), 'first 300');
  const gapEvents: string[] = [];
  for (const w of ws) w.sub.on('gap', (g) => gapEvents.push(`${g.from.epoch}->${g.to.epoch}`));
  await server.restart();
  // Published on the new node while the clients are still coming back: part of it cannot be recovered.
  for (let n = 301; n <= 400; n++) await server.node.publish('chat:epoch', { n });
  await until(() => ws.every((w) => w.gaps === 1 && w.sub.state === 'subscribed'), () => `gaps: ${ws.map((w) => w.gaps).join(',')}`, 10_000);
  for (let n = 401; n <= 450; n++) await server.node.publish('chat:epoch', { n });
  await until(() => ws.every((w) => w.got.at(-1) === 450), 'live after the restart');
  for (const w of ws) {
    expect(w.gaps).toBe(1);
    // Never a duplicate or a reordering: strictly increasing, complete before the restart, complete after the resubscribe.
    for (let i = 1; i < w.got.length; i++) expect(w.got[i]).toBeGreaterThan(w.got[i - 1]!);
    expect(w.got.slice(0, 300)).toEqual(range(1, 300));
    expect(w.got.slice(-50)).toEqual(range(401, 450));
  }
  expect(new Set(gapEvents).size).toBe(1);
  expect(gapEvents).toHaveLength(CLIENTS);
});
