/**
 * The servers bench/ceiling.js compares, and how one is started: forked with
 * `--expose-gc` (so `memory` can collect before it measures), `init` over IPC,
 * then pinned to core 0 with `taskset` when the run pins (the generators and sinks
 * go on the other cores).
 */
import os from 'node:os';
import { log, pin, spawnChild } from './orchestrate.js';

export const SERVERS = {
  tidings: { file: 'servers/tidings-server.js', label: 'Tidings', transport: 'ws' },
  'ws-batched': { file: 'servers/ws-coalesced-server.js', label: 'bare ws, batched per turn', transport: 'ws' },
  'ws-cork': { file: 'servers/ws-cork-server.js', label: 'bare ws, pre-framed + cork', transport: 'ws' },
  'ws-per-sub': { file: 'servers/ws-per-sub-server.js', label: 'bare ws, per-send', transport: 'ws' },
  'ws-jwt': { file: 'servers/ws-jwt-server.js', label: 'bare ws, batched + JWT verification', transport: 'ws' },
  socketio: { file: 'servers/socketio-server.js', label: 'Socket.IO 4 room emit (+ JWT)', transport: 'socketio' },
};

/** Tidings' settings beyond servers/tidings-server.js's: no per-IP connection rate limit (every client is 127.0.0.x). */
const TIDINGS_CONFIG = { limits: { connectionRatePerIp: 0 } };

export const serverCores = () => '0';
export const clientCores = () => (os.cpus().length > 1 ? `1-${os.cpus().length - 1}` : '0');

/** Starts server `key` in its own process; resolves the child with `url`, `transport`, `meta` and `key`. */
export async function startServer(key, { secret, channels, pinned, payloadBytes, tidingsConfig = {} }) {
  const def = SERVERS[key];
  const child = spawnChild(def.file, `${key} server`, { execArgv: ['--expose-gc'] });
  const options = { payloadBytes, ...(key === 'tidings' ? { config: { ...TIDINGS_CONFIG, ...tidingsConfig } } : {}) };
  const ready = await child.request({ type: 'init', channels, secret, options }, 30_000, 'init');
  if (pinned) pin(child.pid, serverCores());
  child.key = key;
  child.transport = def.transport;
  child.meta = { ...(ready.meta ?? {}), frameBytes: ready.frameBytes };
  child.url = def.transport === 'socketio' ? `http://127.0.0.1:${ready.port}` : `ws://127.0.0.1:${ready.port}${ready.path}`;
  log(`  ${def.label}: pid ${child.pid}, ${child.url}`);
  return child;
}

/** Forks a client-side process (sink, accept generator), pinned to the other cores when the run pins. */
export function startClient(file, name, pinned, onUnsolicited) {
  const child = spawnChild(file, name, { onUnsolicited });
  if (pinned) pin(child.pid, clientCores());
  return child;
}

/** Polls the server's `info` until it reports `connections` <= `n` (at most `ms`). */
export async function waitConnections(server, n, ms = 15_000) {
  const until = Date.now() + ms;
  for (;;) {
    const { info } = await server.request({ type: 'info' }, 10_000);
    const c = info.connections ?? info.connectedSockets ?? 0;
    if (c <= n || Date.now() > until) return c;
    await new Promise((r) => setTimeout(r, 100));
  }
}
