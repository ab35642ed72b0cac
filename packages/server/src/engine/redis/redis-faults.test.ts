/**
 * A network fault between a node and Redis (issue 20, section 4), through the in-repo fault proxy
 * (test-support/fault-proxy.ts): node A reaches a real redis-server through the proxy, node B
 * directly. The proxy blackholes A's connections (bytes dropped, nothing closed, new connections
 * accepted and going nowhere) while B keeps publishing; A finds it out by itself (its probe and
 * command timeouts): `/api/v1/ready` answers 503 and its publishes fail with `unavailable`. Then
 * the network heals: A is ready again, its SDK subscribers are told of the gap (2500, subscribe
 * again with recovery) and recover from the stream: lost 0, duplicated 0, out of order 0,
 * silent gaps 0, counted one by one.
 */
import { randomBytes } from 'node:crypto';
import { Tidings } from '@tidings/client';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { FaultProxy } from '../../test-support/fault-proxy.js';
import { redisMissing, startRedis, type RedisServer } from '../../test-support/redis-server.js';
import { recordFigures } from '../../test-support/reliability-figures.js';
import { startTestNode, type TestNode } from '../../test-support/test-node.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
async function until(check: () => boolean | Promise<boolean>, what: () => string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what()}`);
    await sleep(20);
  }
}

describe.skipIf(redisMissing())('faults between a node and Redis', () => {
  let redis: RedisServer;
  const cleanups: Array<() => Promise<unknown> | void> = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis?.close());
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('faults: Redis blackholed then healed: the node detects it (not ready, publishes unavailable), and after healing its subscribers are told of the gap and recover: lost 0, duplicated 0, out of order 0, silent gaps 0', async () => {
    const proxy = await FaultProxy.start({ port: redis.port });
    cleanups.push(() => proxy.close());
    const prefix = `fault-${randomBytes(4).toString('hex')}`;
    // Short timers: a probe every 100 ms, dead after 300 ms; commands and connection attempts give up after 300 / 500 ms.
    const timers = { connectTimeout: 500, commandTimeout: 300, probeInterval: 100, probeTimeout: 300 };
    const a: TestNode = await startTestNode({ engine: { type: 'redis', url: proxy.url(redis.url), prefix, ...timers } });
    cleanups.push(() => a.close());
    const b: TestNode = await startTestNode({ engine: { type: 'redis', url: redis.url, prefix, ...timers } });
    cleanups.push(() => b.close());
    for (const n of [a, b]) await until(async () => (await n.api('GET', '/ready')).status === 200, () => 'ready');
    const channel = `chat:fault-${randomBytes(3).toString('hex')}`;

    interface Subscriber { offsets: number[]; toldAndRecovered: number; toldUnrecovered: number }
    const subscribers: Subscriber[] = [];
    for (let k = 0; k < 6; k++) {
      const client = new Tidings(a.wsUrl, { token: await a.token(`s${k}`), transports: ['websocket'], minReconnectDelay: 50, maxReconnectDelay: 400, timeout: 5_000 });
      cleanups.push(() => client.disconnect());
      await client.connect();
      const s: Subscriber = { offsets: [], toldAndRecovered: 0, toldUnrecovered: 0 };
      const sub = client.subscribe<{ i: number }>(channel);
      sub.on('publication', (p) => s.offsets.push(p.offset ?? -1));
      sub.on('gap', () => s.toldUnrecovered++);
      sub.on('subscribed', (c) => {
        if (c.wasRecovering && c.recovered) s.toldAndRecovered++;
        else if (c.wasRecovering) s.toldUnrecovered++;
      });
      await sub.ready(10_000);
      subscribers.push(s);
    }

    // The publisher, on node B (its Redis is fine): one publication every 10 ms.
    const accepted: number[] = [];
    let publishing = true;
    const publisher = (async () => {
      for (let i = 0; publishing && i < 2_000; i++) {
        accepted.push((await b.node.publish(channel, { i })).offset!);
        await sleep(10);
      }
    })();
    cleanups.push(async () => {
      publishing = false;
      await publisher.catch(() => {});
    });
    await until(() => subscribers.every((s) => s.offsets.length >= 30), () => 'live before the fault');

    proxy.blackhole();
    const cut = Date.now();
    // A finds out by itself: not ready (its probe or a command timed out), its own publishes refused at once.
    await until(async () => (await a.api('GET', '/ready')).status === 503, () => 'A still ready with Redis blackholed', 10_000);
    const detectedMs = Date.now() - cut;
    const refused = await a.api('POST', '/publish', { channel, data: { from: 'a' } });
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('unavailable');
    const missedFrom = accepted.length;
    await until(() => accepted.length >= missedFrom + 50, () => 'B publishing on');

    proxy.heal();
    const healed = Date.now();
    let lastReady: unknown;
    await until(async () => { const r = await a.api('GET', '/ready'); lastReady = r.body; return r.status === 200; }, () => `A ready again after healing: ${JSON.stringify(lastReady)}`, 15_000);
    const readyAgainMs = Date.now() - healed;
    await until(() => accepted.length >= missedFrom + 100, () => 'B publishing on');
    publishing = false;
    await publisher;
    const top = accepted.at(-1)!;
    await until(() => subscribers.every((s) => s.offsets.includes(top)), () => `subscribers at ${subscribers.map((s) => s.offsets.at(-1)).join(',')} of ${top}`, 15_000);
    await sleep(200); // a late duplicate is counted too

    // Per subscriber, against the stream 1..top (B's answers): lost: a publication never given;
    // duplicated: an offset given twice; out of order: an offset not above the one before it;
    // silent gap: an offset never given without a recovered: false or gap event telling of it.
    const total = { subscribers: subscribers.length, published: accepted.length, received: 0, lost: 0, duplicated: 0, outOfOrder: 0, silentGaps: 0, toldAndRecovered: 0, toldUnrecovered: 0, detectedMs, readyAgainMs };
    for (const s of subscribers) {
      const given = new Set(s.offsets);
      total.received += s.offsets.length;
      total.lost += accepted.filter((o) => !given.has(o)).length;
      total.duplicated += s.offsets.length - given.size;
      total.outOfOrder += s.offsets.filter((o, i) => i > 0 && o <= s.offsets[i - 1]!).length;
      if (s.toldUnrecovered === 0) for (let o = 1; o <= top; o++) if (!given.has(o)) total.silentGaps++;
      total.toldAndRecovered += s.toldAndRecovered;
      total.toldUnrecovered += s.toldUnrecovered;
    }
    console.log(`[redis-faults] blackhole then heal: ${JSON.stringify(total)}`);
    recordFigures('faults', 'Redis blackholed (fault proxy) then healed, 6 SDK subscribers on the cut node', total);
    expect({ lost: total.lost, duplicated: total.duplicated, outOfOrder: total.outOfOrder, silentGaps: total.silentGaps, toldUnrecovered: total.toldUnrecovered }).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0, silentGaps: 0, toldUnrecovered: 0 });
    expect(total.received).toBe(subscribers.length * top);
    // The gap path was taken: each subscriber missed publications live and was told to recover.
    for (const s of subscribers) expect(s.toldAndRecovered).toBeGreaterThanOrEqual(1);
  }, 60_000);
});
