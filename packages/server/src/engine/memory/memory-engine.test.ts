import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../config/schema.js';
import { brokerContract } from '../broker.contract.js';
import { presenceContract } from '../presence.contract.js';
import { progressContract, progressTwoNodeContract } from '../progress.contract.js';
import { typingContract, typingTwoNodeContract } from '../typing.contract.js';
import { userStatusContract } from '../user-status.contract.js';
import { publicationBytes } from '../broker.js';
import { MemoryBroker } from './memory-broker.js';
import { createMemoryEngine, MemoryCluster, memoryClusterOptions } from './memory-cluster.js';
import { MemoryPresenceManager } from './memory-presence.js';
import { MemoryProgressStore } from './memory-progress.js';
import { MemoryStreams } from './memory-streams.js';
import { MemoryTypingStore } from './memory-typing.js';
import { MemoryUserStatusStore } from './memory-user-status.js';

// Nodes of one process: broker handles over one MemoryStreams, as MemoryCluster.node() makes them.
brokerContract('MemoryBroker', async ({ idempotencyMaxKeys, ...options }, count) => {
  const streams = new MemoryStreams({ ...options, sweepIntervalMs: 50, idempotency: idempotencyMaxKeys === undefined ? {} : { maxKeys: idempotencyMaxKeys } });
  return { nodes: Array.from({ length: count }, () => new MemoryBroker(streams)), close: async () => streams.close() };
});
presenceContract('MemoryPresenceManager', async (options) => new MemoryPresenceManager(options));
userStatusContract('MemoryUserStatusStore', async (options) => new MemoryUserStatusStore(options));
typingContract('MemoryTypingStore', async () => new MemoryTypingStore());
progressContract('MemoryProgressStore', async () => new MemoryProgressStore(50));
// The memory cluster hands every node the same typing and progress instance.
typingTwoNodeContract('MemoryCluster', async () => {
  const cluster = new MemoryCluster(memoryClusterOptions(resolveConfig({})));
  return { a: cluster.node().typing, b: cluster.node().typing, close: () => cluster.close() };
});
progressTwoNodeContract('MemoryCluster', async () => {
  const cluster = new MemoryCluster(memoryClusterOptions(resolveConfig({})));
  return { a: cluster.node().progress, b: cluster.node().progress, close: () => cluster.close() };
});

describe('MemoryCluster', () => {
  it("gives each node its own broker, bus and limits handles over shared state; a node's close ends only its own", async () => {
    const cluster = new MemoryCluster(memoryClusterOptions(resolveConfig({})));
    try {
      const a = cluster.node();
      const b = cluster.node();
      expect(a.broker).not.toBe(b.broker);
      expect(a.bus).not.toBe(b.bus);
      expect(a.limits).not.toBe(b.limits);
      expect(a.presence).toBe(b.presence);
      expect(a.userStatus).toBe(b.userStatus);
      const got: unknown[] = [];
      b.broker.setHandler({ onPublication: (_c, pub) => void got.push(pub.data), onControl: () => {} });
      await b.broker.subscribe(['x:c']);
      expect(await a.limits.acquire('user:alice', 'conn-a', 1)).toBe(true);
      expect(await b.limits.acquire('user:alice', 'conn-b', 1)).toBe(false);
      await a.close();
      // A's slot went with it; B still receives what is published.
      expect(await b.limits.acquire('user:alice', 'conn-b', 1)).toBe(true);
      await cluster.node().broker.publish('x:c', 'after a left', {});
      expect(got).toEqual(['after a left']);
    } finally {
      await cluster.close();
    }
  });

  it('createMemoryEngine is a cluster of one node, closed with it', async () => {
    const engine = createMemoryEngine(resolveConfig({ history: { maxStreams: 7 } }));
    const pos = await engine.broker.position('x:a');
    expect(pos.offset).toBe(0);
    await engine.close();
    await engine.close();
  });
});

describe('MemoryBroker stream lifetime', () => {
  it('keeps a stream with local subscribers past metaTtl, so its epoch cannot change under them', async () => {
    const broker = new MemoryBroker({ metaTtlMs: 100, sweepIntervalMs: 20 });
    broker.setHandler({ onPublication: () => {}, onControl: () => {} });
    try {
      await broker.subscribe(['x:kept']);
      const a = await broker.position('x:kept');
      await new Promise((r) => setTimeout(r, 250));
      expect(await broker.position('x:kept')).toEqual(a);
      await broker.unsubscribe(['x:kept']);
      await new Promise((r) => setTimeout(r, 250));
      expect((await broker.position('x:kept')).epoch).not.toBe(a.epoch);
    } finally {
      await broker.close();
    }
  });
});

describe('MemoryBroker stream and byte bounds', () => {
  const history = { size: 10, ttlMs: 60_000 };

  it('keeps the stream count at history.maxStreams while a connection cycles unique channel names', async () => {
    const broker = new MemoryBroker({ metaTtlMs: 3_600_000, maxStreams: 100 });
    broker.setHandler({ onPublication: () => {}, onControl: () => {} });
    try {
      const kept = await broker.publish('x:kept', 'data', { history });
      // What a subscribe does for each name: subscribe, read the position, unsubscribe.
      for (let i = 0; i < 5000; i++) {
        const channel = `x:cycle-${i}`;
        await broker.subscribe([channel]);
        await broker.position(channel);
        await broker.unsubscribe([channel]);
        expect(broker.historyStats().streams).toBeLessThanOrEqual(100);
      }
      expect(broker.historyStats()).toMatchObject({ streams: 100, evictedStreams: 4901 });
      // Streams that never held a publication go first: the published one kept its position.
      expect(await broker.position('x:kept')).toEqual(kept.position);
    } finally {
      await broker.close();
    }
  });

  it('counts bytes back when publications leave by size, ttl, removal or a forgotten stream', async () => {
    let now = 1_000_000;
    const broker = new MemoryBroker({ metaTtlMs: 10_000, now: () => now, sweepIntervalMs: 3_600_000 });
    broker.setHandler({ onPublication: () => {}, onControl: () => {} });
    const owner = { id: 'alice', maxBytes: 1_000_000 };
    const one = publicationBytes(JSON.stringify('p'), undefined);
    try {
      for (let i = 0; i < 15; i++) await broker.publish('x:a', 'p', { history, owner });
      // Ten kept (size), five trimmed.
      expect(broker.historyStats()).toMatchObject({ bytes: 10 * one, publications: 10 });
      expect(broker.streams.ownerBytes('alice')).toBe(10 * one);
      await broker.publish('x:b', 'p', { history: { size: 10, ttlMs: 100 }, owner });
      now += 200;
      broker.streams.sweep();
      expect(broker.streams.ownerBytes('alice')).toBe(10 * one);
      await broker.removeHistory('x:a');
      expect(broker.historyStats()).toMatchObject({ bytes: 0, publications: 0 });
      expect(broker.streams.ownerBytes('alice')).toBe(0);
      await broker.publish('x:c', 'p', { history, owner });
      now += 20_000;
      broker.streams.sweep();
      expect(broker.historyStats()).toMatchObject({ bytes: 0, publications: 0, streams: 0 });
      expect(broker.streams.ownerBytes('alice')).toBe(0);
    } finally {
      await broker.close();
    }
  });

  it('holds the node budget under a flood of publications to fresh channels, evicting the oldest', async () => {
    const data = { text: 'x'.repeat(1000) };
    const one = publicationBytes(JSON.stringify(data), undefined);
    const broker = new MemoryBroker({ metaTtlMs: 3_600_000, maxBytes: 50 * one });
    broker.setHandler({ onPublication: () => {}, onControl: () => {} });
    try {
      for (let i = 0; i < 20_000; i++) broker.streams.publish(`x:flood-${i}`, data, { history });
      const stats = broker.historyStats();
      expect(stats).toMatchObject({ bytes: 50 * one, publications: 50, evictedByNodeBudget: 19_950 });
      // Evicted publications are not held by the eviction queue either.
      expect(broker.streams.evictionQueueSlots()).toBeLessThan(2 * 50 + 1100);
      expect((await broker.history('x:flood-19999', { limit: 10 })).publications).toHaveLength(1);
      expect((await broker.history('x:flood-0', { limit: 10 })).publications).toHaveLength(0);
    } finally {
      await broker.close();
    }
  });
});
