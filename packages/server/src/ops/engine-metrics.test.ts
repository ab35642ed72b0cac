import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
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
