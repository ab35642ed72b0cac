#!/usr/bin/env node
/**
 * `prepack` of every published package (npm runs it in the package's folder before
 * `npm pack` and `npm publish`): refuses to pack a package whose build outputs are missing,
 * and, for @tidings/server, copies the built dashboard in first. It does not build: run
 * `npm run build` at the root once, then `npm pack` (or `node scripts/pack.mjs`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { copyDashboard } from './copy-dashboard.mjs';

/** Files each package's tarball cannot work without, relative to the package folder. */
export const REQUIRED = {
  '@tidings/protocol': ['dist/index.js', 'dist/index.d.ts'],
  '@tidings/server': ['dist/index.js', 'dist/index.d.ts', 'dist/cli.js', 'bin/tidings.js', 'dashboard/index.html'],
  '@tidings/client': ['dist/index.js', 'dist/index.d.ts', 'dist/node.js', 'dist/tidings.browser.js'],
  '@tidings/react': ['dist/index.js', 'dist/index.d.ts'],
};

const dir = process.cwd();
const { name } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
try {
  if (name === '@tidings/server') copyDashboard();
  const missing = (REQUIRED[name] ?? []).filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) throw new Error(`${name} is not built (missing ${missing.join(', ')}): run \`npm run build\` at the repository root first`);
} catch (err) {
  console.error(`prepack: ${err.message}`);
  process.exit(1);
}
