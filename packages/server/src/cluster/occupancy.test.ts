/**
 * channel.occupied / channel.vacated across two nodes, end to end: real nodes (createTidings) on
 * one memory cluster, and on a real redis-server, each delivering its webhooks to a loopback sink.
 * Counts every event per channel: duplicates (more than one per transition) and losses (none).
 * The kill -9 case (a `tidings serve` child on Redis) is test/webhooks-occupancy.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNodePair } from '../test-support/node-pair.js';
import { startRedis, redisMissing, type RedisServer } from '../test-support/redis-server.js';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, type TestNode } from '../test-support/test-node.js';
import { startWebhookSink, type WebhookSink } from '../test-support/webhook-sink.js';
import type { TidingsOptions } from '../node.js';

const DELAY = 400;
const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let seq = 0;
const fresh = (name: string) => `live:${name}-${process.pid}-${++seq}`;

function webhookOptions(sink: WebhookSink): TidingsOptions {
  return { webhooks: { endpoints: [{ id: 'sink', url: sink.url, secret: SECRET, events: ['channel.occupied', 'channel.vacated'] }], vacatedDelay: DELAY, pollInterval: 50 } } as TidingsOptions;
}

interface Pair {
  a: TestNode;
  b: TestNode;
  close(): Promise<void>;
}

function occupancySuite(name: string, start: (sink: WebhookSink) => Promise<Pair>): void {
  describe(`channel occupancy webhooks: ${name}`, () => {
    let sink: WebhookSink;
    let pair: Pair;
    beforeAll(async () => {
      sink = await startWebhookSink();
      pair = await start(sink);
    });
    afterAll(async () => {
      await pair?.close();
      await sink?.close();
    });

    const connect = async (node: TestNode, user: string) => (await TestClient.connect(node.wsUrl, await node.token(user))).client;
    const count = (type: string, channel: string) => sink.of(type, (d) => d.channel === channel).length;
    const ids = (channel: string) => sink.received.filter((w) => w.data.channel === channel).map((w) => w.id);

    it('one of two nodes losing its subscribers gives no vacated; both losing them gives one, after the delay', async () => {
      const { a, b } = pair;
      const ch = fresh('two');
      const [ca, cb] = await Promise.all([connect(a, 'ann'), connect(b, 'bob')]);
      await ca.ok('subscribe', { channel: ch });
      await cb.ok('subscribe', { channel: ch });
      await sink.waitFor('channel.occupied', (d) => d.channel === ch);
      await ca.ok('unsubscribe', { channel: ch });
      await sleep(DELAY * 2 + 300);
      expect(count('channel.vacated', ch)).toBe(0);
      const left = Date.now();
      await cb.ok('unsubscribe', { channel: ch });
      await sleep(DELAY / 2);
      expect(count('channel.vacated', ch)).toBe(0);
      const [vacated] = await sink.waitFor('channel.vacated', (d) => d.channel === ch);
      expect(Date.now() - left).toBeGreaterThanOrEqual(DELAY);
      expect(vacated!.data).toMatchObject({ channel: ch, reason: 'unsubscribed', node: expect.any(String) });
      await sleep(300);
      expect([count('channel.occupied', ch), count('channel.vacated', ch)]).toEqual([1, 1]);
      expect(new Set(ids(ch)).size).toBe(2);
      ca.close();
      cb.close();
    });

    it('a subscriber that leaves and comes back (on the other node) within the delay gives nothing', async () => {
      const { a, b } = pair;
      const ch = fresh('refresh');
      const tab = await connect(a, 'cat');
      await tab.ok('subscribe', { channel: ch });
      await sink.waitFor('channel.occupied', (d) => d.channel === ch);
      // A page refresh that lands on the other node.
      tab.ws.terminate();
      await tab.closed;
      const again = await connect(b, 'cat');
      await again.ok('subscribe', { channel: ch });
      await sleep(DELAY * 2 + 300);
      expect([count('channel.occupied', ch), count('channel.vacated', ch)]).toEqual([1, 0]);
      again.close();
      await sink.waitFor('channel.vacated', (d) => d.channel === ch);
      await sleep(300);
      expect([count('channel.occupied', ch), count('channel.vacated', ch)]).toEqual([1, 1]);
    });

    it('a subscribe storm from both nodes on several channels gives exactly one occupied and one vacated per channel', async () => {
      const { a, b } = pair;
      const channels = Array.from({ length: 4 }, () => fresh('storm'));
      const clients = await Promise.all(Array.from({ length: 12 }, (_, i) => connect(i % 2 ? b : a, `u${i}`)));
      await Promise.all(clients.flatMap((c) => channels.map((ch) => c.ok('subscribe', { channel: ch }))));
      for (const ch of channels) await sink.waitFor('channel.occupied', (d) => d.channel === ch);
      // Half leave and come back at once, in a storm again.
      await Promise.all(clients.slice(0, 6).flatMap((c) => channels.map((ch) => c.ok('unsubscribe', { channel: ch }))));
      await Promise.all(clients.slice(0, 6).flatMap((c) => channels.map((ch) => c.ok('subscribe', { channel: ch }))));
      await sleep(DELAY + 200);
      for (const c of clients) c.close();
      for (const ch of channels) await sink.waitFor('channel.vacated', (d) => d.channel === ch);
      await sleep(DELAY + 300);
      const occupied = channels.map((ch) => count('channel.occupied', ch));
      const vacated = channels.map((ch) => count('channel.vacated', ch));
      const duplicates = [...occupied, ...vacated].reduce((n, k) => n + Math.max(0, k - 1), 0);
      const lost = [...occupied, ...vacated].filter((k) => k === 0).length;
      expect({ duplicates, lost }).toEqual({ duplicates: 0, lost: 0 });
    });
  });
}

occupancySuite('two nodes on one memory cluster', async (sink) => startNodePair(webhookOptions(sink)));

describe.skipIf(redisMissing())('on Redis', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.close();
  });
  occupancySuite('two nodes on a real redis-server', async (sink) => {
    const engine = { type: 'redis' as const, url: redis.url, prefix: `occ${process.pid}` };
    const a = await startTestNode({ ...webhookOptions(sink), engine });
    const b = await startTestNode({ ...webhookOptions(sink), engine }).catch(async (err) => {
      await a.close();
      throw err;
    });
    // Connected to Redis (a connect before that gets 503).
    for (let i = 0; i < 200 && !(a.node.ready && b.node.ready); i++) await sleep(25);
    return {
      a,
      b,
      close: async () => {
        await b.close();
        await a.close();
      },
    };
  });
});
