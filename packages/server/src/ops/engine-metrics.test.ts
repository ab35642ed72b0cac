import { randomBytes } from 'node:crypto';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisMissing, startRedis, type RedisServer } from '../test-support/redis-server.js';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode } from '../test-support/test-node.js';
import { EngineMetrics } from './engine-metrics.js';

async function samples(registry: Registry): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await registry.metrics()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return out;
}

describe('EngineMetrics', () => {
  it('exposes latency by operation, errors by kind (all kinds from zero), reconnects and the pub/sub channels read at scrape time', async () => {
    const registry = new Registry();
    const m = new EngineMetrics(registry);
    let channels = 3;
    m.pubsubChannels(() => channels);
    m.operation('publish', 0.0004);
    m.operation('publish', 0.002);
    m.operation('history', 0.03);
    m.error('connection');
    m.error('connection');
    m.error('reply');
    m.reconnect();
    channels = 7;
    const s = await samples(registry);
    expect(s.get('tidings_engine_command_seconds_count{op="publish"}')).toBe(2);
    expect(s.get('tidings_engine_command_seconds_bucket{le="0.0005",op="publish"}')).toBe(1);
    expect(s.get('tidings_engine_command_seconds_count{op="history"}')).toBe(1);
    expect(s.get('tidings_engine_command_seconds_count{op="presence"}')).toBe(0);
    expect(s.get('tidings_engine_errors_total{kind="connection"}')).toBe(2);
    expect(s.get('tidings_engine_errors_total{kind="reply"}')).toBe(1);
    expect(s.get('tidings_engine_errors_total{kind="timeout"}')).toBe(0);
    expect(s.get('tidings_engine_reconnects_total')).toBe(1);
    expect(s.get('tidings_engine_pubsub_channels')).toBe(7);
  });

  it('summarises the window’s latency percentiles in ms and the running totals for the heartbeat; no percentiles without recent operations', async () => {
    const m = new EngineMetrics(new Registry(), { windowMs: 60_000 });
    expect(m.summary()).toEqual({ engineErrors: 0, engineReconnects: 0, enginePubsubChannels: 0 });
    for (let i = 1; i <= 100; i++) m.operation('publish', i / 1000);
    m.error('timeout');
    m.pubsubChannels(() => {
      throw new Error('broken reader');
    });
    expect(m.summary()).toEqual({ engineP50Ms: 51, engineP99Ms: 100, engineErrors: 1, engineReconnects: 0, enginePubsubChannels: 0 });

    // Only the latest samples are kept, and only those within the window count.
    const small = new EngineMetrics(new Registry(), { windowMs: 40, windowSamples: 4 });
    for (const ms of [100, 1, 2, 3, 4]) small.operation('bus', ms / 1000);
    expect(small.summary()).toMatchObject({ engineP50Ms: 3, engineP99Ms: 4 });
    await new Promise((r) => setTimeout(r, 60));
    expect(small.summary().engineP99Ms).toBeUndefined();
  });

  it('ignores negative or infinite durations', async () => {
    const registry = new Registry();
    const m = new EngineMetrics(registry);
    m.operation('publish', -1);
    m.operation('publish', Infinity);
    m.operation('publish', Number.NaN);
    expect((await samples(registry)).get('tidings_engine_command_seconds_count{op="publish"}')).toBe(0);
    expect(m.summary().engineP50Ms).toBeUndefined();
  });
});

describe('a node’s engine metrics and heartbeat', () => {
  const scrape = async (port: number) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();

  it('on the memory engine: the heartbeat says engine memory, and no engine metrics are exposed', async () => {
    const t = await startTestNode({});
    try {
      const nodes = (await t.api('GET', '/nodes')).body.data.nodes;
      expect(nodes).toHaveLength(1);
      expect(nodes[0]).toMatchObject({ id: t.node.nodeId, engine: 'memory' });
      expect(nodes[0].engineErrors).toBeUndefined();
      expect(await scrape(t.port)).not.toContain('tidings_engine_');
    } finally {
      await t.close();
    }
  });

  describe.skipIf(redisMissing())('on the Redis engine', () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(async () => {
      await redis?.close();
    });

    it('/metrics shows Redis round trips, errors by kind and pub/sub channels; GET /nodes lists engine redis with p50/p99, errors and channels', async () => {
      const t = await startTestNode({ engine: { type: 'redis', url: redis.url, prefix: `m-${randomBytes(4).toString('hex')}` }, cluster: { heartbeatInterval: 100 } });
      try {
        await until('the node ready', async () => (await t.api('GET', '/ready')).status === 200);
        const { client } = await TestClient.connect(t.wsUrl, await t.token('metrics-alice'));
        await client.ok('subscribe', { channel: 'live:engine-room' });
        expect((await t.api('POST', '/publish', { channel: 'live:engine-room', data: 'hi' })).status).toBe(200);
        await client.waitForPush((p) => p.type === 'publication');
        const text = await scrape(t.port);
        const count = (line: string) => Number(text.split('\n').find((l) => l.startsWith(line + ' '))?.slice(line.length + 1));
        expect(count('tidings_engine_command_seconds_count{op="publish"}')).toBeGreaterThanOrEqual(1);
        expect(count('tidings_engine_command_seconds_count{op="subscribe"}')).toBeGreaterThanOrEqual(1);
        expect(count('tidings_engine_errors_total{kind="reply"}')).toBe(0);
        expect(count('tidings_engine_pubsub_channels')).toBeGreaterThanOrEqual(1);
        expect(text).toContain('tidings_engine_reconnects_total 0');
        await until('a heartbeat with the figures', async () => {
          const [n] = (await t.api('GET', '/nodes')).body.data.nodes;
          return n?.engine === 'redis' && typeof n.engineP99Ms === 'number' && n.enginePubsubChannels >= 1 && n.engineErrors === 0;
        });
        client.close();
      } finally {
        await t.close();
      }
    }, 20_000);
  });
});

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
