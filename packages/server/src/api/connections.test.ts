/**
 * GET /connections through a node's own HTTP server (needs node.ts to construct
 * ServerApi with its metrics and audit sink; the route itself is ServerApi's).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, TEST_API_KEY, type TestNode } from '../test-support/test-node.js';

let t: TestNode;
const clients: TestClient[] = [];

async function open(user: string, headers: Record<string, string> = {}): Promise<{ client: TestClient; id: string }> {
  const client = await TestClient.open(t.wsUrl, { headers });
  clients.push(client);
  const reply = await client.call('connect', { token: await t.token(user) });
  if ('error' in reply) throw new Error(reply.error.message);
  return { client, id: (reply.result as { client: string }).client };
}

beforeAll(async () => {
  t = await startTestNode();
});
afterAll(async () => {
  clients.forEach((c) => c.close());
  await t.close();
});

describe('GET /connections', () => {
  it('needs the admin scope', async () => {
    expect(await t.api('GET', '/connections', undefined, { authorization: '' })).toMatchObject({ status: 401 });
    expect(await t.api('GET', '/connections', undefined, { authorization: `Bearer ${TEST_API_KEY}-read` })).toEqual({
      status: 403,
      body: { error: { code: 'forbidden', message: 'API key "reader" lacks the "admin" scope' } },
    });
    expect((await t.api('GET', '/connections', undefined, { authorization: `Bearer ${TEST_API_KEY}-pub` })).status).toBe(403);
    expect(await t.api('POST', '/connections', {})).toMatchObject({ status: 405 });
  });

  it('lists connected clients with their details, filters by user and pages with a cursor', async () => {
    const before = Date.now();
    const a1 = await open('alice', { 'user-agent': 'tidings-test/1.0' });
    const a2 = await open('alice');
    const b = await open('bob');
    await b.client.ok('subscribe', { channel: 'live:one' });
    await b.client.ok('subscribe', { channel: 'news:two' });
    // An open socket that never sent `connect` is not a connection yet.
    clients.push(await TestClient.open(t.wsUrl));

    const all = await t.api('GET', '/connections');
    expect(all.status).toBe(200);
    const listed = all.body.data.connections as Record<string, any>[];
    expect(all.body.data.nextCursor).toBeUndefined();
    expect(listed.map((c) => c.client)).toEqual([a1.id, a2.id, b.id].sort());

    const first = listed.find((c) => c.client === a1.id)!;
    expect(first).toEqual({
      client: a1.id,
      node: t.node.nodeId,
      user: 'alice',
      transport: 'websocket',
      ip: '127.0.0.1',
      userAgent: 'tidings-test/1.0',
      connectedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/),
      subscriptions: expect.any(Number),
      status: 'online',
    });
    expect(Date.parse(first.connectedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(first.connectedAt)).toBeLessThanOrEqual(Date.now());
    const bob = listed.find((c) => c.client === b.id)!;
    // Whatever the node subscribes everyone to (the personal channel), bob has two more.
    expect(bob.subscriptions).toBe(listed.find((c) => c.client === a2.id)!.subscriptions + 2);

    const alice = await t.api('GET', '/connections?user=alice');
    expect(alice.body.data.connections.map((c: { client: string }) => c.client)).toEqual([a1.id, a2.id].sort());
    expect((await t.api('GET', '/connections?user=nobody')).body.data).toEqual({ connections: [] });

    const page1 = await t.api('GET', '/connections?limit=2');
    expect(page1.body.data.connections).toHaveLength(2);
    expect(page1.body.data.nextCursor).toEqual(expect.any(String));
    const page2 = await t.api('GET', `/connections?limit=2&cursor=${encodeURIComponent(page1.body.data.nextCursor)}`);
    expect(page2.body.data.nextCursor).toBeUndefined();
    expect([...page1.body.data.connections, ...page2.body.data.connections]).toEqual(listed);
    const userPage = await t.api('GET', '/connections?user=alice&limit=1');
    expect(userPage.body.data.connections).toHaveLength(1);
    expect(userPage.body.data.nextCursor).toBe(userPage.body.data.connections[0].client);
  });

  it('rejects a limit outside 1..1000', async () => {
    for (const limit of ['0', '1001', 'ten', '2.5']) {
      expect(await t.api('GET', `/connections?limit=${limit}`), limit).toMatchObject({
        status: 400,
        body: { error: { code: 'bad_request', message: 'limit: expected integer 1..1000' } },
      });
    }
    expect((await t.api('GET', '/connections?limit=1000')).status).toBe(200);
  });
});
