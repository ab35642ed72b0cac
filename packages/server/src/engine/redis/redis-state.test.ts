/**
 * Presence, user status, typing and job progress on a real redis-server: the engine contracts
 * (one node, and two nodes = two instances with their own connections over one Redis and prefix),
 * plus what only separate connections show: a node whose connection dies without goodbye.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, unique } from '../contract-support.js';
import { presenceContract, presenceTwoNodeContract } from '../presence.contract.js';
import { progressContract, progressTwoNodeContract } from '../progress.contract.js';
import { typingContract, typingTwoNodeContract } from '../typing.contract.js';
import { userStatusContract, userStatusTwoNodeContract } from '../user-status.contract.js';
import { redisMissing, startRedis, type RedisServer } from '../../test-support/redis-server.js';
import { closeRedis, openRedis, type RedisClient } from './redis-connection.js';
import { RedisKeys } from './redis-keys.js';
import { RedisPresenceManager } from './redis-presence.js';
import { RedisProgressStore } from './redis-progress.js';
import { RedisTypingStore } from './redis-typing.js';
import { RedisUserStatusStore } from './redis-user-status.js';

type Client = RedisClient;

describe.skipIf(redisMissing())('Redis state parts', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.close();
  });

  const connect = (): Promise<Client> => openRedis({ url: server.url });
  /** Makes `part.close()` also close the connection it was given. */
  const closing = <T extends { close(): Promise<void> }>(part: T, client: Client): T => {
    const close = part.close.bind(part);
    part.close = async () => {
      await close();
      await closeRedis(client);
    };
    return part;
  };
  /** `count` nodes: each its own connection, all over one fresh prefix. */
  const nodes = async <T extends { close(): Promise<void> }>(count: number, make: (client: Client, keys: RedisKeys) => T): Promise<T[]> => {
    const keys = new RedisKeys(unique('t'));
    return Promise.all(Array.from({ length: count }, async () => {
      const client = await connect();
      return closing(make(client, keys), client);
    }));
  };
  const two = async <T extends { close(): Promise<void> }>(make: (client: Client, keys: RedisKeys) => T) => {
    const [a, b] = await nodes(2, make);
    return { a: a!, b: b!, close: async () => void (await Promise.all([a!.close(), b!.close()])) };
  };

  presenceContract('RedisPresenceManager', async ({ ttlMs }) => (await nodes(1, (c, keys) => new RedisPresenceManager(c, keys, { ttlMs })))[0]!);
  presenceTwoNodeContract('RedisPresenceManager', ({ ttlMs }) => two((c, keys) => new RedisPresenceManager(c, keys, { ttlMs })));
  userStatusContract('RedisUserStatusStore', async (options) => (await nodes(1, (c, keys) => new RedisUserStatusStore(c, keys, options)))[0]!);
  userStatusTwoNodeContract('RedisUserStatusStore', (options) => two((c, keys) => new RedisUserStatusStore(c, keys, options)));
  typingContract('RedisTypingStore', async () => (await nodes(1, (c, keys) => new RedisTypingStore(c, keys)))[0]!);
  typingTwoNodeContract('RedisTypingStore', () => two((c, keys) => new RedisTypingStore(c, keys)));
  progressContract('RedisProgressStore', async () => (await nodes(1, (c, keys) => new RedisProgressStore(c, keys)))[0]!);
  progressTwoNodeContract('RedisProgressStore', () => two((c, keys) => new RedisProgressStore(c, keys)));

  describe('a node that dies without goodbye', () => {
    const ttlMs = 500;

    it('its users leave presence and go offline on the other node within the ttl, while the other node keeps its own', async () => {
      const keys = new RedisKeys(unique('t'));
      const [clientA, clientB] = [await connect(), await connect()];
      const presenceA = new RedisPresenceManager(clientA, keys, { ttlMs });
      const presenceB = new RedisPresenceManager(clientB, keys, { ttlMs });
      const statusA = new RedisUserStatusStore(clientA, keys, { ttlMs, lastSeenTtlMs: 60_000 });
      const statusB = new RedisUserStatusStore(clientB, keys, { ttlMs, lastSeenTtlMs: 60_000 });
      const c = unique('room:');
      const alice = unique('alice-');
      const bob = unique('bob-');
      try {
        const addedAt = Date.now();
        await presenceA.add(c, { user: alice, client: 'a1', status: 'online' });
        await statusA.addConnection(alice, 'a1', 'online', undefined, 0);
        await presenceB.add(c, { user: bob, client: 'b1', status: 'online' });
        await statusB.addConnection(bob, 'b1', 'online', undefined, 0);
        expect((await presenceB.users(c)).map((u) => u.user).sort()).toEqual([alice, bob].sort());
        expect(await statusB.countOnline()).toBe(2);

        // Node A's connection dies: no remove, no QUIT, no more touches.
        clientA.destroy();
        const diedAt = Date.now();
        // Node B refreshes its own entries as a live node does, well within the ttl.
        for (let i = 0; i < 6; i++) {
          await sleep(ttlMs / 5);
          await presenceB.touch([{ channel: c, client: { user: bob, client: 'b1', status: 'online' } }]);
          await statusB.touch([{ user: bob, client: 'b1' }]);
          // Still there until its ttl is up (no early drop): read before the ttl from its adds ran out.
          const [users, entry] = [await presenceB.users(c), await statusB.get(alice)];
          if (Date.now() - addedAt < ttlMs) {
            expect(users.map((u) => u.user)).toContain(alice);
            expect(entry.status).toBe('online');
          }
        }
        expect(Date.now() - diedAt).toBeGreaterThan(ttlMs);

        expect((await presenceB.users(c)).map((u) => [u.user, u.clients])).toEqual([[bob, 1]]);
        expect(Object.keys(await presenceB.clients(c))).toEqual(['b1']);
        expect(await presenceB.stats(c)).toEqual({ clients: 1, users: 1 });
        // Gone without a leave to announce: there is nothing to settle.
        expect(await presenceB.settleLeave(c, alice)).toBe(false);

        const gone = await statusB.get(alice);
        expect(gone).toMatchObject({ user: alice, status: 'offline', connections: 0 });
        expect(gone.lastSeen).toBeGreaterThan(diedAt - 5000);
        expect(await statusB.get(bob)).toMatchObject({ status: 'online', connections: 1 });
        expect(await statusB.countOnline()).toBe(1);
        expect((await statusB.listOnline({ limit: 10 })).users.map((u) => u.user)).toEqual([bob]);

        // What A's death did is B's to announce, once: alice left the channel and went offline.
        expect((await presenceB.sweepExpired(100)).expired).toEqual([{ channel: c, userLeft: true, info: { user: alice, client: 'a1' } }]);
        expect((await statusB.sweepExpired(100)).changed).toEqual([expect.objectContaining({ user: alice, status: 'offline', connections: 0, lastSeen: gone.lastSeen })]);
        expect((await presenceB.sweepExpired(100)).expired).toEqual([]);
        expect((await statusB.sweepExpired(100)).changed).toEqual([]);
      } finally {
        await closeRedis(clientB);
      }
    });

    it('the sweep finds the channels and users due from an index, not by scanning: one due of 50 is found, the index empties', async () => {
      const keys = new RedisKeys(unique('t'));
      const [clientA, clientB] = [await connect(), await connect()];
      const presenceA = new RedisPresenceManager(clientA, keys, { ttlMs });
      const presenceB = new RedisPresenceManager(clientB, keys, { ttlMs });
      const statusA = new RedisUserStatusStore(clientA, keys, { ttlMs, lastSeenTtlMs: 60_000 });
      const statusB = new RedisUserStatusStore(clientB, keys, { ttlMs, lastSeenTtlMs: 60_000 });
      const channels = Array.from({ length: 50 }, () => unique('room:'));
      try {
        for (const [i, c] of channels.entries()) await (i === 7 ? presenceA : presenceB).add(c, { user: `u${i}`, client: `k${i}`, status: 'online' });
        for (const [i, c] of channels.entries()) await (i === 7 ? statusA : statusB).addConnection(`u${i}`, `k${i}`, 'online', undefined, 0);
        clientA.destroy();
        await sleep(ttlMs / 2);
        const others = channels.filter((_, i) => i !== 7);
        await presenceB.touch(others.map((c) => ({ channel: c, client: { user: `u${channels.indexOf(c)}`, client: `k${channels.indexOf(c)}`, status: 'online' } })));
        await statusB.touch(others.map((c) => ({ user: `u${channels.indexOf(c)}`, client: `k${channels.indexOf(c)}` })));
        await sleep(ttlMs / 2 + 100);
        // Only the dead node's channel and user are due: a sweep limited to one takes exactly them.
        expect(await clientB.zRangeByScore(keys.global('presence', 'due'), '-inf', Date.now())).toEqual([channels[7]]);
        expect(await presenceB.sweepExpired(1)).toEqual({ expired: [{ channel: channels[7], userLeft: true, info: { user: 'u7', client: 'k7' } }], more: true });
        expect(await statusB.sweepExpired(1)).toEqual({ changed: [expect.objectContaining({ user: 'u7', status: 'offline' })], more: true });
        expect(await presenceB.sweepExpired(1)).toEqual({ expired: [], more: false });
        // Emptied: the channel is out of the index, the others stay with their next expiry.
        expect(await clientB.zScore(keys.global('presence', 'due'), channels[7]!)).toBeNull();
        expect(await clientB.zCard(keys.global('presence', 'due'))).toBe(49);
      } finally {
        await closeRedis(clientB);
      }
    });
  });

  describe('on Redis', () => {
    it('keeps every key under a channel, user or index hash tag, each with a ttl', async () => {
      const keys = new RedisKeys(unique('t'));
      const client = await connect();
      try {
        const presence = new RedisPresenceManager(client, keys, { ttlMs: 60_000 });
        const status = new RedisUserStatusStore(client, keys, { ttlMs: 60_000, lastSeenTtlMs: 3_600_000 });
        const typing = new RedisTypingStore(client, keys);
        const progress = new RedisProgressStore(client, keys);
        // Names that would break a naive tag: braces inside.
        const c = 'room:{x}';
        await presence.add(c, { user: 'u}1', client: 'k', status: 'online', info: { n: 1 }, state: { s: 1 } });
        await presence.update(c, 'k', { state: { s: 2 } });
        await presence.remove(c, 'k');
        await presence.add(c, { user: 'u2', client: 'k2', status: 'away' });
        await status.addConnection('u}1', 'k', 'online', { n: 1 }, 0);
        await status.removeConnection('u}1', 'k');
        await status.addConnection('u2', 'k2', 'online', undefined, 0);
        await typing.start(c, 'u}1', { n: 1 }, 5000);
        await progress.set('u}1', { jobId: 'j', percent: 1, done: false, updatedAt: Date.now() }, 5000, 10);
        const found = await client.keys(`${keys.prefix}:*`);
        expect(found.length).toBeGreaterThan(10);
        const tags = new Set<string>();
        for (const key of found) {
          const tag = /^[^{]*\{([^}]*)\}/.exec(key)?.[1];
          expect(tag, key).toMatch(/^(c|u|us|presence):/);
          tags.add(tag!);
          expect(await client.pTTL(key), key).toBeGreaterThan(0);
        }
        // One tag per channel and per user: a Lua script's keys always share a Cluster slot.
        expect([...tags].sort()).toEqual(['c:room:%7Bx%7D', 'u:u%7D1', 'u:u2', 'us:index', 'presence:due'].sort());
      } finally {
        await closeRedis(client);
      }
    });

    it('runs its scripts again after Redis forgot them (SCRIPT FLUSH)', async () => {
      const keys = new RedisKeys(unique('t'));
      const client = await connect();
      try {
        const typing = new RedisTypingStore(client, keys);
        const c = unique('room:');
        expect(await typing.start(c, 'alice', undefined, 5000)).toEqual({ started: true });
        await client.scriptFlush();
        expect(await typing.start(c, 'bob', undefined, 5000)).toEqual({ started: true });
        expect((await typing.list(c)).map((e) => e.user).sort()).toEqual(['alice', 'bob']);
      } finally {
        await closeRedis(client);
      }
    });
  });
});
