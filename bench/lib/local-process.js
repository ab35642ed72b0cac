/**
 * What lib/serve-process.js and lib/redis-process.js share about their child servers: a free
 * loopback port picked before the start, the last of their output and their exit, and the stop
 * by pid (SIGTERM, SIGKILL after a timeout).
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
 * Watches a child spawned with stdout and stderr piped: keeps the last `keep` to `2 * keep`
 * characters of its output. Returns {output(), exited (resolves {code, signal}), isGone()}.
 */
export function watchChild(child, keep) {
  let out = '';
  const append = (d) => {
    out += d.toString();
    if (out.length > 2 * keep) out = out.slice(-keep);
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  let gone = false;
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      gone = true;
      resolve({ code, signal });
    }),
  );
  return { output: () => out, exited, isGone: () => gone };
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
