/**
 * The NodeBus and SharedLimits on a real redis-server: both contract suites (one node and two,
 * each node with its own connections, a fresh key prefix per deployment), a node killed with
 * `kill -9` (a child process running dist/engine/redis/: build first, as `npm test` does), racing
 * acquires across nodes, and Lua scripts surviving a SCRIPT FLUSH.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, unique } from '../contract-support.js';
import { nodeBusContract } from '../node-bus.contract.js';
import { BusRequestError } from '../node-bus.js';
import { sharedLimitsContract } from '../shared-limits.contract.js';
import { redisMissing, startRedis, type RedisServer } from '../../test-support/redis-server.js';
import { RedisNodeBus } from './redis-bus.js';
import { closeRedis, openRedis, type RedisClient } from './redis-connection.js';
import { RedisSharedLimits } from './redis-limits.js';

const DIST = new URL('../../../dist/engine/redis/', import.meta.url).href;

async function until(check: () => Promise<boolean> | boolean, withinMs: number, what: string): Promise<void> {
  const end = Date.now() + withinMs;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(10);
  }
  throw new Error(`${what}: not within ${withinMs} ms`);
}

/** A node in a child process: bus + limits on its own connection, heartbeating, holding `slots` slots of `key`. */
function childNode(url: string, prefix: string, id: string, key: string, slots: number, ttl: number): Promise<ChildProcess> {
  const code = `
    const { openRedis } = await import(${JSON.stringify(`${DIST}redis-connection.js`)});
    const { RedisNodeBus } = await import(${JSON.stringify(`${DIST}redis-bus.js`)});
    const { RedisSharedLimits } = await import(${JSON.stringify(`${DIST}redis-limits.js`)});
    const env = process.env;
    const ttl = Number(env.TTL);
    const client = await openRedis({ url: env.URL, prefix: env.PREFIX });
    const bus = new RedisNodeBus({ client, prefix: env.PREFIX, nodeTtlMs: ttl });
    await bus.start(env.ID, { onMessage: () => 'child answers' });
    const limits = new RedisSharedLimits({ client, prefix: env.PREFIX, nodeId: env.ID, nodeTtlMs: ttl });
    const beat = () => bus.heartbeat({ id: env.ID, pid: process.pid, host: 'child', startedAt: 1, connections: 0 });
    await beat();
    setInterval(() => void beat().catch(() => {}), ttl / 4);
    for (let i = 0; i < Number(env.SLOTS); i++) if (!(await limits.acquire(env.KEY, 'child-' + i, 100))) throw new Error('no slot');
    process.stdout.write('ready\\n');
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    env: { ...process.env, URL: url, PREFIX: prefix, ID: id, KEY: key, SLOTS: String(slots), TTL: String(ttl) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('child node did not start within 10 s')), 10_000);
    child.stdout!.on('data', (b: Buffer) => {
      if (b.toString().includes('ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child node exited with ${code}`));
    });
  });
}

describe.skipIf(redisMissing())('Redis NodeBus and SharedLimits (real redis-server)', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.close();
  });

  const clients = (count: number) => Promise.all(Array.from({ length: count }, () => openRedis({ url: redis.url })));
  const closeAll = (list: RedisClient[]) => Promise.all(list.map((c) => closeRedis(c))).then(() => {});

  nodeBusContract('Redis', async (count, { nodeTtlMs }) => {
    const prefix = unique('tb');
    const open = await clients(count);
    return { nodes: open.map((client) => new RedisNodeBus({ client, prefix, nodeTtlMs })), close: () => closeAll(open) };
  });

  // A lost node: its connection destroyed (its timers go on but reach nothing); the survivors' sweep frees its slots.
  sharedLimitsContract('Redis', async (count) => {
    const prefix = unique('tl');
    const open = await clients(count);
    const nodes = open.map((client) => new RedisSharedLimits({ client, prefix, nodeTtlMs: 400, refreshMs: 100, sweepIntervalMs: 50 }));
    return {
      nodes,
      lose: async (index) => open[index]!.destroy(),
      close: async () => {
        await Promise.all(nodes.map((n) => n.close()));
        await closeAll(open);
      },
    };
  });

  it('a node killed without close drops out of nodes() after the TTL, requests to it fail with unknown_node, and the survivor sweeps its slots', async () => {
    const TTL = 400;
    const prefix = unique('tk');
    const key = unique('user-');
    const [client] = await clients(1);
    const bus = new RedisNodeBus({ client: client!, prefix, nodeTtlMs: TTL });
    const limits = new RedisSharedLimits({ client: client!, prefix, nodeId: 'survivor', nodeTtlMs: TTL, sweepIntervalMs: 50 });
    let child: ChildProcess | undefined;
    try {
      await bus.start('survivor', { onMessage: () => 'survivor answers' });
      await bus.heartbeat({ id: 'survivor', pid: process.pid, host: 'test', startedAt: 1, connections: 0 });
      child = await childNode(redis.url, prefix, 'doomed', key, 3, TTL);
      // Starting the child may take longer than the TTL: heartbeat again, as the survivor's timer would.
      await bus.heartbeat({ id: 'survivor', pid: process.pid, host: 'test', startedAt: 1, connections: 0 });
      expect((await bus.nodes()).map((n) => n.id)).toEqual(['doomed', 'survivor']);
      expect(await bus.request('doomed', { type: 'ping' }, 2000)).toBe('child answers');
      expect(await limits.acquire(key, 'mine', 5)).toBe(true);
      expect(await limits.held(key)).toBe(4);

      child.kill('SIGKILL');
      await new Promise((resolve) => child!.once('exit', resolve));
      const killedAt = Date.now();
      // The survivor keeps heartbeating, as a live node does.
      await until(async () => {
        await bus.heartbeat({ id: 'survivor', pid: process.pid, host: 'test', startedAt: 1, connections: 0 });
        return (await bus.nodes()).length === 1;
      }, TTL * 4, 'the killed node drops out of nodes()');
      expect((await bus.nodes()).map((n) => n.id)).toEqual(['survivor']);
      expect(Date.now() - killedAt).toBeLessThanOrEqual(TTL * 4);
      // Its membership (refreshed on its own timer, a moment apart from its heartbeats) expires within the TTL too.
      await until(async () => {
        const err = await bus.request('doomed', { type: 'ping' }, 50).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(BusRequestError);
        return (err as BusRequestError).code === 'unknown_node';
      }, TTL * 2, 'requests to the killed node fail with unknown_node');

      await until(async () => (await limits.held(key)) === 1, TTL * 4, "the survivor's sweep releases the killed node's slots");
      for (let i = 0; i < 4; i++) expect(await limits.acquire(key, `new${i}`, 5)).toBe(true);
      expect(await limits.acquire(key, 'over', 5)).toBe(false);
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await limits.close();
      await bus.close();
      await closeRedis(client!);
    }
  });

  it('50 racing acquires across two nodes with max 10 hold exactly 10, each slot tagged with the node that took it', async () => {
    const prefix = unique('tr');
    const open = await clients(2);
    const [a, b] = open.map((client, i) => new RedisSharedLimits({ client, prefix, nodeId: `n${i}`, nodeTtlMs: 5000 })) as [RedisSharedLimits, RedisSharedLimits];
    try {
      const key = unique('ip-');
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).acquire(key, `h${i}`, 10)));
      expect(results.filter(Boolean).length).toBe(10);
      expect(await a.held(key)).toBe(10);
      expect(await b.held(key)).toBe(10);
      const byA = results.filter((ok, i) => ok && i % 2 === 0).length;
      // Closing a gives back exactly a's slots.
      await a.close();
      expect(await b.held(key)).toBe(10 - byA);
    } finally {
      await Promise.all([a.close(), b.close()]);
      await closeAll(open);
    }
  });

  it('limits and buckets go on working after SCRIPT FLUSH (EVALSHA falls back to EVAL)', async () => {
    const prefix = unique('tf');
    const [client] = await clients(1);
    const limits = new RedisSharedLimits({ client: client!, prefix, nodeTtlMs: 5000 });
    try {
      const key = unique('k-');
      expect(await limits.acquire(key, 'h1', 2)).toBe(true);
      await client!.sendCommand(['SCRIPT', 'FLUSH']);
      expect(await limits.acquire(key, 'h2', 2)).toBe(true);
      expect(await limits.acquire(key, 'h3', 2)).toBe(false);
      await client!.sendCommand(['SCRIPT', 'FLUSH']);
      await limits.release(key, 'h1');
      expect(await limits.held(key)).toBe(1);
      expect(await limits.take(unique('r-'), 1, 1)).toBe(true);
    } finally {
      await limits.close();
      await closeRedis(client!);
    }
  });
});
