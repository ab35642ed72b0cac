/**
 * `tidings serve` with `workers: 2` and a small `cluster.maxIpcBacklog`: a worker that stops
 * reading its IPC channel (SIGSTOP, as a blocked event loop would) while publications fan out
 * to it is given up by the primary (engine handle closed, SIGKILL, restarted), and the other
 * worker's clients go on. Runs the built CLI (dist/): `npm run build` first.
 */
import { afterAll, expect, it } from 'vitest';
import { mintToken } from '../packages/server/src/auth/token-mint.js';
import { TestClient } from '../packages/server/src/test-support/test-client.js';
import { startServerProcess, type ServerProcess } from './support/server-process.js';

type LogLine = Record<string, unknown> & { msg?: string; worker?: number | string };

function logLines(server: ServerProcess): LogLine[] {
  const lines: LogLine[] = [];
  for (const line of server.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(line) as LogLine);
    } catch {
      // A line still being written.
    }
  }
  return lines;
}

async function waitForLog(server: ServerProcess, match: (line: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const found = logLines(server).find(match);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no such log line within ${timeoutMs} ms; output:\n${server.output()}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let server: (ServerProcess & { secret: string }) | undefined;
const pids = new Set<number>();
const clients: TestClient[] = [];
afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  await server?.cleanup();
});

it('the primary kills and restarts a worker that stops reading its IPC channel past cluster.maxIpcBacklog; the other worker goes on', async () => {
  server = await startServerProcess('workers: 2\ncluster:\n  maxIpcBacklog: 1MiB\nnamespaces:\n  room:\n    clientPublish: subscribers\n');
  await waitForLog(server, (l) => l.msg === 'tidings workers ready');
  const started = new Map<number, number>();
  for (const l of logLines(server)) if (l.msg === 'worker started') started.set(Number(l.worker), l['pid'] as number);
  for (const pid of started.values()) pids.add(pid);
  const stuck = started.get(1)!;
  // Six connections, each a new TCP connection: the primary spreads them over both workers.
  for (let i = 0; i < 6; i++) clients.push((await TestClient.connect(server.wsUrl, await mintToken(server.secret, { sub: `u${i}` }))).client);
  await Promise.all(clients.map((c) => c.ok('subscribe', { channel: 'room:s' })));

  // Worker 1 reads nothing from now on; worker 2's clients publish (one command at a time each,
  // so no single burst is large), and every publication is also sent to worker 1 by the primary.
  process.kill(stuck, 'SIGSTOP');
  const pad = 'p'.repeat(40 * 1024);
  const publishing = clients.map(async (c, who) => {
    for (let i = 0; i < 40 && c.ws.readyState === c.ws.OPEN; i++) {
      const reply = await Promise.race([c.call('publish', { channel: 'room:s', data: { who, i, pad } }), new Promise<undefined>((r) => setTimeout(r, 5000))]);
      if (!reply) return 'stalled';
    }
    return 'done';
  });
  const gaveUp = await waitForLog(server, (l) => l.msg === 'a worker stopped reading its IPC channel (cluster.maxIpcBacklog): killing it');
  expect(gaveUp['pid']).toBe(stuck);
  expect(gaveUp['backlogBytes']).toBeGreaterThan(1024 * 1024);
  const restarted = await waitForLog(server, (l) => l.msg === 'worker restarted' && l.worker === 1);
  pids.add(restarted['pid'] as number);
  expect(restarted['pid']).not.toBe(stuck);
  expect(alive(stuck)).toBe(false);
  expect(logLines(server).some((l) => typeof l.msg === 'string' && l.msg.startsWith('worker 1 exited') && l['signal'] === 'SIGKILL')).toBe(true);

  // Worker 2 was never cut: its clients finished publishing and got each other's publications.
  const outcomes = await Promise.all(publishing);
  const onTwo = clients.filter((c, i) => outcomes[i] === 'done' && c.ws.readyState === c.ws.OPEN);
  expect(onTwo.length).toBeGreaterThan(0);
  expect(onTwo.length).toBeLessThan(6);
  const expected = onTwo.length * 40;
  for (const c of onTwo) {
    await c.waitForPush(() => c.publications('room:s').length >= expected, 10_000).catch(() => undefined);
    expect(c.publications('room:s').length).toBe(expected);
  }
  // The stuck worker is counted, and new connections work on both workers.
  const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
  expect(metrics).toMatch(/^tidings_workers_stuck_total 1$/m);
  for (let i = 0; i < 4; i++) clients.push((await TestClient.connect(server.wsUrl, await mintToken(server.secret, { sub: `fresh${i}` }))).client);
}, 60_000);
