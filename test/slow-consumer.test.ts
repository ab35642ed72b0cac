/**
 * A paused reader is cut off with the `slow` code while fast readers receive every
 * publication in order, and the server's memory stays bounded. The server runs in
 * its own process so its memory is its own. Payloads are large because kernel
 * buffers absorb tens of MB before the server sees any backpressure.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mintToken } from '../packages/server/src/auth/token-mint.js';
import { TestClient } from '../packages/server/src/test-support/test-client.js';
import { startServerProcess, type ServerProcess } from './support/server-process.js';

let server: ServerProcess & { secret: string };
beforeAll(async () => {
  server = await startServerProcess(`client:\n  maxQueueBytes: 1MiB\nnamespaces:\n  flood: {}\n`);
});
afterAll(() => server.cleanup());

async function api(method: string, path: string, body?: unknown) {
  const res = await fetch(`${server.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${server.apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as { data: Record<string, number> } };
}

it('cuts off a paused reader; fast readers get everything in order; memory stays bounded', async () => {
  const channel = 'flood:big';
  const fast: TestClient[] = [];
  for (let i = 0; i < 3; i++) {
    const { client } = await TestClient.connect(server.wsUrl, await mintToken(server.secret, { sub: `fast-${i}` }));
    await client.ok('subscribe', { channel });
    fast.push(client);
  }
  const { client: slow } = await TestClient.connect(server.wsUrl, await mintToken(server.secret, { sub: 'slow' }));
  await slow.ok('subscribe', { channel });
  (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();

  const before = (await api('GET', '/stats')).body.data;
  const total = 1000;
  const pad = 'z'.repeat(64 * 1024);
  let peakRss = before.memoryRssBytes!;
  for (let i = 0; i < total; i += 10) {
    const batch = Array.from({ length: 10 }, (_, k) => i + k);
    // Ten at a time, in order within the channel: offsets are assigned as requests arrive, so wait per batch.
    for (const n of batch) {
      const r = await api('POST', '/publish', { channel, data: { n, pad } });
      expect(r.status).toBe(200);
    }
    if (i % 100 === 0) peakRss = Math.max(peakRss, (await api('GET', '/stats')).body.data.memoryRssBytes!);
  }
  for (const c of fast) await c.waitForPush((p) => p.type === 'publication' && (p.data as { n: number }).n === total - 1, 30_000);
  for (const c of fast) {
    const seen = c.publications(channel).map((p) => (p.data as { n: number }).n);
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => i));
  }
  const after = (await api('GET', '/stats')).body.data;
  peakRss = Math.max(peakRss, after.memoryRssBytes!);
  expect(after.slowDisconnectsTotal).toBe(1);
  expect(after.connectedSockets).toBe(3);
  // 64 MB went to each subscriber; a server that buffered for the paused one would grow by that much.
  const growth = peakRss - before.memoryRssBytes!;
  expect(growth).toBeLessThan(48 * 1024 * 1024);
  fast.forEach((c) => c.close());
}, 120_000);
