#!/usr/bin/env node
/**
 * Copies the built dashboard (apps/dashboard/dist) into packages/server/dashboard/, so that
 * it travels in the @tidings/server tarball (`files` lists `dashboard`; the folder is
 * gitignored). The server serves that folder first and falls back to apps/dashboard/dist of
 * a checkout. Run by `npm run build` (after the dashboard's own build) and by the server's
 * `prepack`.
 */
import { cpSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DASHBOARD_BUILD = join(ROOT, 'apps/dashboard/dist');
export const SERVER_DASHBOARD = join(ROOT, 'packages/server/dashboard');

/** Replaces packages/server/dashboard with a copy of apps/dashboard/dist; throws when that is not built. */
export function copyDashboard() {
  if (!existsSync(join(DASHBOARD_BUILD, 'index.html'))) {
    throw new Error(`${DASHBOARD_BUILD}/index.html is missing: build the dashboard first (npm run build)`);
  }
  rmSync(SERVER_DASHBOARD, { recursive: true, force: true });
  cpSync(DASHBOARD_BUILD, SERVER_DASHBOARD, { recursive: true });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    copyDashboard();
  } catch (err) {
    console.error(`copy-dashboard: ${err.message}`);
    process.exit(1);
  }
}
