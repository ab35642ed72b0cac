/**
 * `history.store: sqlite` with real `tidings serve` processes (bin/tidings.js, so dist must be
 * built: `npx tsc -b packages/protocol packages/server`), 500 publications to a channel with
 * history and recovery, stopped two ways:
 *
 * - SIGTERM (a graceful stop): the next process recovers a client from its last position with no
 *   gap, in the same epoch: 0 lost, 0 duplicated, in order, `recovered: true`.
 * - SIGKILL in the middle of the load. What sqlite-history.ts promises then: publications are
 *   written behind in batches (~10 ms, one transaction each, in publish order), so the next
 *   process has a PREFIX of the stream, offsets 1..K, each with the data that was published at
 *   that offset, including every publication whose batch had committed before the kill; the
 *   acknowledged publications of the last batches may be lost. Because the offsets after K will
 *   be used again, every stream gets a new epoch: a client of the old epoch is told
 *   `recovered: false`, never a silent gap, and publishing continues at K + 1.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../auth/token-mint.js';
import { TestClient } from '../../test-support/test-client.js';
import { restartServerProcess, startServerProcess, type ServerProcess } from '../../../../../test/support/server-process.js';

const TOTAL = 500;
const CHANNEL = 'chat:crash';
const started: ServerProcess[] = [];
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tidings-history-crash-'));
});
afterAll(async () => {
  await Promise.all(started.map((s) => s.cleanup()));
  await rm(dir, { recursive: true, force: true });
});

function config(file: string): string {
  return `store:\n  path: ${join(dir, file)}\nhistory:\n  store: sqlite\nnamespaces:\n  chat:\n    history: { size: 1000, ttl: 10m }\n    recover: true\n`;
}

async function track(server: Promise<ServerProcess & { secret: string }>): Promise<ServerProcess & { secret: string }> {
  const s = await server;
  started.push(s);
  return s;
}

async function connect(server: ServerProcess & { secret: string }, user: string): Promise<TestClient> {
  return (await TestClient.connect(server.wsUrl, await mintToken(server.secret, { sub: user, ttlSeconds: 3600 }))).client;
}

async function publish(server: ServerProcess, n: number): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.apiUrl}/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ channel: CHANNEL, data: { n } }),
  });
  return { status: res.status, body: await res.json() };
}

async function history(server: ServerProcess): Promise<{ epoch: string; offset: number; publications: Array<{ offset: number; data: { n: number } }> }> {
  const res = await fetch(`${server.apiUrl}/channels/${encodeURIComponent(CHANNEL)}/history?limit=1000`, { headers: { authorization: `Bearer ${server.apiKey}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: any }).data;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const offsetOf = (p: unknown) => (p as { offset: number }).offset;

describe('history.store: sqlite across a real process stop', () => {
  it('SIGTERM: 500 publications, then clients recover from their last positions: 0 lost, 0 duplicated, in order, recovered: true', async () => {
    const first = await track(startServerProcess(config('graceful.db')));
    const early = await connect(first, 'early');
    const sub = await early.ok('subscribe', { channel: CHANNEL });
    const epoch = sub.epoch as string;
    const late = await connect(first, 'late');
    await late.ok('subscribe', { channel: CHANNEL });
    for (let n = 1; n <= 200; n++) expect((await publish(first, n)).status).toBe(200);
    await early.waitForPush((p) => p.type === 'publication' && offsetOf(p) === 200, 10_000);
    early.close();
    for (let n = 201; n <= TOTAL; n++) expect((await publish(first, n)).status).toBe(200);
    await late.waitForPush((p) => p.type === 'publication' && offsetOf(p) === TOTAL, 10_000);
    expect(late.publications(CHANNEL).map(offsetOf)).toEqual(range(1, TOTAL));

    expect(await first.stop('SIGTERM')).toBe(0);
    // The connected client was told to reconnect (a reconnect code, not a terminal one).
    expect((await late.closed).code).toBeLessThan(4500);

    const second = await track(restartServerProcess(first));
    // The client that left after 200: the other 300, in order, once each.
    const again = await connect(second, 'early');
    const result = await again.ok('subscribe', { channel: CHANNEL, recover: { epoch, offset: 200 } });
    expect(result).toMatchObject({ recovered: true, epoch, offset: TOTAL });
    expect(result.publications.map(offsetOf)).toEqual(range(201, TOTAL));
    expect(result.publications.map((p: { data: { n: number } }) => p.data.n)).toEqual(range(201, TOTAL));
    // The client that saw all 500: nothing missed, and the next publication is 501 in the same epoch.
    const lateAgain = await connect(second, 'late');
    const caughtUp = await lateAgain.ok('subscribe', { channel: CHANNEL, recover: { epoch, offset: TOTAL } });
    expect(caughtUp).toMatchObject({ recovered: true, epoch, offset: TOTAL, publications: [] });
    expect((await publish(second, TOTAL + 1)).body.data).toEqual({ epoch, offset: TOTAL + 1 });
    const live = await lateAgain.waitForPush((p) => p.type === 'publication' && offsetOf(p) === TOTAL + 1);
    expect((live as { data: unknown }).data).toEqual({ n: TOTAL + 1 });
    again.close();
    lateAgain.close();
    expect(await second.stop('SIGTERM')).toBe(0);
  }, 90_000);

  it('SIGKILL mid-load: the restart has a prefix 1..K of the stream with the data published at each offset, every publication committed before the kill among them, under a new epoch (recovered: false), and goes on at K + 1', async () => {
    const first = await track(startServerProcess(config('killed.db')));
    const watcher = await connect(first, 'watcher');
    const epoch = (await watcher.ok('subscribe', { channel: CHANNEL })).epoch as string;
    const acked = new Map<number, number>(); // offset -> n, from the 2xx answers
    // Phase 1: 250 publications, then wait (bounded) until the file holds all of them: committed.
    for (let n = 1; n <= 250; n++) {
      const res = await publish(first, n);
      expect(res.status).toBe(200);
      acked.set(res.body.data.offset, n);
    }
    const file = join(dir, 'killed.db');
    let committedTop = 0;
    for (let i = 0; i < 500 && committedTop < 250; i++) {
      const db = new Database(file, { readonly: true, fileMustExist: true });
      try {
        committedTop = (db.prepare('SELECT top FROM history_streams WHERE channel = ?').get(CHANNEL) as { top: number } | undefined)?.top ?? 0;
      } finally {
        db.close();
      }
      if (committedTop < 250) await new Promise((r) => setTimeout(r, 20));
    }
    expect(committedTop).toBe(250);

    // Phase 2: the other 250 from 8 publishers at once; SIGKILL once 100 more are acknowledged, with publishes in flight.
    let next = 251;
    let killed = false;
    let sent = 250;
    const publisher = async () => {
      while (next <= TOTAL && !killed) {
        const n = next++;
        sent = Math.max(sent, n);
        try {
          const res = await publish(first, n);
          if (res.status === 200 && !killed) acked.set(res.body.data.offset, n);
        } catch {
          return; // the process is gone: this publish may or may not have been applied
        }
        if (acked.size >= 350 && !killed) {
          killed = true;
          first.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, publisher));
    expect(killed).toBe(true);
    await first.exited;
    expect(first.child.signalCode).toBe('SIGKILL');
    const lastSeen = Math.max(...watcher.publications(CHANNEL).map(offsetOf));
    expect(lastSeen).toBeGreaterThanOrEqual(250);
    expect((await watcher.closed).code).toBe(1006); // no close frame: the process died

    const second = await track(restartServerProcess(first));
    // The truth for a client of the old epoch: no recovery, a new epoch.
    const client = await connect(second, 'watcher');
    const result = await client.ok('subscribe', { channel: CHANNEL, recover: { epoch, offset: lastSeen } });
    expect(result.recovered).toBe(false);
    expect(result.epoch).not.toBe(epoch);
    const newEpoch = result.epoch as string;

    // What the restart has: offsets 1..K, once each, in order; each with the data published at that offset.
    const page = await history(second);
    expect(page.epoch).toBe(newEpoch);
    const k = page.offset;
    expect(page.publications.map((p) => p.offset)).toEqual(range(1, k));
    for (const p of page.publications) if (acked.has(p.offset)) expect(p.data.n, `offset ${p.offset}`).toBe(acked.get(p.offset));
    expect(new Set(page.publications.map((p) => p.data.n)).size).toBe(k);
    // Every publication committed before the kill is there; nothing that was never sent is.
    expect(k).toBeGreaterThanOrEqual(committedTop);
    expect(k).toBeLessThanOrEqual(sent);
    // Acknowledged but lost (the last batches before the kill) can only be offsets above K: a suffix.
    if (process.env.SHOW_CRASH) console.info(`K=${k}, acknowledged ${acked.size}, sent ${sent}, lost ${[...acked.keys()].filter((o) => o > k).length}`);

    // Publishing goes on at K + 1 in the new epoch; a client of the new epoch recovers with no gap.
    expect((await publish(second, 1001)).body.data).toEqual({ epoch: newEpoch, offset: k + 1 });
    const resumed = await connect(second, 'resumed');
    const recovered = await resumed.ok('subscribe', { channel: CHANNEL, recover: { epoch: newEpoch, offset: k } });
    expect(recovered).toMatchObject({ recovered: true, epoch: newEpoch, offset: k + 1 });
    expect(recovered.publications.map((p: { data: unknown }) => p.data)).toEqual([{ n: 1001 }]);
    client.close();
    resumed.close();

    // A graceful stop after the crash marks the history complete again: the next start keeps the new epoch.
    expect(await second.stop('SIGTERM')).toBe(0);
    const third = await track(restartServerProcess(second));
    expect(await history(third)).toMatchObject({ epoch: newEpoch, offset: k + 1 });
    expect(await third.stop('SIGTERM')).toBe(0);
  }, 90_000);
});
