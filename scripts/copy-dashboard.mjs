#!/usr/bin/env node
/**
 * Copies the built dashboard (apps/dashboard/dist, without source maps) into
 * packages/server/dashboard/, so that it travels in the @tidings/server tarball (`files` lists
 * `dashboard`; the folder is gitignored). The server serves that folder first and falls back to apps/dashboard/dist of
 * a checkout. Run by `npm run build` (after the dashboard's own build) and by the server's
 * `prepack`.
 */
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DASHBOARD_BUILD = join(ROOT, 'apps/dashboard/dist');
export const SERVER_DASHBOARD = join(ROOT, 'packages/server/dashboard');

/** Source maps stay behind: 1.5 MB the package does not need (the sources are not in it either). */
const shipped = (path) => !path.endsWith('.map');
const listing = (dir, keep = () => true) => (existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).filter(keep).sort().join('\n') : '');
const sameBuild = () =>
  listing(SERVER_DASHBOARD) === listing(DASHBOARD_BUILD, shipped) &&
  readFileSync(join(SERVER_DASHBOARD, 'index.html')).equals(readFileSync(join(DASHBOARD_BUILD, 'index.html')));

/**
 * Makes packages/server/dashboard a copy of apps/dashboard/dist; throws when that is not built.
 * Leaves an identical copy alone (a build names its assets by content hash, so the same file
 * list and index.html mean the same build), and swaps a new one in by renames, so that a
 * running `tidings dev` never finds the folder half-written.
 */
export function copyDashboard() {
  if (!existsSync(join(DASHBOARD_BUILD, 'index.html'))) {
    throw new Error(`${DASHBOARD_BUILD}/index.html is missing: build the dashboard first (npm run build)`);
  }
  if (sameBuild()) return;
  const next = `${SERVER_DASHBOARD}.next-${process.pid}`;
  const old = `${SERVER_DASHBOARD}.old-${process.pid}`;
  cpSync(DASHBOARD_BUILD, next, { recursive: true, filter: shipped });
  if (existsSync(SERVER_DASHBOARD)) renameSync(SERVER_DASHBOARD, old);
  renameSync(next, SERVER_DASHBOARD);
  rmSync(old, { recursive: true, force: true });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    copyDashboard();
  } catch (err) {
    console.error(`copy-dashboard: ${err.message}`);
    process.exit(1);
  }
}
