/**
 * Recovery soak: 20 clients are cut off again and again while 2,000 numbered messages are
 * published. Every client must end with every message exactly once, in order. Across a
 * restart of the memory engine, every client must get an explicit gap instead.
 */
import { afterEach, expect, test } from 'vitest';
import type { Subscription, Tidings } from '@tidings/client';
import { prng } from '../../protocol/test/prng.js';
import { startTestNode, type TestNode } from '../../server/src/test-support/test-node.js';
import { Clients, instrumentedWebSocket, sleep, startRestartableNode, until, type Instrumented } from './support.js';

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
  ws: Instrumented;
  got: number[];
  gaps: number;
  reconnects: number;
}

async function watchers(server: TestNode, channel: string): Promise<Watcher[]> {
  const out: Watcher[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const ws = instrumentedWebSocket();
    const client = clients.make(server.wsUrl, { websocket: ws.WebSocket, minReconnectDelay: 10, maxReconnectDelay: 150, token: await server.token(`soak-${i}`) });
    const w: Watcher = { client, ws, sub: client.subscribe<{ n: number }>(channel, { onGap: () => w.gaps++ }), got: [], gaps: 0, reconnects: 0 };
    w.sub.on('publication', (p) => w.got.push(p.data.n));
    client.on('connecting', (ctx) => ctx.code !== 0 && w.reconnects++);
    out.push(w);
  }
  await Promise.all(out.map((w) => w.client.connect()));
  await Promise.all(out.map((w) => w.sub.ready()));
  return out;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test('20 clients repeatedly cut off while 2,000 messages are published: every message exactly once, in order, no gap', async () => {
  const server = await startTestNode();
  cleanups.push(() => server.close());
  const ws = await watchers(server, 'chat:soak');
  const random = prng(20261122);
  const TOTAL = 2_000;
  let published = 0;
  let disruptions = 0;
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
      if (round % 2 === 0) server.node.disconnectUser(w.client.user ?? `soak-${ws.indexOf(w)}`);
      else w.ws.cut();
      disruptions++;
      await sleep(15 + Math.floor(random() * 25));
    }
  })();
  await Promise.all([publishing, disrupting]);
  await until(
    () => ws.every((w) => w.got.length >= TOTAL && w.client.state === 'connected'),
    () => `counts: ${ws.map((w) => w.got.length).join(',')}`,
    20_000,
  );
  await sleep(100);
  const expected = range(1, TOTAL);
  for (const w of ws) {
    expect(w.got).toEqual(expected);
    expect(w.gaps).toBe(0);
  }
  const reconnects = ws.reduce((sum, w) => sum + w.reconnects, 0);
  console.log(`soak: ${disruptions} disruptions, ${reconnects} reconnects`);
  expect(disruptions).toBeGreaterThanOrEqual(30);
  // Most disruptions hit a connected client; a few land while it is reconnecting already.
  expect(reconnects).toBeGreaterThanOrEqual(disruptions / 2);
});

test('a publication lost in transit on a live subscription is noticed (offset jump) and recovered', async () => {
  const server = await startTestNode();
  cleanups.push(() => server.close());
  const [w] = await watchers(server, 'chat:lossy').then((all) => {
    for (const other of all.slice(1)) other.client.disconnect();
    return all;
  });
  // A middlebox loses the publication with offset 5.
  let dropped = 0;
  w!.ws.drop = (frame) => frame.type === 'publication' && frame.offset === 5 && dropped++ === 0;
  for (let n = 1; n <= 10; n++) await server.node.publish('chat:lossy', { n });
  await until(() => w!.got.length === 10, () => JSON.stringify(w!.got));
  expect(dropped).toBe(1);
  expect(w!.got).toEqual(range(1, 10));
  expect(w!.gaps).toBe(0);
  // It recovered by resubscribing with its last position, without reconnecting.
  const subscribes = w!.ws.sent.filter((f) => f.type === 'subscribe');
  expect(subscribes.at(-1)).toMatchObject({ channel: 'chat:lossy', recover: { offset: 4 } });
  expect(w!.reconnects).toBe(0);
});

test('across a restart of the memory engine every client gets an explicit gap, never a silent loss', async () => {
  const server = await startRestartableNode({ shutdown: { reconnectDelay: 100 } });
  cleanups.push(() => server.close());
  const ws = await watchers(server, 'chat:epoch');
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
