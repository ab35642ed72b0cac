/**
 * Read receipts over the server API (POST /read, GET /channels/:channel/receipts,
 * GET /users/:id/unread) against a real node, with real WebSocket clients receiving the pushes.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, TEST_NAMESPACES, type TestNode } from '../test-support/test-node.js';

let t: TestNode;
const open: TestClient[] = [];
let seq = 0;
const unique = (name: string) => `${name}-${++seq}`;
const history = { size: 100, ttl: '10m' };

beforeAll(async () => {
  t = await startTestNode({
    namespaces: {
      ...TEST_NAMESPACES,
      room: { history, clientPublish: 'subscribers', messaging: { readReceipts: true, seenBy: true } },
      inbox: { history, messaging: { readReceipts: true } },
      plain: { history },
    } as never,
  });
});
afterAll(async () => {
  for (const c of open) c.close();
  await t.close();
});

async function connect(user: string): Promise<TestClient> {
  const { client } = await TestClient.connect(t.wsUrl, await t.token(user));
  open.push(client);
  return client;
}

async function publish(channel: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) expect((await t.api('POST', '/publish', { channel, data: { i } })).status).toBe(200);
}

describe('read receipts over the server API', () => {
  test("POST /read marks for a user (forward only, clamped) and pushes to the user's connections; receipts and unread read it back", async () => {
    const [alice, bob] = [unique('alice'), unique('bob')];
    const channel = unique('room:');
    const phone = await connect(alice);
    const watcher = await connect(bob);
    await watcher.ok('subscribe', { channel });
    await publish(channel, 6);
    expect(await t.api('POST', '/read', { user: alice, channel, offset: 4 })).toEqual({ status: 200, body: { data: { user: alice, channel, offset: 4 } } });
    expect(await phone.waitForPush((p) => p.type === 'read' && p.channel === channel)).toEqual({ type: 'read', channel, user: alice, offset: 4, at: expect.any(Number) });
    // seen-by: the channel's subscriber hears it too.
    expect(await watcher.waitForPush((p) => p.type === 'read' && p.channel === channel)).toMatchObject({ user: alice, offset: 4 });
    expect((await t.api('POST', '/read', { user: alice, channel, offset: 1 })).body.data.offset).toBe(4);
    expect((await t.api('POST', '/read', { user: bob, channel, offset: 1000 })).body.data.offset).toBe(6);
    const receipts = await t.api('GET', `/channels/${encodeURIComponent(channel)}/receipts`);
    expect(receipts.status).toBe(200);
    expect(receipts.body.data.channel).toBe(channel);
    expect(receipts.body.data.receipts.map((r: { user: string; offset: number }) => [r.user, r.offset])).toEqual([
      [bob, 6],
      [alice, 4],
    ]);
    const other = unique('inbox:');
    const unread = await t.api('GET', `/users/${alice}/unread?channels=${encodeURIComponent(channel)},${encodeURIComponent(other)}`);
    expect(unread).toEqual({
      status: 200,
      body: { data: { user: alice, channels: { [channel]: { unread: 2, read: 4, offset: 6 }, [other]: { unread: 0, read: 0, offset: 0 } } } },
    });
    // The user's own client reads the same.
    expect((await phone.ok('unread', { channels: [channel] })).channels[channel]).toEqual({ unread: 2, read: 4, offset: 6 });
  });

  test('refused: read receipts off (409 not_available), bad offsets and too many channels (400), unknown namespaces (400)', async () => {
    const off = await t.api('POST', '/read', { user: 'u', channel: 'plain:x', offset: 1 });
    expect(off.status).toBe(409);
    expect(off.body.error.code).toBe('not_available');
    expect((await t.api('GET', '/channels/plain:x/receipts')).body.error.code).toBe('not_available');
    expect((await t.api('GET', '/users/u/unread?channels=inbox:a,plain:x')).body.error.code).toBe('not_available');
    const negative = await t.api('POST', '/read', { user: 'u', channel: 'inbox:x', offset: -1 });
    expect(negative.status).toBe(400);
    expect(negative.body.error.message).toMatch(/^offset: /);
    expect((await t.api('POST', '/read', { user: 'u', channel: 'inbox:x', offset: 1.5 })).status).toBe(400);
    const many = await t.api('GET', `/users/u/unread?channels=${Array.from({ length: 101 }, (_, i) => `inbox:c${i}`).join(',')}`);
    expect(many.status).toBe(400);
    expect(many.body.error.message).toMatch(/^channels: /);
    expect((await t.api('GET', '/users/u/unread?channels=inbox:a,,inbox:b')).status).toBe(400);
    expect((await t.api('POST', '/read', { user: 'u', channel: 'nowhere:x', offset: 1 })).body.error.code).toBe('unknown_namespace');
    expect((await t.api('GET', '/users/u/unread')).body).toEqual({ data: { user: 'u', channels: {} } });
  });
});
