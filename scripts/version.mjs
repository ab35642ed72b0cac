#!/usr/bin/env node
/**
 * One version for every package of the monorepo, set in one go:
 *
 *   node scripts/version.mjs 0.2.0     sets it everywhere
 *   node scripts/version.mjs --check   lists what disagrees (exit 1), else prints the version
 *
 * "Everywhere" is: the `version` of every workspace package (the published @tidings/* and the
 * private apps), every dependency of one workspace package on another (pinned exactly: a
 * release's packages are installed together), the workspace entries of package-lock.json, and
 * CLIENT_VERSION in packages/client/src/version.ts (sent to the server in `connect`).
 * `--root <dir>` works on another checkout (tests use a copy).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const DEP_FIELDS = ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies'];
const CLIENT_VERSION_FILE = 'packages/client/src/version.ts';
const CLIENT_VERSION_RE = /(export const CLIENT_VERSION = ')([^']*)(';)/;
const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const writeJson = (file, value) => writeFileSync(file, JSON.stringify(value, null, 2) + '\n');

/** The workspace packages: folder (relative to root), manifest path and manifest. */
export function workspacePackages(root) {
  const { workspaces = [] } = readJson(join(root, 'package.json'));
  return workspaces.map((dir) => ({ dir, file: join(root, dir, 'package.json'), manifest: readJson(join(root, dir, 'package.json')) }));
}

/** Calls `visit(depName, range, field)` for every dependency of `manifest` on a package in `names`. */
function internalDeps(manifest, names, visit) {
  for (const field of DEP_FIELDS) {
    for (const [dep, range] of Object.entries(manifest[field] ?? {})) if (names.has(dep)) visit(dep, range, field);
  }
}

/** Sets `version` on every workspace package, internal dependency, lockfile entry and CLIENT_VERSION. */
export function setVersion(root, version) {
  if (!SEMVER.test(version)) throw new Error(`not a version: ${JSON.stringify(version)} (expected like 1.2.3 or 1.2.3-rc.1)`);
  const pkgs = workspacePackages(root);
  const names = new Set(pkgs.map((p) => p.manifest.name));
  const update = (manifest) => {
    manifest.version = version;
    internalDeps(manifest, names, (dep, _range, field) => (manifest[field][dep] = version));
  };
  for (const p of pkgs) {
    update(p.manifest);
    writeJson(p.file, p.manifest);
  }
  const lockFile = join(root, 'package-lock.json');
  if (existsSync(lockFile)) {
    const lock = readJson(lockFile);
    for (const p of pkgs) if (lock.packages?.[p.dir]) update(lock.packages[p.dir]);
    writeJson(lockFile, lock);
  }
  const clientVersion = join(root, CLIENT_VERSION_FILE);
  if (existsSync(clientVersion)) {
    const text = readFileSync(clientVersion, 'utf8');
    if (!CLIENT_VERSION_RE.test(text)) throw new Error(`${CLIENT_VERSION_FILE} has no CLIENT_VERSION = '...' line`);
    writeFileSync(clientVersion, text.replace(CLIENT_VERSION_RE, `$1${version}$3`));
  }
}

/**
 * What disagrees with the version of @tidings/server (the one `tidings --version` prints):
 * a list of sentences, empty when every version and internal range agrees.
 */
export function versionProblems(root) {
  const pkgs = workspacePackages(root);
  const names = new Set(pkgs.map((p) => p.manifest.name));
  const server = pkgs.find((p) => p.manifest.name === '@tidings/server');
  if (!server) return ['no @tidings/server among the workspaces'];
  const version = server.manifest.version;
  const problems = [];
  const check = (where, manifest) => {
    if (manifest.version !== version) problems.push(`${where}: version ${manifest.version}, expected ${version}`);
    internalDeps(manifest, names, (dep, range, field) => {
      if (range !== version) problems.push(`${where}: ${field}.${dep} is ${JSON.stringify(range)}, expected "${version}"`);
    });
  };
  for (const p of pkgs) check(`${p.dir}/package.json`, p.manifest);
  const lockFile = join(root, 'package-lock.json');
  if (existsSync(lockFile)) {
    const lock = readJson(lockFile);
    for (const p of pkgs) {
      if (lock.packages?.[p.dir]) check(`package-lock.json packages["${p.dir}"]`, lock.packages[p.dir]);
      else problems.push(`package-lock.json has no entry for ${p.dir}`);
    }
  }
  const clientVersion = join(root, CLIENT_VERSION_FILE);
  if (existsSync(clientVersion)) {
    const found = CLIENT_VERSION_RE.exec(readFileSync(clientVersion, 'utf8'))?.[2];
    if (found !== version) problems.push(`${CLIENT_VERSION_FILE}: CLIENT_VERSION is ${JSON.stringify(found)}, expected "${version}"`);
  }
  return problems;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--root');
  const root = at >= 0 ? resolve(args.splice(at, 2)[1] ?? '.') : fileURLToPath(new URL('..', import.meta.url));
  const [arg] = args;
  try {
    if (arg === undefined || arg === '--help') {
      console.log('usage: node scripts/version.mjs <version> | --check [--root <dir>]');
      process.exit(arg === undefined ? 2 : 0);
    }
    if (arg !== '--check') {
      setVersion(root, arg);
      console.log(`every package is at ${arg}; run \`npm run build\` before packing`);
    }
    const problems = versionProblems(root);
    if (problems.length > 0) {
      console.error(`versions disagree:\n  ${problems.join('\n  ')}`);
      process.exit(1);
    }
    if (arg === '--check') console.log(workspacePackages(root).find((p) => p.manifest.name === '@tidings/server').manifest.version);
  } catch (err) {
    console.error(`version: ${err.message}`);
    process.exit(1);
  }
}
