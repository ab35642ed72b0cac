/**
 * What the tests that run a real server binary (redis-server, PostgreSQL, nginx) share: finding
 * it on the PATH, whether this is CI, the skip-or-fail rule for a missing binary, and a free port.
 */
import { spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';

/** The full path of `name` on the PATH, if there. */
export function findOnPath(name: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = r.stdout.trim();
  return r.status === 0 && path !== '' ? path : undefined;
}

/** True when CI is set (to anything but '', '0' or 'false'). */
export function isCI(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

/**
 * For `describe.skipIf`: true (after `warning`) only when the binary is not `present` outside CI.
 * In CI always false, so starting it fails loudly instead of skipping.
 */
export function binaryMissing(present: boolean, warning: string): boolean {
  if (present || isCI()) return false;
  console.warn(warning);
  return true;
}

/** A free TCP port on 127.0.0.1 (free when asked; a start that loses the race is retried). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
