/**
 * What lib/serve-process.js and lib/redis-process.js share about their child servers: a free
 * loopback port picked before the start, and the stop by pid (SIGTERM, SIGKILL after a timeout).
 */
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';

/** A free TCP port on 127.0.0.1 (closed again at once; the server binds it right after). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Stops `child`: SIGTERM unless `isGone()`, then SIGKILL to every pid of `pids()` still there after
 * `timeoutMs`; waits for `exited`, then calls `forget()` and removes `dir`.
 */
export async function stopByPid({ child, exited, isGone, pids = () => [child.pid], forget, dir, timeoutMs }) {
  if (!isGone()) child.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const pid of pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }, timeoutMs);
  await exited;
  clearTimeout(timer);
  forget();
  rmSync(dir, { recursive: true, force: true });
}
