/**
 * The dashboard's live stats store (apps/dashboard/src/lib/stats.ts): each node publishes its
 * own sample on tidings-admin:stats; the store sums the latest sample of each node, one chart
 * point per round, and leaves out a node not heard from for three of its intervals.
 */
import { describe, expect, it } from 'vitest';
import { mergeSamples, StatsStore, type AdminStatsSnapshot } from '../apps/dashboard/src/lib/stats.js';

function sample(node: string, time: number, n: number, extra: Partial<AdminStatsSnapshot> = {}): AdminStatsSnapshot {
  return {
    time, node, version: '1.0.0', uptimeSeconds: n * 10, memory: { rss: n * 100, heapUsed: n * 10 }, dashboards: node === 'a' ? 1 : 0,
    connections: n, users: n, subscriptions: n * 2, channels: n, publicationsInPerSecond: n, publicationsOutPerSecond: n * 3,
    errorsPerSecond: {}, disconnectsPerSecond: {}, eventLoopLagMs: { mean: n, p99: n * 2 }, ...extra,
  };
}

describe('mergeSamples', () => {
  it('sums counts, rates, memory and codes; takes the worst lag and the longest uptime', () => {
    const m = mergeSamples([
      sample('b', 2000, 2, { errorsPerSecond: { rate_limited: 1.5 }, disconnectsPerSecond: { '4005': 1 } }),
      sample('a', 2100, 3, { errorsPerSecond: { rate_limited: 0.5, bad_request: 2 } }),
    ]);
    expect(m).toEqual({
      time: 2100, node: '2 nodes', nodeIds: ['a', 'b'], version: '1.0.0', uptimeSeconds: 30, memory: { rss: 500, heapUsed: 50 },
      dashboards: 1, connections: 5, users: 5, subscriptions: 10, channels: 5, publicationsInPerSecond: 5, publicationsOutPerSecond: 15,
      errorsPerSecond: { rate_limited: 2, bad_request: 2 }, disconnectsPerSecond: { '4005': 1 }, eventLoopLagMs: { mean: 3, p99: 6 },
    });
  });

  it('one node: its own figures, its id', () => {
    const one = sample('solo', 1000, 4);
    expect(mergeSamples([one])).toEqual({ ...one, nodeIds: ['solo'] });
  });
});

describe('StatsStore', () => {
  it('two nodes publishing every second: one point per round with both nodes summed, not interleaved samples', () => {
    const store = new StatsStore();
    for (let i = 0; i < 5; i++) {
      store.push(sample('a', 1000 * i, 1), 1000 * i);
      store.push(sample('b', 1000 * i + 400, 2), 1000 * i + 400);
    }
    const { samples, latest } = store.getSnapshot();
    expect(samples).toHaveLength(5);
    // Every point after the first round counts both nodes.
    expect(samples.map((s) => s.connections)).toEqual([3, 3, 3, 3, 3]);
    expect(latest).toMatchObject({ connections: 3, nodeIds: ['a', 'b'], node: '2 nodes' });
  });

  it('a node not heard from for three of its intervals leaves the sums; the others go on', () => {
    const store = new StatsStore();
    for (let i = 0; i < 3; i++) {
      store.push(sample('a', 1000 * i, 1), 1000 * i);
      store.push(sample('b', 1000 * i + 500, 10), 1000 * i + 500);
    }
    expect(store.getSnapshot().latest!.connections).toBe(11);
    // b falls silent after t=2500: still counted up to three of its intervals (3 s), then left out.
    store.push(sample('a', 3000, 1), 3000);
    store.push(sample('a', 4000, 1), 4000);
    store.push(sample('a', 5000, 1), 5000);
    expect(store.getSnapshot().latest).toMatchObject({ connections: 11, nodeIds: ['a', 'b'] });
    store.push(sample('a', 6000, 1), 6000);
    expect(store.getSnapshot().latest).toMatchObject({ connections: 1, nodeIds: ['a'], node: 'a' });
    expect(store.getSnapshot().samples.length).toBe(7);
  });

  it('a late or repeated sample of a node changes nothing; a restarted single node starts a new series', () => {
    const store = new StatsStore();
    store.push(sample('a', 1000, 1), 1000);
    store.push(sample('a', 2000, 2), 2000);
    store.push(sample('a', 1500, 9), 2100);
    store.push(sample('a', 2000, 9), 2200);
    expect(store.getSnapshot().samples.map((s) => s.connections)).toEqual([1, 2]);
    // The node restarts under a new id; the old one is long silent.
    store.push(sample('c', 100, 5), 6000);
    expect(store.getSnapshot().samples.map((s) => [s.node, s.connections])).toEqual([['c', 5]]);
    store.push({ not: 'a sample' });
    expect(store.getSnapshot().samples).toHaveLength(1);
  });
});
