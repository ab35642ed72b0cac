/**
 * Steering and inspection across nodes: two nodes sharing one MemoryCluster (as two
 * processes share an engine), each on its own HTTP server on 127.0.0.1, real WebSocket clients.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/schema.js';
import { MemoryCluster, memoryClusterOptions } from '../engine/memory/memory-cluster.js';
import type { TidingsOptions } from '../options.js';
import { TestClient } from '../test-support/test-client.js';
import { startNodePair, type NodePair } from '../test-support/node-pair.js';
import { startTestNode, type TestNode } from '../test-support/test-node.js';
import { NodeBusRouter } from './nodes.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, withinMs = 3000): Promise<T> {
  const end = Date.now() + withinMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what} (last: ${JSON.stringify(v)})`);
    await sleep(20);
  }
}

let cluster: MemoryCluster | undefined;
const opened: Array<NodePair | TestNode | TestClient> = [];

afterEach(async () => {
  for (const x of opened.splice(0).reverse()) await x.close();
  await cluster?.close();
  cluster = undefined;
});

/** Two nodes sharing one memory engine, and that engine. */
async function twoNodes(options: TidingsOptions = {}): Promise<[TestNode, TestNode, MemoryCluster]> {
  const pair = await startNodePair({ cluster: { heartbeatInterval: 50, requestTimeout: '2s' }, ...options });
  opened.push(pair);
  return [pair.a, pair.b, pair.cluster];
}

async function connect(node: TestNode, user: string): Promise<{ client: TestClient; id: string }> {
  const { client, result } = await TestClient.connect(node.wsUrl, await node.token(user));
  opened.push(client);
  return { client, id: result.client as string };
}

describe('steering across nodes', () => {
  it("disconnectUser through node A's API closes the user's connections on node B too", async () => {
    const [a, b] = await twoNodes();
    const onB = await connect(b, 'alice');
    const onA = await connect(a, 'alice');
    const other = await connect(b, 'bob');
    const res = await a.api('POST', '/users/alice/disconnect', { terminal: true, reason: 'banned' });
    expect(res).toEqual({ status: 200, body: { data: { disconnected: 2 } } });
    expect(await onB.client.closed).toEqual({ code: 4503, reason: 'banned' });
    expect(await onA.client.closed).toEqual({ code: 4503, reason: 'banned' });
    // The library method does the same through node B; bob's connection was not touched.
    await sleep(50);
    expect(other.client.ws.readyState).toBe(other.client.ws.OPEN);
    expect(await b.node.disconnectUser('bob')).toBe(1);
    expect((await other.client.closed).code).toBe(4005);
    expect(await a.node.disconnectUser('nobody')).toBe(0);
  });

  it("unsubscribeUser through node A ends the user's subscriptions on node B", async () => {
    const [a, b] = await twoNodes();
    const onB = await connect(b, 'bob');
    const onA = await connect(a, 'bob');
    await onB.client.ok('subscribe', { channel: 'chat:cross' });
    await onA.client.ok('subscribe', { channel: 'chat:cross' });
    const pushB = onB.client.waitForPush((p) => p.type === 'unsubscribe');
    const pushA = onA.client.waitForPush((p) => p.type === 'unsubscribe');
    expect(await a.api('POST', '/channels/chat:cross/unsubscribe', { user: 'bob' })).toEqual({ status: 200, body: { data: { unsubscribed: 2 } } });
    expect(await pushB).toMatchObject({ type: 'unsubscribe', channel: 'chat:cross', code: 2000 });
    expect(await pushA).toMatchObject({ type: 'unsubscribe', channel: 'chat:cross', code: 2000 });
    expect(await b.node.unsubscribeUser('bob', 'chat:cross')).toBe(0);
    // Bad input is refused on the asking node, before any node is asked.
    expect((await a.api('POST', '/channels/nope:x/unsubscribe', { user: 'bob' })).body.error.code).toBe('unknown_namespace');
  });

  it('disconnectClient through node A closes a connection held by node B; an id no node has is 404', async () => {
    const [a, b] = await twoNodes();
    const onB = await connect(b, 'carol');
    const stays = await connect(b, 'carol');
    expect(await a.api('POST', `/connections/${onB.id}/disconnect`, {})).toEqual({ status: 200, body: { data: { disconnected: 1 } } });
    expect((await onB.client.closed).code).toBe(4005);
    const missing = await a.api('POST', '/connections/no-such-client/disconnect', {});
    expect(missing).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(await a.node.disconnectClient('no-such-client')).toBe(false);
    expect(stays.client.ws.readyState).toBe(stays.client.ws.OPEN);
  });

  it('a node that does not answer within cluster.requestTimeout is left out, the others are counted', async () => {
    const [a, b, shared] = await twoNodes({ cluster: { heartbeatInterval: 50, requestTimeout: 300 } });
    // A third member of the bus that never answers (a hung node).
    const hung = shared.bus.node();
    await hung.start('hung-node', { onMessage: () => new Promise(() => {}) });
    await connect(b, 'dave');
    const started = Date.now();
    expect(await a.node.disconnectUser('dave')).toBe(1);
    expect(Date.now() - started).toBeLessThan(2000);
    await hung.close();
  });
});

describe('listing connections and nodes across nodes', () => {
  it('listConnections merges every node’s connections, each naming its node, and pages across nodes', async () => {
    const [a, b] = await twoNodes();
    const conns = [await connect(a, 'alice'), await connect(b, 'bob'), await connect(b, 'alice'), await connect(a, 'erin')];
    const nodeOf = new Map([
      [conns[0]!.id, a.node.nodeId],
      [conns[1]!.id, b.node.nodeId],
      [conns[2]!.id, b.node.nodeId],
      [conns[3]!.id, a.node.nodeId],
    ]);
    const ids = conns.map((c) => c.id).sort();
    for (const t of [a, b]) {
      const all = await t.node.listConnections();
      expect(all.nextCursor).toBeUndefined();
      expect(all.connections.map((c) => c.client)).toEqual(ids);
      for (const c of all.connections) expect(c.node).toBe(nodeOf.get(c.client));
    }
    const alice = await b.api('GET', '/connections?user=alice');
    expect(alice.body.data.connections.map((c: { client: string }) => c.client)).toEqual([conns[0]!.id, conns[2]!.id].sort());
    // One per page, through node A: every connection once, in order.
    const walked: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await a.api('GET', `/connections?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      walked.push(...page.body.data.connections.map((c: { client: string }) => c.client));
      cursor = page.body.data.nextCursor;
      if (!cursor) break;
    }
    expect(walked).toEqual(ids);
  });

  it('GET /api/v1/nodes lists both nodes with their details, and drops one after it closes', async () => {
    const [a, b] = await twoNodes();
    await connect(b, 'alice');
    await connect(b, 'bob');
    await connect(a, 'carol');
    const ids = [a.node.nodeId, b.node.nodeId].sort();
    const res = await until(
      () => a.api('GET', '/nodes'),
      (r) => r.status === 200 && r.body.data.nodes.length === 2 && r.body.data.nodes.reduce((n: number, x: { connections: number }) => n + x.connections, 0) === 3,
      'both nodes heartbeating their connections',
    );
    const listed = res.body.data.nodes as Array<Record<string, unknown>>;
    expect(listed.map((n) => n.id)).toEqual(ids);
    const nodeB = listed.find((n) => n.id === b.node.nodeId)!;
    expect(nodeB).toMatchObject({ pid: process.pid, host: expect.any(String), connections: 2 });
    expect(Date.parse(nodeB.startedAt as string)).toBeLessThanOrEqual(Date.parse(nodeB.lastHeartbeat as string));
    expect(Date.now() - Date.parse(nodeB.lastHeartbeat as string)).toBeLessThan(5000);
    expect((await b.node.nodes()).map((n) => n.id)).toEqual(ids);
    // A reader key may list nodes.
    expect((await a.api('GET', '/nodes', undefined, { authorization: 'Bearer test-api-key-0123456789abcdef-read' })).status).toBe(200);

    await b.close();
    opened.splice(opened.indexOf(b), 1);
    const after = await until(() => a.node.nodes(), (n) => n.length === 1, 'node B gone from the list', 2000);
    expect(after.map((n) => n.id)).toEqual([a.node.nodeId]);
    expect((await a.node.listConnections()).connections.map((c) => c.node)).toEqual([a.node.nodeId]);
  });

  it('a single node with its own engine lists itself and acts on its own connections', async () => {
    const t = await startTestNode({ cluster: { heartbeatInterval: 50 } });
    opened.push(t);
    const c = await connect(t, 'solo');
    const nodes = await until(() => t.node.nodes(), (n) => n.length === 1 && n[0]!.connections === 1, 'own heartbeat');
    expect(nodes[0]!.id).toBe(t.node.nodeId);
    expect((await t.node.listConnections()).connections.map((x) => [x.client, x.node])).toEqual([[c.id, t.node.nodeId]]);
    expect(await t.node.disconnectUser('solo')).toBe(1);
  });
});

describe('node heartbeats', () => {
  it('a node that stops heartbeating drops out of the list after cluster.nodeTtl (memoryClusterOptions passes it on)', async () => {
    const c = (cluster = new MemoryCluster(memoryClusterOptions(resolveConfig({ cluster: { nodeTtl: 400 } }))));
    const a = await startTestNode({ cluster: { heartbeatInterval: 50 }, engine: c.node() });
    opened.push(a);
    // A member that heartbeats once and then falls silent (a hung or killed process whose handle stays).
    const silent = c.bus.node();
    await silent.start('silent-node', { onMessage: () => null });
    await silent.heartbeat({ id: 'silent-node', pid: 1, host: 'elsewhere', startedAt: Date.now(), connections: 0 });
    const beat = Date.now();
    expect((await a.node.nodes()).map((n) => n.id)).toContain('silent-node');
    await until(() => a.node.nodes(), (n) => !n.some((x) => x.id === 'silent-node'), 'the silent node dropped after 400 ms', 3000);
    // Not before its TTL: listed for the 400 ms after its last heartbeat.
    expect(Date.now() - beat).toBeGreaterThanOrEqual(400);
    expect((await a.node.nodes()).map((n) => n.id)).toEqual([a.node.nodeId]);
    await silent.close();
  });

  it('nodeInfo labels the heartbeat (worker index, role): GET /api/v1/nodes lists them, standard fields win', async () => {
    const pair = await startNodePair({ cluster: { heartbeatInterval: 50 } }, { nodeInfo: { worker: 2, role: 'worker', id: 'not-my-id', pid: 0 } });
    opened.push(pair);
    const { a, b } = pair;
    const res = await until(() => a.api('GET', '/nodes'), (r) => r.body.data.nodes.length === 2, 'both nodes listed');
    const listed = res.body.data.nodes as Array<Record<string, unknown>>;
    expect(listed.find((n) => n.id === b.node.nodeId)).toMatchObject({ worker: 2, role: 'worker', pid: process.pid });
    const plain = listed.find((n) => n.id === a.node.nodeId)!;
    expect(plain.worker).toBeUndefined();
    expect(plain.role).toBeUndefined();
    expect(listed.map((n) => n.id)).not.toContain('not-my-id');
  });
});

describe('NodeBusRouter', () => {
  it('dispatches by type, refuses a second handler for a type and answers an unknown type with unknown_type', () => {
    const router = new NodeBusRouter().handle('ping', (m, from) => ({ pong: m.n, from }));
    expect(router.onMessage({ type: 'ping', n: 1 }, 'x')).toEqual({ pong: 1, from: 'x' });
    expect(() => router.handle('ping', () => 0)).toThrow(/already registered/);
    expect(() => router.onMessage({ type: 'nope' }, 'x')).toThrow(expect.objectContaining({ code: 'unknown_type' }));
  });
});
