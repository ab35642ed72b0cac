import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Publication } from '@tidings/protocol';
import type { ResolvedChannel } from '../auth/channel-policy.js';
import { resolveConfig } from '../config/schema.js';
import { publicationBytes } from '../engine/broker.js';
import { MemoryBroker } from '../engine/memory/memory-broker.js';
import { delayedEngine } from '../test-support/delayed-broker.js';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, type TestNode } from '../test-support/test-node.js';
import { recoverySubscribe } from './recovery.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function target(channel: string, ns: Record<string, unknown>): ResolvedChannel {
  const config = resolveConfig({ namespaces: { x: ns } });
  return { channel, ns: config.namespaces.x!, parsed: { namespace: 'x', rest: channel.slice(2) }, personal: false };
}

describe('recoverySubscribe', () => {
  const broker = new MemoryBroker({ metaTtlMs: 60_000 });
  afterAll(() => broker.close());
  const history = { size: 5, ttlMs: 60_000 };

  it('gives no position without history, and recovered:false when asked to recover', async () => {
    const t = target('x:a', {});
    expect(await recoverySubscribe(broker, t, undefined, 100)).toEqual({ result: { recoverable: false }, lastOffset: undefined });
    expect((await recoverySubscribe(broker, t, { epoch: 'e', offset: 1 }, 100)).result).toEqual({ recoverable: false, recovered: false, publications: [] });
  });

  it('gives the position when history is on but recover is off', async () => {
    const t = target('x:b', { history: { size: 5 } });
    const pos = (await broker.publish('x:b', 1, { history })).position!;
    const out = await recoverySubscribe(broker, t, { epoch: pos.epoch, offset: 0 }, 100);
    expect(out).toEqual({ result: { epoch: pos.epoch, offset: 1, recoverable: false, recovered: false, publications: [] }, lastOffset: 1 });
  });

  it('recovers exactly the missed publications, or says recovered:false', async () => {
    const t = target('x:c', { history: { size: 5 }, recover: true });
    let epoch = '';
    for (let i = 1; i <= 8; i++) epoch = (await broker.publish('x:c', i, { history })).position!.epoch;
    const offsets = (r: { result: { publications?: Publication[] } }) => r.result.publications!.map((p) => p.offset);
    const ok = await recoverySubscribe(broker, t, { epoch, offset: 5 }, 100);
    expect(ok.result.recovered).toBe(true);
    expect(offsets(ok)).toEqual([6, 7, 8]);
    expect(ok.lastOffset).toBe(8);
    expect((await recoverySubscribe(broker, t, { epoch, offset: 8 }, 100)).result).toMatchObject({ recovered: true, publications: [] });
    // Trimmed away: history holds 4..8 only.
    expect((await recoverySubscribe(broker, t, { epoch, offset: 2 }, 100)).result).toMatchObject({ recovered: false, publications: [], offset: 8 });
    // Beyond the recovery limit.
    expect((await recoverySubscribe(broker, t, { epoch, offset: 5 }, 2)).result).toMatchObject({ recovered: false, publications: [] });
    expect((await recoverySubscribe(broker, t, { epoch, offset: 6 }, 2)).result).toMatchObject({ recovered: true });
    // Other epoch, or a position from the future.
    expect((await recoverySubscribe(broker, t, { epoch: 'other', offset: 7 }, 100)).result).toMatchObject({ recovered: false, epoch });
    expect((await recoverySubscribe(broker, t, { epoch, offset: 9 }, 100)).result).toMatchObject({ recovered: false });
  });
});

describe('recoverySubscribe after budget evictions', () => {
  const history = { size: 100, ttlMs: 60_000 };
  const data = 'x'.repeat(500);
  const one = publicationBytes(JSON.stringify(data), undefined);
  const t = target('x:evicted', { history: { size: 100 }, recover: true });

  it('answers recovered:false, never a partial replay, when the node budget evicted missed publications', async () => {
    const broker = new MemoryBroker({ metaTtlMs: 60_000, maxBytes: 4 * one });
    try {
      let epoch = '';
      for (let i = 0; i < 3; i++) epoch = (await broker.publish('x:evicted', data, { history })).position!.epoch;
      // Another channel's publications push x:evicted's oldest two out of the node budget.
      for (let i = 0; i < 3; i++) await broker.publish('x:other', data, { history });
      const page = await broker.history('x:evicted', { limit: 10, since: { epoch, offset: 0 } });
      expect(page.publications.map((p) => p.offset)).toEqual([3]);
      expect((await recoverySubscribe(broker, t, { epoch, offset: 0 }, 100)).result).toMatchObject({ recovered: false, publications: [], offset: 3, epoch });
      expect((await recoverySubscribe(broker, t, { epoch, offset: 1 }, 100)).result).toMatchObject({ recovered: false, publications: [] });
      const ok = await recoverySubscribe(broker, t, { epoch, offset: 2 }, 100);
      expect(ok.result).toMatchObject({ recovered: true, offset: 3 });
      expect(ok.result.publications!.map((p) => p.offset)).toEqual([3]);
    } finally {
      await broker.close();
    }
  });

  it('answers recovered:false with a new epoch when the stream was forgotten beyond maxStreams', async () => {
    const broker = new MemoryBroker({ metaTtlMs: 60_000, maxStreams: 10 });
    try {
      const { epoch } = (await broker.publish('x:evicted', data, { history })).position!;
      for (let i = 0; i < 20; i++) await broker.publish(`x:flood-${i}`, 1, { history });
      const out = await recoverySubscribe(broker, t, { epoch, offset: 1 }, 100);
      expect(out.result.recovered).toBe(false);
      expect(out.result.epoch).not.toBe(epoch);
    } finally {
      await broker.close();
    }
  });
});

describe('recovery over the wire', () => {
  let t: TestNode;
  beforeAll(async () => {
    t = await startTestNode({ history: { recoveryMaxPublications: 60 }, personal: { history: { size: 50, ttl: '1h' }, recover: true } });
  });
  afterAll(() => t.close());

  it('recovers 50 publications missed while the socket was down, in order', async () => {
    const token = await t.token('alice');
    const { client: first } = await TestClient.connect(t.wsUrl, token);
    const sub = await first.ok('subscribe', { channel: 'news:recover' });
    await t.node.publish('news:recover', 'seen');
    const seen = await first.waitForPush((p) => p.type === 'publication');
    first.ws.terminate();
    await first.closed;
    for (let i = 1; i <= 50; i++) await t.api('POST', '/publish', { channel: 'news:recover', data: { n: i } });
    const { client: again } = await TestClient.connect(t.wsUrl, token);
    const result = await again.ok('subscribe', { channel: 'news:recover', recover: { epoch: sub.epoch, offset: (seen as { offset: number }).offset } });
    expect(result.recovered).toBe(true);
    expect(result.publications.map((p: { data: { n: number } }) => p.data.n)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(result.publications.map((p: { offset: number }) => p.offset)).toEqual(Array.from({ length: 50 }, (_, i) => i + 2));
    await t.node.publish('news:recover', 'live');
    expect(await again.waitForPush((p) => p.type === 'publication')).toMatchObject({ offset: 52, data: 'live' });
    again.close();
  });

  it('answers recovered:false beyond the recovery limit', async () => {
    const { client } = await TestClient.connect(t.wsUrl, await t.token('alice'));
    const sub = await client.ok('subscribe', { channel: 'news:limit' });
    await client.ok('unsubscribe', { channel: 'news:limit' });
    for (let i = 0; i < 61; i++) await t.node.publish('news:limit', i);
    const result = await client.ok('subscribe', { channel: 'news:limit', recover: { epoch: sub.epoch, offset: sub.offset } });
    expect(result).toMatchObject({ recovered: false, publications: [], offset: 61, epoch: sub.epoch });
    client.close();
  });

  it('recovers server-side subscriptions through connect.subs', async () => {
    const token = await t.token('dana');
    const { client, result } = await TestClient.connect(t.wsUrl, token);
    const position = result.subs['user:#dana'];
    expect(position).toMatchObject({ recoverable: true, offset: expect.any(Number) });
    client.ws.terminate();
    for (let i = 1; i <= 5; i++) await t.node.publish('user:#dana', { note: i });
    const { client: again, result: r2 } = await TestClient.connect(t.wsUrl, token, { subs: { 'user:#dana': { epoch: position.epoch, offset: position.offset } } });
    expect(r2.subs['user:#dana']).toMatchObject({ recovered: true });
    expect(r2.subs['user:#dana'].publications.map((p: { data: { note: number } }) => p.data.note)).toEqual([1, 2, 3, 4, 5]);
    again.close();
  });
});

describe('recovery racing a publisher at full rate', () => {
  let t: TestNode;
  beforeAll(async () => {
    t = await startTestNode({
      engine: delayedEngine(8),
      // Room for everything a full-rate publisher emits during the test, so every recovery must succeed.
      history: { recoveryMaxPublications: 100_000 },
      namespaces: { race: { history: { size: 100_000, ttl: '10m' }, recover: true } },
    });
  });
  afterAll(() => t.close());

  /** Publishes one message per event-loop turn until stopped. */
  function runPublisher(channel: string) {
    let running = true;
    let count = 0;
    const done = (async () => {
      while (running) {
        await t.node.publish(channel, ++count);
        await new Promise((r) => setImmediate(r));
      }
    })();
    return {
      stop: async () => {
        running = false;
        await done;
        return count;
      },
    };
  }

  it('loses and duplicates nothing across repeated resubscribes and reconnects', async () => {
    const channel = 'race:one';
    const token = await t.token('racer');
    let { client } = await TestClient.connect(t.wsUrl, token);
    const first = await client.ok('subscribe', { channel });
    const epoch: string = first.epoch;
    const received: number[] = [];
    let consumed = 0;
    const drain = () => {
      const pubs = client.publications(channel);
      for (const p of pubs.slice(consumed)) received.push(p.offset!);
      consumed = pubs.length;
    };
    const publisher = runPublisher(channel);
    for (let round = 0; round < 30; round++) {
      await sleep(5 + Math.random() * 10);
      drain();
      const last = received.length > 0 ? received[received.length - 1]! : first.offset;
      if (round % 2 === 0) {
        // Resubscribe on the same connection.
        await client.ok('unsubscribe', { channel });
        drain();
      } else {
        // Drop the connection entirely and come back on a new one.
        client.ws.terminate();
        await client.closed;
        drain();
        ({ client } = await TestClient.connect(t.wsUrl, token));
        consumed = 0;
      }
      const lastNow = received.length > 0 ? received[received.length - 1]! : first.offset;
      expect(lastNow).toBeGreaterThanOrEqual(last);
      const result = await client.ok('subscribe', { channel, recover: { epoch, offset: lastNow } });
      expect(result.recovered).toBe(true);
      for (const p of result.publications) received.push(p.offset);
    }
    await sleep(20);
    const total = await publisher.stop();
    await client.waitForPush((p) => p.type === 'publication' && p.offset === total);
    drain();
    expect(total).toBeGreaterThan(100);
    expect(received).toEqual(Array.from({ length: total - first.offset }, (_, i) => first.offset + i + 1));
    client.close();
  }, 30_000);
});
