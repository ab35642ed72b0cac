/**
 * The dashboard's live stats with several nodes: every node publishes its own sample on
 * tidings-admin:stats while a dashboard anywhere watches (the watching node tells the others
 * over the NodeBus). Unit tests of AdminStats with its parts given, then two nodes sharing one
 * MemoryCluster on 127.0.0.1 with a real dashboard connection on one of them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TestClient } from '../test-support/test-client.js';
import { startNodePair, type NodePair } from '../test-support/node-pair.js';
import { TEST_API_KEY, type TestNode } from '../test-support/test-node.js';
import { ADMIN_STATS_CHANNEL, AdminStats, type AdminStatsDeps, type AdminStatsSnapshot } from './admin-stats.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('AdminStats', () => {
  function stats(watchers: { n: number }, announced: number[] = []) {
    const published: AdminStatsSnapshot[] = [];
    const deps: AdminStatsDeps = {
      node: 'n1', version: 'x', intervalMs: 20,
      watchers: () => watchers.n,
      gauges: () => ({ connections: 0, users: 0, subscriptions: 0, channels: 0 }),
      dashboardShare: () => ({ connections: 0, users: 0, subscriptions: 0 }),
      totals: () => ({ publicationsIn: 0, publicationsOut: 0, errors: new Map(), disconnects: new Map() }),
      publish: async (_channel, data) => void published.push(data),
      announce: async () => (announced.push(Date.now()), 2),
    };
    return { s: new AdminStats(deps), published };
  }

  it('publishes nothing while nobody watches anywhere; for three intervals after another node says it watches', async () => {
    const { s, published } = stats({ n: 0 });
    try {
      await sleep(100);
      expect(published).toHaveLength(0);
      s.watchedElsewhere();
      await sleep(200);
      // Told once: it publishes during the next 3 intervals of 20 ms (at most 3 ticks), then stops.
      const told = published.length;
      expect(told).toBeGreaterThanOrEqual(1);
      expect(told).toBeLessThanOrEqual(3);
      await sleep(100);
      expect(published).toHaveLength(told);
    } finally {
      s.close();
    }
  });

  it('with watchers of its own it tells every node each interval, and publishes', async () => {
    const announced: number[] = [];
    const { s, published } = stats({ n: 1 }, announced);
    try {
      for (let i = 0; i < 100 && announced.length < 3; i++) await sleep(20);
      expect(announced.length).toBeGreaterThanOrEqual(3);
      expect(published.length).toBe(announced.length);
    } finally {
      s.close();
    }
  });
});

describe('two nodes, a dashboard on one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidings-stats-'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>dash</title>');
  const opened: Array<NodePair | TestClient> = [];
  afterEach(async () => {
    for (const x of opened.splice(0).reverse()) await x.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function dashboardToken(node: TestNode): Promise<string> {
    const base = `http://127.0.0.1:${node.port}`;
    const session = await fetch(`${base}/dashboard/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: TEST_API_KEY }) });
    const cookie = session.headers.get('set-cookie')!.split(';')[0]!;
    return (await (await fetch(`${base}/dashboard/api/token`, { headers: { cookie } })).json()).data.token;
  }

  it("the dashboard on node A receives node B's samples too, each tagged with its node and counting its own connections and traffic", async () => {
    const pair = await startNodePair({ cluster: { heartbeatInterval: 50, requestTimeout: '2s' }, dashboard: { dir, statsInterval: 100 } });
    opened.push(pair);
    const { a, b } = pair;
    // Two app connections on B, one subscribed; none on A but the dashboard.
    const { client: bob } = await TestClient.connect(b.wsUrl, await b.token('bob'));
    const { client: carol } = await TestClient.connect(b.wsUrl, await b.token('carol'));
    opened.push(bob, carol);
    await bob.ok('subscribe', { channel: 'news:b' });
    const { client: dash } = await TestClient.connect(a.wsUrl, await dashboardToken(a));
    opened.push(dash);
    await dash.ok('subscribe', { channel: ADMIN_STATS_CHANNEL });
    const samples = () => dash.publications(ADMIN_STATS_CHANNEL).map((p) => p.data as AdminStatsSnapshot);
    const fromB = () => samples().filter((s) => s.node === b.node.nodeId);
    const deadline = Date.now() + 3000;
    while (fromB().length < 2 && Date.now() < deadline) await sleep(20);
    expect(fromB().length).toBeGreaterThanOrEqual(2);
    // Subscriptions: news:b and each user's personal channel.
    expect(fromB().at(-1)).toMatchObject({ node: b.node.nodeId, dashboards: 0, connections: 2, users: 2, subscriptions: 3 });
    expect(samples().filter((s) => s.node === a.node.nodeId).at(-1)).toMatchObject({ dashboards: 1, connections: 0, users: 0 });
    // Traffic on B shows in B's samples: 20 publications, each delivered to bob.
    for (let i = 0; i < 20; i++) await a.api('POST', '/publish', { channel: 'news:b', data: i });
    const until = Date.now() + 3000;
    while (!fromB().some((s) => s.publicationsOutPerSecond > 0) && Date.now() < until) await sleep(20);
    expect(fromB().some((s) => s.publicationsOutPerSecond > 0)).toBe(true);
    // Only nodes of the deployment publish there: every sample names A or B.
    expect(new Set(samples().map((s) => s.node))).toEqual(new Set([a.node.nodeId, b.node.nodeId]));
  });
});
