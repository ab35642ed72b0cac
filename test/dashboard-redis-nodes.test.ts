/**
 * The dashboard's nodes table on the Redis engine, in a real browser: `tidings serve` with
 * `workers: 2` and `engine.type: redis` (two nodes on a real redis-server), the dashboard built
 * from apps/dashboard/src. Each node's row names its engine and shows the Redis figures its
 * heartbeat carries (round-trip p50/p99 over the last 10 s, errors, pub/sub channels), with the
 * deployment's totals below; GET /api/v1/nodes lists the same figures. Runs the built CLI (dist/).
 *
 * Outside CI a missing Chromium or redis-server skips this file with a message; with CI set it fails.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { redisMissing, startRedis } from '../packages/server/src/test-support/redis-server.js';
import type { TestClient } from '../packages/server/src/test-support/test-client.js';
import { chromiumMissing, launchChromium, within } from './support/chromium.js';
import { connectClients, killWorkers, nodes, startWorkers, until, workerPids } from './support/workers.js';

describe.skipIf(chromiumMissing() || redisMissing())('the dashboard with two nodes on Redis', () => {
  it('lists each node with engine redis, its Redis p50/p99, errors and pub/sub channels, and the totals', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tidings-redis-dashboard-'));
    const root = new URL('../', import.meta.url).pathname;
    // Built from the sources, so the checkout's dist/ is left alone.
    const build = spawn(process.execPath, [join(root, 'node_modules/vite/bin/vite.js'), 'build', '--outDir', join(dir, 'dist'), '--emptyOutDir', '--logLevel', 'warn'], { cwd: join(root, 'apps/dashboard'), stdio: 'ignore' });
    expect(await within(new Promise<number | null>((resolve) => build.once('exit', resolve)), 90_000, 'building the dashboard')).toBe(0);
    const redis = await startRedis();
    const prefix = `d-${randomBytes(4).toString('hex')}`;
    const server = await startWorkers(2, `dashboard:\n  dir: ${join(dir, 'dist')}\nengine:\n  type: redis\n  url: ${redis.url}\n  prefix: ${prefix}\nnamespaces:\n  live: {}\n`);
    const clients: TestClient[] = [];
    const browser = await launchChromium({ timeout: 30_000 });
    try {
      // Subscribers on both nodes: each holds pub/sub channels on Redis for them (live:dash, each user's own channel).
      clients.push(...(await connectClients(server, 4, 'redis-dash')));
      await Promise.all(clients.map((c) => c.ok('subscribe', { channel: 'live:dash' })));
      await until(async () => {
        const list = (await nodes(server)) as Array<{ connections: number; engine?: string; enginePubsubChannels?: number; engineP99Ms?: number }>;
        return list.length === 2 && list.every((n) => n.engine === 'redis' && n.connections > 0 && (n.enginePubsubChannels ?? 0) >= 1 && typeof n.engineP99Ms === 'number');
      }, 'both nodes reporting Redis figures in their heartbeat', 15_000);

      const page = browser.page;
      await page.goto(`http://127.0.0.1:${server.port}/dashboard/`, { timeout: 10_000 });
      await page.getByLabel('Admin API key').fill(server.apiKey);
      await page.getByRole('button', { name: 'Sign in' }).click();
      const table = page.locator('[data-testid="nodes-table"]');
      const rows = table.locator('tbody tr');
      await until(async () => (await rows.count()) === 2, 'two rows in the nodes table', 15_000);
      // (The stylesheet shows headers in capitals.)
      const header = (await table.locator('thead').innerText()).toLowerCase();
      for (const column of ['engine', 'redis p50 / p99 ms', 'redis errors', 'pub/sub channels']) expect(header).toContain(column);
      for (let i = 0; i < 2; i++) {
        const row = rows.nth(i);
        expect(await row.innerText()).toContain('redis');
        expect(await row.locator('[data-testid="node-engine-latency"]').innerText()).toMatch(/^\d[\d.,]* \/ \d[\d.,]*$/);
        expect((await row.locator('[data-testid="node-engine-errors"]').innerText()).trim()).toBe('0');
      }
      const pids = [...workerPids(server).values()];
      const text = await table.innerText();
      for (const pid of pids) expect(text).toContain(`pid ${pid}`);
      // The totals row.
      const total = await page.locator('[data-testid="nodes-total"]').innerText();
      expect(total.toLowerCase()).toContain('all nodes');
      expect(total).toMatch(/worst p99 \d/);
    } finally {
      for (const c of clients) c.ws.terminate();
      await within(browser.close(), 15_000, 'closing Chromium');
      await killWorkers(server);
      await redis.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
