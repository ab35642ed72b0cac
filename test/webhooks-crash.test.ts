/**
 * The webhook outbox survives `kill -9` with nothing lost and nothing acknowledged twice: a real
 * `tidings serve` child (SQLite) with one endpoint on a real receiver takes N test events
 * (`POST /webhooks/test`, each answered once it is in the outbox); the receiver acknowledges
 * the first few and holds the next requests open; the process is killed with SIGKILL while they
 * are in flight, and started again on the same data directory. Then every event id arrives with
 * a 2xx exactly once, and the only ids that arrived twice are those whose first request was
 * still open at the kill (their lease ran out and they were sent again, with the same id).
 */
import { afterAll, expect, it } from 'vitest';
import { generateSecret } from '../packages/server/src/webhooks/sign.js';
import { verifyWebhook } from '../packages/server/src/webhooks/verify.js';
import { startWebhookReceiver, type WebhookReceiver } from '../packages/server/src/test-support/webhook-receiver.js';
import { restartServerProcess, startServerProcess, type ServerProcess } from './support/server-process.js';

const N = 40;
const ACKED_FIRST = 10;
const CONCURRENCY = 6;
const LEASE_MS = 4000;
const started: ServerProcess[] = [];
let receiver: WebhookReceiver | undefined;

afterAll(async () => {
  for (const s of started) await s.cleanup();
  await receiver?.close();
});

async function api(server: ServerProcess, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${server.apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: await res.json() };
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

it('after a SIGKILL with deliveries in flight, every event arrives, none is acknowledged twice', async () => {
  const rx = (receiver = await startWebhookReceiver());
  const secret = generateSecret();
  // Acknowledge the first ACKED_FIRST requests, then hold every later one open.
  rx.answer = (_hook, got) => (got.length <= ACKED_FIRST ? { status: 200 } : 'hold');
  const yaml = [
    'webhooks:',
    '  pollInterval: 50ms',
    `  lease: ${LEASE_MS}ms`,
    '  retry: { initial: 100ms, max: 500ms }',
    '  endpoints:',
    '    - id: rx',
    `      url: ${rx.url}`,
    `      secret: ${secret}`,
    '      events: [webhook.test]',
    '      timeout: 3s',
    `      concurrency: ${CONCURRENCY}`,
    '',
  ].join('\n');
  const first = await startServerProcess(yaml);
  started.push(first);

  const ids: string[] = [];
  for (let i = 0; i < N; i++) {
    const res = await api(first, 'POST', '/webhooks/test', { endpoint: 'rx' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data.endpoints).toEqual(['rx']);
    ids.push(res.body.data.id);
  }
  expect(new Set(ids).size).toBe(N);

  // Deliveries in progress: the first ones acknowledged (and marked delivered), the next ones held open.
  await until(`${CONCURRENCY} requests held`, () => rx.held().length === CONCURRENCY, 15_000);
  await until('the acknowledged rows marked delivered', async () => (await api(first, 'GET', '/webhooks/stats')).body.data.pending === N - ACKED_FIRST, 10_000);
  const heldAtKill = new Set(rx.held().map((h) => h.id));
  const acknowledgedBefore = rx.received.filter((h) => h.status === 200).map((h) => h.id);
  expect(acknowledgedBefore).toHaveLength(ACKED_FIRST);

  first.child.kill('SIGKILL');
  await first.exited;
  expect(first.child.signalCode).toBe('SIGKILL');
  await until('the held requests closed', () => rx.held().length === 0, 5000);

  rx.answer = () => ({ status: 200 });
  const second = await restartServerProcess(first);
  started.push(second);
  const acked = () => rx.received.filter((h) => h.status === 200);
  await until('every event acknowledged', () => new Set(acked().map((h) => h.id)).size === N, LEASE_MS + 15_000);
  // Anything sent twice now would arrive soon after.
  await until('the outbox is empty', async () => (await api(second, 'GET', '/webhooks/stats')).body.data.pending === 0, 5000);
  await new Promise((r) => setTimeout(r, 300));

  const ackCount = new Map<string, number>();
  const seen = new Map<string, number>();
  for (const h of rx.received) {
    seen.set(h.id, (seen.get(h.id) ?? 0) + 1);
    if (h.status === 200) ackCount.set(h.id, (ackCount.get(h.id) ?? 0) + 1);
    expect(verifyWebhook(secret, h.headers, h.body, { toleranceSeconds: 60 }).payload.type).toBe('webhook.test');
  }
  expect([...ackCount.keys()].sort()).toEqual([...ids].sort());
  expect([...ackCount.entries()].filter(([, n]) => n !== 1)).toEqual([]);
  const twice = [...seen.entries()].filter(([, n]) => n > 1).map(([id]) => id);
  expect(twice.every((id) => heldAtKill.has(id)), `seen twice: ${twice.join(', ')}; held at the kill: ${[...heldAtKill].join(', ')}`).toBe(true);
  for (const id of heldAtKill) expect(seen.get(id)).toBe(2);
  expect((await api(second, 'GET', '/webhooks/stats')).body.data).toMatchObject({ pending: 0, dead: 0 });
}, 60_000);
