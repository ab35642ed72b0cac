/**
 * `tidings serve` as a child process for bench/workers.js: one process (`workers: 1`), a
 * primary with one worker (lib/one-worker-primary.js), or `--workers N`. Each gets its own
 * temp dir with a YAML file holding the bench's settings (those of servers/tidings-server.js,
 * plus an API key for the publisher), a port picked here, and is ready once
 * `GET /api/v1/nodes` lists every worker. Stopped by its pid (SIGTERM, then SIGKILL).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, stopByPid, watchChild } from './local-process.js';
import { ROOT, sleep } from './orchestrate.js';
import { childPids } from './proc-cpu.js';

const BIN = path.join(ROOT, 'packages/server/bin/tidings.js');
const ONE_WORKER = path.join(ROOT, 'bench/lib/one-worker-primary.js');
const started = new Set();

process.on('exit', () => {
  for (const s of started) s.kill();
});

/**
 * Starts one server. `kind`: 'single' (tidings serve, workers 1: one process), 'primary1'
 * (primary + 1 worker over IPC), 'workers' (tidings serve --workers `workers`).
 * `extraYaml`: more lines of the YAML file (top-level sections the bench settings leave out).
 * Resolves {pid, port, wsUrl, apiUrl, apiKey, workerPids, output(), stop()}.
 */
export async function startServe({ kind, workers = 1, secret, apiKey, extraYaml = [] }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'tidings-bench-'));
  const port = await freePort();
  const file = path.join(dir, 'tidings.yaml');
  const n = kind === 'workers' ? workers : 1;
  writeFileSync(
    file,
    [
      'host: 127.0.0.1',
      `port: ${port}`,
      'logLevel: warn',
      `dataDir: ${dir}`,
      `workers: ${kind === 'workers' ? workers : 1}`,
      'auth:',
      `  secret: ${secret}`,
      'apiKeys:',
      `  - id: bench`,
      `    key: ${apiKey}`,
      '    scopes: [admin]',
      'namespaces:',
      '  bench: {}',
      'client:',
      '  pingInterval: 60s',
      '  pongTimeout: 20s',
      '  maxQueueBytes: 64MiB',
      'websocket:',
      '  maxPayload: 1MiB',
      // Every bench connection comes from 127.0.0.1: per-address caps and rates out of the way.
      'limits:',
      '  connectionsPerIp: 0',
      '  connectionsPerNode: 0',
      '  connectionRatePerIp: 0',
      // Connects and disconnects are not what is measured: no SQLite audit rows for them.
      'audit:',
      '  store: false',
      // More top-level settings (bench/redis.js: the engine section).
      ...extraYaml,
      '',
    ].join('\n'),
  );
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('TIDINGS_') && k !== 'PORT') env[k] = v;
  const args = kind === 'primary1' ? [ONE_WORKER, file] : [BIN, 'serve', '--config', file];
  const child = spawn(process.execPath, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const { output, exited, isGone } = watchChild(child, 100_000);
  const server = {
    kind,
    workers: n,
    pid: child.pid,
    port,
    wsUrl: `ws://127.0.0.1:${port}/connection/websocket`,
    apiUrl: `http://127.0.0.1:${port}/api/v1`,
    apiKey,
    workerPids: [],
    output,
    isDead: isGone,
    kill() {
      if (!isGone()) child.kill('SIGKILL');
    },
    stop(timeoutMs = 10_000) {
      // The primary and, if they linger, its workers, by pid.
      const pids = () => [child.pid, ...server.workerPids];
      return stopByPid({ child, exited, isGone, pids, forget: () => started.delete(server), dir, timeoutMs });
    },
  };
  started.add(server);
  // Ready once every worker's node is listed (one node for the single process).
  const until = Date.now() + 30_000;
  for (;;) {
    if (isGone()) throw new Error(`${kind} server exited during startup:\n${output()}`);
    if (Date.now() > until) throw new Error(`${kind} server not ready within 30 s:\n${output()}`);
    try {
      const res = await fetch(`${server.apiUrl}/nodes`, { headers: { authorization: `Bearer ${apiKey}` } });
      if (res.ok) {
        const nodes = (await res.json()).data.nodes;
        if (nodes.length >= n) break;
      }
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  server.workerPids = kind === 'single' ? [] : childPids(child.pid);
  if (kind !== 'single' && server.workerPids.length !== n) throw new Error(`${kind}: expected ${n} worker processes, found ${server.workerPids.length}`);
  return server;
}
