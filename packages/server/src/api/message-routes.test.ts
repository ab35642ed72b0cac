/**
 * Message operations from an application's backend: POST /messages/edit, /messages/delete,
 * /messages/annotate, replyTo on POST /publish, GET /channels/:channel/history folded, and the
 * library's editMessage, deleteMessage, annotate and history, on real nodes. Two nodes on one
 * memory engine always; on the Redis engine too where redis-server is installed (CI=true).
 */
import { randomBytes } from 'node:crypto';
import type { Publication } from '@tidings/protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { TidingsOptions } from '../node.js';
import { startNodePair } from '../test-support/node-pair.js';
import { redisMissing, startRedis, type RedisServer } from '../test-support/redis-server.js';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, TEST_NAMESPACES, type TestNode } from '../test-support/test-node.js';

const history = { size: 100, ttl: '10m' };
const NAMESPACES = {
  ...TEST_NAMESPACES,
  room: { history, recover: true, clientPublish: 'subscribers', messaging: { replies: true, edits: true, annotations: true } },
  plain: { history, recover: true },
} as TidingsOptions['namespaces'];

let seq = 0;
const unique = (name: string) => `${name}-${++seq}-${randomBytes(2).toString('hex')}`;

describe('server API and library', () => {
  let t: TestNode;
  const open: TestClient[] = [];
  beforeAll(async () => {
    t = await startTestNode({ namespaces: NAMESPACES });
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await t.close();
  });

  const historyOf = async (channel: string, query = ''): Promise<Publication[]> => {
    const res = await t.api('GET', `/channels/${encodeURIComponent(channel)}/history${query}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.data.publications as Publication[];
  };

  test('edit, annotate, delete and a reply through the API: subscribers get each live, history returns the folded messages', async () => {
    const channel = unique('room:api');
    const { client } = await TestClient.connect(t.wsUrl, await t.token('watcher'));
    open.push(client);
    await client.ok('subscribe', { channel });
    const first = (await t.api('POST', '/publish', { channel, data: { text: 'helo' } })).body.data.offset as number;
    const reply = await t.api('POST', '/publish', { channel, data: { text: 'a reply' }, replyTo: first, event: 'chat:msg' });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    const edit = await t.api('POST', '/messages/edit', { channel, ref: first, data: { text: 'hello' } });
    expect(edit).toMatchObject({ status: 200, body: { data: { offset: first + 2, epoch: expect.any(String) } } });
    expect((await t.api('POST', '/messages/annotate', { channel, ref: first, user: 'alice', name: '👍', info: { name: 'Alice' } })).status).toBe(200);
    expect((await t.api('POST', '/messages/annotate', { channel, ref: first, user: 'bob', name: '👍' })).status).toBe(200);
    expect((await t.api('POST', '/messages/annotate', { channel, ref: first, user: 'alice', name: '👍', remove: true })).status).toBe(200);
    expect((await t.api('POST', '/messages/delete', { channel, ref: first + 1 })).status).toBe(200);

    const last = await client.waitForPush((p) => p.type === 'publication' && p.channel === channel && p.offset === first + 6);
    expect(last).toEqual({ type: 'publication', channel, offset: first + 6, op: { type: 'delete', ref: first + 1 }, data: null });
    expect(client.publications(channel).map((p) => p.op?.type ?? (p.replyTo !== undefined ? `reply ${p.replyTo}` : 'message'))).toEqual([
      'message',
      `reply ${first}`,
      'edit',
      'annotate',
      'annotate',
      'unannotate',
      'delete',
    ]);
    expect(client.publications(channel)[3]).toMatchObject({ info: { user: 'alice', client: '', info: { name: 'Alice' } } });

    const pubs = await historyOf(channel);
    expect(pubs.slice(0, 2)).toEqual([
      { offset: first, data: { text: 'hello' }, version: first + 2, annotations: { reaction: { '👍': { count: 1, users: ['bob'] } } } },
      { offset: first + 1, event: 'chat:msg', replyTo: first, data: null, deleted: true, version: first + 6 },
    ]);
    expect(pubs).toHaveLength(7);
    // The library reads the same page.
    expect(JSON.parse(JSON.stringify((await t.node.history(channel)).publications))).toEqual(pubs);
    // A page short of the top is folded with what follows it.
    expect(await historyOf(channel, '?limit=1')).toEqual(pubs.slice(0, 1));
  });

  test('the library edits, deletes and annotates any message; replyTo on publish', async () => {
    const channel = unique('room:lib');
    const { offset: ref } = await t.node.publish(channel, 'draft');
    await t.node.editMessage(channel, ref!, 'final');
    await t.node.annotate(channel, ref!, { user: 'carol', kind: 'flag', name: 'spam' });
    const { offset: answer } = await t.node.publish(channel, 'ack', { replyTo: ref! });
    await t.node.deleteMessage(channel, answer!);
    const { publications } = await t.node.history(channel);
    // A folded message does not keep the engine's JSON of its first content (ENCODED_DATA).
    expect(Object.getOwnPropertySymbols(publications[0]!)).toEqual([]);
    expect(publications[0]).toEqual({ offset: ref, data: 'final', version: ref! + 1, annotations: { flag: { spam: { count: 1, users: ['carol'] } } } });
    expect(publications.find((p) => p.offset === answer)).toEqual({ offset: answer, replyTo: ref, data: null, deleted: true, version: answer! + 1 });
    await expect(t.node.editMessage(channel, ref! + 1, 'x')).rejects.toMatchObject({ code: 'not_found' });
    await expect(t.node.annotate(channel, ref!, { user: '', name: 'x' })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(t.node.annotate(channel, ref!, { user: 'u', name: 'has space' })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(t.node.publish(channel, 'x', { replyTo: 0 })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(t.node.editMessage(unique('plain:lib'), 1, 'x')).rejects.toMatchObject({ code: 'not_available' });
  });

  test('refusals: not_available without messaging, not_found for a missing target or an operation, 400 for bad bodies', async () => {
    const channel = unique('room:bad');
    const ref = (await t.api('POST', '/publish', { channel, data: 1 })).body.data.offset as number;
    const plain = unique('plain:bad');
    const plainRef = (await t.api('POST', '/publish', { channel: plain, data: 1 })).body.data.offset as number;
    const code = async (path: string, body: unknown) => {
      const res = await t.api('POST', path, body);
      return [res.status, res.body.error?.code ?? 'ok'];
    };
    expect(await code('/messages/edit', { channel: plain, ref: plainRef, data: 2 })).toEqual([409, 'not_available']);
    expect(await code('/messages/annotate', { channel: plain, ref: plainRef, user: 'u', name: 'x' })).toEqual([409, 'not_available']);
    expect(await code('/publish', { channel: plain, data: 2, replyTo: plainRef })).toEqual([409, 'not_available']);
    expect(await code('/messages/edit', { channel, ref: ref + 5, data: 2 })).toEqual([404, 'not_found']);
    const { body } = await t.api('POST', '/messages/edit', { channel, ref, data: 2 });
    expect(await code('/messages/delete', { channel, ref: body.data.offset })).toEqual([404, 'not_found']);
    expect(await code('/publish', { channel, data: 3, replyTo: body.data.offset })).toEqual([404, 'not_found']);
    expect(await code('/messages/edit', { channel, ref: 0, data: 2 })).toEqual([400, 'bad_request']);
    expect(await code('/messages/edit', { channel, ref })).toEqual([400, 'bad_request']);
    expect(await code('/messages/annotate', { channel, ref, name: 'x' })).toEqual([400, 'bad_request']);
    expect(await code('/messages/annotate', { channel, ref, user: 'u', name: 'a b' })).toEqual([400, 'bad_request']);
    expect(await code('/messages/annotate', { channel, ref, user: 'u', name: 'x', kind: 'UP' })).toEqual([400, 'bad_request']);
    expect(await code('/publish', { channel, data: 3, replyTo: 1.5 })).toEqual([400, 'bad_request']);
  });
});

/** Two nodes: a client on B sees A's edits live, then leaves and recovers the folded messages from B. */
async function editsAndRecoveryAcrossNodes(a: TestNode, b: TestNode): Promise<void> {
  const channel = unique('room:two');
  const { client } = await TestClient.connect(b.wsUrl, await b.token('bob'));
  try {
    const sub = await client.ok('subscribe', { channel });
    const first = (await a.api('POST', '/publish', { channel, data: 'one' })).body.data.offset as number;
    expect((await a.api('POST', '/messages/edit', { channel, ref: first, data: 'one!' })).status).toBe(200);
    const live = await client.waitForPush((p) => p.type === 'publication' && p.channel === channel && p.offset === first + 1, 5000);
    expect(live).toMatchObject({ op: { type: 'edit', ref: first }, data: 'one!' });
    client.close();
    await a.node.annotate(channel, first, { user: 'alice', name: '👍' });
    const { offset: second } = await a.node.publish(channel, 'two', { replyTo: first });
    await a.node.deleteMessage(channel, second!);

    const { client: again } = await TestClient.connect(b.wsUrl, await b.token('bob'));
    try {
      const recovered = await again.ok('subscribe', { channel, recover: { epoch: sub.epoch, offset: first + 1 } });
      expect(recovered).toMatchObject({ recovered: true });
      expect(recovered.publications).toEqual([
        { offset: first + 2, op: { type: 'annotate', ref: first, kind: 'reaction', name: '👍' }, data: null, info: { user: 'alice', client: '' } },
        { offset: second, replyTo: first, data: null, deleted: true, version: second! + 1 },
        { offset: second! + 1, op: { type: 'delete', ref: second }, data: null },
      ]);
      const fromB = await b.api('GET', `/channels/${encodeURIComponent(channel)}/history`);
      expect(fromB.body.data.publications[0]).toEqual({ offset: first, data: 'one!', version: first + 1, annotations: { reaction: { '👍': { count: 1, users: ['alice'] } } } });
    } finally {
      again.close();
    }
  } finally {
    client.close();
  }
}

describe('two nodes', () => {
  test('memory engine: edits live across nodes, then recovery folded', async () => {
    const pair = await startNodePair({ namespaces: NAMESPACES });
    try {
      await editsAndRecoveryAcrossNodes(pair.a, pair.b);
    } finally {
      await pair.close();
    }
  });

  describe.skipIf(redisMissing())('Redis engine', () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(async () => {
      await redis?.close();
    });

    test('edits live across nodes, then recovery folded', async () => {
      const engine = { type: 'redis' as const, url: redis.url, prefix: `t-${randomBytes(4).toString('hex')}`, connectTimeout: 2000 };
      const a = await startTestNode({ namespaces: NAMESPACES, engine });
      const b = await startTestNode({ namespaces: NAMESPACES, engine });
      try {
        for (const node of [a, b]) {
          const deadline = Date.now() + 10_000;
          while ((await node.api('GET', '/ready')).status !== 200) {
            if (Date.now() > deadline) throw new Error('node not ready');
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        }
        await editsAndRecoveryAcrossNodes(a, b);
      } finally {
        await b.close();
        await a.close();
      }
    });
  });
});
