/**
 * The deployments a storm runs against (issue 20, section 3), each real `tidings serve` child
 * processes on 127.0.0.1 (the built CLI: `npm run build` first, as `npm test` does):
 *
 * - `single`: one process on the memory engine;
 * - `workers`: `workers: 2` (a primary and two worker processes sharing one port and engine);
 * - `redis`: two processes on one real redis-server (`engine.type: redis`), the clients spread
 *   over both, the publisher on the first.
 *
 * Each says which ports clients connect to, calls the server API, and reads the peak RSS of its
 * processes (`VmHWM` in /proc/<pid>/status), which `resetPeak()` sets back to the current RSS
 * (`echo 5 > /proc/<pid>/clear_refs`) so each transport's storms get a figure of their own.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { mintToken } from '../../../server/src/auth/token-mint.js';
import { startRedis, type RedisServer } from '../../../server/src/test-support/redis-server.js';
import { startServerProcess, type ServerProcess } from '../../../../test/support/server-process.js';
import { killWorkers, startWorkers, workerPids, type WorkersServer } from '../../../../test/support/workers.js';

export const DEPLOYMENTS = ['single', 'workers', 'redis'] as const;
export type DeploymentName = (typeof DEPLOYMENTS)[number];

/**
 * What every storm deployment runs with: a namespace with history and recovery; the clients all
 * come from 127.0.0.1 here (a real storm comes from many addresses), so the per-IP connection
 * limits are off; pings far apart (the storm cuts connections itself).
 */
export const STORM_YAML = `namespaces:
  storm:
    history: { size: 5000, ttl: 10m }
    recover: true
limits:
  connectionsPerIp: 0
  connectionRatePerIp: 0
`;

export interface Deployment {
  name: DeploymentName;
  /** The ports clients connect to (spread over them in turn). */
  ports: number[];
  token(user: string): Promise<string>;
  /** A server API call with the admin key (on the first node). */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** The server's processes now (primary and workers, or each node). */
  pids(): number[];
  /** Every process's peak RSS back to its current RSS (false where the kernel does not allow it). */
  resetPeak(): boolean;
  /** The largest `VmHWM` among the processes, in bytes. */
  peakRss(): number;
  close(): Promise<void>;
}

/** `VmHWM` of a process in bytes (0 when unreadable). */
export function peakRssOf(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function resetPeakOf(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

function apiOf(server: ServerProcess): Deployment['api'] {
  return async (method, path, body) => {
    const res = await fetch(`${server.apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${server.apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
}

function deployment(name: DeploymentName, servers: Array<ServerProcess & { secret: string }>, pids: () => number[], close: () => Promise<void>): Deployment {
  const first = servers[0]!;
  return {
    name,
    ports: servers.map((s) => s.port),
    token: (user) => mintToken(first.secret, { sub: user, ttlSeconds: 3600 }),
    api: apiOf(first),
    pids,
    resetPeak: () => pids().map(resetPeakOf).every(Boolean),
    peakRss: () => Math.max(0, ...pids().map(peakRssOf)),
    close,
  };
}

/** Starts the deployment (the Redis one starts its own redis-server). */
export async function startDeployment(name: DeploymentName): Promise<Deployment> {
  if (name === 'single') {
    const server = await startServerProcess(STORM_YAML);
    return deployment(name, [server], () => [server.child.pid!], () => server.cleanup());
  }
  if (name === 'workers') {
    let server: WorkersServer | undefined;
    try {
      server = await startWorkers(2, STORM_YAML);
    } catch (err) {
      await killWorkers(server);
      throw err;
    }
    const s = server;
    return deployment(name, [s], () => [s.child.pid!, ...workerPids(s).values()], () => killWorkers(s));
  }
  const redis: RedisServer = await startRedis();
  const prefix = `storm-${randomBytes(4).toString('hex')}`;
  const nodes: Array<ServerProcess & { secret: string }> = [];
  const close = async () => {
    for (const n of nodes.splice(0)) await n.cleanup();
    await redis.close();
  };
  try {
    for (let i = 0; i < 2; i++) nodes.push(await startServerProcess(`engine:\n  type: redis\n  url: ${redis.url}\n  prefix: ${prefix}\n${STORM_YAML}`));
    // Both nodes on Redis before the first client: ready answers 200.
    for (const n of nodes) {
      const deadline = Date.now() + 15_000;
      while ((await fetch(`${n.apiUrl}/ready`)).status !== 200) {
        if (Date.now() > deadline) throw new Error(`node on port ${n.port} not ready:\n${n.output()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } catch (err) {
    await close();
    throw err;
  }
  return deployment(name, [...nodes], () => nodes.map((n) => n.child.pid!), close);
}
