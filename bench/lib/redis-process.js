/**
 * A `redis-server` for bench/redis.js: its own temp dir, a free loopback port picked here
 * (redis-server cannot pick one itself), no persistence (no RDB snapshots, no AOF: the bench
 * measures pub/sub, not disks), ready once it answers PING. Stopped by its pid (SIGTERM, then
 * SIGKILL) and its dir removed; killed by pid if the bench exits first.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, stopByPid, watchChild } from './local-process.js';
import { sleep } from './orchestrate.js';

/** redis-server to run; REDIS_SERVER points the bench at another build. */
export function redisServerPath() {
  if (process.env.REDIS_SERVER) return process.env.REDIS_SERVER;
  const r = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const found = r.status === 0 ? r.stdout.trim() : '';
  return found || '/usr/bin/redis-server';
}

const running = new Set();
process.on('exit', () => {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone
    }
  }
});

/** One PING over a fresh connection; resolves true on +PONG. */
function ping(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      text += d.toString();
      if (text.includes('\r\n')) done(text.startsWith('+PONG'));
    });
  });
}

/** Starts redis-server; resolves {pid, port, url, version, output(), stop()}. */
export async function startRedisServer() {
  const bin = redisServerPath();
  if (!existsSync(bin)) throw new Error(`redis-server not found (${bin}): install it (apt-get install -y --no-install-recommends redis-server) or set REDIS_SERVER`);
  const version = (spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout || '').trim();
  const dir = mkdtempSync(path.join(tmpdir(), 'tidings-bench-redis-'));
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--loglevel', 'warning', '--daemonize', 'no'];
    const child = spawn(bin, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    const { output, exited, isGone } = watchChild(child, 25_000);
    const until = Date.now() + 10_000;
    while (!isGone() && Date.now() < until && !(await ping(port))) await sleep(50);
    if (isGone() || Date.now() >= until) {
      child.kill('SIGKILL');
      await exited;
      running.delete(child);
      // Lost the race for the port to another process: pick another one.
      if (attempt < 3 && /Address already in use/i.test(output())) continue;
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`redis-server did not start on port ${port}:\n${output()}`);
    }
    return {
      pid: child.pid,
      port,
      url: `redis://127.0.0.1:${port}`,
      version,
      output,
      stop(timeoutMs = 5000) {
        return stopByPid({ child, exited, isGone, forget: () => running.delete(child), dir, timeoutMs });
      },
    };
  }
}
