/**
 * Helpers for tests of `tidings serve` with `workers: N` as a real child process (a primary
 * and N worker processes sharing one port): its JSON log lines, the workers' pids, the node
 * list, metrics, clients and API calls. Runs the built CLI (dist/): `npm run build` first.
 * Used by test/workers.test.ts, test/workers-delivery.test.ts and test/workers-backlog.test.ts.
 */
import { expect } from 'vitest';
import { mintToken } from '../../packages/server/src/auth/token-mint.js';
import { TestClient } from '../../packages/server/src/test-support/test-client.js';
import { restartServerProcess, startServerProcess, type ServerProcess } from './server-process.js';

export type LogLine = Record<string, unknown> & { msg?: string; worker?: number | string };
export type WorkersServer = ServerProcess & { secret: string };

/** The server's JSON log lines so far (the primary's and every worker's: they share stdout). */
export function logLines(server: ServerProcess): LogLine[] {
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

/** The first log line after `skip` lines that matches, polled every 20 ms for at most `timeoutMs`. */
export async function waitForLog(server: ServerProcess, match: (line: LogLine) => boolean, skip = 0, timeoutMs = 15_000): Promise<LogLine> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const found = logLines(server).slice(skip).find(match);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no such log line within ${timeoutMs} ms; output:\n${server.output()}`);
}

/** Starts `tidings serve` with `workers: n` (and `env` added to its environment) and waits until every worker listens. */
export async function startWorkers(n: number, yaml = '', env: Record<string, string> = {}): Promise<WorkersServer> {
  return workersReady(await startServerProcess(`workers: ${n}\n${yaml}`, env));
}

/** Starts a stopped one again from its config file (as startWorkers did) and waits until every worker listens. */
export async function restartWorkers(old: WorkersServer, env: Record<string, string> = {}): Promise<WorkersServer> {
  return workersReady(await restartServerProcess(old, env));
}

async function workersReady(server: WorkersServer): Promise<WorkersServer> {
  await waitForLog(server, (l) => l.msg === 'tidings workers ready');
  return server;
}

/** Worker index → pid, from the primary's latest `worker started` / `worker restarted` line of each. */
export function workerPids(server: ServerProcess): Map<number, number> {
  const pids = new Map<number, number>();
  for (const line of logLines(server)) {
    if ((line.msg === 'worker started' || line.msg === 'worker restarted') && typeof line['pid'] === 'number') pids.set(Number(line.worker), line['pid']);
  }
  return pids;
}

/** Node id → worker index, from the primary's latest `worker started` / `worker restarted` line of each. */
export function workerNodes(server: ServerProcess): Map<string, number> {
  const ids = new Map<string, number>();
  for (const line of logLines(server)) {
    if ((line.msg === 'worker started' || line.msg === 'worker restarted') && typeof line['node'] === 'string') ids.set(line['node'], Number(line.worker));
  }
  return ids;
}

export async function scrape(server: ServerProcess): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/** A sample's value in a Prometheus exposition (`labels` as written, e.g. `worker="1"`); undefined when absent. */
export function sample(text: string, name: string, labels = ''): number | undefined {
  const head = labels ? `${name}{${labels}} ` : `${name} `;
  const line = text.split('\n').find((l) => l.startsWith(head));
  return line === undefined ? undefined : Number(line.slice(head.length));
}

/** `n` connected clients, users `${prefix}-0`..; each a new TCP connection, so the primary spreads them over the workers. */
export async function connectClients(server: WorkersServer, n: number, prefix: string): Promise<TestClient[]> {
  const clients: TestClient[] = [];
  for (let i = 0; i < n; i++) clients.push((await TestClient.connect(server.wsUrl, await mintToken(server.secret, { sub: `${prefix}-${i}` }))).client);
  return clients;
}

/** `GET /api/v1/nodes`: the live nodes (one per worker) as their heartbeats report them. */
export async function nodes(server: WorkersServer): Promise<{ id: string; pid: number; connections: number }[]> {
  const res = await fetch(`${server.apiUrl}/nodes`, { headers: { authorization: `Bearer ${server.apiKey}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: { nodes: { id: string; pid: number; connections: number }[] } }).data.nodes;
}

/** Publishes through the server API (on whichever worker the request lands). */
export async function apiPublish(server: WorkersServer, channel: string, data: unknown): Promise<void> {
  const res = await fetch(`${server.apiUrl}/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ channel, data }),
  });
  expect(res.status).toBe(200);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `check` every 25 ms until it holds, for at most `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Kills every worker still alive (SIGKILL, by pid) and cleans the server up: for afterAll, whatever failed. */
export async function killWorkers(server: ServerProcess | undefined): Promise<void> {
  if (!server) return;
  for (const pid of workerPids(server).values()) if (alive(pid)) process.kill(pid, 'SIGKILL');
  await server.cleanup();
}
