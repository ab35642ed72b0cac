#!/usr/bin/env node
/**
 * `prepack` of every published package (npm runs it in the package's folder before
 * `npm pack` and `npm publish`): refuses to pack a package whose build outputs are missing,
 * and, for @tidings/server, copies the built dashboard in first. It does not build: run
 * `npm run build` at the root once, then `npm pack` (or `node scripts/pack.mjs`).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { copyDashboard } from './copy-dashboard.mjs';

/** Files each package's tarball cannot work without, relative to the package folder. */
export const REQUIRED = {
  '@tidings/protocol': ['dist/index.js', 'dist/index.d.ts'],
  '@tidings/server': ['dist/index.js', 'dist/index.d.ts', 'dist/cli.js', 'bin/tidings.js', 'dashboard/index.html'],
  '@tidings/client': ['dist/index.js', 'dist/index.d.ts', 'dist/node.js', 'dist/tidings.browser.js'],
  '@tidings/react': ['dist/index.js', 'dist/index.d.ts'],
};

/** Compiled modules in dist/ whose source is gone (tsc -b never deletes outputs): left from an earlier build. */
export function staleOutputs(dir) {
  if (!existsSync(join(dir, 'dist')) || !existsSync(join(dir, 'src'))) return [];
  return readdirSync(join(dir, 'dist'), { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.js') && f !== 'tidings.browser.js')
    .filter((f) => !['.ts', '.tsx'].some((ext) => existsSync(join(dir, 'src', f.slice(0, -3) + ext))))
    .map((f) => `dist/${f}`);
}

const dir = process.cwd();
const { name } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
try {
  if (name === '@tidings/server') copyDashboard();
  const missing = (REQUIRED[name] ?? []).filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) throw new Error(`${name} is not built (missing ${missing.join(', ')}): run \`npm run build\` at the repository root first`);
  const stale = staleOutputs(dir);
  if (stale.length > 0) console.warn(`prepack: warning: ${name} packs ${stale.join(', ')}, whose sources are gone; for a clean tarball remove dist/ and run \`npm run build\``);
} catch (err) {
  console.error(`prepack: ${err.message}`);
  process.exit(1);
}
