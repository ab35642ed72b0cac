/**
 * The chat primitives over real WebSocket connections (protocol level): replies, `message_edit`,
 * `message_delete` and `annotate` on a real node, and what subscribers, `history` and recovery
 * (subscribe and connect) get: live operations untagged, pages untagged and folded.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Publication } from '@tidings/protocol';
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
      room: {
        history,
        recover: true,
        clientPublish: 'subscribers',
        anonymous: true,
        messaging: { replies: true, edits: true, moderators: ['mod'], annotations: true },
      },
      // Only the API publishes here; subscribers may still annotate.
      feed: { history, recover: true, messaging: { annotations: true } },
      tiny: { history: { size: 3, ttl: '10m' }, recover: true, clientPublish: 'subscribers', messaging: { replies: true, edits: true } },
      plain: { history, recover: true, clientPublish: 'subscribers' },
      vault: { private: true, history, messaging: { annotations: true } },
    } as never,
  });
});
afterAll(async () => {
  for (const c of open) c.close();
  await t.close();
});

async function connect(user: string, extra: { roles?: string[] } = {}): Promise<TestClient> {
  const { client } = await TestClient.connect(t.wsUrl, await t.token(user, extra));
  open.push(client);
  return client;
}

async function anonymous(): Promise<TestClient> {
  const client = await TestClient.open(t.wsUrl);
  open.push(client);
  await client.ok('connect', {});
  return client;
}

const errorOf = async (c: TestClient, type: string, params: Record<string, unknown>) => {
  const reply = await c.call(type, params);
  return 'error' in reply ? reply.error.code : 'ok';
};

const historyOf = async (c: TestClient, channel: string, params: Record<string, unknown> = {}): Promise<Publication[]> =>
  (await c.ok('history', { channel, ...params })).publications as Publication[];

describe('replies', () => {
  test('a reply carries replyTo live and in history; to an operation, an unknown or an evicted offset: not_found; off: not_available', async () => {
    const channel = unique('room:r');
    const alice = await connect(unique('alice'));
    const bob = await connect(unique('bob'));
    for (const c of [alice, bob]) await c.ok('subscribe', { channel });
    const { offset: first } = await alice.ok('publish', { channel, data: 'hello' });
    const { offset: reply } = await bob.ok('publish', { channel, data: 'hi', replyTo: first, event: 'chat:msg' });
    const live = await alice.waitForPush((p) => p.type === 'publication' && p.channel === channel && p.offset === reply);
    expect(live).toMatchObject({ offset: reply, replyTo: first, event: 'chat:msg', data: 'hi' });
    const pubs = await historyOf(alice, channel);
    expect(pubs.map((p) => [p.offset, p.replyTo, p.event])).toEqual([
      [first, undefined, undefined],
      [reply, first, 'chat:msg'],
    ]);
    // No tag ever reaches a client.
    for (const p of [...pubs, ...alice.publications(channel)]) expect(p.event ?? '').not.toMatch(/^~/);

    const { offset: edit } = await alice.ok('message_edit', { channel, ref: first, data: 'hello!' });
    expect(await errorOf(bob, 'publish', { channel, data: 'x', replyTo: edit })).toBe('not_found');
    expect(await errorOf(bob, 'publish', { channel, data: 'x', replyTo: edit + 10 })).toBe('not_found');
    expect(await errorOf(bob, 'publish', { channel, data: 'x', replyTo: 0 })).toBe('bad_request');

    const plain = unique('plain:r');
    await alice.ok('subscribe', { channel: plain });
    const { offset } = await alice.ok('publish', { channel: plain, data: 1 });
    expect(await errorOf(alice, 'publish', { channel: plain, data: 2, replyTo: offset })).toBe('not_available');

    const tiny = unique('tiny:r');
    await alice.ok('subscribe', { channel: tiny });
    const { offset: old } = await alice.ok('publish', { channel: tiny, data: 0 });
    for (let i = 1; i <= 3; i++) await alice.ok('publish', { channel: tiny, data: i });
    expect(await errorOf(alice, 'publish', { channel: tiny, data: 'late', replyTo: old })).toBe('not_found');
  });
});

describe('message_edit and message_delete', () => {
  test('the author edits; subscribers get the edit live, untagged and unfolded; history returns the latest version with the edit at its offset', async () => {
    const channel = unique('room:e');
    const aliceId = unique('alice');
    const alice = await connect(aliceId);
    const bob = await connect(unique('bob'));
    for (const c of [alice, bob]) await c.ok('subscribe', { channel });
    const { offset: ref } = await alice.ok('publish', { channel, data: { text: 'helo' } });
    const result = await alice.ok('message_edit', { channel, ref, data: { text: 'hello' } });
    expect(result).toEqual({ offset: ref + 1, epoch: expect.any(String) });

    const live = await bob.waitForPush((p) => p.type === 'publication' && p.channel === channel && p.offset === ref + 1);
    expect(live).toEqual({ type: 'publication', channel, offset: ref + 1, op: { type: 'edit', ref }, data: { text: 'hello' }, info: expect.objectContaining({ user: aliceId }) });
    // The message pushed live before the edit stays as it was: live pushes are not folded.
    expect(bob.publications(channel).find((p) => p.offset === ref)).toMatchObject({ data: { text: 'helo' } });
    expect(bob.publications(channel).find((p) => p.offset === ref)).not.toHaveProperty('version');

    const pubs = await historyOf(bob, channel);
    expect(pubs).toEqual([
      { offset: ref, data: { text: 'hello' }, info: expect.objectContaining({ user: aliceId }), version: ref + 1 },
      { offset: ref + 1, op: { type: 'edit', ref }, data: { text: 'hello' }, info: expect.objectContaining({ user: aliceId }) },
    ]);
    // Newest first, folded the same way.
    expect((await historyOf(bob, channel, { reverse: true })).map((p) => [p.offset, p.data, p.version])).toEqual([
      [ref + 1, { text: 'hello' }, undefined],
      [ref, { text: 'hello' }, ref + 1],
    ]);
  });

  test('only the author or a moderator role may edit or delete; anonymous: permission_denied; off: not_available; the target must be a message in history', async () => {
    const channel = unique('room:p');
    const alice = await connect(unique('alice'));
    const bob = await connect(unique('bob'));
    const mod = await connect(unique('mo'), { roles: ['mod'] });
    const anon = await anonymous();
    for (const c of [alice, bob, mod, anon]) await c.ok('subscribe', { channel });
    const { offset: ref } = await alice.ok('publish', { channel, data: 'mine' });
    expect(await errorOf(bob, 'message_edit', { channel, ref, data: 'theirs' })).toBe('permission_denied');
    expect(await errorOf(bob, 'message_delete', { channel, ref })).toBe('permission_denied');
    expect(await errorOf(anon, 'message_edit', { channel, ref, data: 'x' })).toBe('permission_denied');
    expect(await errorOf(mod, 'message_edit', { channel, ref, data: 'moderated' })).toBe('ok');
    expect(await errorOf(alice, 'message_edit', { channel, ref: ref + 1, data: 'an op' })).toBe('not_found');
    expect(await errorOf(alice, 'message_edit', { channel, ref: ref + 100, data: 'later' })).toBe('not_found');
    expect(await errorOf(alice, 'message_delete', { channel, ref: 0 })).toBe('bad_request');

    // An anonymous message has no author who could change it; a moderator can.
    const { offset: anonRef } = await anon.ok('publish', { channel, data: 'anon' });
    expect(await errorOf(anon, 'message_delete', { channel, ref: anonRef })).toBe('permission_denied');
    expect(await errorOf(mod, 'message_delete', { channel, ref: anonRef })).toBe('ok');

    const plain = unique('plain:p');
    await alice.ok('subscribe', { channel: plain });
    const { offset } = await alice.ok('publish', { channel: plain, data: 1 });
    expect(await errorOf(alice, 'message_edit', { channel: plain, ref: offset, data: 2 })).toBe('not_available');
    expect(await errorOf(alice, 'message_delete', { channel: plain, ref: offset })).toBe('not_available');
  });

  test('a delete is final: the message is null and deleted in history, its annotations gone, a later edit changes nothing', async () => {
    const channel = unique('room:d');
    const alice = await connect(unique('alice'));
    const bob = await connect(unique('bob'));
    for (const c of [alice, bob]) await c.ok('subscribe', { channel });
    const { offset: ref } = await alice.ok('publish', { channel, data: 'oops' });
    await bob.ok('annotate', { channel, ref, name: '👍' });
    const { offset: del } = await alice.ok('message_delete', { channel, ref });
    const live = await bob.waitForPush((p) => p.type === 'publication' && p.channel === channel && p.offset === del);
    expect(live).toMatchObject({ op: { type: 'delete', ref }, data: null });
    await alice.ok('message_edit', { channel, ref, data: 'back?' });
    const [message] = await historyOf(bob, channel);
    expect(message).toEqual({ offset: ref, data: null, deleted: true, version: del, info: expect.any(Object) });
  });
});

describe('annotate', () => {
  test('counts one annotation per user and name, remove takes it back; kinds apart; live pushes carry the annotator', async () => {
    const channel = unique('room:a');
    const [aliceId, bobId, carolId] = [unique('alice'), unique('bob'), unique('carol')];
    const alice = await connect(aliceId);
    const bob = await connect(bobId);
    const carol = await connect(carolId);
    for (const c of [alice, bob, carol]) await c.ok('subscribe', { channel });
    const { offset: ref } = await alice.ok('publish', { channel, data: 'vote' });
    await bob.ok('annotate', { channel, ref, name: '👍' });
    await bob.ok('annotate', { channel, ref, name: '👍' });
    await carol.ok('annotate', { channel, ref, name: '👍' });
    await carol.ok('annotate', { channel, ref, kind: 'flag', name: 'spam' });
    const { offset: undo } = await bob.ok('annotate', { channel, ref, name: '👍', remove: true });
    await bob.ok('annotate', { channel, ref, name: '🎉' });
    const live = await alice.waitForPush((p) => p.type === 'publication' && p.channel === channel && p.offset === undo);
    expect(live).toMatchObject({ op: { type: 'unannotate', ref, kind: 'reaction', name: '👍' }, data: null, info: { user: bobId } });
    const [message] = await historyOf(alice, channel);
    expect(message!.annotations).toEqual({
      reaction: { '👍': { count: 1, users: [carolId] }, '🎉': { count: 1, users: [bobId] } },
      flag: { spam: { count: 1, users: [carolId] } },
    });
    expect(message!.version).toBeUndefined();
  });

  test('a subscriber without the publish right may annotate, one who may subscribe too; anonymous, off, bad names and missing targets are refused', async () => {
    const channel = unique('feed:a');
    const { body } = await t.api('POST', '/publish', { channel, data: 'news' });
    const ref = body.data.offset as number;
    const reader = await connect(unique('reader'));
    expect(await errorOf(reader, 'publish', { channel, data: 'no' })).toBe('permission_denied');
    // Not subscribed, but allowed to: fine.
    expect(await errorOf(reader, 'annotate', { channel, ref, name: '❤️' })).toBe('ok');
    await reader.ok('subscribe', { channel });
    expect(await errorOf(reader, 'annotate', { channel, ref, name: '👀' })).toBe('ok');
    expect(await errorOf(reader, 'annotate', { channel, ref, name: 'two words' })).toBe('bad_request');
    expect(await errorOf(reader, 'annotate', { channel, ref, kind: 'Bad', name: 'x' })).toBe('bad_request');
    expect(await errorOf(reader, 'annotate', { channel, ref: ref + 1, name: 'x' })).toBe('not_found');

    const room = unique('room:a');
    const anon = await anonymous();
    await anon.ok('subscribe', { channel: room });
    const { offset } = await anon.ok('publish', { channel: room, data: 'hey' });
    expect(await errorOf(anon, 'annotate', { channel: room, ref: offset, name: '👍' })).toBe('permission_denied');

    const plain = unique('plain:a');
    await reader.ok('subscribe', { channel: plain });
    const p = await reader.ok('publish', { channel: plain, data: 1 });
    expect(await errorOf(reader, 'annotate', { channel: plain, ref: p.offset, name: '👍' })).toBe('not_available');

    // A private namespace: one who may not subscribe may not annotate.
    const vault = unique('vault:a');
    const v1 = await t.api('POST', '/publish', { channel: vault, data: 'secret' });
    expect(await errorOf(reader, 'annotate', { channel: vault, ref: v1.body.data.offset, name: '👍' })).toBe('permission_denied');
  });
});

describe('history and recovery fold', () => {
  test('a page that does not reach the top is folded with the operations after it; operations stay at their offsets', async () => {
    const channel = unique('room:h');
    const alice = await connect(unique('alice'));
    await alice.ok('subscribe', { channel });
    const { offset: a } = await alice.ok('publish', { channel, data: 'a' });
    const { offset: b } = await alice.ok('publish', { channel, data: 'b' });
    for (let i = 0; i < 5; i++) await alice.ok('publish', { channel, data: `filler ${i}` });
    await alice.ok('message_edit', { channel, ref: a, data: 'a2' });
    await alice.ok('annotate', { channel, ref: b, name: '👍' });
    const firstTwo = await historyOf(alice, channel, { limit: 2 });
    expect(firstTwo.map((p) => [p.offset, p.data, p.version, p.annotations])).toEqual([
      [a, 'a2', b + 6, undefined],
      [b, 'b', undefined, { reaction: { '👍': { count: 1, users: [expect.any(String)] } } }],
    ]);
    // The same through the server API.
    const api = await t.api('GET', `/channels/${encodeURIComponent(channel)}/history?limit=2`);
    expect(api.body.data.publications).toEqual(firstTwo);
  });

  test('subscribe and connect recovery return the missed publications untagged and folded, the operations among them', async () => {
    const channel = unique('room:rec');
    const aliceId = unique('alice');
    const alice = await connect(aliceId);
    const bob = await connect(unique('bob'));
    for (const c of [alice, bob]) await c.ok('subscribe', { channel });
    const { offset: m1, epoch } = await alice.ok('publish', { channel, data: 'one' });
    const since = { epoch, offset: m1 };
    bob.close();
    const { offset: m2 } = await alice.ok('publish', { channel, data: 'two', replyTo: m1 });
    await alice.ok('message_edit', { channel, ref: m2, data: 'two!' });
    await alice.ok('message_edit', { channel, ref: m1, data: 'one!' });
    await alice.ok('annotate', { channel, ref: m2, name: '👍' });

    const expected = [
      { offset: m2, replyTo: m1, data: 'two!', version: m2 + 1, annotations: { reaction: { '👍': { count: 1, users: [aliceId] } } }, info: expect.any(Object) },
      { offset: m2 + 1, op: { type: 'edit', ref: m2 }, data: 'two!', info: expect.any(Object) },
      { offset: m2 + 2, op: { type: 'edit', ref: m1 }, data: 'one!', info: expect.any(Object) },
      { offset: m2 + 3, op: { type: 'annotate', ref: m2, kind: 'reaction', name: '👍' }, data: null, info: expect.any(Object) },
    ];
    const again = await connect(unique('bob'));
    const sub = await again.ok('subscribe', { channel, recover: since });
    expect(sub).toMatchObject({ recovered: true });
    expect(sub.publications).toEqual(expected);

    const { client, result } = await TestClient.connect(t.wsUrl, await t.token(unique('carol'), { channels: [channel] }), { subs: { [channel]: since } });
    open.push(client);
    expect(result.subs[channel]).toMatchObject({ recovered: true });
    expect(result.subs[channel].publications).toEqual(expected);
  });
});
