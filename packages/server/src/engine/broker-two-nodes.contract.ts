/**
 * The Broker contract with two nodes over one engine state. Run by `brokerContract`
 * (broker.contract.ts) for every implementation.
 */
import { describe, expect, it } from 'vitest';
import type { Broker } from './broker.js';
import { freshChannel, HISTORY, once, record, waitFor, type BrokerFactory } from './broker-support.contract.js';
import { closesAfterEach, sleep, unique } from './contract-support.js';

/** Two nodes over one engine state: what one publishes, subscribes or remembers, the other sees. */
export function twoNodeContract(name: string, factory: BrokerFactory): void {
  describe(`Broker contract, two nodes: ${name}`, () => {
    const track = closesAfterEach<{ close(): Promise<void> }>();
    async function two() {
      const deployment = await factory({ metaTtlMs: 3_600_000, maxBytes: 0, maxStreams: 0 }, 2);
      track({ close: async () => (await Promise.all(deployment.nodes.map((n) => n.close())), deployment.close()) });
      const [a, b] = deployment.nodes as [Broker, Broker];
      return { a, b, atA: record(a), atB: record(b) };
    }

    it('delivers what A publishes to B, and to both when both subscribe: once each, in order, with positions', async () => {
      const { a, b, atA, atB } = await two();
      const c = freshChannel();
      await b.subscribe([c]);
      const first = await a.publish(c, 'b only', { history: HISTORY });
      await waitFor(() => atB.received.length === 1);
      expect(atB.received[0]).toMatchObject({ channel: c, pub: { data: 'b only', offset: 1 }, position: first.position });
      expect(atA.received).toEqual([]);
      await a.subscribe([c]);
      const outcomes = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).publish(c, i, { history: { size: 1000, ttlMs: 60_000 } })));
      const epoch = first.position!.epoch;
      expect(outcomes.map((o) => o.position!.offset).sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i + 2));
      await waitFor(() => atA.received.length === 100 && atB.received.length === 101);
      await sleep(20);
      const expected = Array.from({ length: 100 }, (_, i) => ({ epoch, offset: i + 2 }));
      expect(atA.received.map((r) => r.position)).toEqual(expected);
      expect(atB.received.slice(1).map((r) => r.position)).toEqual(expected);
      expect(atA.received.map((r) => r.pub.offset)).toEqual(expected.map((p) => p.offset));
      // Control events published on B reach A in order with the publications.
      const info = { user: 'alice', client: 'c1' };
      await b.publishControl(c, { type: 'join', info });
      await b.publish(c, 'after join', {});
      await waitFor(() => atA.events.length === 102);
      expect(atA.events.slice(-2)).toEqual([`join:${c}:${JSON.stringify({ type: 'join', info })}`, `pub:${c}:"after join"`]);
    });

    it('shares history and positions: B reads what A published', async () => {
      const { a, b } = await two();
      const c = freshChannel();
      const pos = await b.position(c);
      await a.publish(c, 'x', { history: HISTORY });
      await a.publish(c, 'y', { history: HISTORY });
      const page = await b.history(c, { limit: 10, since: pos });
      expect(page.position).toEqual({ epoch: pos.epoch, offset: 2 });
      expect(page.publications.map((p) => [p.offset, p.data])).toEqual([
        [1, 'x'],
        [2, 'y'],
      ]);
    });

    it('an event name travels with the publication to the other node (live, with and without history, with exceptClient) and stays in history', async () => {
      const { a, b, atB } = await two();
      const c = freshChannel();
      const live = freshChannel();
      await b.subscribe([c, live]);
      await a.publish(c, 'named', { history: HISTORY, event: 'task:updated' });
      await a.publish(c, 'plain', { history: HISTORY });
      await a.publish(c, 'except', { history: HISTORY, event: 'order:shipped', exceptClient: 'conn-1' });
      await a.publish(live, 'live', { event: 'a.b_c-d:e' });
      await a.publish(live, 'live except', { event: 'x', exceptClient: 'conn-2' });
      await waitFor(() => atB.received.length === 5);
      expect(atB.received.map((r) => [r.pub.data, r.pub.event ?? null])).toEqual([
        ['named', 'task:updated'],
        ['plain', null],
        ['except', 'order:shipped'],
        ['live', 'a.b_c-d:e'],
        ['live except', 'x'],
      ]);
      expect(atB.received[1]!.pub).not.toHaveProperty('event');
      // A live publication with no history and no publisher has neither an offset nor info, event name or not.
      expect(Object.keys(atB.received[3]!.pub).sort()).toEqual(['data', 'event']);
      expect(Object.keys(atB.received[4]!.pub).sort()).toEqual(['data', 'event']);
      const page = await b.history(c, { limit: 10 });
      expect(page.publications.map((p) => [p.offset, p.data, p.event ?? null])).toEqual([
        [1, 'named', 'task:updated'],
        [2, 'plain', null],
        [3, 'except', 'order:shipped'],
      ]);
      expect(page.publications[1]).not.toHaveProperty('event');
      expect((await a.history(c, { limit: 1, reverse: true })).publications[0]).toMatchObject({ offset: 3, event: 'order:shipped' });
    });

    it('publishes an idempotent publish once when it is retried through the other node', async () => {
      const { a, b, atA, atB } = await two();
      const c = freshChannel();
      await a.subscribe([c]);
      await b.subscribe([c]);
      const key = unique('k');
      const first = await a.publish(c, 'once', { history: HISTORY, idempotency: once(key) });
      const retry = await b.publish(c, 'once', { history: HISTORY, idempotency: once(key) });
      expect(retry).toEqual({ position: first.position, deduplicated: true });
      // Racing through both nodes at once: still one publication.
      const raceKey = unique('k');
      const raced = await Promise.all([a, b, a, b].map((n) => n.publish(c, 'race', { history: HISTORY, idempotency: once(raceKey) })));
      expect(raced.filter((o) => !o.deduplicated)).toHaveLength(1);
      await sleep(30);
      expect(atA.received.map((r) => r.pub.data)).toEqual(['once', 'race']);
      expect(atB.received.map((r) => r.pub.data)).toEqual(['once', 'race']);
      expect((await b.history(c, { limit: 10 })).publications).toHaveLength(2);
    });

    it("an unsubscribe on A does not stop B's deliveries, nor does closing A", async () => {
      const { a, b, atA, atB } = await two();
      const c = freshChannel();
      await a.subscribe([c]);
      await b.subscribe([c]);
      await a.unsubscribe([c]);
      await a.publish(c, 1, {});
      await waitFor(() => atB.received.length === 1);
      await a.subscribe([c]);
      await a.close();
      await b.publish(c, 2, {});
      await waitFor(() => atB.received.length === 2);
      await sleep(20);
      expect(atA.received).toEqual([]);
      expect(atB.received.map((r) => r.pub.data)).toEqual([1, 2]);
    });

    it('subscribes and unsubscribes batches of channels', async () => {
      const { a, b, atB } = await two();
      const channels = [freshChannel(), freshChannel(), freshChannel()];
      await b.subscribe(channels);
      await b.subscribe(channels.slice(0, 1));
      for (const c of channels) await a.publish(c, c, {});
      await waitFor(() => atB.received.length === 3);
      await b.unsubscribe(channels.slice(1));
      await b.unsubscribe(channels.slice(1));
      for (const c of channels) await a.publish(c, c, {});
      await waitFor(() => atB.received.length === 4);
      await sleep(20);
      expect(atB.received.map((r) => r.channel)).toEqual([...channels, channels[0]]);
    });
  });
}
