/**
 * `tidings serve` with `workers: 2` and a small `cluster.maxIpcBacklog`: a worker that stops
 * reading its IPC channel (SIGSTOP, as a blocked event loop would) while publications fan out
 * to it is given up by the primary (engine handle closed, SIGKILL, restarted), and the other
 * worker's clients go on. Runs the built CLI (dist/): `npm run build` first.
 */
import { afterAll, expect, it } from 'vitest';
import { mintToken } from '../packages/server/src/auth/token-mint.js';
import { TestClient } from '../packages/server/src/test-support/test-client.js';
import { alive, killWorkers, logLines, startWorkers, waitForLog, workerPids, type WorkersServer } from './support/workers.js';

let server: WorkersServer | undefined;
const clients: TestClient[] = [];
afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  await killWorkers(server);
});

it('the primary kills and restarts a worker that stops reading its IPC channel past cluster.maxIpcBacklog; the other worker goes on', async () => {
  server = await startWorkers(2, 'cluster:\n  maxIpcBacklog: 1MiB\nnamespaces:\n  room:\n    clientPublish: subscribers\n');
  const stuck = workerPids(server).get(1)!;
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
