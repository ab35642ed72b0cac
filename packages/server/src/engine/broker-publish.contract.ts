/**
 * The Broker contract's cases about what a publish stores and returns: history byte budgets
 * (node, namespace, owner), the streams bound, and idempotent publishing. Run by
 * `brokerContract` (broker.contract.ts) on one node.
 */
import { expect, it } from 'vitest';
import type { Publication } from '@tidings/protocol';
import { ENCODED_DATA, HistoryBudgetError, publicationBytes, type EncodedPublication } from './broker.js';
import { freshChannel, HISTORY, once, plain, waitFor, type Make } from './broker-support.contract.js';
import { sleep, unique } from './contract-support.js';

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

export function budgetContract(make: Make): void {
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

export function idempotencyContract(make: Make): void {
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
