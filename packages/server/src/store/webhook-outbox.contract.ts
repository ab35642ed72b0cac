/**
 * Contract suite of the WebhookOutbox (its guarantees are in webhook-outbox.ts): every
 * implementation runs it (sqlite/sqlite-stores.test.ts, postgres/postgres-stores.test.ts,
 * engine/ipc/ipc-stores.test.ts). `open()` gives a fresh, empty outbox; `reopen()` the same data
 * as a restarted process sees it.
 */
import { describe, expect, test } from 'vitest';
import { BadCursorError } from './notification-store.js';
import type { NewOutboxRow, OutboxRow, WebhookOutbox } from './webhook-outbox.js';

export interface OutboxSet {
  outbox: WebhookOutbox;
  reopen(): Promise<OutboxSet>;
  close(): Promise<void>;
}

const T0 = 1_767_225_600_000;
const LEASE = 30_000;

let events = 0;
/** A row of `endpoint` with order key `key`; `n` names it in its payload. */
export function outboxRow(endpoint: string, key: string, n: string, extra: Partial<NewOutboxRow> = {}): NewOutboxRow {
  return { eventId: `evt_${events++}_${n}`, endpoint, type: 'channel.occupied', orderKey: key, payload: JSON.stringify({ n }), createdAt: T0, ...extra };
}

const names = (rows: readonly OutboxRow[]) => rows.map((r) => (JSON.parse(r.payload) as { n: string }).n);

export function webhookOutboxContract(name: string, open: () => Promise<OutboxSet>): void {
  const withOutbox = async (body: (o: WebhookOutbox, set: OutboxSet) => Promise<OutboxSet | void>) => {
    let set = await open();
    try {
      set = (await body(set.outbox, set)) ?? set;
    } finally {
      await set.close();
    }
  };

  describe(`${name}: WebhookOutbox`, () => {
    test('enqueue is durable: after a reopen claim hands out every row, each field kept, in seq order', async () => {
      await withOutbox(async (outbox, set) => {
        const a = outboxRow('hooks', 'chat:a', 'a1', { type: 'presence.join', payload: '{"n":"a1","exact":  "bytes"}', createdAt: T0 + 5 });
        await outbox.enqueue([a, outboxRow('hooks', 'chat:b', 'b1')]);
        await outbox.enqueue([]);
        const again = await set.reopen();
        const rows = await again.outbox.claim('h1', T0 + 10, LEASE, 10);
        expect(names(rows)).toEqual(['a1', 'b1']);
        expect(rows[0]).toEqual({ ...a, seq: rows[0]!.seq, state: 'pending', attempts: 0, nextAttemptAt: T0 + 5 });
        expect(rows[1]!.seq).toBeGreaterThan(rows[0]!.seq);
        return again;
      });
    });

    test('an (eventId, endpoint) already in the outbox is skipped; the same event for another endpoint is its own row', async () => {
      await withOutbox(async (outbox) => {
        const row = outboxRow('one', 'k', 'first');
        await outbox.enqueue([row]);
        await outbox.enqueue([{ ...row, payload: '{"n":"again"}' }, { ...row, endpoint: 'two', payload: '{"n":"other"}' }]);
        expect(names(await outbox.claim('h', T0, LEASE, 10))).toEqual(['first', 'other']);
        expect(await outbox.stats()).toEqual({ pending: 2, dead: 0, oldestPendingAt: T0 });
      });
    });

    test('claim: only due rows, at most limit, leased until now + leaseMs (not to anyone, the same holder included, before then)', async () => {
      await withOutbox(async (outbox) => {
        await outbox.enqueue([outboxRow('e', 'k1', 'now'), outboxRow('e', 'k2', 'later', { createdAt: T0 + 1000 }), outboxRow('e', 'k3', 'also')]);
        expect(names(await outbox.claim('h1', T0, LEASE, 1))).toEqual(['now']);
        expect(names(await outbox.claim('h1', T0, LEASE, 10))).toEqual(['also']);
        expect(await outbox.claim('h2', T0 + 999, LEASE, 10)).toEqual([]);
        expect(names(await outbox.claim('h2', T0 + 1000, LEASE, 10))).toEqual(['later']);
        expect(await outbox.claim('h1', T0 + LEASE - 1, LEASE, 10)).toEqual([]);
        // The first two leases ran out: handed out again, with the same ids.
        expect(names(await outbox.claim('h3', T0 + LEASE, LEASE, 10))).toEqual(['now', 'also']);
        expect(await outbox.claim('h3', T0 + 0, LEASE, 0)).toEqual([]);
      });
    });

    test('order per (endpoint, orderKey): a later row waits while the oldest is leased, waits for a retry, until it is delivered or dead', async () => {
      await withOutbox(async (outbox) => {
        await outbox.enqueue([outboxRow('e', 'A', 'a1'), outboxRow('e', 'A', 'a2'), outboxRow('e', 'B', 'b1'), outboxRow('f', 'A', 'fa1'), outboxRow('e', 'A', 'a3')]);
        const first = await outbox.claim('h', T0, LEASE, 10);
        expect(names(first)).toEqual(['a1', 'b1', 'fa1']);
        const [a1] = first;
        // a1 leased: a2 waits.
        expect(await outbox.claim('h2', T0, LEASE, 10)).toEqual([]);
        // a1 failed, due again at T0 + 500: a2 still waits, before and after.
        expect(await outbox.markFailed(a1!.seq, 'h', { status: 503, error: 'HTTP 503', nextAttemptAt: T0 + 500 })).toBe(true);
        expect(await outbox.claim('h2', T0 + 100, LEASE, 10)).toEqual([]);
        const retry = await outbox.claim('h2', T0 + 500, LEASE, 10);
        expect(names(retry)).toEqual(['a1']);
        expect(await outbox.markDelivered(retry[0]!.seq, 'h2', T0 + 501)).toBe(true);
        const next = await outbox.claim('h2', T0 + 502, LEASE, 10);
        expect(names(next)).toEqual(['a2']);
        expect(await outbox.markDead(next[0]!.seq, 'h2', { status: 410, error: 'HTTP 410', now: T0 + 503 })).toBe(true);
        expect(names(await outbox.claim('h2', T0 + 504, LEASE, 10))).toEqual(['a3']);
      });
    });

    test('two holders claiming at once never get the same row', async () => {
      await withOutbox(async (outbox) => {
        await outbox.enqueue(Array.from({ length: 60 }, (_, i) => outboxRow('e', `k${i % 20}`, `r${i}`)));
        const got: OutboxRow[][] = await Promise.all(Array.from({ length: 8 }, (_, i) => outbox.claim(`h${i % 2}`, T0, LEASE, 4)));
        const seqs = got.flat().map((r) => r.seq);
        expect(new Set(seqs).size).toBe(seqs.length);
        // One row per key: the 20 heads, nothing else.
        expect(seqs.length).toBe(20);
        expect(names(got.flat()).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `r${i}`).sort());
      });
    });

    test('marks apply only for the current holder: a late answer after another holder claimed the row changes nothing', async () => {
      await withOutbox(async (outbox) => {
        await outbox.enqueue([outboxRow('e', 'k', 'x')]);
        const [row] = await outbox.claim('old', T0, 1000, 10);
        expect(await outbox.markDelivered(row!.seq, 'stranger', T0)).toBe(false);
        // The lease ran out, nobody claimed it since: the holder's answer still counts.
        expect(await outbox.markFailed(row!.seq, 'old', { error: 'timeout after 5000 ms', nextAttemptAt: T0 + 2000 })).toBe(true);
        // markFailed ended the lease: claimable at nextAttemptAt, though the old lease would run until T0 + 1000 anyway.
        const [again] = await outbox.claim('new', T0 + 2000, 1000, 10);
        expect(again).toMatchObject({ seq: row!.seq, eventId: row!.eventId, attempts: 1, lastError: 'timeout after 5000 ms' });
        expect(again!.lastStatus).toBeUndefined();
        expect(await outbox.markDelivered(row!.seq, 'old', T0 + 2001)).toBe(false);
        expect(await outbox.markDead(row!.seq, 'old', { error: 'late', now: T0 + 2001 })).toBe(false);
        expect(await outbox.markFailed(row!.seq, 'old', { error: 'late', nextAttemptAt: T0 })).toBe(false);
        expect(await outbox.markDelivered(row!.seq, 'new', T0 + 2002)).toBe(true);
        // Delivered: nothing applies any more, nothing is pending.
        expect(await outbox.markDead(row!.seq, 'new', { error: 'late', now: T0 + 2003 })).toBe(false);
        expect(await outbox.claim('new', T0 + 99_999, 1000, 10)).toEqual([]);
        expect(await outbox.stats()).toEqual({ pending: 0, dead: 0 });
        expect(await outbox.markDelivered(987_654, 'new', T0)).toBe(false);
      });
    });

    test('listDead: oldest first, paged with a cursor, of one endpoint when asked, each with its attempts and last failure', async () => {
      await withOutbox(async (outbox) => {
        await outbox.enqueue(Array.from({ length: 5 }, (_, i) => outboxRow(i % 2 === 0 ? 'even' : 'odd', `k${i}`, `d${i}`)));
        await outbox.enqueue([outboxRow('even', 'live', 'pending-one')]);
        const rows = await outbox.claim('h', T0, LEASE, 10);
        for (const r of rows.slice(0, 5)) {
          expect(await outbox.markFailed(r.seq, 'h', { status: 500, error: 'HTTP 500', nextAttemptAt: T0 + 10 })).toBe(true);
        }
        for (const r of await outbox.claim('h', T0 + 10, LEASE, 5)) {
          expect(await outbox.markDead(r.seq, 'h', { status: 500, error: 'HTTP 500', now: T0 + 20 + r.seq })).toBe(true);
        }
        const p1 = await outbox.listDead({ limit: 2 });
        expect(names(p1.rows)).toEqual(['d0', 'd1']);
        expect(p1.rows[0]).toMatchObject({ state: 'dead', endpoint: 'even', attempts: 2, lastStatus: 500, lastError: 'HTTP 500', finishedAt: T0 + 20 + p1.rows[0]!.seq });
        const p2 = await outbox.listDead({ limit: 2, cursor: p1.nextCursor! });
        expect(names(p2.rows)).toEqual(['d2', 'd3']);
        const p3 = await outbox.listDead({ limit: 2, cursor: p2.nextCursor! });
        expect(p3).toEqual({ rows: [expect.objectContaining({ eventId: expect.stringMatching(/_d4$/) })] });
        const even = await outbox.listDead({ endpoint: 'even', limit: 10 });
        expect(names(even.rows)).toEqual(['d0', 'd2', 'd4']);
        expect(even.nextCursor).toBeUndefined();
        expect(await outbox.listDead({ endpoint: 'nobody', limit: 10 })).toEqual({ rows: [] });
        expect(await outbox.listDead({ limit: 0 })).toEqual({ rows: [] });
        await expect(outbox.listDead({ limit: 2, cursor: 'not-a-cursor' })).rejects.toBeInstanceOf(BadCursorError);
        expect(await outbox.stats()).toEqual({ pending: 1, dead: 5, oldestPendingAt: T0 });
      });
    });

    test('replay: the seqs given, every dead row, or those of one endpoint; attempts back to 0, due now, out in seq order', async () => {
      await withOutbox(async (outbox) => {
        await outbox.enqueue([outboxRow('e', 'A', 'a1'), outboxRow('e', 'A', 'a2'), outboxRow('e', 'A', 'a3'), outboxRow('f', 'B', 'b1'), outboxRow('f', 'C', 'c1')]);
        // a1 dies, a2 dies, a3 is left pending; b1 and c1 die.
        const kill = async (now: number) => {
          for (const r of await outbox.claim('h', now, LEASE, 10)) if (r.orderKey !== 'A' || names([r])[0] !== 'a3') await outbox.markDead(r.seq, 'h', { error: 'gone', now });
        };
        await kill(T0);
        await kill(T0 + 1);
        const dead = (await outbox.listDead({ limit: 10 })).rows;
        expect(names(dead)).toEqual(['a1', 'a2', 'b1', 'c1']);
        const [a1, a2, b1, c1] = dead;
        // Not dead (pending, unknown): nothing to replay.
        expect(await outbox.replay({ seqs: [987_654] }, T0 + 2)).toBe(0);
        expect(await outbox.replay({ seqs: [b1!.seq] }, T0 + 5)).toBe(1);
        expect(names((await outbox.listDead({ limit: 10 })).rows)).toEqual(['a1', 'a2', 'c1']);
        expect(await outbox.replay({ all: true, endpoint: 'e' }, T0 + 6)).toBe(2);
        expect(names((await outbox.listDead({ limit: 10 })).rows)).toEqual(['c1']);
        expect(await outbox.stats()).toEqual({ pending: 4, dead: 1, oldestPendingAt: T0 });
        // Due at the replay's now, not before; attempts reset; a1 goes before a2, which goes before a3.
        expect(await outbox.claim('h2', T0 + 4, LEASE, 10)).toEqual([]);
        expect(await outbox.claim('h2', T0 + 5, LEASE, 10)).toEqual([expect.objectContaining({ seq: b1!.seq, attempts: 0, state: 'pending', nextAttemptAt: T0 + 5 })]);
        const replayed = await outbox.claim('h2', T0 + 6, LEASE, 10);
        expect(replayed).toEqual([expect.objectContaining({ seq: a1!.seq, attempts: 0, nextAttemptAt: T0 + 6 })]);
        expect(replayed[0]!.finishedAt).toBeUndefined();
        await outbox.markDelivered(a1!.seq, 'h2', T0 + 7);
        const second = await outbox.claim('h2', T0 + 7, LEASE, 10);
        expect(second.map((r) => r.seq)).toEqual([a2!.seq]);
        await outbox.markDelivered(a2!.seq, 'h2', T0 + 8);
        expect(names(await outbox.claim('h2', T0 + 8, LEASE, 10))).toEqual(['a3']);
        expect(await outbox.replay({ all: true }, T0 + 9)).toBe(1);
        expect(await outbox.listDead({ limit: 10 })).toEqual({ rows: [] });
        expect(await outbox.claim('h3', T0 + 9, LEASE, 10)).toEqual([expect.objectContaining({ seq: c1!.seq })]);
      });
    });

    test('prune deletes delivered rows finished before `before` and dead rows gone dead before `deadBefore`, nothing pending', async () => {
      await withOutbox(async (outbox) => {
        await outbox.enqueue([outboxRow('e', 'k1', 'old-ok'), outboxRow('e', 'k2', 'new-ok'), outboxRow('e', 'k3', 'old-dead'), outboxRow('e', 'k4', 'new-dead'), outboxRow('e', 'k5', 'waiting')]);
        const rows = await outbox.claim('h', T0, LEASE, 10);
        const [oldOk, newOk, oldDead, newDead, waiting] = rows;
        await outbox.markDelivered(oldOk!.seq, 'h', T0 + 10);
        await outbox.markDelivered(newOk!.seq, 'h', T0 + 100);
        await outbox.markDead(oldDead!.seq, 'h', { error: 'x', now: T0 + 10 });
        await outbox.markDead(newDead!.seq, 'h', { error: 'x', now: T0 + 100 });
        await outbox.markFailed(waiting!.seq, 'h', { error: 'x', nextAttemptAt: T0 + 1 });
        expect(await outbox.prune(T0 + 50, T0 + 11)).toBe(2);
        expect(names((await outbox.listDead({ limit: 10 })).rows)).toEqual(['new-dead']);
        expect(await outbox.prune(T0 + 1_000_000, T0 + 1_000_000)).toBe(2);
        expect(await outbox.stats()).toEqual({ pending: 1, dead: 0, oldestPendingAt: T0 });
        expect(names(await outbox.claim('h', T0 + 1, LEASE, 10))).toEqual(['waiting']);
      });
    });
  });
}
