import { afterAll, beforeAll, expect, it } from 'vitest';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, type TestNode } from '../test-support/test-node.js';

let t: TestNode;
beforeAll(async () => {
  t = await startTestNode({ limits: { subscriptionsPerConnection: 2 } });
});
afterAll(() => t.close());

async function scrape(): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${t.port}/metrics`)).text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    samples.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return samples;
}

const delta = (before: Map<string, number>, after: Map<string, number>, key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);

it('moves its counters with real traffic, without user ids or channel names as labels', async () => {
  const before = await scrape();
  const { client: a } = await TestClient.connect(t.wsUrl, await t.token('metric-alice'));
  const { client: b } = await TestClient.connect(t.wsUrl, await t.token('metric-bob'));
  await a.ok('subscribe', { channel: 'live:metric-room' });
  await b.ok('subscribe', { channel: 'live:metric-room' });
  await t.api('POST', '/publish', { channel: 'live:metric-room', data: 'hello' });
  await a.waitForPush((p) => p.type === 'publication');
  await b.waitForPush((p) => p.type === 'publication');
  await a.call('teleport');
  expect(await a.call('subscribe', { channel: 'live:second' })).toMatchObject({ error: { code: 'limit_exceeded' } });
  b.send('not json');
  await b.closed;
  await new Promise((r) => setTimeout(r, 20));
  const after = await scrape();

  expect(delta(before, after, 'tidings_commands_total{type="subscribe"}')).toBe(3);
  expect(delta(before, after, 'tidings_commands_total{type="connect"}')).toBe(2);
  expect(delta(before, after, 'tidings_publications_in_total{source="api"}')).toBe(1);
  expect(delta(before, after, 'tidings_publications_out_total')).toBe(2);
  expect(delta(before, after, 'tidings_errors_total{code="unknown_command"}')).toBe(1);
  expect(delta(before, after, 'tidings_errors_total{code="limit_exceeded"}')).toBe(1);
  expect(delta(before, after, 'tidings_limit_hits_total{limit="subscriptions_per_connection"}')).toBe(1);
  expect(delta(before, after, 'tidings_disconnects_total{code="4501"}')).toBe(1);
  expect(delta(before, after, 'tidings_bytes_in_total')).toBeGreaterThan(100);
  expect(delta(before, after, 'tidings_bytes_out_total')).toBeGreaterThan(100);
  expect(after.get('tidings_connections')).toBe(1);
  const text = [...after.keys()].join('\n');
  for (const secret of ['metric-alice', 'metric-bob', 'metric-room']) expect(text).not.toContain(secret);
  a.close();
});
