#!/usr/bin/env node
/**
 * The build `npm start` runs: the same steps as `npm run build`, each skipped when its
 * inputs are unchanged since it last succeeded, so a restart with nothing changed costs
 * well under a second of building instead of several. `npm run build` (and with it
 * `npm test`'s pretest and CI) still builds everything, every time.
 *
 * TypeScript is incremental by itself (`tsc -b`). The browser bundle and the two vite
 * builds (dashboard, demo) are not: each gets a fingerprint of its inputs (path, size
 * and mtime of every file, so an edit, a new file and a deleted file all count), kept in
 * node_modules/.cache/tidings-build/ after a successful build, and runs again when the
 * fingerprint differs or its output is missing. A failed step leaves no fingerprint.
 *
 * Usage: node scripts/build-if-changed.mjs [--all]   (--all: run every step)
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);

/** Folders never looked into for inputs. */
const SKIP_DIRS = new Set(['node_modules', 'dist', '.git', 'coverage']);

/** The workspace packages the browser builds take from source (see the vite configs' aliases). */
const SDK_SOURCES = ['packages/protocol/src', 'packages/client/src', 'packages/react/src', 'packages/protocol/package.json', 'packages/client/package.json', 'packages/react/package.json'];

/**
 * @typedef {object} Step
 * @property {string} name
 * @property {string[]} inputs files or folders (relative to `root`) whose change means a rebuild
 * @property {string} output a file (relative to `root`) the step creates; missing means a rebuild
 * @property {string[]} command argv; a leading "node" is this Node
 * @property {string} [cwd] relative to `root`
 * @property {boolean} [always] run every time (cheap, and incremental by itself)
 * @property {string[]} [after] names of steps whose rebuild makes this one run too
 * @property {string} [ifExists] run only when this file (relative to `root`) exists
 */

/** @type {Step[]} Mirrors the root `build` script, in its order. */
export const STEPS = [
  {
    name: 'tsc',
    always: true,
    inputs: [],
    output: 'packages/server/dist/cli.js',
    command: ['node', require.resolve('typescript/bin/tsc'), '-b', 'packages/protocol', 'packages/server', 'packages/client', 'packages/react'],
  },
  {
    name: 'client bundle',
    inputs: ['packages/client/src', 'packages/protocol/src', 'packages/client/scripts/bundle.js', 'packages/client/package.json', 'package-lock.json'],
    output: 'packages/client/dist/tidings.browser.js',
    command: ['node', 'packages/client/scripts/bundle.js'],
  },
  {
    name: 'dashboard',
    inputs: ['apps/dashboard/src', 'apps/dashboard/public', 'apps/dashboard/index.html', 'apps/dashboard/vite.config.ts', 'apps/dashboard/package.json', 'apps/dashboard/tsconfig.json', 'package-lock.json', ...SDK_SOURCES],
    output: 'apps/dashboard/dist/index.html',
    command: ['npm', 'run', 'build', '--silent', '-w', 'apps/dashboard'],
  },
  {
    name: 'demo',
    inputs: ['apps/demo/src', 'apps/demo/public', 'apps/demo/index.html', 'apps/demo/vite.config.ts', 'apps/demo/package.json', 'apps/demo/tsconfig.json', 'package-lock.json', ...SDK_SOURCES],
    output: 'apps/demo/dist/index.html',
    command: ['npm', 'run', 'build', '--silent', '-w', 'apps/demo'],
  },
  {
    name: 'dashboard copy',
    ifExists: 'scripts/copy-dashboard.mjs',
    after: ['dashboard'],
    inputs: [],
    output: 'packages/server/dashboard/index.html',
    command: ['node', 'scripts/copy-dashboard.mjs'],
  },
];

/** Fingerprint of the input files under `paths`: their relative paths, sizes and mtimes. */
export function fingerprint(root, paths) {
  const entries = [];
  const visit = (abs) => {
    let st;
    try {
      st = statSync(abs);
    } catch {
      return; // an optional input (e.g. no public/ folder)
    }
    if (st.isDirectory()) {
      for (const name of readdirSync(abs).sort()) if (!SKIP_DIRS.has(name)) visit(join(abs, name));
    } else {
      entries.push(`${relative(root, abs)}\0${st.size}\0${st.mtimeMs}`);
    }
  };
  for (const p of paths) visit(join(root, p));
  return createHash('sha256').update(entries.join('\n')).digest('hex');
}

/**
 * Runs the steps that are out of date (all with `all`). Returns the names of the steps
 * that ran; throws on the first step that fails (its fingerprint is not recorded).
 * @param {{ root?: string, steps?: Step[], all?: boolean, cacheDir?: string, log?: (line: string) => void }} [opts]
 */
export function buildIfChanged(opts = {}) {
  const root = opts.root ?? ROOT;
  const steps = opts.steps ?? STEPS;
  const cacheDir = opts.cacheDir ?? join(root, 'node_modules/.cache/tidings-build');
  const log = opts.log ?? ((line) => process.stdout.write(`${line}\n`));
  const ran = [];
  const upToDate = [];
  for (const step of steps) {
    if (step.ifExists && !existsSync(join(root, step.ifExists))) continue;
    const stampFile = join(cacheDir, `${step.name.replace(/[^A-Za-z0-9_-]/g, '-')}.json`);
    const current = step.inputs.length > 0 ? fingerprint(root, step.inputs) : '';
    let reason;
    if (opts.all) reason = 'all steps asked for';
    else if (step.always) reason = 'always';
    else if (!existsSync(join(root, step.output))) reason = `${step.output} is missing`;
    else if ((step.after ?? []).some((name) => ran.includes(name))) reason = `${step.after.join(', ')} was rebuilt`;
    else {
      const stamp = readStamp(stampFile);
      if (stamp === undefined) reason = 'no earlier build recorded';
      else if (stamp !== current) reason = 'inputs changed';
    }
    if (reason === undefined) {
      upToDate.push(step.name);
      continue;
    }
    if (reason !== 'always') log(`build: ${step.name} (${reason})`);
    const [cmd, ...args] = step.command;
    const result = spawnSync(cmd === 'node' ? process.execPath : cmd, args, { cwd: join(root, step.cwd ?? '.'), stdio: 'inherit', shell: process.platform === 'win32' && cmd !== 'node' });
    if (result.status !== 0) throw new Error(`build step "${step.name}" failed (${result.error?.message ?? `exit ${result.status ?? result.signal}`})`);
    ran.push(step.name);
    // The fingerprint taken before the step: an edit made while it ran still counts next time.
    mkdirSync(dirname(stampFile), { recursive: true });
    writeFileSync(stampFile, JSON.stringify({ fingerprint: current }));
  }
  if (upToDate.length > 0) log(`build: up to date, skipped: ${upToDate.join(', ')}`);
  return ran;
}

function readStamp(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8')).fingerprint;
  } catch {
    return undefined;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    buildIfChanged({ all: process.argv.includes('--all') });
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
}
