/**
 * The webhook outbox routes through real HTTP on a test node whose outbox is a real SQLite file
 * this test also holds (the dead letters are made the way delivery makes them: enqueue, claim,
 * markDead).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SqliteDatabase } from '../store/sqlite/database.js';
import { SqliteWebhookOutbox } from '../store/sqlite/sqlite-webhook-outbox.js';
import type { OutboxRow } from '../store/webhook-outbox.js';
import { startTestNode, TEST_API_KEY, type TestNode } from '../test-support/test-node.js';
import { deadLetterPage, outboxStats, replayResult } from './webhook-routes.js';

const dir = mkdtempSync(join(tmpdir(), 'tidings-webhook-routes-'));
let database: SqliteDatabase;
let outbox: SqliteWebhookOutbox;
let t: TestNode;
let events = 0;

beforeAll(async () => {
  database = new SqliteDatabase({ path: join(dir, 'outbox.db') });
  outbox = new SqliteWebhookOutbox(database);
  t = await startTestNode({ webhookOutbox: outbox });
});
afterAll(async () => {
  await t.close();
  database.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Dead letters of `endpoint`, one per name, in order; resolves with their rows. */
async function deadLetters(endpoint: string, ...names: string[]): Promise<OutboxRow[]> {
  const now = Date.now();
  await outbox.enqueue(names.map((n) => ({ eventId: `evt_${++events}`, endpoint, type: 'user.offline' as const, orderKey: `user:${n}`, payload: JSON.stringify({ n }), createdAt: now })));
  const rows = await outbox.claim('test', now, 60_000, 100);
  for (const r of rows) await outbox.markDead(r.seq, 'test', { status: 500, error: 'HTTP 500', now });
  return rows;
}

async function clear(): Promise<void> {
  await outbox.replay({ all: true }, 0);
  for (const r of await outbox.claim('clear', Date.now(), 60_000, 1000)) await outbox.markDelivered(r.seq, 'clear', 0);
  await outbox.prune(1, 1);
}

const names = (rows: Array<{ payload: string }>) => rows.map((r) => (JSON.parse(r.payload) as { n: string }).n);

describe('webhook outbox routes', () => {
  test('GET /webhooks/dead lists dead letters oldest first with every field, pages with a cursor, filters by endpoint; /webhooks/stats counts them', async () => {
    await clear();
    const made = await deadLetters('billing', 'a', 'b');
    await deadLetters('crm', 'c');
    const first = await t.api('GET', '/webhooks/dead?limit=2');
    expect(first.status).toBe(200);
    const page = deadLetterPage.parse(first.body.data);
    expect(names(page.deadLetters)).toEqual(['a', 'b']);
    expect(page.deadLetters[0]).toEqual({ ...made[0], state: 'dead', attempts: 1, lastStatus: 500, lastError: 'HTTP 500', finishedAt: expect.any(Number) });
    const next = await t.api('GET', `/webhooks/dead?limit=2&cursor=${page.nextCursor}`);
    expect(names(next.body.data.deadLetters)).toEqual(['c']);
    expect(next.body.data.nextCursor).toBeUndefined();
    const crm = await t.api('GET', '/webhooks/dead?endpoint=crm');
    expect(names(crm.body.data.deadLetters)).toEqual(['c']);
    const stats = await t.api('GET', '/webhooks/stats');
    expect(stats.status).toBe(200);
    expect(outboxStats.parse(stats.body.data)).toEqual({ pending: 0, dead: 3 });
  });

  test('POST /webhooks/dead/replay: by seqs, all of one endpoint, all; replayed rows are pending again with attempts reset', async () => {
    await clear();
    const billing = await deadLetters('billing', 'a', 'b');
    await deadLetters('crm', 'c', 'd');
    const one = await t.api('POST', '/webhooks/dead/replay', { seqs: [billing[1]!.seq, 987_654] });
    expect(one.status).toBe(200);
    expect(replayResult.parse(one.body.data)).toEqual({ replayed: 1 });
    expect(names((await t.api('GET', '/webhooks/dead')).body.data.deadLetters)).toEqual(['a', 'c', 'd']);
    expect((await t.api('POST', '/webhooks/dead/replay', { all: true, endpoint: 'crm' })).body.data).toEqual({ replayed: 2 });
    expect((await t.api('GET', '/webhooks/stats')).body.data).toEqual({ pending: 3, dead: 1, oldestPendingAt: billing[0]!.createdAt });
    expect((await t.api('POST', '/webhooks/dead/replay', { all: true })).body.data).toEqual({ replayed: 1 });
    expect((await t.api('GET', '/webhooks/dead')).body.data).toEqual({ deadLetters: [] });
    const pending = await outbox.claim('after', Date.now(), 60_000, 10);
    expect(names(pending).sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(pending.every((r) => r.attempts === 0 && r.state === 'pending')).toBe(true);
  });

  test('bad input is refused with bad_request naming the field; other keys than admin get forbidden', async () => {
    const bad = async (method: string, path: string, body: unknown, message: RegExp) => {
      const res = await t.api(method, path, body);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'bad_request', message: expect.stringMatching(message) });
    };
    await bad('GET', '/webhooks/dead?cursor=nope', undefined, /^cursor: /);
    await bad('GET', '/webhooks/dead?limit=0', undefined, /^limit: expected integer 1\.\.1000/);
    await bad('GET', '/webhooks/dead?limit=abc', undefined, /^limit: /);
    await bad('POST', '/webhooks/dead/replay', {}, /give either "seqs" or "all": true/);
    await bad('POST', '/webhooks/dead/replay', { seqs: [1], all: true }, /give either "seqs" or "all": true/);
    await bad('POST', '/webhooks/dead/replay', { seqs: [1], endpoint: 'crm' }, /"endpoint" goes with "all": true/);
    await bad('POST', '/webhooks/dead/replay', { seqs: ['1'] }, /^seqs\.0: /);
    await bad('POST', '/webhooks/dead/replay', { seqs: [] }, /^seqs: /);
    await bad('POST', '/webhooks/dead/replay', { all: false }, /^all: /);
    await bad('POST', '/webhooks/dead/replay', { all: true, extra: 1 }, /unknown field "extra"/);
    for (const [method, path] of [['GET', '/webhooks/dead'], ['POST', '/webhooks/dead/replay'], ['GET', '/webhooks/stats']] as const) {
      const res = await t.api(method, path, method === 'POST' ? { all: true } : undefined, { authorization: `Bearer ${TEST_API_KEY}-read` });
      expect(res.status, `${method} ${path} with a read key`).toBe(403);
    }
  });
});
