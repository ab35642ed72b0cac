/**
 * Graceful shutdown of a real `tidings serve` process with 200 connected clients:
 * every client is told to reconnect after a jittered delay, an API request in
 * flight still completes, and the process exits within its shutdown timeout.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CloseCode } from '@tidings/protocol';
import { mintToken } from '../packages/server/src/auth/token-mint.js';
import { TestClient } from '../packages/server/src/test-support/test-client.js';
import { startServerProcess, type ServerProcess } from './support/server-process.js';

const TIMEOUT_MS = 3000;
let server: ServerProcess & { secret: string };
beforeAll(async () => {
  server = await startServerProcess(`shutdown:\n  reconnectDelay: 2s\n  timeout: ${TIMEOUT_MS}ms\nnamespaces:\n  room: {}\n`);
});
afterAll(() => server.cleanup());

it('disconnects 200 clients with a reconnect code and jittered delays, finishes in-flight requests, exits in time', async () => {
  const clients = await Promise.all(
    Array.from({ length: 200 }, async (_, i) => (await TestClient.connect(server.wsUrl, await mintToken(server.secret, { sub: `user-${i}` }))).client),
  );
  await Promise.all(clients.map((c) => c.ok('subscribe', { channel: 'room:all' })));

  // An API request whose body is still arriving when the signal comes.
  const body = JSON.stringify({ channel: 'room:all', data: { last: true } });
  const inFlight = new Promise<number>((resolve, reject) => {
    const req = request(
      `${server.apiUrl}/publish`,
      { method: 'POST', headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.write(body.slice(0, 10));
    setTimeout(() => req.end(body.slice(10)), 300);
  });
  await new Promise((r) => setTimeout(r, 100));

  const signalled = Date.now();
  server.child.kill('SIGTERM');
  const closes = await Promise.all(clients.map((c) => c.closed));
  expect(await inFlight).toBe(200);
  const code = await server.exited;
  const took = Date.now() - signalled;

  expect(closes.every((c) => c.code === CloseCode.Shutdown)).toBe(true);
  const pushes = clients.map((c) => c.pushes.find((p) => p.type === 'disconnect') as { code: number; reconnect: boolean; delay: number } | undefined);
  expect(pushes.every((p) => p !== undefined && p.code === CloseCode.Shutdown && p.reconnect === true)).toBe(true);
  const delays = pushes.map((p) => p!.delay);
  expect(Math.min(...delays)).toBeGreaterThanOrEqual(1000);
  expect(Math.max(...delays)).toBeLessThanOrEqual(3000);
  // Jittered per client, so they do not all come back at once.
  expect(new Set(delays).size).toBeGreaterThan(100);
  expect(code).toBe(0);
  expect(took).toBeLessThan(TIMEOUT_MS);
}, 60_000);
