#!/usr/bin/env node
/**
 * Packs every published package (@tidings/protocol, server, client, react) with `npm pack`
 * into one folder, after `npm run build`:
 *
 *   node scripts/pack.mjs [dest]    (default: ./packed)
 *
 * and prints the command that installs them into another app. Install the tarballs together,
 * in one `npm install`: until a release is on the npm registry, the packages' dependencies
 * on each other (pinned exactly, e.g. "@tidings/protocol": "0.1.0") are satisfied only by the
 * tarballs installed beside them; npm looks for any other on the registry, and fails (E404).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Published packages, each after the ones it depends on. */
export const PUBLISHED = ['packages/protocol', 'packages/server', 'packages/client', 'packages/react'];

/**
 * `npm pack` of each published package into `dest` (runs their `prepack`). Returns, per
 * package, its name, version, the tarball's absolute path and the paths of the files in it.
 */
export function packAll(dest, { root = ROOT, env = process.env } = {}) {
  mkdirSync(dest, { recursive: true });
  return PUBLISHED.map((dir) => {
    const out = execFileSync('npm', ['pack', '--json', '--pack-destination', dest], {
      cwd: join(root, dir),
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
    });
    const [info] = JSON.parse(out);
    return { name: info.name, version: info.version, tarball: join(dest, info.filename), files: info.files.map((f) => f.path) };
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dest = resolve(process.argv[2] ?? join(ROOT, 'packed'));
  try {
    const packed = packAll(dest);
    const { version } = JSON.parse(readFileSync(join(ROOT, 'packages/server/package.json'), 'utf8'));
    console.log(`Packed ${packed.length} packages (${version}) into ${relative(process.cwd(), dest) || '.'}:`);
    for (const p of packed) console.log(`  ${relative(process.cwd(), p.tarball)}`);
    console.log(`\nInstall them together into an app:\n  npm install ${packed.map((p) => p.tarball).join(' ')}`);
  } catch (err) {
    console.error(`pack: ${err.stderr || err.message}`);
    process.exit(1);
  }
}
