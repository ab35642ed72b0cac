/**
 * A notification accepted by the server API (2xx) survives a crash of the process:
 * a real `tidings serve` child with a SQLite file takes 500 notifications (many in
 * flight at once, so group commits carry several), is killed with SIGKILL, and a new
 * process on the same file has every one of them, with its read state and its
 * idempotency key.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from './support/server-process.js';

const TOTAL = 500;
const IN_FLIGHT = 50;
let dir: string;
const started: ServerProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tidings-crash-'));
});
afterAll(async () => {
  await Promise.all(started.map((s) => s.cleanup()));
  await rm(dir, { recursive: true, force: true });
});

async function start(): Promise<ServerProcess> {
  const server = await startServerProcess(`store:\n  path: ${join(dir, 'tidings.db')}\n`);
  started.push(server);
  return server;
}

async function api(server: ServerProcess, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${server.apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: await res.json() };
}

/** Every notification of `user`, through the paginated API. */
async function listAll(server: ServerProcess, user: string): Promise<Array<{ id: string; title: string; read: boolean }>> {
  const all = [];
  let cursor: string | undefined;
  for (let page = 0; page < 50; page++) {
    const res = await api(server, 'GET', `/users/${user}/notifications?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.status).toBe(200);
    all.push(...res.body.data.notifications);
    cursor = res.body.data.nextCursor;
    if (!cursor) return all;
  }
  throw new Error('more pages than expected');
}

it('every notification answered 2xx before a SIGKILL is there after the restart', async () => {
  const first = await start();
  const accepted = new Map<string, string>(); // id -> title
  const users = ['ana', 'ben', 'cem', 'dua', 'eli'];
  let next = 0;
  const worker = async () => {
    while (next < TOTAL) {
      const i = next++;
      const res = await api(first, 'POST', '/notify', { user: users[i % users.length], type: 'info', title: `n${i}`, data: { i }, idempotencyKey: `crash-${i}` });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      accepted.set(res.body.data.notifications[0].id, `n${i}`);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  expect(accepted.size).toBe(TOTAL);
  const read = await api(first, 'POST', '/users/ana/notifications/read', { all: true });
  expect(read.status).toBe(200);
  expect(read.body.data.updated).toBe(TOTAL / users.length);

  first.child.kill('SIGKILL');
  await first.exited;
  expect(first.child.signalCode).toBe('SIGKILL');

  const second = await start();
  const found = new Map<string, string>();
  for (const user of users) {
    const list = await listAll(second, user);
    expect(list).toHaveLength(TOTAL / users.length);
    for (const n of list) {
      found.set(n.id, n.title);
      expect(n.read, `${user} ${n.title}`).toBe(user === 'ana');
    }
  }
  expect(found).toEqual(accepted);
  // Idempotency keys were committed with their notifications.
  const again = await api(second, 'POST', '/notify', { user: 'ben', type: 'info', title: 'n1', data: { i: 1 }, idempotencyKey: 'crash-1' });
  expect(again.body.data).toMatchObject({ deduplicated: true, notifications: [{ title: 'n1', user: 'ben' }] });
  expect((await api(second, 'GET', '/users/ben/notifications?limit=0')).body.data).toMatchObject({ total: TOTAL / users.length });
}, 60_000);
