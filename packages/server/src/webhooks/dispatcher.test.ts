/**
 * Delivery end to end, on real parts: the emitter and dispatcher over a SQLite outbox, POSTing to
 * a real receiver on 127.0.0.1. Signatures, retries and their backoff, Retry-After, dead letters
 * (4xx, max attempts), order per channel while an earlier event fails, timeouts, the per-endpoint
 * concurrency bound, filters, and close handing rows back.
 */
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig, type TidingsConfigInput } from '../config/schema.js';
import { createLogger } from '../log.js';
import { NodeMetrics } from '../ops/metrics.js';
import { SqliteDatabase } from '../store/sqlite/database.js';
import { SqliteWebhookOutbox } from '../store/sqlite/sqlite-webhook-outbox.js';
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from '../test-support/webhook-receiver.js';
import type { WebhookEvent } from '../webhook-events.js';
import { assembleWebhooks, type NodeWebhooks } from './assemble.js';
import { WebhookDispatcher } from './dispatcher.js';
import { OutboxEmitter } from './emitter.js';
import { retryAfterMs } from './post.js';
import { generateSecret } from './sign.js';
import { verifyWebhook } from './verify.js';

const log = createLogger('silent');
const secret = generateSecret();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Rig {
  receiver: WebhookReceiver;
  outbox: SqliteWebhookOutbox;
  parts: NodeWebhooks;
  metrics: NodeMetrics;
  emit(event: WebhookEvent): void;
  /** A delivered-count from the metrics: `tidings_webhook_deliveries_total{endpoint="app",outcome}`. */
  count(outcome: string, endpoint?: string): Promise<number>;
}

type EndpointInput = NonNullable<NonNullable<TidingsConfigInput['webhooks']>['endpoints']>[number];

async function rig(endpoint: Partial<EndpointInput> = {}, webhooks: TidingsConfigInput['webhooks'] = {}, extra: EndpointInput[] = []): Promise<Rig> {
  const receiver = await startWebhookReceiver();
  cleanups.push(() => receiver.close());
  const database = new SqliteDatabase({ path: ':memory:' });
  cleanups.push(() => database.close());
  const outbox = new SqliteWebhookOutbox(database);
  const config = resolveConfig({
    webhooks: { pollInterval: 20, lease: '3s', retry: { initial: 50, max: 800 }, ...webhooks, endpoints: [{ id: 'app', url: receiver.url, secret, timeout: '1s', ...endpoint }, ...extra] },
  });
  const metrics = new NodeMetrics({ defaultMetrics: false });
  const parts = assembleWebhooks({ config, outbox, deliver: true, holder: 'h1', log, metrics });
  cleanups.push(() => parts.close());
  const count = async (outcome: string, id = 'app') => {
    const text = await metrics.render();
    const m = new RegExp(`^tidings_webhook_deliveries_total\\{endpoint="${id}",outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  return { receiver, outbox, parts, metrics, emit: (e) => parts.emitter.emit(e), count };
}

const typeOf = (h: ReceivedWebhook) => (JSON.parse(h.body) as { type: string }).type;
const dataOf = (h: ReceivedWebhook) => (JSON.parse(h.body) as { data: Record<string, unknown> }).data;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('webhook delivery', () => {
  it('POSTs each event once, signed (checked by verifyWebhook and by Python), in the Standard Webhooks payload shape', async () => {
    const r = await rig({ headers: { 'x-app': 'yes' } });
    r.emit({ type: 'channel.occupied', channel: 'chat:lobby', time: Date.UTC(2026, 0, 2, 3, 4, 5) });
    r.emit({ type: 'user.online', user: 'ana', data: { connections: 1 } });
    await r.receiver.until((got) => got.length === 2);
    const [first, second] = r.receiver.received;
    expect(JSON.parse(first!.body)).toEqual({ type: 'channel.occupied', timestamp: '2026-01-02T03:04:05.000Z', data: { channel: 'chat:lobby' } });
    expect(JSON.parse(second!.body)).toMatchObject({ type: 'user.online', data: { user: 'ana', connections: 1 } });
    for (const hook of [first!, second!]) {
      expect(hook.id).toMatch(/^msg_[A-Za-z0-9_-]{22}$/);
      expect(hook.headers['content-type']).toBe('application/json');
      expect(hook.headers['x-app']).toBe('yes');
      expect(verifyWebhook(secret, hook.headers, hook.body).id).toBe(hook.id);
      const script = 'import base64,hashlib,hmac,sys\nsecret,hid,ts,sig=sys.argv[1:5]\nbody=sys.stdin.buffer.read()\nkey=base64.b64decode(secret[6:])\nexp=base64.b64encode(hmac.new(key,f"{hid}.{ts}.".encode()+body,hashlib.sha256).digest()).decode()\nprint("ok" if any(hmac.compare_digest("v1,"+exp,s) for s in sig.split(" ")) else "bad")';
      expect(execFileSync('python3', ['-c', script, secret, hook.id, hook.timestamp, hook.signature], { input: hook.body, encoding: 'utf8' }).trim()).toBe('ok');
    }
    expect(first!.id).not.toBe(second!.id);
    await sleep(150);
    expect(r.receiver.received).toHaveLength(2);
    expect(await r.count('delivered')).toBe(2);
    expect(await r.outbox.stats()).toMatchObject({ pending: 0, dead: 0 });
    expect(await r.metrics.render()).toMatch(/^tidings_webhook_pending 0$/m);
  });

  it('sends an endpoint only the event types and namespaces it subscribes to', async () => {
    const r = await rig({ events: ['channel.occupied', 'user.offline'], namespaces: ['chat'] });
    expect(r.parts.emitter.wants('channel.occupied')).toBe(true);
    expect(r.parts.emitter.wants('presence.join')).toBe(false);
    r.emit({ type: 'presence.join', channel: 'chat:lobby', user: 'ana' });
    r.emit({ type: 'channel.occupied', channel: 'game:1' });
    r.emit({ type: 'channel.occupied', channel: 'chat:1' });
    r.emit({ type: 'user.offline', user: 'ana' });
    await r.receiver.until((got) => got.length === 2);
    await sleep(150);
    expect(r.receiver.received.map((h) => [typeOf(h), dataOf(h)['channel'] ?? dataOf(h)['user']])).toEqual([
      ['channel.occupied', 'chat:1'],
      ['user.offline', 'ana'],
    ]);
  });

  it('retries a 500 with the same id and a growing backoff, then delivers once', async () => {
    const r = await rig();
    r.receiver.answer = (_hook, got) => ({ status: got.length <= 3 ? 500 : 200 });
    r.emit({ type: 'channel.vacated', channel: 'chat:lobby' });
    await r.receiver.until((got) => got.length === 4);
    await sleep(300);
    const got = r.receiver.received;
    expect(got).toHaveLength(4);
    expect(new Set(got.map((h) => h.id)).size).toBe(1);
    const gaps = got.slice(1).map((h, i) => h.at - got[i]!.at);
    // initial 50 ms doubled each time, at most 20 % less for jitter.
    expect(gaps[0]).toBeGreaterThanOrEqual(40);
    expect(gaps[1]).toBeGreaterThanOrEqual(80);
    expect(gaps[2]).toBeGreaterThanOrEqual(160);
    expect(gaps[2]!).toBeGreaterThan(gaps[0]!);
    expect(await r.count('failed')).toBe(3);
    expect(await r.count('delivered')).toBe(1);
    expect(await r.outbox.stats()).toMatchObject({ pending: 0, dead: 0 });
  });

  it('waits at least a 429\'s Retry-After', async () => {
    const r = await rig();
    r.receiver.answer = (_hook, got) => (got.length === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 });
    r.emit({ type: 'user.offline', user: 'ben' });
    await r.receiver.until((got) => got.length === 2, 5000);
    expect(r.receiver.received[1]!.at - r.receiver.received[0]!.at).toBeGreaterThanOrEqual(1000);
    expect(r.receiver.received[1]!.id).toBe(r.receiver.received[0]!.id);
  });

  it('puts a 400 into the dead letters at once, and an event that failed maxAttempts times', async () => {
    const r = await rig({}, { retry: { initial: 20, max: 40, maxAttempts: 3 } });
    r.receiver.answer = (hook) => ({ status: typeOf(hook) === 'user.online' ? 400 : 503 });
    r.emit({ type: 'user.online', user: 'ana' });
    r.emit({ type: 'user.offline', user: 'ben' });
    await r.receiver.until((got) => got.length === 4);
    await sleep(300);
    expect(r.receiver.received.map(typeOf).sort()).toEqual(['user.offline', 'user.offline', 'user.offline', 'user.online']);
    const dead = await r.outbox.listDead({ limit: 10 });
    expect(dead.rows.map((row) => [row.type, row.lastStatus, row.attempts])).toEqual([
      ['user.online', 400, 1],
      ['user.offline', 503, 3],
    ]);
    expect(dead.rows[1]!.lastError).toMatch(/maxAttempts/);
    expect(await r.count('dead')).toBe(2);
    expect(await r.count('failed')).toBe(2);
    expect(await r.metrics.render()).toMatch(/^tidings_webhook_dead 2$/m);
  });

  it('deletes dead letters past webhooks.retention.dead, every retention.interval', async () => {
    const r = await rig({}, { retention: { dead: 0, interval: 50 } });
    r.receiver.answer = () => ({ status: 410 });
    r.emit({ type: 'user.online', user: 'gone' });
    await r.receiver.until((got) => got.length === 1);
    const deadline = Date.now() + 5000;
    while ((await r.outbox.stats()).dead > 0 || (await r.count('dead')) === 0) {
      expect(Date.now()).toBeLessThan(deadline);
      await sleep(20);
    }
    expect((await r.outbox.listDead({ limit: 10 })).rows).toEqual([]);
  });

  it('keeps the order of a channel while its earlier event fails; other channels go on', async () => {
    const r = await rig();
    let failuresLeft = 2;
    r.receiver.answer = (hook) => {
      if (dataOf(hook)['n'] === 'a1' && failuresLeft > 0) {
        failuresLeft--;
        return { status: 502 };
      }
      return { status: 200 };
    };
    r.emit({ type: 'publication.client', channel: 'chat:a', data: { n: 'a1' } });
    r.emit({ type: 'publication.client', channel: 'chat:a', data: { n: 'a2' } });
    r.emit({ type: 'publication.client', channel: 'chat:b', data: { n: 'b1' } });
    await r.receiver.until((got) => got.filter((h) => h.status === 200).length === 3);
    const order = r.receiver.received.map((h) => `${dataOf(h)['n'] as string}:${h.status}`);
    expect(order.filter((s) => s.startsWith('a'))).toEqual(['a1:502', 'a1:502', 'a1:200', 'a2:200']);
    // b1 did not wait for a1's retries.
    expect(order.indexOf('b1:200')).toBeLessThan(order.indexOf('a1:200'));
  });

  it('counts a response slower than the endpoint timeout as a failure and sends again', async () => {
    const r = await rig({ timeout: 200 });
    r.receiver.answer = (_hook, got) => (got.length === 1 ? 'hold' : { status: 204 });
    r.emit({ type: 'channel.occupied', channel: 'chat:x' });
    await r.receiver.until((got) => got.length === 2, 5000);
    expect(r.receiver.received[1]!.at - r.receiver.received[0]!.at).toBeGreaterThanOrEqual(200);
    await sleep(100);
    expect(await r.count('failed')).toBe(1);
    expect(await r.count('delivered')).toBe(1);
  });

  it('has at most `concurrency` requests of an endpoint in flight', async () => {
    const r = await rig({ concurrency: 2 });
    r.receiver.answer = () => 'hold';
    for (let i = 0; i < 6; i++) r.emit({ type: 'channel.occupied', channel: `chat:${i}` });
    await r.receiver.until((got) => got.length === 2);
    await sleep(200);
    expect(r.receiver.received).toHaveLength(2);
    r.receiver.answer = () => ({ status: 204 });
    r.receiver.releaseHeld();
    await r.receiver.until((got) => got.length === 6);
    expect(new Set(r.receiver.received.map((h) => dataOf(h)['channel'])).size).toBe(6);
  });

  it('close aborts requests still in flight within its bound and hands their rows back for the next holder', async () => {
    const r = await rig({ timeout: '2s' }, { lease: '10s' });
    r.receiver.answer = () => 'hold';
    r.emit({ type: 'channel.occupied', channel: 'chat:held' });
    await r.receiver.until((got) => got.length === 1);
    const started = Date.now();
    await r.parts.close();
    // closeGraceMs is min(2 s, shutdown.timeout / 2): bounded, well before the 2 s timeout ran out on its own plus the 10 s lease.
    expect(Date.now() - started).toBeLessThan(4000);
    // The receiver sees the aborted request's connection close.
    await r.receiver.until(() => r.receiver.held().length === 0, 1000);
    // Another holder claims it at once (not after the 10 s lease), with the same id.
    const rows = await r.outbox.claim('h2', Date.now(), 1000, 10);
    expect(rows.map((row) => row.eventId)).toEqual([r.receiver.received[0]!.id]);
  });
});

describe('backoff and Retry-After', () => {
  it('doubles from retry.initial, never past retry.max, jitter only shortening it', async () => {
    const database = new SqliteDatabase({ path: ':memory:' });
    cleanups.push(() => database.close());
    const config = resolveConfig({ webhooks: { retry: { initial: '1s', max: '60s' } } }).webhooks;
    const at = (random: number) => new WebhookDispatcher({ outbox: new SqliteWebhookOutbox(database), config, holder: 'h', log, closeGraceMs: 0, random: () => random });
    const [high, low] = [at(0), at(0.999)];
    expect([1, 2, 3, 4, 5, 6, 7, 8, 50].map((n) => high.backoff(n))).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
    for (const n of [1, 4, 7, 1000]) expect(low.backoff(n)).toBeGreaterThanOrEqual(Math.round(high.backoff(n) * 0.8));
    await Promise.all([high.close(), low.close()]);
  });

  it('reads Retry-After as seconds or an HTTP date, and ignores anything else', () => {
    const now = Date.parse('2026-01-02T03:04:05Z');
    expect(retryAfterMs('7', now)).toBe(7000);
    expect(retryAfterMs(' 0 ', now)).toBe(0);
    expect(retryAfterMs('Fri, 02 Jan 2026 03:04:35 GMT', now)).toBe(30_000);
    expect(retryAfterMs('Fri, 02 Jan 2026 03:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs('-5', now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });
});

describe('OutboxEmitter', () => {
  it('drops events beyond maxQueue (counted) and writes the rest in one enqueue per tick', async () => {
    const batches: number[] = [];
    let dropped = 0;
    const endpoint = resolveConfig({ webhooks: { endpoints: [{ id: 'a', url: 'http://127.0.0.1:9/', secret }] } }).webhooks.endpoints[0]!;
    const emitter = new OutboxEmitter({ endpoints: [endpoint], outbox: { enqueue: async (rows) => void batches.push(rows.length) }, maxQueue: 5, log, onDropped: (n) => (dropped += n) });
    for (let i = 0; i < 8; i++) emitter.emit({ type: 'user.online', user: `u${i}` });
    await emitter.flush();
    expect(batches).toEqual([5]);
    expect(dropped).toBe(3);
    emitter.emit({ type: 'user.online', user: 'late' });
    await emitter.flush();
    expect(batches).toEqual([5, 1]);
  });

  it('writes again after a failed outbox write (the database away for a moment): nothing dropped, order kept', async () => {
    let failuresLeft = 2;
    const written: string[] = [];
    const endpoint = resolveConfig({ webhooks: { endpoints: [{ id: 'a', url: 'http://127.0.0.1:9/', secret }] } }).webhooks.endpoints[0]!;
    const outbox = {
      enqueue: async (rows: readonly { payload: string }[]) => {
        if (failuresLeft-- > 0) throw new Error('the database did not answer');
        for (const r of rows) written.push((JSON.parse(r.payload) as { data: { user: string } }).data.user);
      },
    };
    let dropped = 0;
    const emitter = new OutboxEmitter({ endpoints: [endpoint], outbox, maxQueue: 100, log, writeRetryMs: 5, onDropped: (n) => (dropped += n) });
    emitter.emit({ type: 'user.online', user: 'a' });
    emitter.emit({ type: 'user.online', user: 'b' });
    await new Promise((r) => setTimeout(r, 2));
    emitter.emit({ type: 'user.online', user: 'c' });
    for (let i = 0; i < 200 && written.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    expect(written).toEqual(['a', 'b', 'c']);
    expect(dropped).toBe(0);
  });

  it('never throws from emit, and counts the rows of a write that keeps failing', async () => {
    let dropped = 0;
    const endpoint = resolveConfig({ webhooks: { endpoints: [{ id: 'a', url: 'http://127.0.0.1:9/', secret }] } }).webhooks.endpoints[0]!;
    const emitter = new OutboxEmitter({ endpoints: [endpoint], outbox: { enqueue: async () => Promise.reject(new Error('disk full')) }, maxQueue: 100, log, writeRetryMs: 1, onDropped: (n) => (dropped += n) });
    expect(() => emitter.emit({ type: 'user.online', user: 'x', data: { big: 1n } as unknown as Record<string, unknown> })).not.toThrow();
    emitter.emit({ type: 'user.online', user: 'y' });
    await expect(emitter.flush()).rejects.toThrow('disk full');
    expect(dropped).toBe(1);
  });
});
