/**
 * The publish edge: data is encoded once before anything is stored (a JSON bomb is
 * refused and never poisons history), history reads stay byte-for-byte what they
 * were, and the history byte budgets refuse or evict with clear errors and metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeResult } from '@tidings/protocol';
import { publicationBytes } from '../engine/broker.js';
import { TidingsError } from '../errors.js';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, TEST_API_KEY, type TestNode } from '../test-support/test-node.js';
import { encodeData } from './publish-data.js';

function nested(levels: number): unknown {
  let v: unknown = 'bottom';
  for (let i = 0; i < levels; i++) v = { a: v };
  return v;
}

/** The text of the reply to command `id` among a client's raw messages. */
function replyText(client: TestClient, id: number): string {
  for (const message of client.messages) for (const frame of message.split('\n')) if (frame.startsWith(`{"id":${id},`)) return frame;
  throw new Error(`no reply ${id}`);
}

async function metricsText(t: TestNode): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${t.port}/metrics`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } });
  return res.text();
}

describe('encodeData', () => {
  it('encodes JSON values and sends what JSON cannot represent as null', () => {
    expect(encodeData({ a: [1, 'b', null] })).toBe('{"a":[1,"b",null]}');
    expect(encodeData(undefined)).toBe('null');
  });

  it('refuses depth, cycles and BigInt with bad_request', () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    for (const bad of [nested(6000), cycle, { n: 10n }]) {
      expect(() => encodeData(bad)).toThrow(TidingsError);
      try {
        encodeData(bad);
      } catch (err) {
        expect((err as TidingsError).code).toBe('bad_request');
      }
    }
  });
});

describe('a JSON bomb is refused before it is stored', () => {
  let t: TestNode;
  beforeAll(async () => {
    t = await startTestNode();
  });
  afterAll(() => t.close());

  it('refuses a 6,000-level library and API publish with bad_request; history and recovery keep working for everyone', async () => {
    const channel = 'news:bomb';
    const { client } = await TestClient.connect(t.wsUrl, await t.token('alice'));
    const sub = await client.ok('subscribe', { channel });
    await t.node.publish(channel, { n: 1 });
    await expect(t.node.publish(channel, nested(6000))).rejects.toMatchObject({ code: 'bad_request' });
    // The same through the idempotent path and broadcast.
    await expect(t.node.publish(channel, nested(6000), { idempotencyKey: 'k1' })).rejects.toMatchObject({ code: 'bad_request' });
    expect(await t.node.broadcast([channel], nested(6000))).toEqual([{ channel, error: { code: 'bad_request', message: expect.stringContaining('nested') } }]);
    const api = await t.api('POST', '/publish', `{"channel":"${channel}","data":${'{"a":'.repeat(6000)}1${'}'.repeat(6000)}}`);
    expect(api.status).toBe(400);
    expect(api.body.error.code).toBe('bad_request');
    await t.node.publish(channel, { n: 2 });

    // Nothing was stored: offsets 1 and 2 are the two good publications.
    const history = await client.ok('history', { channel });
    expect(history.publications).toEqual([
      { data: { n: 1 }, offset: 1 },
      { data: { n: 2 }, offset: 2 },
    ]);
    const viaApi = await t.api('GET', `/channels/${encodeURIComponent(channel)}/history`);
    expect(viaApi.status).toBe(200);
    expect(viaApi.body.data.publications.map((p: { offset: number }) => p.offset)).toEqual([1, 2]);
    const { client: other } = await TestClient.connect(t.wsUrl, await t.token('bob'));
    const recovered = await other.ok('subscribe', { channel, recover: { epoch: sub.epoch, offset: 0 } });
    expect(recovered).toMatchObject({ recovered: true, offset: 2 });
    expect(recovered.publications.map((p: { data: unknown }) => p.data)).toEqual([{ n: 1 }, { n: 2 }]);
    // Live subscribers got exactly the two good ones.
    await client.waitForPush((p) => p.type === 'publication' && p.offset === 2);
    expect(client.publications(channel).map((p) => p.offset)).toEqual([1, 2]);
    client.close();
    other.close();
  });

  it('refuses cycles and BigInt from the library with bad_request', async () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    await expect(t.node.publish('news:cycle', cycle)).rejects.toMatchObject({ code: 'bad_request' });
    await expect(t.node.publish('live:cycle', { n: 1n })).rejects.toMatchObject({ code: 'bad_request' });
    expect((await t.node.history('news:cycle')).publications).toEqual([]);
  });

  it('answers a history read after normal publications with the same bytes as before the change', async () => {
    const channel = 'chat:bytes';
    const { client } = await TestClient.connect(t.wsUrl, await t.token('carol'));
    await client.ok('subscribe', { channel });
    // A spread of JSON: escapes, line separators, astral characters, number forms, nesting, empties.
    const values: unknown[] = [
      { text: 'héllo "quoted" \\ back\nline \u2028 sep \u{1F600}', n: 1e21, f: 0.1, neg: -0, big: 9007199254740993 },
      [[], {}, null, true, false, '', [1, [2, [3]]]],
      'plain string',
      12345,
      { date: new Date(0), skipped: undefined, nested: { deep: { deeper: [{ k: 'v' }] } } },
    ];
    const published: { data: unknown; info?: unknown; offset: number }[] = [];
    for (const data of values) {
      const r = await t.node.publish(channel, data);
      published.push({ data, offset: r.offset! });
    }
    const pub = await client.ok('publish', { channel, data: { from: 'carol', emoji: '✓' } });
    published.push({ data: { from: 'carol', emoji: '✓' }, info: { user: 'carol', client: expect.any(String) }, offset: pub.offset });
    const reply = await client.call('history', { channel });
    const id = (reply as { id: number }).id;
    const result = (reply as { result: { epoch: string; offset: number; publications: { info?: unknown }[] } }).result;
    // What the server sent before publications were stored as JSON: the published objects, key order data, info, offset.
    const clientInfo = result.publications[published.length - 1]!.info;
    const expected = encodeResult(id, {
      epoch: result.epoch,
      offset: result.offset,
      publications: published.map((p) => (p.info ? { data: p.data, info: clientInfo, offset: p.offset } : { data: p.data, offset: p.offset })),
    });
    expect(replyText(client, id)).toBe(expected);
    const viaApi = await fetch(`${t.apiUrl}/channels/${encodeURIComponent(channel)}/history`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } });
    expect(await viaApi.text()).toBe(JSON.stringify({ data: JSON.parse(expected).result }));
    client.close();
  });
});

describe('history byte budgets at the publish edge', () => {
  let t: TestNode;
  const data = { text: 'x'.repeat(1000) };
  beforeAll(async () => {
    t = await startTestNode({
      // Room for three of alice's publications (with her client info).
      history: { maxBytesPerUser: 3 * 1400, maxBytes: '1MiB' },
      namespaces: {
        room: { history: { size: 100, ttl: '10m' }, recover: true, clientPublish: 'subscribers' },
        small: { history: { size: 100, ttl: '10m', maxBytes: 3 * publicationBytes(JSON.stringify(data), undefined) }, recover: true },
      },
    });
  });
  afterAll(() => t.close());

  it("refuses a client publish over history.maxBytesPerUser with a temporary limit_exceeded, storing nothing, and counts it", async () => {
    const { client: alice } = await TestClient.connect(t.wsUrl, await t.token('alice'));
    const { client: bob } = await TestClient.connect(t.wsUrl, await t.token('bob'));
    for (const ch of ['room:a', 'room:b', 'room:c', 'room:d']) await alice.ok('subscribe', { channel: ch });
    await bob.ok('subscribe', { channel: 'room:d' });
    await alice.ok('publish', { channel: 'room:a', data });
    await alice.ok('publish', { channel: 'room:b', data });
    await alice.ok('publish', { channel: 'room:c', data });
    const refused = await alice.call('publish', { channel: 'room:d', data });
    expect(refused).toMatchObject({ error: { code: 'limit_exceeded', temporary: true, message: expect.stringContaining('history.maxBytesPerUser') } });
    expect((await t.node.history('room:d')).publications).toEqual([]);
    expect((await t.node.history('room:d')).offset).toBe(0);
    // Other users, and the server API, are not affected by alice's budget.
    expect(await bob.ok('publish', { channel: 'room:d', data })).toMatchObject({ offset: 1 });
    expect((await t.api('POST', '/publish', { channel: 'room:d', data })).status).toBe(200);
    // A publication larger than the budget on its own is refused as never fitting.
    const huge = await bob.call('publish', { channel: 'room:d', data: 'y'.repeat(5000) });
    expect(huge).toMatchObject({ error: { code: 'limit_exceeded', message: expect.stringContaining('history.maxBytesPerUser') } });
    expect((huge as { error: { temporary?: boolean } }).error.temporary).toBeUndefined();
    const metrics = await metricsText(t);
    expect(metrics).toMatch(/tidings_limit_hits_total\{limit="history_bytes_per_user"\} 1\b/);
    expect(metrics).toMatch(/tidings_limit_hits_total\{limit="history_publication_bytes"\} 1\b/);
    alice.close();
    bob.close();
  });

  it('evicts the oldest publications of a namespace beyond its maxBytes; recovery from before them says recovered:false', async () => {
    const { client } = await TestClient.connect(t.wsUrl, await t.token('dave'));
    const sub = await client.ok('subscribe', { channel: 'small:one' });
    await client.ok('unsubscribe', { channel: 'small:one' });
    await t.node.publish('small:one', data);
    await t.node.publish('small:two', data);
    await t.node.publish('small:one', data);
    await t.node.publish('small:two', data);
    expect((await t.node.history('small:one')).publications.map((p) => p.offset)).toEqual([2]);
    const result = await client.ok('subscribe', { channel: 'small:one', recover: { epoch: sub.epoch, offset: 0 } });
    expect(result).toMatchObject({ recovered: false, publications: [], offset: 2, epoch: sub.epoch });
    await client.ok('unsubscribe', { channel: 'small:one' });
    // From a position still covered, recovery works.
    const ok = await client.ok('subscribe', { channel: 'small:one', recover: { epoch: sub.epoch, offset: 1 } });
    expect(ok).toMatchObject({ recovered: true, offset: 2 });
    const metrics = await metricsText(t);
    expect(metrics).toMatch(/tidings_history_evictions_total\{reason="namespace_bytes"\} 1\b/);
    expect(metrics).toMatch(/tidings_history_bytes [1-9]\d*/);
    expect(metrics).toMatch(/tidings_history_streams [1-9]\d*/);
    client.close();
  });
});
