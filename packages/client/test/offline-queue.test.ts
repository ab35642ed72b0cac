/**
 * The offline queue, over each transport: commands made while disconnected go out in order
 * once connected, each settles its promise, overflow and timeouts reject (in-flight
 * publishes put back after a lost connection included), and a publish resent after a lost
 * ack is published once.
 */
import { afterEach, describe, expect, test } from 'vitest';
import type { PublishResult, TidingsError } from '@tidings/client';
import { startTestNode, type TestNode } from '../../server/src/test-support/test-node.js';
import { Clients, FAST, TRANSPORTS, collect, recording, sleep, startRestartableNode, until } from './support.js';

const clients = new Clients();
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  clients.closeAll();
  for (const c of cleanups.splice(0).reverse()) await c();
});

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.each(TRANSPORTS)('over %s', (transport) => {
  const T = { ...FAST, transports: [transport] };

  test('publishes made while disconnected are sent in order after reconnecting, each acked', async () => {
    const server = await startRestartableNode();
    cleanups.push(() => server.close());
    const publisher = clients.make(server.wsUrl, { ...T, token: await server.token('alice') });
    await publisher.connect();
    // chat: lets subscribers publish; on reconnect the subscription is restored before the queue goes out.
    await publisher.subscribe('chat:q').ready();
    await server.stop();
    await until(() => publisher.state === 'connecting', 'connecting');
    const acks: Array<Promise<PublishResult>> = [];
    for (let n = 1; n <= 50; n++) acks.push(publisher.publish('chat:q', { n }));
    expect(publisher.queued).toBe(50);
    await server.start();
    const watcher = clients.make(server.wsUrl, { ...T, token: await server.token('bob') });
    await watcher.connect();
    const sub = watcher.subscribe<{ n: number }>('chat:q');
    const live = collect(sub);
    await sub.ready();
    // The watcher may subscribe before, during or after the queue goes out: it gets live
    // exactly what came after its subscribe position, in order.
    const seenBefore = sub.position!.offset;
    const results = await Promise.all(acks);
    expect(results.map((r) => r.offset)).toEqual(range(1, 50));
    expect(publisher.queued).toBe(0);
    await until(() => seenBefore + live.length >= 50, () => `${seenBefore} + ${live.length}`);
    expect(live.map((d) => d.n)).toEqual(range(seenBefore + 1, 50));
    const history = await watcher.history('chat:q', { limit: 100 });
    expect(history.publications.map((p) => (p.data as { n: number }).n)).toEqual(range(1, 50));
  });

  test('a full queue rejects new commands with queue_full; queued ones still go out', async () => {
    const server = await startRestartableNode();
    cleanups.push(() => server.close());
    const client = clients.make(server.wsUrl, { ...T, token: await server.token('alice'), offlineQueue: { max: 5 } });
    await client.connect();
    await client.subscribe('chat:full').ready();
    await server.stop();
    await until(() => client.state === 'connecting', 'connecting');
    const queued = Array.from({ length: 5 }, (_, i) => client.publish('chat:full', { n: i + 1 }));
    await expect(client.publish('chat:full', { n: 6 })).rejects.toMatchObject({ code: 'queue_full', temporary: true });
    await server.start();
    const offsets = (await Promise.all(queued)).map((r) => r.offset);
    expect(offsets).toEqual([1, 2, 3, 4, 5]);
  });

  test('publishes in flight when the connection is lost go back to the queue within its bound: the rest reject with queue_full', async () => {
    const server: TestNode = await startTestNode();
    cleanups.push(() => server.close());
    const wire = recording(transport);
    const client = clients.make(server.wsUrl, { ...T, transports: [wire.factory], token: await server.token('alice'), offlineQueue: { max: 3 } });
    await client.connect();
    const sub = client.subscribe<{ n: number }>('chat:bound');
    await sub.ready();
    const got = collect(sub);
    // The server publishes all six; the client never hears the acks, then loses the connection.
    wire.drop = (frame) => typeof frame.id === 'number' && wire.sent.some((f) => f.id === frame.id && f.type === 'publish');
    const acks = range(1, 6).map((n) => client.publish('chat:bound', { n }));
    await until(() => got.length === 6, () => `${got.length} published`);
    wire.drop = null;
    wire.cut();
    expect(client.queued).toBe(3);
    const settled = await Promise.allSettled(acks);
    // The oldest three are resent (and found published once); the newest three are refused, not lost silently.
    expect(settled.slice(0, 3)).toMatchObject([1, 2, 3].map((offset) => ({ status: 'fulfilled', value: { offset, deduplicated: true } })));
    expect(settled.slice(3).map((r) => r.status === 'rejected' && (r.reason as TidingsError).code)).toEqual(['queue_full', 'queue_full', 'queue_full']);
    await sleep(100);
    expect(got.map((d) => d.n)).toEqual(range(1, 6));
  });

  test('a command that waits longer than offlineQueue.timeout rejects with queue_timeout', async () => {
    const client = clients.make('ws://127.0.0.1:9/connection/websocket', { ...T, token: 'x', offlineQueue: { timeout: 150 } });
    void client.connect().catch(() => {});
    const started = Date.now();
    const results = await Promise.allSettled([client.publish('chat:x', 1), client.history('chat:x'), client.rpc('m')]);
    expect(results.map((r) => r.status === 'rejected' && (r.reason as TidingsError).code)).toEqual(['queue_timeout', 'queue_timeout', 'queue_timeout']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  test('disconnect() rejects queued commands with disconnected', async () => {
    const client = clients.make('ws://127.0.0.1:9/connection/websocket', { ...T, token: 'x' });
    void client.connect().catch(() => {});
    const pending = client.publish('chat:x', 1);
    client.disconnect();
    await expect(pending).rejects.toMatchObject({ code: 'disconnected', temporary: false });
    expect(client.queued).toBe(0);
  });

  test('a publish whose ack is lost is resent on the next connection and published once', async () => {
    const server: TestNode = await startTestNode();
    cleanups.push(() => server.close());
    const wire = recording(transport);
    const publisher = clients.make(server.wsUrl, { ...T, transports: [wire.factory], token: await server.token('alice') });
    const watcher = clients.make(server.wsUrl, { ...T, token: await server.token('bob') });
    await Promise.all([publisher.connect(), watcher.connect()]);
    const sub = watcher.subscribe<{ n: number }>('chat:once');
    await Promise.all([sub.ready(), publisher.subscribe('chat:once').ready()]);
    const got = collect(sub);
    // Lose every reply to a publish: the server publishes, the client never hears about it.
    wire.drop = (frame) => typeof frame.id === 'number' && wire.sent.some((f) => f.id === frame.id && f.type === 'publish');
    const ack = publisher.publish('chat:once', { n: 1 });
    await until(() => got.length === 1, 'published');
    await sleep(50);
    // The network fails before the ack arrives; on the next connection the publish is resent.
    wire.drop = null;
    wire.cut();
    const result = await ack;
    expect(result).toMatchObject({ offset: 1, deduplicated: true });
    const sentPublishes = wire.sent.filter((f) => f.type === 'publish');
    expect(sentPublishes).toHaveLength(2);
    expect(sentPublishes[0]!.idempotencyKey).toBe(sentPublishes[1]!.idempotencyKey);
    expect(typeof sentPublishes[0]!.idempotencyKey).toBe('string');
    await sleep(100);
    expect(got).toEqual([{ n: 1 }]);
    expect(wire.opened()).toBe(2);
  });

  test('a non-publish command in flight when the connection drops rejects with connection_lost', async () => {
    const server: TestNode = await startTestNode();
    cleanups.push(() => server.close());
    server.node.onRpc('slow', () => new Promise((resolve) => setTimeout(() => resolve('late'), 300)));
    const wire = recording(transport);
    const client = clients.make(server.wsUrl, { ...T, transports: [wire.factory], token: await server.token('alice') });
    await client.connect();
    const call = client.rpc('slow');
    await until(() => wire.sent.some((f) => f.type === 'rpc'), 'rpc sent');
    wire.cut();
    await expect(call).rejects.toMatchObject({ code: 'connection_lost', temporary: true });
  });
});
