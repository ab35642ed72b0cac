/**
 * The Redis broker on a real redis-server: the Broker contract (one node, and two nodes = two
 * brokers with their own connections over one Redis and one fresh prefix), with classic and with
 * sharded pub/sub, plus what only Redis shows: pub/sub delivery carries history's positions, the
 * scripts survive SCRIPT FLUSH, and publishes racing from two nodes get every offset once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamPosition } from '@tidings/protocol';
import { brokerContract, waitFor, type BrokerFactory } from '../broker.contract.js';
import { HistoryBudgetError, publicationBytes } from '../broker.js';
import { unique } from '../contract-support.js';
import { redisMissing, startRedis, type RedisServer } from '../../test-support/redis-server.js';
import { RedisBroker } from './redis-broker.js';
import { closeRedis, openRedis, type RedisClient } from './redis-connection.js';
import { RedisKeys, tagName } from './redis-keys.js';

describe.skipIf(redisMissing())('Redis broker', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.close();
  });

  /** `count` broker nodes over one fresh prefix, each with its own command and subscriber connections. */
  const deployment = (sharded: boolean): BrokerFactory => async ({ metaTtlMs, maxBytes, maxStreams, idempotencyMaxKeys }, count) => {
    const keys = new RedisKeys(unique('t'));
    const clients: RedisClient[] = [];
    const nodes: RedisBroker[] = [];
    for (let i = 0; i < count; i++) {
      const client = await openRedis({ url: server.url });
      clients.push(client);
      nodes.push(await RedisBroker.create(client, keys, { sharded, metaTtlMs, maxBytes, maxStreams, ...(idempotencyMaxKeys !== undefined ? { idempotencyMaxKeys } : {}) }));
    }
    return { nodes, close: async () => void (await Promise.all(clients.map(closeRedis))) };
  };

  brokerContract('RedisBroker', deployment(false));
  brokerContract('RedisBroker (sharded pub/sub)', deployment(true));

  describe('beyond the contract', () => {
    const open: { close(): Promise<void> }[] = [];
    afterAll(async () => {
      await Promise.all(open.splice(0).map((p) => p.close()));
    });
    const two = async () => {
      const d = await deployment(false)({ metaTtlMs: 3_600_000, maxBytes: 0, maxStreams: 0 }, 2);
      open.push({ close: async () => (await Promise.all(d.nodes.map((n) => n.close())), d.close()) });
      return d.nodes as [RedisBroker, RedisBroker];
    };
    const HISTORY = { size: 2000, ttlMs: 60_000 };

    it('delivers through pub/sub with the same offset and epoch as history holds', async () => {
      const [a, b] = await two();
      const got: { data: unknown; offset: number | undefined; position: StreamPosition | undefined }[] = [];
      b.setHandler({ onPublication: (_c, pub, position) => void got.push({ data: pub.data, offset: pub.offset, position }), onControl: () => {} });
      const c = unique('test:c');
      await b.subscribe([c]);
      for (let i = 0; i < 5; i++) await a.publish(c, { i }, { history: HISTORY });
      await waitFor(() => got.length === 5);
      const page = await a.history(c, { limit: 10 });
      expect(got.map((g) => g.data)).toEqual(page.publications.map((p) => p.data));
      expect(got.map((g) => g.offset)).toEqual(page.publications.map((p) => p.offset));
      expect(got.map((g) => g.position)).toEqual(page.publications.map((p) => ({ epoch: page.position.epoch, offset: p.offset })));
    });

    it('runs its scripts again after SCRIPT FLUSH (EVALSHA falls back to EVAL on NOSCRIPT)', async () => {
      const [a] = await two();
      const c = unique('test:c');
      expect((await a.publish(c, 1, { history: HISTORY })).position!.offset).toBe(1);
      const admin = await openRedis({ url: server.url });
      try {
        await admin.sendCommand(['SCRIPT', 'FLUSH']);
      } finally {
        await closeRedis(admin);
      }
      expect((await a.publish(c, 2, { history: HISTORY })).position!.offset).toBe(2);
      expect((await a.history(c, { limit: 10 })).publications.map((p) => p.data)).toEqual([1, 2]);
      await a.removeHistory(c);
      expect((await a.position(c)).offset).toBe(0);
    });

    it('gives 1,000 publishes racing from two nodes the offsets 1..1000, each once, delivered in order to both', async () => {
      const [a, b] = await two();
      const c = unique('test:c');
      const atA: number[] = [];
      const atB: number[] = [];
      a.setHandler({ onPublication: (_c, pub) => void atA.push(pub.offset!), onControl: () => {} });
      b.setHandler({ onPublication: (_c, pub) => void atB.push(pub.offset!), onControl: () => {} });
      await a.subscribe([c]);
      await b.subscribe([c]);
      const outcomes = await Promise.all(Array.from({ length: 1000 }, (_, i) => (i % 2 ? a : b).publish(c, i, { history: HISTORY })));
      const offsets = outcomes.map((o) => o.position!.offset).sort((x, y) => x - y);
      expect(offsets).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
      expect(new Set(outcomes.map((o) => o.position!.epoch)).size).toBe(1);
      await waitFor(() => atA.length === 1000 && atB.length === 1000, 10_000);
      const expected = Array.from({ length: 1000 }, (_, i) => i + 1);
      expect(atA).toEqual(expected);
      expect(atB).toEqual(expected);
      expect((await a.history(c, { limit: 2000 })).publications.map((p) => p.offset)).toEqual(expected);
    });

    it("the scripts' key names are RedisKeys' names, escaping included", async () => {
      const keys = new RedisKeys(unique('t'));
      const client = await openRedis({ url: server.url });
      const broker = await RedisBroker.create(client, keys, { metaTtlMs: 60_000, maxBytes: 1_000_000, maxStreams: 100 });
      open.push({ close: async () => (await broker.close(), closeRedis(client)) });
      const c = 'test:{odd}%25';
      const owner = { id: 'o{1}%', maxBytes: 100_000 };
      const shared = { name: 'n{s}%', maxBytes: 100_000 };
      await broker.publish(c, 'x', { history: { ...HISTORY, shared }, owner, idempotency: { key: 'k}', windowMs: 60_000 } });
      const names = [
        keys.channelMeta(c), keys.channelHistory(c), keys.channelIdempotency(c), keys.channelIdempotencyIndex(c),
        keys.ownerBytes(owner.id), keys.ownerIndex(owner.id), keys.namespaceBytes(shared.name), keys.namespaceIndex(shared.name),
        keys.allBytes(), keys.allIndex(), keys.sequence(), keys.streams(),
      ];
      const exists = await Promise.all(names.map((k) => client.exists(k)));
      expect(Object.fromEntries(names.map((k, i) => [k, exists[i]]))).toEqual(Object.fromEntries(names.map((k) => [k, 1])));
      // Removing the history releases every budget: the counters are gone with their members.
      await broker.removeHistory(c);
      expect(await client.exists([keys.ownerBytes(owner.id), keys.namespaceBytes(shared.name), keys.allBytes()])).toBe(0);
      expect(await client.zCard(keys.allIndex())).toBe(0);
    });

    it("releases an owner's budget when the owner's publications expire by ttl", async () => {
      const [a] = await two();
      const c = unique('test:c');
      const data = 'q'.repeat(300);
      const owner = { id: unique('dave'), maxBytes: publicationBytes(JSON.stringify(data), undefined) * 2 };
      const history = { size: 10, ttlMs: 150 };
      await a.publish(c, data, { history, owner });
      await a.publish(c, data, { history, owner });
      await expect(a.publish(c, data, { history, owner })).rejects.toBeInstanceOf(HistoryBudgetError);
      await new Promise((r) => setTimeout(r, 300));
      expect((await a.publish(c, data, { history, owner })).position!.offset).toBe(3);
    });

    it('names keys inside one hash tag per channel, escaped so no channel or key can close it early', () => {
      const keys = new RedisKeys('p');
      expect(keys.channelMeta('ns:a')).toBe('p:{c:ns:a}:m');
      expect(keys.channelHistory('x}{%')).toBe(`p:{c:${tagName('x}{%')}}:h`);
      expect(tagName('x}{%')).toBe('x%7D%7B%25');
      expect(keys.channelPubSub('ns:a')).toBe('p:{c:ns:a}:p');
      expect(() => new RedisKeys('a{b')).toThrow();
    });
  });
});
