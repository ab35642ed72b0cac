/**
 * The contract every Broker implementation passes, with one node and with two (the two-node
 * suite is in broker-two-nodes.contract.ts, the budget and idempotency cases in
 * broker-publish.contract.ts, what they share in broker-support.contract.ts). An
 * implementation's test file calls `brokerContract(name, factory)`; the factory builds a fresh
 * deployment of `count` broker handles sharing one engine state, with the options a test needs.
 * Timing-dependent cases use real time with short TTLs, so a broker backed by an external
 * server (Redis) or another process (IPC) runs the same suite unchanged.
 */
import { describe, expect, it } from 'vitest';
import type { Publication } from '@tidings/protocol';
import { freshChannel, HISTORY, plain, record, waitFor, type BrokerFactory, type BrokerFactoryOptions } from './broker-support.contract.js';
import { budgetContract, idempotencyContract } from './broker-publish.contract.js';
import { twoNodeContract } from './broker-two-nodes.contract.js';
import { closesAfterEach, sleep } from './contract-support.js';

export { waitFor, type BrokerFactory, type BrokerFactoryOptions, type BrokerNodes } from './broker-support.contract.js';

export function brokerContract(name: string, factory: BrokerFactory): void {
  describe(`Broker contract: ${name}`, () => {
    const track = closesAfterEach<{ close(): Promise<void> }>();
    async function make(options: Partial<BrokerFactoryOptions> = {}) {
      const deployment = await factory({ metaTtlMs: 3_600_000, maxBytes: 0, maxStreams: 0, ...options }, 1);
      track({ close: async () => (await Promise.all(deployment.nodes.map((n) => n.close())), deployment.close()) });
      const broker = deployment.nodes[0]!;
      return { broker, ...record(broker) };
    }

    it('delivers live publications only for subscribed channels', async () => {
      const { broker, received } = await make();
      const a = freshChannel();
      const b = freshChannel();
      await broker.subscribe([a]);
      const outcome = await broker.publish(a, { n: 1 }, {});
      await broker.publish(b, { n: 2 }, {});
      await waitFor(() => received.length >= 1);
      await sleep(20);
      expect(received).toEqual([{ channel: a, pub: { data: { n: 1 } } }]);
      expect(outcome).toEqual({});
    });

    it('delivers control events in order with publications, only for subscribed channels', async () => {
      const { broker, events } = await make();
      const c = freshChannel();
      const other = freshChannel();
      await broker.subscribe([c]);
      const info = { user: 'alice', client: 'c1' };
      const typing = { type: 'typing', user: 'alice', typing: true, exceptUser: 'alice' } as const;
      const presence = { type: 'presence', user: { user: 'alice', status: 'away', lastSeen: 5, clients: 1 } } as const;
      const status = { type: 'status', user: 'alice', status: 'offline', lastSeen: 7 } as const;
      await broker.publishControl(c, { type: 'join', info });
      await broker.publish(c, 'hi', { history: HISTORY });
      await broker.publishControl(c, typing);
      await broker.publishControl(c, presence);
      await broker.publishControl(c, status);
      await broker.publishControl(c, { type: 'leave', info });
      await broker.publishControl(other, { type: 'join', info });
      await waitFor(() => events.length >= 6);
      await sleep(20);
      expect(events).toEqual([
        `join:${c}:${JSON.stringify({ type: 'join', info })}`,
        `pub:${c}:"hi"`,
        `typing:${c}:${JSON.stringify(typing)}`,
        `presence:${c}:${JSON.stringify(presence)}`,
        `status:${c}:${JSON.stringify(status)}`,
        `leave:${c}:${JSON.stringify({ type: 'leave', info })}`,
      ]);
      // Control events are never stored.
      expect((await broker.history(c, { limit: 10 })).publications.map((p) => p.data)).toEqual(['hi']);
    });

    it('stops delivering after unsubscribe', async () => {
      const { broker, received } = await make();
      const c = freshChannel();
      await broker.subscribe([c]);
      await broker.publish(c, 1, {});
      await waitFor(() => received.length === 1);
      await broker.unsubscribe([c]);
      await broker.publish(c, 2, {});
      await sleep(30);
      expect(received.map((r) => r.pub.data)).toEqual([1]);
    });

    it('gives consecutive offsets within one epoch and keeps them in history', async () => {
      const { broker, received } = await make();
      const c = freshChannel();
      await broker.subscribe([c]);
      const outcomes = [];
      for (let i = 1; i <= 5; i++) outcomes.push(await broker.publish(c, { i }, { history: HISTORY }));
      const epoch = outcomes[0]!.position!.epoch;
      expect(outcomes.map((o) => o.position)).toEqual([1, 2, 3, 4, 5].map((offset) => ({ epoch, offset })));
      await waitFor(() => received.length === 5);
      expect(received.map((r) => r.pub.offset)).toEqual([1, 2, 3, 4, 5]);
      // Stored publications reach the handler with their position.
      expect(received.map((r) => r.position)).toEqual([1, 2, 3, 4, 5].map((offset) => ({ epoch, offset })));
      const page = await broker.history(c, { limit: 10 });
      expect(page.position).toEqual({ epoch, offset: 5 });
      expect(page.publications.map((p) => [p.offset, p.data])).toEqual([1, 2, 3, 4, 5].map((i) => [i, { i }]));
    });

    it('reads history with since, limit and reverse', async () => {
      const { broker } = await make();
      const c = freshChannel();
      let epoch = '';
      for (let i = 1; i <= 10; i++) epoch = (await broker.publish(c, i, { history: HISTORY })).position!.epoch;
      const offsets = (p: { publications: Publication[] }) => p.publications.map((x) => x.offset);
      expect(offsets(await broker.history(c, { limit: 3 }))).toEqual([1, 2, 3]);
      expect(offsets(await broker.history(c, { limit: 3, reverse: true }))).toEqual([10, 9, 8]);
      expect(offsets(await broker.history(c, { limit: 100, since: { epoch, offset: 7 } }))).toEqual([8, 9, 10]);
      expect(offsets(await broker.history(c, { limit: 2, since: { epoch, offset: 4 } }))).toEqual([5, 6]);
      expect(offsets(await broker.history(c, { limit: 100, since: { epoch, offset: 10 } }))).toEqual([]);
      const other = await broker.history(c, { limit: 100, since: { epoch: epoch + 'x', offset: 3 } });
      expect(other.publications).toEqual([]);
      expect(other.position).toEqual({ epoch, offset: 10 });
      const zero = await broker.history(c, { limit: 0 });
      expect(zero).toEqual({ position: { epoch, offset: 10 }, publications: [] });
    });

    it('trims history to size and keeps the top offset', async () => {
      const { broker } = await make();
      const c = freshChannel();
      for (let i = 1; i <= 7; i++) await broker.publish(c, i, { history: { size: 3, ttlMs: 60_000 } });
      const page = await broker.history(c, { limit: 100 });
      expect(page.publications.map((p) => p.offset)).toEqual([5, 6, 7]);
      expect(page.position.offset).toBe(7);
    });

    it('expires publications by ttl without resetting the position', async () => {
      const { broker } = await make();
      const c = freshChannel();
      const first = await broker.publish(c, 'a', { history: { size: 10, ttlMs: 150 } });
      await broker.publish(c, 'b', { history: { size: 10, ttlMs: 150 } });
      await sleep(400);
      const page = await broker.history(c, { limit: 10 });
      expect(page.publications).toEqual([]);
      expect(page.position).toEqual({ epoch: first.position!.epoch, offset: 2 });
      const next = await broker.publish(c, 'c', { history: { size: 10, ttlMs: 150 } });
      expect(next.position).toEqual({ epoch: first.position!.epoch, offset: 3 });
    });

    it('creates a position at offset 0 for a new stream and keeps its epoch', async () => {
      const { broker } = await make();
      const c = freshChannel();
      const pos = await broker.position(c);
      expect(pos.offset).toBe(0);
      expect(typeof pos.epoch).toBe('string');
      expect(pos.epoch.length).toBeGreaterThan(0);
      const out = await broker.publish(c, 1, { history: HISTORY });
      expect(out.position).toEqual({ epoch: pos.epoch, offset: 1 });
    });

    it('starts a new epoch after removeHistory', async () => {
      const { broker } = await make();
      const c = freshChannel();
      const a = await broker.publish(c, 1, { history: HISTORY });
      await broker.removeHistory(c);
      const b = await broker.publish(c, 2, { history: HISTORY });
      expect(b.position!.offset).toBe(1);
      expect(b.position!.epoch).not.toBe(a.position!.epoch);
    });

    it('starts a new epoch when the stream metadata expires', async () => {
      const { broker } = await make({ metaTtlMs: 150 });
      const c = freshChannel();
      const a = await broker.publish(c, 1, { history: { size: 10, ttlMs: 100 } });
      await sleep(400);
      const b = await broker.publish(c, 2, { history: { size: 10, ttlMs: 100 } });
      expect(b.position!.epoch).not.toBe(a.position!.epoch);
      expect(b.position!.offset).toBe(1);
    });

    it('keeps per-channel order under concurrent publishes', async () => {
      const { broker, received } = await make();
      const c = freshChannel();
      await broker.subscribe([c]);
      const outcomes = await Promise.all(
        Array.from({ length: 300 }, (_, i) => broker.publish(c, i, { history: { size: 1000, ttlMs: 60_000 } })),
      );
      await waitFor(() => received.length === 300);
      const offsets = received.map((r) => r.pub.offset!);
      expect(offsets).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
      expect(new Set(outcomes.map((o) => o.position!.offset)).size).toBe(300);
      // The broker carries publisher info with the publication.
      const info = { user: 'u1', client: 'c1', info: { name: 'U' } };
      await broker.publish(c, 'with-info', { history: HISTORY, info });
      await waitFor(() => received.length === 301);
      expect(plain(received[300]!.pub)).toEqual({ offset: 301, data: 'with-info', info });
    });

    budgetContract(make);
    idempotencyContract(make);
  });

  twoNodeContract(name, factory);
}
