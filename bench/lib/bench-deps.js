/**
 * The packages bench/ installs for itself (bench/deps/package.json: Socket.IO 4, server
 * and client), resolved from bench/deps/node_modules only, so the root workspaces never
 * need them and their own copy of `ws` stays out of the other benches. Installed with
 * `npm install --prefix bench/deps` (`npm run bench:ceiling` does it).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const DEPS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../deps');
const requireDep = createRequire(path.join(DEPS, 'package.json'));

/** `require(name)` from bench/deps, or an error that says how to install it. */
export function benchDep(name) {
  try {
    return requireDep(name);
  } catch (err) {
    if (err.code !== 'MODULE_NOT_FOUND') throw err;
    throw new Error(`${name} is not installed: run \`npm install --prefix bench/deps\` (or \`npm run bench:ceiling\`)`);
  }
}

/** The installed version of a bench/deps package (null when missing). */
export function benchDepVersion(name) {
  try {
    return requireDep(`${name}/package.json`).version;
  } catch {
    return null;
  }
}
