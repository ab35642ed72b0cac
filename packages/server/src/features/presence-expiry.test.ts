/**
 * A node that dies without goodbye: its connections stay in the shared engine until the presence
 * TTL, and a surviving node must announce their end (features/presence-expiry.ts). Two real nodes
 * share one MemoryCluster, as two workers share the primary's engine; node A "dies" the way the
 * engine sees a kill -9: from one moment on, none of its presence, status or typing calls reach
 * the shared state (no removal, no refresh), then it goes away.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Push } from '@tidings/protocol';
import { resolveConfig } from '../config/schema.js';
import type { Engine } from '../engine/engine.js';
import { MemoryCluster, memoryClusterOptions } from '../engine/memory/memory-cluster.js';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, type TestNode } from '../test-support/test-node.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The presence TTL; nodes refresh and sweep every max(1 s, ttl / 3). */
const TTL = 2400;
const SWEEP = 1000;

/** A node's engine handle whose presence, status and typing calls stop reaching the shared state once cut. */
function cuttable(engine: Engine): { engine: Engine; cut(): void } {
  let dead = false;
  const gate = <T extends object>(part: T): T =>
    new Proxy(part, {
      get(target, key) {
        const value = Reflect.get(target, key, target) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => (dead ? Promise.reject(new Error('this node is dead')) : (value as (...a: unknown[]) => unknown).apply(target, args));
      },
    });
  const gated: Engine = { ...engine, presence: gate(engine.presence), userStatus: gate(engine.userStatus), typing: gate(engine.typing), close: () => engine.close() };
  return { engine: gated, cut: () => void (dead = true) };
}

const open: Array<{ close(): Promise<void> | void }> = [];
afterEach(async () => {
  for (const part of open.splice(0).reverse()) await part.close();
});

async function connect(node: TestNode, user: string, info?: Record<string, unknown>): Promise<TestClient> {
  const client = (await TestClient.connect(node.wsUrl, await node.token(user, info ? { info } : {}))).client;
  open.push(client);
  return client;
}

describe('a node that dies without goodbye', () => {
  it("its users leave and go offline on the surviving node's watchers within the presence ttl and a sweep, once", async () => {
    const cluster = new MemoryCluster(memoryClusterOptions(resolveConfig({ presence: { ttl: TTL } })));
    open.push(cluster);
    const a = cuttable(cluster.node());
    const nodeA = await startTestNode({ engine: a.engine, presence: { ttl: TTL, leaveGrace: 150 } });
    const nodeB = await startTestNode({ engine: cluster.node(), presence: { ttl: TTL, leaveGrace: 150 } });
    open.push(nodeB, nodeA);
    const ch = 'chat:expiry';
    const watcher = await connect(nodeB, 'wat');
    await watcher.ok('subscribe', { channel: ch });
    await watcher.ok('follow', { users: ['ann', 'ben'] });
    const ben = await connect(nodeB, 'ben');
    await ben.ok('subscribe', { channel: ch });
    const ann = await connect(nodeA, 'ann', { name: 'Ann' });
    await ann.ok('subscribe', { channel: ch });
    await watcher.waitForPush((p) => p.type === 'join' && p.info.user === 'ann');
    await watcher.waitForPush((p) => p.type === 'status' && p.user === 'ann' && p.status === 'online');

    // A dies: nothing it does reaches the engine any more; its socket and timers go with it.
    a.cut();
    ann.ws.terminate();
    await nodeA.close();
    const leave = await watcher.waitForPush((p) => p.type === 'leave' && p.info.user === 'ann', TTL + 2 * SWEEP + 2000);
    expect(leave).toMatchObject({ channel: ch, info: { user: 'ann', client: expect.any(String), info: { name: 'Ann' } } });
    const offline = await watcher.waitForPush((p) => p.type === 'status' && p.user === 'ann' && p.status === 'offline', 2 * SWEEP + 2000);
    expect(offline).toMatchObject({ lastSeen: expect.any(Number) });

    // Once, and B's own users (refreshed) never: after two more sweeps, the same pushes.
    await sleep(2 * SWEEP + 200);
    const pushes = (type: Push['type']) => watcher.pushes.filter((p) => p.type === type);
    expect(pushes('leave')).toHaveLength(1);
    expect(pushes('status').filter((p) => p.type === 'status' && p.status === 'offline')).toHaveLength(1);
    expect(await watcher.ok('presence_stats', { channel: ch })).toEqual({ clients: 2, users: 2 });
    expect((await nodeB.api('GET', '/users/ben/status')).body).toMatchObject({ data: { status: 'online' } });
  });
});
