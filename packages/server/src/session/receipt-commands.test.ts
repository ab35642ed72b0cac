/**
 * Read receipts over real WebSocket connections (protocol level): the `read`, `read_receipts`
 * and `unread` commands and the `read` push, on a real node (SQLite store in memory).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Push } from '@tidings/protocol';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, TEST_NAMESPACES, TEST_SECRET, type TestNode } from '../test-support/test-node.js';

let t: TestNode;
const open: TestClient[] = [];
let seq = 0;
const unique = (name: string) => `${name}-${++seq}`;
const history = { size: 100, ttl: '10m' };

beforeAll(async () => {
  t = await startTestNode({
    auth: { secret: TEST_SECRET, allowAnonymous: true },
    namespaces: {
      ...TEST_NAMESPACES,
      room: { history, clientPublish: 'subscribers', anonymous: true, messaging: { readReceipts: true, seenBy: true } },
      inbox: { history, clientPublish: 'subscribers', messaging: { readReceipts: true } },
      tiny: { history: { size: 3, ttl: '10m' }, messaging: { readReceipts: true } },
      vault: { private: true, history, messaging: { readReceipts: true, seenBy: true } },
      plain: { history, clientPublish: 'subscribers' },
      ops: { history, clientPublish: 'subscribers', messaging: { edits: true, annotations: true, readReceipts: true } },
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

const reads = (c: TestClient, channel: string) => c.pushes.filter((p): p is Extract<Push, { type: 'read' }> => p.type === 'read' && p.channel === channel);
const errorOf = async (c: TestClient, type: string, params: Record<string, unknown>) => {
  const reply = await c.call(type, params);
  return 'error' in reply ? reply.error.code : 'ok';
};
/** Lets pushes in flight arrive (a bounded wait: a later command's reply comes after them on the same connection). */
const settle = async (c: TestClient) => void (await c.call('presence_stats', { channel: 'none:x' }));

describe('read', () => {
  test('moves the receipt forward only, clamped to the top, and pushes read to every device of the user, subscribed or not', async () => {
    const alice = unique('alice');
    const channel = unique('inbox:');
    const [phone, laptop] = [await connect(alice), await connect(alice)];
    await phone.ok('subscribe', { channel });
    await publish(channel, 5);
    expect(await phone.ok('read', { channel, offset: 3 })).toEqual({ offset: 3 });
    for (const c of [phone, laptop]) {
      const push = await c.waitForPush((p) => p.type === 'read' && p.channel === channel);
      expect(push).toEqual({ type: 'read', channel, user: alice, offset: 3, at: expect.any(Number) });
    }
    // Backwards: nothing moves, nothing is pushed.
    expect(await laptop.ok('read', { channel, offset: 2 })).toEqual({ offset: 3 });
    // Past the top: clamped.
    expect(await laptop.ok('read', { channel, offset: 99 })).toEqual({ offset: 5 });
    await phone.waitForPush((p) => p.type === 'read' && p.channel === channel && p.offset === 5);
    await settle(phone);
    expect(reads(phone, channel).map((p) => p.offset)).toEqual([3, 5]);
  });

  test('seen-by: the channel\'s other subscribers get the push, the reader\'s own connection once; read_receipts lists the epoch\'s receipts highest first', async () => {
    const [alice, bob, carol] = [unique('alice'), unique('bob'), unique('carol')];
    const channel = unique('room:');
    const [a, b, c] = [await connect(alice), await connect(bob), await connect(carol)];
    for (const x of [a, b]) await x.ok('subscribe', { channel });
    await publish(channel, 4);
    await a.ok('read', { channel, offset: 4 });
    await c.ok('read', { channel, offset: 2 });
    expect(await b.waitForPush((p) => p.type === 'read' && p.channel === channel && p.user === alice)).toEqual({ type: 'read', channel, user: alice, offset: 4, at: expect.any(Number) });
    await b.waitForPush((p) => p.type === 'read' && p.channel === channel && p.user === carol);
    await settle(a);
    // Alice's own receipt once (from her personal channel), Carol's from the channel.
    expect(reads(a, channel).map((p) => [p.user, p.offset]).sort()).toEqual([
      [alice, 4],
      [carol, 2],
    ]);
    const { receipts } = await b.ok('read_receipts', { channel });
    expect(receipts.map((r: { user: string; offset: number }) => [r.user, r.offset])).toEqual([
      [alice, 4],
      [carol, 2],
    ]);
    // Without seen-by, receipts are the reader's own business.
    expect(await errorOf(b, 'read_receipts', { channel: unique('inbox:') })).toBe('not_available');
  });

  test('refused: readReceipts off, anonymous, a channel the user may not subscribe to', async () => {
    const dave = await connect(unique('dave'));
    expect(await errorOf(dave, 'read', { channel: 'plain:x', offset: 1 })).toBe('not_available');
    expect(await errorOf(dave, 'unread', { channels: ['plain:x'] })).toBe('not_available');
    expect(await errorOf(dave, 'read', { channel: 'vault:x', offset: 1 })).toBe('permission_denied');
    expect(await errorOf(dave, 'read_receipts', { channel: 'vault:x' })).toBe('permission_denied');
    expect(await errorOf(dave, 'unread', { channels: ['room:x', 'vault:x'] })).toBe('permission_denied');
    const anon = await TestClient.open(t.wsUrl);
    open.push(anon);
    await anon.ok('connect', {});
    for (const [type, params] of [
      ['read', { channel: 'room:x', offset: 1 }],
      ['read_receipts', { channel: 'room:x' }],
      ['unread', { channels: ['room:x'] }],
    ] as const) {
      expect(await errorOf(anon, type, params)).toBe('permission_denied');
    }
    expect(await errorOf(dave, 'read', { channel: 'room:x', offset: -1 })).toBe('bad_request');
  });
});

describe('unread', () => {
  test('counts messages by others after the read offset, per channel', async () => {
    const [erin, frank] = [unique('erin'), unique('frank')];
    const [one, two] = [unique('inbox:'), unique('inbox:')];
    const e = await connect(erin);
    const f = await connect(frank);
    for (const x of [e, f]) await x.ok('subscribe', { channel: one });
    await publish(one, 3); // 1..3 by the API
    await e.ok('publish', { channel: one, data: 'mine' }); // 4, erin's own
    await f.ok('publish', { channel: one, data: 'his' }); // 5
    expect(await e.ok('unread', { channels: [one, two] })).toEqual({
      channels: { [one]: { unread: 4, read: 0, offset: 5 }, [two]: { unread: 0, read: 0, offset: 0 } },
    });
    await e.ok('read', { channel: one, offset: 2 });
    expect((await e.ok('unread', { channels: [one] })).channels[one]).toEqual({ unread: 2, read: 2, offset: 5 });
    await e.ok('read', { channel: one, offset: 5 });
    expect((await e.ok('unread', { channels: [one] })).channels[one]).toEqual({ unread: 0, read: 5, offset: 5 });
    // Frank's view is his own.
    expect((await f.ok('unread', { channels: [one] })).channels[one]).toEqual({ unread: 4, read: 0, offset: 5 });
  });

  test('more: true when history no longer holds every unread message', async () => {
    const gus = unique('gus');
    const channel = unique('tiny:');
    const g = await connect(gus);
    await publish(channel, 5); // history keeps 3..5
    expect((await g.ok('unread', { channels: [channel] })).channels[channel]).toEqual({ unread: 3, read: 0, offset: 5, more: true });
    await g.ok('read', { channel, offset: 3 });
    expect((await g.ok('unread', { channels: [channel] })).channels[channel]).toEqual({ unread: 2, read: 3, offset: 5 });
  });
});

describe('unread and message operations', () => {
  test('edits, annotations and deletes are not messages; a deleted message is not unread', async () => {
    const [hana, ivan] = [unique('hana'), unique('ivan')];
    const channel = unique('ops:');
    const [h, i] = [await connect(hana), await connect(ivan)];
    for (const x of [h, i]) await x.ok('subscribe', { channel });
    const first = await i.ok('publish', { channel, data: 'one' }); // 1
    const second = await i.ok('publish', { channel, data: 'two' }); // 2
    await i.ok('message_edit', { channel, ref: first.offset, data: 'one!' }); // 3
    await h.ok('annotate', { channel, ref: first.offset, name: '👍' }); // 4
    await i.ok('annotate', { channel, ref: second.offset, name: '🎉' }); // 5
    await i.ok('message_delete', { channel, ref: second.offset }); // 6
    await i.ok('publish', { channel, data: 'three' }); // 7
    expect((await h.ok('unread', { channels: [channel] })).channels[channel]).toEqual({ unread: 2, read: 0, offset: 7 });
    await h.ok('read', { channel, offset: 1 });
    expect((await h.ok('unread', { channels: [channel] })).channels[channel]).toEqual({ unread: 1, read: 1, offset: 7 });
  });
});

describe('durability', () => {
  test('receipts survive a restart of the node (SQLite store, SQLite history keeping the epoch)', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'tidings-receipts-'));
    const options = {
      auth: { secret: TEST_SECRET },
      store: { path: join(dir, 'tidings.db') },
      history: { store: 'sqlite' as const },
      namespaces: { inbox: { history, clientPublish: 'subscribers' as const, messaging: { readReceipts: true } } },
    };
    const channel = 'inbox:restart';
    try {
      const first = await startTestNode(options);
      try {
        for (let n = 0; n < 5; n++) await first.api('POST', '/publish', { channel, data: n });
        expect((await first.api('POST', '/read', { user: 'jo', channel, offset: 3 })).body.data.offset).toBe(3);
      } finally {
        await first.close();
      }
      const again = await startTestNode(options);
      try {
        const { client } = await TestClient.connect(again.wsUrl, await again.token('jo'));
        try {
          expect((await client.ok('unread', { channels: [channel] })).channels[channel]).toEqual({ unread: 2, read: 3, offset: 5 });
          expect(await client.ok('read', { channel, offset: 2 })).toEqual({ offset: 3 });
        } finally {
          client.close();
        }
      } finally {
        await again.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('two nodes', () => {
  test("a read on node A reaches the user's device and a seen-by subscriber on node B; B counts with A's receipt", async () => {
    const { openSqliteStores } = await import('../store/sqlite/sqlite-stores.js');
    const { sqliteStoresOptions } = await import('../store/store-retention.js');
    const { DEFAULT_RETENTION } = await import('../store/stores.contract.js');
    const { startNodePair } = await import('../test-support/node-pair.js');
    // One database for both nodes, as PostgreSQL is for nodes of a deployment.
    const shared = openSqliteStores(sqliteStoresOptions(':memory:', DEFAULT_RETENTION));
    const pair = await startNodePair({
      auth: { secret: TEST_SECRET },
      readReceiptsStore: shared.readReceipts,
      namespaces: { room: { history, clientPublish: 'subscribers', messaging: { readReceipts: true, seenBy: true } } },
    });
    const clients: TestClient[] = [];
    try {
      const at = async (node: TestNode, user: string) => {
        const { client } = await TestClient.connect(node.wsUrl, await node.token(user));
        clients.push(client);
        return client;
      };
      const channel = 'room:pair';
      const [laptop, phone, friend] = [await at(pair.a, 'kai'), await at(pair.b, 'kai'), await at(pair.b, 'lea')];
      await friend.ok('subscribe', { channel });
      for (let n = 0; n < 3; n++) await pair.a.api('POST', '/publish', { channel, data: n });
      await laptop.ok('read', { channel, offset: 2 });
      expect(await phone.waitForPush((p) => p.type === 'read')).toEqual({ type: 'read', channel, user: 'kai', offset: 2, at: expect.any(Number) });
      expect(await friend.waitForPush((p) => p.type === 'read')).toEqual({ type: 'read', channel, user: 'kai', offset: 2, at: expect.any(Number) });
      expect((await phone.ok('unread', { channels: [channel] })).channels[channel]).toEqual({ unread: 1, read: 2, offset: 3 });
      expect((await friend.ok('read_receipts', { channel })).receipts).toEqual([{ user: 'kai', offset: 2, at: expect.any(Number) }]);
    } finally {
      for (const c of clients) c.close();
      await pair.close();
      shared.database.close();
    }
  });
});
