/**
 * The contract every Broker implementation passes, with one node and with two. An
 * implementation's test file calls `brokerContract(name, factory)`; the factory builds a fresh
 * deployment of `count` broker handles sharing one engine state, with the options a test needs.
 * Timing-dependent cases use real time with short TTLs, so a broker backed by an external
 * server (Redis) or another process (IPC) runs the same suite unchanged.
 */
import { describe, expect, it } from 'vitest';
import type { Publication, StreamPosition } from '@tidings/protocol';
import { ENCODED_DATA, HistoryBudgetError, publicationBytes, type Broker, type EncodedPublication } from './broker.js';
import { closesAfterEach, sleep, unique } from './contract-support.js';

export interface BrokerFactoryOptions {
  metaTtlMs: number;
  /** Node-wide history byte budget (0: none). */
  maxBytes: number;
  /** Streams kept at most (0: no limit). */
  maxStreams: number;
  /** Idempotency keys held at most (absent: the implementation's default). */
  idempotencyMaxKeys?: number;
}

export interface BrokerNodes {
  /** `count` handles, one per node, over one shared engine state. */
  nodes: Broker[];
  /** Closes what the factory opened beyond the nodes (shared state, a relay); the nodes are closed first. */
  close(): Promise<void>;
}

export type BrokerFactory = (options: BrokerFactoryOptions, count: number) => Promise<BrokerNodes>;

/** What one node's handler received. */
interface Received {
  channel: string;
  pub: Publication;
  position: StreamPosition | undefined;
}

/** Sets a recording handler on a broker. */
function record(broker: Broker): { received: Received[]; events: string[] } {
  const received: Received[] = [];
  const events: string[] = [];
  broker.setHandler({
    onPublication: (channel, pub, position) => {
      received.push({ channel, pub, position });
      events.push(`pub:${channel}:${JSON.stringify(pub.data)}`);
    },
    onControl: (channel, event) => events.push(`${event.type}:${channel}:${JSON.stringify(event)}`),
  });
  return { received, events };
}

const HISTORY = { size: 100, ttlMs: 60_000 };

const freshChannel = () => unique('test:c');

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

/** A publication without the ENCODED_DATA it may carry. */
function plain(pub: Publication): Publication {
  const out: Publication = { data: pub.data };
  if (pub.info !== undefined) out.info = pub.info;
  if (pub.offset !== undefined) out.offset = pub.offset;
  return out;
}

type Make = (options?: Partial<BrokerFactoryOptions>) => Promise<{ broker: Broker; received: Received[] }>;

/** What one publication of `data` (no info) counts against the budgets. */
const cost = (data: unknown) => publicationBytes(JSON.stringify(data), undefined);

async function refusal(p: Promise<unknown>): Promise<HistoryBudgetError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HistoryBudgetError);
  return err as HistoryBudgetError;
}

function budgetContract(make: Make): void {
  const offsets = (p: { publications: Publication[] }) => p.publications.map((x) => x.offset);

  it('stores the JSON of the data as published: handlers get it as ENCODED_DATA, history decodes it', async () => {
    const { broker, received } = await make();
    const c = freshChannel();
    await broker.subscribe([c]);
    const data = { text: 'héllo ✓', n: [1, 2.5, null] };
    const json = JSON.stringify(data);
    await broker.publish(c, data, { history: HISTORY, json });
    await waitFor(() => received.length === 1);
    expect((received[0]!.pub as EncodedPublication)[ENCODED_DATA]).toBe(json);
    // Changing the object afterwards changes nothing stored: history is the JSON of publish time.
    data.text = 'changed';
    const page = await broker.history(c, { limit: 10 });
    expect(page.publications.map(plain)).toEqual([{ data: { text: 'héllo ✓', n: [1, 2.5, null] }, offset: 1 }]);
    // Without a caller's JSON the broker encodes the data itself before storing it.
    await broker.publish(c, { b: 2 }, { history: HISTORY });
    expect((await broker.history(c, { limit: 10 })).publications.map((p) => p.data)).toEqual([{ text: 'héllo ✓', n: [1, 2.5, null] }, { b: 2 }]);
  });

  it('refuses data JSON cannot encode before storing anything, and the channel stays readable', async () => {
    const { broker, received } = await make();
    const c = freshChannel();
    await broker.subscribe([c]);
    await broker.publish(c, 'before', { history: HISTORY });
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    for (const bad of [cycle, 10n, deep]) await expect(broker.publish(c, bad, { history: HISTORY })).rejects.toThrow();
    const after = await broker.publish(c, 'after', { history: HISTORY });
    expect(after.position!.offset).toBe(2);
    const page = await broker.history(c, { limit: 10 });
    expect(page.publications.map((p) => [p.offset, p.data])).toEqual([
      [1, 'before'],
      [2, 'after'],
    ]);
    await waitFor(() => received.length === 2);
    expect(received.map((r) => r.pub.data)).toEqual(['before', 'after']);
  });

  it('evicts the oldest publications node-wide, across channels, beyond the node budget; reads show the gap', async () => {
    const one = cost({ pad: 'x'.repeat(100) });
    const { broker } = await make({ maxBytes: one * 5 });
    const a = freshChannel();
    const b = freshChannel();
    const data = { pad: 'x'.repeat(100) };
    const epochA = (await broker.publish(a, data, { history: HISTORY })).position!.epoch;
    await broker.publish(a, data, { history: HISTORY });
    await broker.publish(b, data, { history: HISTORY });
    await broker.publish(a, data, { history: HISTORY });
    await broker.publish(b, data, { history: HISTORY });
    // Five fit exactly; the sixth evicts the oldest of all (a:1), then the seventh the next (a:2).
    await broker.publish(b, data, { history: HISTORY });
    expect(offsets(await broker.history(a, { limit: 10 }))).toEqual([2, 3]);
    await broker.publish(b, data, { history: HISTORY });
    const pageA = await broker.history(a, { limit: 10, since: { epoch: epochA, offset: 0 } });
    // Positions outlive evicted publications; the page starts after a gap (offset 3, not 1).
    expect(pageA.position).toEqual({ epoch: epochA, offset: 3 });
    expect(offsets(pageA)).toEqual([3]);
    expect(offsets(await broker.history(b, { limit: 10 }))).toEqual([1, 2, 3, 4]);
    const next = await broker.publish(a, data, { history: HISTORY });
    expect(next.position).toEqual({ epoch: epochA, offset: 4 });
  });

  it('evicts within a shared (namespace) budget only, oldest first', async () => {
    const one = cost('y'.repeat(50));
    const { broker } = await make();
    const shared = { name: unique('ns'), maxBytes: one * 3 };
    const inNs = { ...HISTORY, shared };
    const a = freshChannel();
    const b = freshChannel();
    const other = freshChannel();
    const data = 'y'.repeat(50);
    await broker.publish(other, data, { history: HISTORY });
    await broker.publish(a, data, { history: inNs });
    await broker.publish(b, data, { history: inNs });
    await broker.publish(a, data, { history: inNs });
    await broker.publish(b, data, { history: inNs });
    expect(offsets(await broker.history(a, { limit: 10 }))).toEqual([2]);
    expect(offsets(await broker.history(b, { limit: 10 }))).toEqual([1, 2]);
    expect(offsets(await broker.history(other, { limit: 10 }))).toEqual([1]);
  });

  it("refuses an owner's publication beyond the owner's budget: nothing stored, assigned or delivered", async () => {
    const { broker, received } = await make();
    const c = freshChannel();
    await broker.subscribe([c]);
    const data = 'z'.repeat(200);
    const alice = { id: unique('alice'), maxBytes: cost(data) * 2 };
    const bob = { id: unique('bob'), maxBytes: cost(data) * 2 };
    await broker.publish(c, data, { history: HISTORY, owner: alice });
    await broker.publish(c, data, { history: HISTORY, owner: alice });
    const err = await refusal(broker.publish(c, data, { history: HISTORY, owner: alice }));
    expect(err).toMatchObject({ budget: 'user', tooLarge: false, maxBytes: alice.maxBytes });
    // Another owner, and publications without an owner, are not affected.
    expect((await broker.publish(c, data, { history: HISTORY, owner: bob })).position!.offset).toBe(3);
    expect((await broker.publish(c, data, { history: HISTORY })).position!.offset).toBe(4);
    // Live-only publications hold nothing and are never refused.
    await broker.publish(c, data, { owner: alice });
    await waitFor(() => received.length === 5);
    expect(received.map((r) => r.pub.offset)).toEqual([1, 2, 3, 4, undefined]);
    // Once the owner's publications leave history, the owner may publish again.
    await broker.removeHistory(c);
    expect((await broker.publish(c, data, { history: HISTORY, owner: alice })).position!.offset).toBe(1);
  });

  it('refuses a publication larger than a budget on its own, storing nothing', async () => {
    const big = 'w'.repeat(2000);
    const { broker } = await make({ maxBytes: cost(big) - 1 });
    const c = freshChannel();
    const first = await broker.publish(c, 'small', { history: HISTORY });
    expect(await refusal(broker.publish(c, big, { history: HISTORY }))).toMatchObject({ budget: 'node', tooLarge: true });
    const shared = { name: unique('ns'), maxBytes: cost(big) - 100 };
    expect(await refusal(broker.publish(c, 'v'.repeat(1950), { history: { ...HISTORY, shared } }))).toMatchObject({ budget: 'namespace', tooLarge: true });
    const owner = { id: unique('carol'), maxBytes: 500 };
    expect(await refusal(broker.publish(c, 'u'.repeat(600), { history: HISTORY, owner }))).toMatchObject({ budget: 'user', tooLarge: true });
    const page = await broker.history(c, { limit: 10 });
    expect(page.position).toEqual(first.position);
    expect(page.publications.map((p) => p.data)).toEqual(['small']);
  });

  it('forgets the least recently used streams beyond maxStreams, never a subscribed one; a forgotten stream gets a new epoch', async () => {
    const { broker } = await make({ maxStreams: 3 });
    const held = freshChannel();
    const old = freshChannel();
    await broker.subscribe([held]);
    const heldPos = await broker.position(held);
    const oldPos = (await broker.publish(old, 1, { history: HISTORY })).position!;
    for (let i = 0; i < 20; i++) await broker.position(freshChannel());
    for (let i = 0; i < 3; i++) await broker.publish(freshChannel(), i, { history: HISTORY });
    // The held stream keeps its epoch; `old` (published, but least recently used) does not.
    expect(await broker.position(held)).toEqual(heldPos);
    expect((await broker.position(old)).epoch).not.toBe(oldPos.epoch);
    const stats = broker.historyStats?.();
    if (stats) expect(stats.streams).toBeLessThanOrEqual(3);
  });
}

const once = (key: string, windowMs = 60_000) => ({ key, windowMs });

function idempotencyContract(make: Make): void {
  it('publishes once per idempotency key and channel within the window; a repeat gets the first outcome, deduplicated', async () => {
    const { broker, received } = await make();
    const c = freshChannel();
    const other = freshChannel();
    await broker.subscribe([c, other]);
    const key = unique('k');
    const first = await broker.publish(c, 'one', { history: HISTORY, idempotency: once(key) });
    expect(first.deduplicated).toBeUndefined();
    expect(first.position!.offset).toBe(1);
    const repeat = await broker.publish(c, 'two', { history: HISTORY, idempotency: once(key) });
    expect(repeat).toEqual({ position: first.position, deduplicated: true });
    // Keys are per channel; another key publishes; live-only publications are deduplicated too.
    expect((await broker.publish(other, 'three', { history: HISTORY, idempotency: once(key) })).deduplicated).toBeUndefined();
    expect((await broker.publish(c, 'four', { history: HISTORY, idempotency: once(unique('k')) })).position!.offset).toBe(2);
    const liveKey = unique('k');
    expect(await broker.publish(c, 'five', { idempotency: once(liveKey) })).toEqual({});
    expect(await broker.publish(c, 'five again', { idempotency: once(liveKey) })).toEqual({ deduplicated: true });
    await waitFor(() => received.length === 4);
    await sleep(20);
    expect(received.map((r) => r.pub.data)).toEqual(['one', 'three', 'four', 'five']);
    expect((await broker.history(c, { limit: 10 })).publications.map((p) => p.data)).toEqual(['one', 'four']);
  });

  it('publishes once when repeats of a key race (all in flight at once)', async () => {
    const { broker, received } = await make();
    const c = freshChannel();
    await broker.subscribe([c]);
    const key = unique('k');
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => broker.publish(c, i, { history: HISTORY, idempotency: once(key) })));
    expect(outcomes.filter((o) => !o.deduplicated)).toHaveLength(1);
    expect(new Set(outcomes.map((o) => JSON.stringify(o.position)))).toEqual(new Set([JSON.stringify({ epoch: outcomes[0]!.position!.epoch, offset: 1 })]));
    await sleep(30);
    expect(received).toHaveLength(1);
    expect((await broker.history(c, { limit: 100 })).publications).toHaveLength(1);
  });

  it('remembers nothing for a refused publish, so a retry with the key can succeed', async () => {
    const big = 'w'.repeat(2000);
    const { broker } = await make({ maxBytes: cost(big) - 1 });
    const c = freshChannel();
    const key = unique('k');
    await refusal(broker.publish(c, big, { history: HISTORY, idempotency: once(key) }));
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    await expect(broker.publish(c, cycle, { history: HISTORY, idempotency: once(key) })).rejects.toThrow();
    const ok = await broker.publish(c, 'small', { history: HISTORY, idempotency: once(key) });
    expect(ok.deduplicated).toBeUndefined();
    expect(ok.position!.offset).toBe(1);
    expect((await broker.publish(c, 'small', { history: HISTORY, idempotency: once(key) })).deduplicated).toBe(true);
  });

  it('forgets a key after its window', async () => {
    const { broker } = await make();
    const c = freshChannel();
    const key = unique('k');
    expect((await broker.publish(c, 1, { history: HISTORY, idempotency: once(key, 150) })).position!.offset).toBe(1);
    expect((await broker.publish(c, 1, { history: HISTORY, idempotency: once(key, 150) })).deduplicated).toBe(true);
    await sleep(300);
    const again = await broker.publish(c, 2, { history: HISTORY, idempotency: once(key, 150) });
    expect(again.deduplicated).toBeUndefined();
    expect(again.position!.offset).toBe(2);
  });

  it('holds a bounded number of keys: the most recent are still deduplicated, the oldest of many publish again', async () => {
    const { broker } = await make({ idempotencyMaxKeys: 20 });
    const c = freshChannel();
    const keys = Array.from({ length: 200 }, () => unique('k'));
    for (const key of keys) expect((await broker.publish(c, key, { idempotency: once(key) })).deduplicated).toBeUndefined();
    for (const key of keys.slice(-20)) expect((await broker.publish(c, key, { idempotency: once(key) })).deduplicated).toBe(true);
    expect((await broker.publish(c, 'again', { idempotency: once(keys[0]!) })).deduplicated).toBeUndefined();
  });
}

/** Two nodes over one engine state: what one publishes, subscribes or remembers, the other sees. */
function twoNodeContract(name: string, factory: BrokerFactory): void {
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

/** Polls `cond` until it holds, for at most 2 s. */
export async function waitFor(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(5);
  }
}
