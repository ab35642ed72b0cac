/**
 * A notification accepted by the server API (2xx) survives a crash of the process:
 * a real `tidings serve` child with a SQLite file takes 500 notifications (many in
 * flight at once, so group commits carry several), is killed with SIGKILL, and a new
 * process on the same file has every one of them, with its read state and its
 * idempotency key.
 *
 * Then the crash in the middle of the load (issue 20, section 5): 8 senders POST /notify at a
 * steady pace, each with its idempotency key, and the process is killed (SIGKILL) once 200 are
 * accepted, with requests in flight; a restart on the same SQLite file (and, with PostgreSQL
 * installed, always with CI=true, on the same database) has 100 % of the 2xx, each once; the
 * senders then retry what had no answer and repeat some accepted ones with the same keys, and
 * every key is still there exactly once. The counts are printed (and reported to
 * docs/reliability.md through TIDINGS_RELIABILITY_OUT).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgMissing, startPostgres, type PostgresServer } from '../packages/server/src/test-support/postgres-server.js';
import { recordFigures } from '../packages/server/src/test-support/reliability-figures.js';
import { restartServerProcess, startServerProcess, type ServerProcess } from './support/server-process.js';

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

const SENDERS = 8;
/** The process is killed once this many notifications are accepted. */
const KILL_AT = 200;
/** Each sender's pace: one POST /notify every PACE_MS at most (and never two of its own at once). */
const PACE_MS = 5;
const STEADY_USERS = ['sa', 'sb', 'sc', 'sd'];
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Sent {
  key: string;
  user: string;
}

/** POST /notify with its idempotency key; null when no HTTP answer came (the process died with it in flight, or was gone). */
async function tryNotify(server: ServerProcess, { key, user }: Sent): Promise<{ status: number; body: any } | null> {
  try {
    const res = await fetch(`${server.apiUrl}/notify`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user, type: 'info', title: key, data: { key }, idempotencyKey: key }),
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, body: await res.json() };
  } catch {
    return null;
  }
}

/** title (= idempotency key) → the ids stored under it, over every steady user. */
async function storedByKey(server: ServerProcess): Promise<Map<string, string[]>> {
  const byKey = new Map<string, string[]>();
  for (const user of STEADY_USERS) for (const n of await listAll(server, user)) byKey.set(n.title, [...(byKey.get(n.title) ?? []), n.id]);
  return byKey;
}

/**
 * The steady load, the kill in its middle, the restart on the same store, the checks and the
 * retries; `store` names the case in the printed line and the report.
 */
async function killUnderLoad(store: string, yaml: string): Promise<void> {
  const first = await startServerProcess(yaml);
  started.push(first);
  const accepted = new Map<string, { id: string; user: string }>();
  const inFlight: Sent[] = []; // sent before the kill, no answer
  const refused: string[] = [];
  let killed = false;
  let killedAt = 0;
  const deadline = Date.now() + 30_000;
  const sender = async (s: number) => {
    const t0 = Date.now();
    for (let i = 0; !killed && Date.now() < deadline; i++) {
      await sleep(t0 + i * PACE_MS - Date.now());
      if (killed) return;
      const sent = { key: `steady-${store}-${s}-${i}`, user: STEADY_USERS[(s + i) % STEADY_USERS.length]! };
      const answer = await tryNotify(first, sent);
      if (answer === null) {
        inFlight.push(sent);
        return;
      }
      if (answer.status !== 200) {
        refused.push(`${sent.key}: ${answer.status} ${JSON.stringify(answer.body)}`);
        continue;
      }
      accepted.set(sent.key, { id: answer.body.data.notifications[0].id, user: sent.user });
      if (accepted.size >= KILL_AT && !killed) {
        killed = true;
        killedAt = Date.now();
        first.child.kill('SIGKILL');
      }
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: SENDERS }, (_, s) => sender(s)));
  await first.exited;
  expect(killed, 'the load reached the kill').toBe(true);
  expect(first.child.signalCode).toBe('SIGKILL');
  expect(refused).toEqual([]);

  const second = await restartServerProcess(first);
  started.push(second);
  const stored = await storedByKey(second);
  const present = [...accepted].filter(([key, { id }]) => stored.get(key)?.includes(id)).length;
  const duplicated = [...stored.values()].reduce((n, ids) => n + ids.length - 1, 0);
  const inFlightKeys = new Set(inFlight.map((s) => s.key));
  const committedInFlight = inFlight.filter((s) => stored.has(s.key)).length;
  const neverSent = [...stored.keys()].filter((key) => !accepted.has(key) && !inFlightKeys.has(key));

  // The senders retry what had no answer, and repeat every tenth accepted one, with the same keys.
  const repeats: Sent[] = [...accepted].filter((_, i) => i % 10 === 0).map(([key, { user }]) => ({ key, user }));
  let created = 0;
  let deduplicated = 0;
  const wrongRepeat: string[] = [];
  for (const sent of [...inFlight, ...repeats]) {
    const answer = await tryNotify(second, sent);
    expect(answer?.status, `${sent.key}: ${JSON.stringify(answer?.body)}`).toBe(200);
    const { deduplicated: dedup, notifications } = answer!.body.data;
    if (dedup) deduplicated++;
    else created++;
    const before = accepted.get(sent.key)?.id ?? stored.get(sent.key)?.[0];
    // Stored before (accepted, or committed with its reply lost): the same notification comes back; else a new one.
    if (before !== undefined ? !(dedup === true && notifications[0].id === before) : dedup !== false) wrongRepeat.push(`${sent.key}: ${JSON.stringify(answer!.body.data)}`);
  }
  const after = await storedByKey(second);
  const afterDuplicated = [...after.values()].reduce((n, ids) => n + ids.length - 1, 0);
  const missingAfter = [...accepted.keys(), ...inFlightKeys].filter((key) => !after.has(key));

  console.log(
    `[crash] ${store}: ${SENDERS} senders, ${accepted.size} notifications accepted (2xx) in ${killedAt - t0} ms, then kill -9 with ${inFlight.length} in flight; ` +
      `after the restart ${present} of ${accepted.size} accepted present (${((100 * present) / accepted.size).toFixed(1)} %), ${committedInFlight} of the in-flight ones too, duplicated ${duplicated}; ` +
      `retries with the same keys: ${created} created, ${deduplicated} deduplicated; afterwards duplicated ${afterDuplicated}, missing ${missingAfter.length}`,
  );
  recordFigures('crashes', `tidings serve kill -9 under notification load (${store})`, {
    accepted: accepted.size,
    present,
    inFlight: inFlight.length,
    committedInFlight,
    duplicated: duplicated + afterDuplicated,
    retried: created + deduplicated,
  });
  expect(present).toBe(accepted.size);
  expect(duplicated).toBe(0);
  expect(neverSent).toEqual([]);
  expect(wrongRepeat).toEqual([]);
  expect(afterDuplicated).toBe(0);
  expect(missingAfter).toEqual([]);
  expect(after.size).toBe(accepted.size + inFlight.length);
}

describe('kill -9 in the middle of a steady notification load', () => {
  it('SQLite: 100 % of the notifications answered 2xx before the kill are there after the restart, none twice, and retries with their idempotency keys create nothing twice', async () => {
    await killUnderLoad('sqlite', `store:\n  path: ${join(dir, 'steady.db')}\n`);
  }, 60_000);

  describe.skipIf(pgMissing())('PostgreSQL', () => {
    let postgres: PostgresServer | undefined;
    beforeAll(async () => {
      postgres = await startPostgres();
    }, 30_000);
    afterAll(async () => {
      await postgres?.close();
    });

    it('PostgreSQL: 100 % of the notifications answered 2xx before the kill are there after the restart, none twice, and retries with their idempotency keys create nothing twice', async () => {
      const url = await postgres!.createDatabase('tidings_crash');
      await killUnderLoad('postgres', `store:\n  type: postgres\n  url: ${url}\n  connectTimeout: 2s\n`);
    }, 60_000);
  });
});
