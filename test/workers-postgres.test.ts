/**
 * `tidings serve` with `workers: 2` and `store.type: postgres` as a real child process on a real
 * PostgreSQL (packages/server/src/test-support/postgres-server.ts): the database is the primary's
 * (the workers' stores are IPC proxies to it), and each worker's `/api/v1/ready` reports it: 503
 * with the reason while PostgreSQL is away, 200 again once it is back, with no store call needed.
 * Runs the built CLI (dist/): `npx tsc -b packages/server` first.
 */
import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgMissing, startPostgres, type PostgresServer } from '../packages/server/src/test-support/postgres-server.js';
import { killWorkers, startWorkers, until, type WorkersServer } from './support/workers.js';

type Ready = { status: number; reason: string | undefined };

/** GET on `agent`'s one connection (so both answers of a probe come from the same worker). */
function get(server: WorkersServer, agent: Agent, path: string): Promise<{ status: number; body: { data?: Record<string, unknown> } }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, agent, headers: { authorization: `Bearer ${server.apiKey}` } }, (res) => {
      let text = '';
      res.on('data', (b: Buffer) => (text += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { data?: Record<string, unknown> } }));
    });
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** One probe on a new connection (the primary hands connections to the workers in turn): which worker answered (its /stats nodeId) and its /ready. */
async function probe(server: WorkersServer, seen: Map<string, Ready>): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const stats = await get(server, agent, '/api/v1/stats');
    const ready = await get(server, agent, '/api/v1/ready');
    seen.set(String(stats.body.data?.['nodeId']), { status: ready.status, reason: ready.body.data?.['reason'] as string | undefined });
  } finally {
    agent.destroy();
  }
}

/** Probes until both workers' latest /ready answer is `status`, within `timeoutMs`; resolves with the answers. */
async function bothWorkers(server: WorkersServer, status: number, timeoutMs: number): Promise<Ready[]> {
  const seen = new Map<string, Ready>();
  const done = () => seen.size === 2 && [...seen.values()].every((r) => r.status === status);
  await until(async () => (await probe(server, seen), done()), `both workers' /ready answering ${status}`, timeoutMs).catch((err: Error) => {
    throw new Error(`${err.message}; last answers by worker: ${JSON.stringify(Object.fromEntries(seen))}`);
  });
  return [...seen.values()];
}

describe.skipIf(pgMissing())('tidings serve with workers: 2 on the PostgreSQL store: /ready follows the primary\'s database', () => {
  let pg: PostgresServer;
  let server: WorkersServer | undefined;

  beforeAll(async () => {
    pg = await startPostgres();
    server = await startWorkers(2, `store:\n  type: postgres\n  url: ${pg.url}\n  connectTimeout: 1000\n`);
  }, 40_000);

  afterAll(async () => {
    await killWorkers(server);
    await pg?.close();
  });

  it("PostgreSQL killed: both workers' /ready answer 503 with the reason; restarted: 200 again, with no store call", async () => {
    const s = server!;
    await bothWorkers(s, 200, 10_000);

    await pg.kill();
    // One store call, on whichever worker it lands: the primary learns PostgreSQL is gone; both workers must say so.
    const res = await fetch(`${s.apiUrl}/users/ann/notifications`, { headers: { authorization: `Bearer ${s.apiKey}` } });
    expect(res.status).toBe(503);
    const down = await bothWorkers(s, 503, 5000);
    for (const r of down) expect(r.reason).toMatch(/^PostgreSQL: /);

    await pg.restart();
    // Nothing but /stats and /ready asked from here: the primary re-checks on its own and the workers follow.
    await bothWorkers(s, 200, 5000);
  }, 30_000);
});
