/**
 * `tidings serve` with `workers: 2` as a real child process: a primary and two worker
 * processes sharing one port. Connections land on both workers, `/metrics` on any worker
 * answers for both, a worker killed with SIGKILL is replaced, SIGHUP reaches both workers,
 * and SIGTERM ends every process. The helpers live in support/workers.ts (also used by
 * workers-delivery.test.ts). Runs the built CLI (dist/): `npm run build` first.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../packages/server/src/auth/token-mint.js';
import { TestClient } from '../packages/server/src/test-support/test-client.js';
import { chromiumMissing, launchChromium, within } from './support/chromium.js';
import { cleanEnv } from './support/child-process.js';
import { alive, apiPublish, connectClients, logLines, nodes, sample, scrape, startWorkers, until, waitForLog, workerPids, type WorkersServer } from './support/workers.js';

/** The files a process holds open (Linux /proc). */
async function openFiles(pid: number): Promise<string[]> {
  const dir = `/proc/${pid}/fd`;
  const fds = await readdir(dir);
  const targets = await Promise.all(fds.map((fd) => readlink(join(dir, fd)).catch(() => '')));
  return targets.filter((t) => t.length > 0);
}

describe('tidings serve with workers: 2', () => {
  let server: WorkersServer;
  const clients: TestClient[] = [];
  beforeAll(async () => {
    server = await startWorkers(2, 'namespaces:\n  room: {}\n');
  }, 30_000);
  afterAll(async () => {
    for (const c of clients) c.ws.terminate();
    if (!server) return;
    // Never leave a worker behind, whatever failed.
    for (const pid of workerPids(server).values()) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await server.cleanup();
  });

  it('starts two workers that name themselves in their log lines and share the port', () => {
    const pids = workerPids(server);
    expect([...pids.keys()].sort()).toEqual([1, 2]);
    expect(new Set(pids.values()).size).toBe(2);
    expect(pids.get(1)).not.toBe(server.child.pid);
    const listening = logLines(server).filter((l) => l.msg === 'tidings listening');
    expect(listening.map((l) => l.worker).sort()).toEqual([1, 2]);
    expect(new Set(listening.map((l) => l['port']))).toEqual(new Set([server.port]));
  });

  it('spreads connections over both workers, and /metrics on any worker answers for both', async () => {
    clients.push(...(await connectClients(server, 6, 'spread')));
    await Promise.all(clients.map((c) => c.ok('subscribe', { channel: 'room:a' })));
    // Several scrapes, each a new connection: whichever worker answers, the numbers are the cluster's.
    for (let i = 0; i < 4; i++) {
      const text = await scrape(server);
      expect(sample(text, 'tidings_connections')).toBe(6);
      expect(sample(text, 'tidings_subscriptions')).toBeGreaterThanOrEqual(6);
      const one = sample(text, 'tidings_users', 'worker="1"');
      const two = sample(text, 'tidings_users', 'worker="2"');
      // Each user is on one worker; both workers hold some of them.
      expect(one! + two!).toBe(6);
      expect(one).toBeGreaterThan(0);
      expect(two).toBeGreaterThan(0);
      expect(text).toMatch(/^nodejs_version_info|^tidings_nodejs_version_info/m);
    }
    // The node list names both workers (by pid), each holding some of the connections (heartbeats come every few seconds).
    const pids = [...workerPids(server).values()].sort();
    await until(async () => {
      const list = await nodes(server);
      return list.length === 2 && list.every((n) => n.connections > 0) && list.map((n) => n.pid).sort().join() === pids.join();
    }, 'both workers listed with connections', 10_000);
    // Each heartbeat names its worker slot and role (nodeInfo from workers/worker.ts).
    const labels = (await nodes(server)).map((n) => [(n as Record<string, unknown>).worker, (n as Record<string, unknown>).role]);
    expect(labels.sort()).toEqual([
      [1, 'worker'],
      [2, 'worker'],
    ]);
  }, 20_000);

  it('delivers an API publication to the subscribers on both workers (one engine, in the primary)', async () => {
    for (let i = 0; i < 3; i++) await apiPublish(server, 'room:a', { n: i });
    await Promise.all(clients.map((c) => c.waitForPush((p) => p.type === 'publication' && p.channel === 'room:a' && (p.data as { n: number }).n === 2)));
    for (const c of clients) expect(c.publications('room:a').map((p) => (p.data as { n: number }).n)).toEqual([0, 1, 2]);
  });

  it('stores notifications through either worker in the one database the primary writes', async () => {
    const headers = { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' };
    // Four requests, each a new connection: the primary hands them to both workers.
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${server.apiUrl}/notify`, { method: 'POST', headers, body: JSON.stringify({ user: 'inbox-user', type: 'info', title: `n${i}` }) });
      expect(res.status).toBe(200);
    }
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${server.apiUrl}/users/inbox-user/notifications`, { headers });
      const body = (await res.json()) as { data: { notifications: { title: string }[] } };
      expect(body.data.notifications.map((n) => n.title).sort()).toEqual(['n0', 'n1', 'n2', 'n3']);
    }
    const db = (files: string[]) => files.some((f) => f.endsWith('/tidings.db'));
    expect(db(await openFiles(server.child.pid!))).toBe(true);
    for (const pid of workerPids(server).values()) expect(db(await openFiles(pid))).toBe(false);
  });

  it('disconnects a user through the API on every worker', async () => {
    // Four connections of one user, each a new TCP connection: they land on both workers.
    const token = await mintToken(server.secret, { sub: 'everywhere' });
    const mine = await Promise.all(Array.from({ length: 4 }, async () => (await TestClient.connect(server.wsUrl, token)).client));
    const res = await fetch(`${server.apiUrl}/users/everywhere/disconnect`, { method: 'POST', headers: { authorization: `Bearer ${server.apiKey}` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { data: { disconnected: number } }).data.disconnected).toBe(4);
    const closes = await Promise.all(mine.map((c) => c.closed));
    expect(closes.map((c) => c.code)).toEqual([4005, 4005, 4005, 4005]);
  });

  it('replaces a worker killed with SIGKILL; its clients are cut, the others stay, new connections work', async () => {
    const before = workerPids(server);
    const victim = before.get(1)!;
    const skip = logLines(server).length;
    process.kill(victim, 'SIGKILL');
    const restarted = await waitForLog(server, (l) => l.msg === 'worker restarted' && l.worker === 1, skip);
    expect(restarted['pid']).not.toBe(victim);
    expect(alive(victim)).toBe(false);
    expect(logLines(server).slice(skip).some((l) => typeof l.msg === 'string' && l.msg.startsWith('worker 1 exited') && l['signal'] === 'SIGKILL')).toBe(true);
    // The clients of the killed worker were cut; those of worker 2 still answer.
    const open = clients.filter((c) => c.ws.readyState === c.ws.OPEN);
    expect(open.length).toBeGreaterThan(0);
    expect(open.length).toBeLessThan(6);
    await Promise.all(open.map((c) => c.ok('subscribe', { channel: 'room:b' })));
    // New connections work, and land on the new worker too.
    const fresh = await connectClients(server, 4, 'fresh');
    clients.push(...fresh);
    await until(async () => (sample(await scrape(server), 'tidings_users', 'worker="1"') ?? 0) > 0, 'a connection on the new worker 1');
    expect(sample(await scrape(server), 'tidings_connections')).toBe(open.length + 4);
  }, 30_000);

  it('SIGHUP reloads the configuration on both workers', async () => {
    const file = server.configFile;
    await writeFile(file, (await readFile(file, 'utf8')) + '  added: {}\n');
    const skip = logLines(server).length;
    server.child.kill('SIGHUP');
    const reloaded = new Set<unknown>();
    await until(() => {
      for (const l of logLines(server).slice(skip)) if (l.msg === 'SIGHUP: configuration reloaded') reloaded.add(l.worker);
      return reloaded.size === 2;
    }, 'both workers reloading');
    // The new namespace works whichever worker a connection lands on.
    const more = await connectClients(server, 4, 'after-hup');
    clients.push(...more);
    await Promise.all(more.map((c) => c.ok('subscribe', { channel: 'added:x' })));
  }, 30_000);

  it('SIGTERM stops every worker gracefully, then the primary; no process is left', async () => {
    const pids = [...workerPids(server).values()];
    expect(pids.every(alive)).toBe(true);
    const code = await server.stop('SIGTERM');
    expect(code).toBe(0);
    for (const pid of pids) expect(alive(pid)).toBe(false);
    const lines = logLines(server);
    // Each worker ran its node's close (its own shutdown line), and the primary ended last.
    for (const worker of [1, 2]) expect(lines.some((l) => l.msg === 'shutting down' && l.worker === worker)).toBe(true);
    expect(lines.at(-1)?.msg).toBe('tidings stopped');
    expect(lines.at(-1)?.['role']).toBe('primary');
  }, 30_000);
});

describe('tidings serve with workers: the ends of the primary', () => {
  it('the workers stop on their own when the primary is killed with SIGKILL', async () => {
    const server = await startWorkers(2);
    try {
      const pids = [...workerPids(server).values()];
      expect(pids.length).toBe(2);
      server.child.kill('SIGKILL');
      await server.exited;
      await until(() => !pids.some(alive), 'both workers to exit', 15_000);
    } finally {
      for (const pid of workerPids(server).values()) if (alive(pid)) process.kill(pid, 'SIGKILL');
      await server.cleanup();
    }
  }, 30_000);

  it('--workers takes a number or auto; anything else exits 2 naming the flag', async () => {
    const bin = new URL('../packages/server/bin/tidings.js', import.meta.url).pathname;
    for (const [value, message] of [
      ['abc', 'workers: expected a number of workers (1 or more) or "auto", got "abc" (set by flag --workers)'],
      ['0', 'workers: expected a whole number from 1 to 256, got 0 (set by flag --workers)'],
    ] as const) {
      const child = spawn(process.execPath, [bin, 'serve', '--workers', value], { env: cleanEnv({ TIDINGS_AUTH__SECRET: 'workers-test-secret-0123456789abcdef' }), stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      expect(code).toBe(2);
      expect(err).toContain(message);
    }
  }, 30_000);

  it('--workers 2 on a port in use: the run ends with exit code 1 and says why', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as { port: number }).port;
    const dir = await mkdtemp(join(tmpdir(), 'tidings-workers-'));
    try {
      const bin = new URL('../packages/server/bin/tidings.js', import.meta.url).pathname;
      const env = cleanEnv({ TIDINGS_AUTH__SECRET: 'workers-test-secret-0123456789abcdef' });
      const child = spawn(process.execPath, [bin, 'serve', '--workers', '2', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dir], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      clearTimeout(killer);
      expect(code, out).toBe(1);
      expect(out).toContain(`cannot listen on 127.0.0.1:${port}`);
      expect(out).toMatch(/worker \d exited \(code 1\) before it was listening/);
    } finally {
      busy.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe.skipIf(chromiumMissing())('the dashboard with workers: 2', () => {
  it('lists both workers on the overview, with their pids and connections', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tidings-workers-dashboard-'));
    const root = new URL('../', import.meta.url).pathname;
    // Built from the sources, so the checkout's dist/ is left alone.
    const build = spawn(process.execPath, [join(root, 'node_modules/vite/bin/vite.js'), 'build', '--outDir', join(dir, 'dist'), '--emptyOutDir', '--logLevel', 'warn'], { cwd: join(root, 'apps/dashboard'), stdio: 'ignore' });
    expect(await within(new Promise<number | null>((resolve) => build.once('exit', resolve)), 90_000, 'building the dashboard')).toBe(0);
    const server = await startWorkers(2, `dashboard:\n  dir: ${join(dir, 'dist')}\n`);
    const browser = await launchChromium({ timeout: 30_000 });
    try {
      const page = browser.page;
      await page.goto(`http://127.0.0.1:${server.port}/dashboard/`, { timeout: 10_000 });
      await page.getByLabel('Admin API key').fill(server.apiKey);
      await page.getByRole('button', { name: 'Sign in' }).click();
      const rows = page.locator('[data-testid="nodes-table"] tbody tr');
      await until(async () => (await rows.count()) === 2, 'two rows in the nodes table', 15_000);
      const text = await page.locator('[data-testid="nodes-table"]').innerText();
      for (const pid of workerPids(server).values()) expect(text).toContain(`pid ${pid}`);
    } finally {
      await within(browser.close(), 15_000, 'closing Chromium');
      await server.stop();
      await server.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
