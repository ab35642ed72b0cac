/**
 * The packages as a user gets them. Every published package is packed with `npm pack`
 * (scripts/pack.mjs, after `npm run build`, which `npm test` runs first) and the four
 * tarballs are installed with one `npm install` into a scratch app in a temporary folder
 * outside the repository: no workspace links, no NODE_PATH, no node_modules/.bin of the
 * repository on PATH; every other dependency comes from the npm registry (through the npm
 * cache: --prefer-offline). One install serves every check of this file:
 *
 * - the tarballs hold the built files, the server's dashboard, README and LICENSE, no sources;
 * - their dependencies on each other resolve from the tarballs (one copy of each);
 * - `npx tidings dev` starts from the tarball (without the demo, which is not published) and
 *   serves the dashboard and /api/v1/health;
 * - a Node script with @tidings/client receives a publication made through the server API;
 * - a React component with @tidings/react renders it in jsdom (jsdom, react and react-dom are
 *   installed in the scratch app: cheaper than a browser, and the same client code runs);
 * - TypeScript compiles each package's public types and the README examples, with NodeNext
 *   and with Bundler module resolution.
 * - docs/deploy.md from the tarballs: `tidings serve` from the app's node_modules/.bin with
 *   deploy/tidings.production.yaml (port and paths of this host) and deploy/tidings.env.example,
 *   behind real nginx with TLS (test/support/nginx.ts); health, the dashboard and a Node client
 *   over wss:// through it (skipped outside CI when nginx is missing, like nginx-proxy.test.ts).
 *
 * Also, without installing: every package carries what publishing needs, and
 * scripts/version.mjs keeps every version and internal dependency in step.
 *
 * better-sqlite3's native binary is the one the repository's own install built, offered to
 * its prebuild-install as a local prebuild (localSqlitePrebuild below): without it the install
 * compiles better-sqlite3 from source when no prebuilt binary downloads, about a minute more
 * on 2 cores. The install time is printed at the end of the install.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
// Plain ESM scripts (no type declarations; test/ is not type-checked).
import { packAll, PUBLISHED } from '../scripts/pack.mjs';
import { versionProblems } from '../scripts/version.mjs';
import { boundFetch, type BoundFetch } from './support/bound-client.js';
import { stopChild } from './support/child-process.js';
import { nginxMissing, selfSignedCert, startNginx, type NginxProcess } from './support/nginx.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const FIXTURES = join(ROOT, 'test/pack-app');
const run = promisify(execFile);
/** Longest wait for the install (it may compile better-sqlite3); every other wait is shorter. */
const INSTALL_TIMEOUT = 8 * 60_000;
const STEP_TIMEOUT = 60_000;
const PACKAGES = ['protocol', 'server', 'client', 'react'] as const;
const TSCONFIGS = ['tsconfig.json', 'tsconfig.bundler.json'];

interface Packed {
  name: string;
  version: string;
  tarball: string;
  files: string[];
}

const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));
const rootManifest = readJson(join(ROOT, 'package.json'));

/**
 * The environment of a user's shell: this one without what `npm test` adds (npm_* variables
 * that name the repository, node_modules/.bin folders of the repository on PATH, NODE_PATH,
 * NODE_OPTIONS, vitest's own variables, TIDINGS_* settings).
 */
function userEnv(): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig', 'npm_config_globalconfig']);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (k.toLowerCase().startsWith('npm_') && !keep.has(k.toLowerCase())) continue;
    if (['NODE_PATH', 'NODE_OPTIONS', 'INIT_CWD', 'PORT'].includes(k) || k.startsWith('VITEST') || k.startsWith('TIDINGS_')) continue;
    env[k] = v;
  }
  env['PATH'] = (process.env['PATH'] ?? '')
    .split(delimiter)
    .filter((p) => p && !p.startsWith(ROOT) && !p.startsWith(realpathSync(ROOT)))
    .join(delimiter);
  return env;
}

// ------------------------------------------------------------------ without installing

describe('versions and manifests', () => {
  test('every package, internal dependency, lockfile entry and CLIENT_VERSION share one version', () => {
    expect(versionProblems(ROOT)).toEqual([]);
  });

  test('scripts/version.mjs sets one version everywhere at once, and --check finds a range left behind', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'tidings-version-'));
    try {
      const files = ['package.json', 'package-lock.json', 'packages/client/src/version.ts', ...rootManifest.workspaces.map((w: string) => `${w}/package.json`)];
      for (const f of files) {
        mkdirSync(join(copy, f, '..'), { recursive: true });
        cpSync(join(ROOT, f), join(copy, f));
      }
      await run(process.execPath, [join(ROOT, 'scripts/version.mjs'), '1.2.3-rc.1', '--root', copy], { timeout: 15_000 });
      expect(versionProblems(copy)).toEqual([]);
      for (const w of rootManifest.workspaces as string[]) expect(readJson(join(copy, w, 'package.json')).version).toBe('1.2.3-rc.1');
      expect(readJson(join(copy, 'packages/react/package.json')).dependencies['@tidings/client']).toBe('1.2.3-rc.1');
      expect(readJson(join(copy, 'packages/server/package.json')).dependencies['@tidings/protocol']).toBe('1.2.3-rc.1');
      expect(readJson(join(copy, 'apps/dashboard/package.json')).devDependencies['@tidings/server']).toBe('1.2.3-rc.1');
      expect(readJson(join(copy, 'package-lock.json')).packages['packages/client'].dependencies['@tidings/protocol']).toBe('1.2.3-rc.1');
      expect(readFileSync(join(copy, 'packages/client/src/version.ts'), 'utf8')).toContain("CLIENT_VERSION = '1.2.3-rc.1'");

      const react = readJson(join(copy, 'packages/react/package.json'));
      react.dependencies['@tidings/client'] = '^1.2.0';
      writeFileSync(join(copy, 'packages/react/package.json'), JSON.stringify(react, null, 2));
      expect(versionProblems(copy)).toEqual(['packages/react/package.json: dependencies.@tidings/client is "^1.2.0", expected "1.2.3-rc.1"']);
      const check = await run(process.execPath, [join(ROOT, 'scripts/version.mjs'), '--check', '--root', copy], { timeout: 15_000 }).catch((e) => e);
      expect(check.code).toBe(1);
      expect(check.stderr).toContain('dependencies.@tidings/client');

      const bad = await run(process.execPath, [join(ROOT, 'scripts/version.mjs'), 'next', '--root', copy], { timeout: 15_000 }).catch((e) => e);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('not a version');
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  test.each(PACKAGES)('@tidings/%s carries what publishing needs: files, exports with types, engines, license, repository, publishConfig, README, LICENSE', (p) => {
    const dir = join(ROOT, 'packages', p);
    const m = readJson(join(dir, 'package.json'));
    expect(m.name).toBe(`@tidings/${p}`);
    expect(m.private).toBeUndefined();
    expect(m.license).toBe('MIT');
    expect(m.engines).toEqual({ node: '>=20.10' });
    expect(m.publishConfig).toEqual({ access: 'public' });
    expect(m.repository).toMatchObject({ type: 'git', directory: `packages/${p}` });
    expect(m.repository.url).toBe(readJson(join(ROOT, 'packages/server/package.json')).repository.url);
    expect(m.files).toEqual(expect.arrayContaining(['dist', 'README.md', 'LICENSE']));
    expect(m.exports['.'].types).toBe('./dist/index.d.ts');
    expect(Object.keys(m.exports['.'])[0]).toBe('types'); // TypeScript takes the first condition that matches
    expect(m.types).toBe('./dist/index.d.ts');
    for (const deps of [m.dependencies, m.peerDependencies]) {
      for (const range of Object.values(deps ?? {})) expect(range).not.toMatch(/^(workspace|file|link):/);
    }
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    expect(readme).toMatch(new RegExp(`^# @tidings/${p}\\n`));
    expect(readme).toContain(`npm install `);
    expect(readme).toMatch(/```tsx?\n/);
    const repoWeb = m.repository.url.replace(/^git\+/, '').replace(/\.git$/, '');
    expect(readme).toContain(`${repoWeb}/blob/main/docs/`);
    for (const license of [join(dir, 'LICENSE'), join(ROOT, 'LICENSE')]) {
      const text = readFileSync(license, 'utf8');
      expect(text).toMatch(/^MIT License\n/);
      expect(text).toContain('Copyright (c) 2026 The Tidings authors');
    }
  });
});

// ------------------------------------------------------------------ from the tarballs

describe('installed from the tarballs into an app outside the repository', () => {
  const env = userEnv();
  let work: string;
  let app: string;
  let packed: Packed[];
  let dev: DevProcess | undefined;
  /** `tsc -p <tsconfig>` in the app, started in beforeAll: its output and exit code (or the error). */
  const compiled = new Map<string, Promise<{ stdout?: string; stderr?: string; code?: number }>>();

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'tidings-pack-'));
    const tarballs = join(work, 'tarballs');
    app = join(work, 'app');
    mkdirSync(app);
    packed = packAll(tarballs);

    const devDeps = rootManifest.devDependencies as Record<string, string>;
    const dependencies: Record<string, string> = {};
    for (const p of packed) dependencies[p.name] = `file:${p.tarball}`;
    for (const d of ['react', 'react-dom', 'jsdom', 'typescript', '@types/react', '@types/node']) dependencies[d] = devDeps[d]!;
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'scratch-app', private: true, type: 'module', dependencies, allowScripts: { 'better-sqlite3': true } }, null, 2),
    );
    for (const f of ['client-check.mjs', 'react-check.mjs', 'publish-via-api.mjs', 'types-check.ts']) cpSync(join(FIXTURES, f), join(app, f));
    // The README examples, compiled as they are printed.
    for (const p of PACKAGES) {
      const block = /```(tsx?)\n([\s\S]*?)```/.exec(readFileSync(join(ROOT, 'packages', p, 'README.md'), 'utf8'))!;
      writeFileSync(join(app, `readme-${p}.${block[1]}`), `${block[2]}export {};\n`);
    }
    const compilerOptions = { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, jsx: 'react-jsx', types: ['node'] };
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['*.ts', '*.tsx'] }));
    writeFileSync(join(app, 'tsconfig.bundler.json'), JSON.stringify({ extends: './tsconfig.json', compilerOptions: { module: 'ESNext', moduleResolution: 'Bundler' } }));

    const started = Date.now();
    const installEnv = { ...env, ...(await localSqlitePrebuild(work)) };
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: app, env: installEnv, timeout: INSTALL_TIMEOUT, maxBuffer: 16 << 20 }).catch((err) => {
      throw new Error(`npm install of the tarballs failed (${err.code ?? err.signal}):\n${err.stderr}`);
    });
    console.info(`pack.test: npm install of the four tarballs and the check tools took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    // The two TypeScript checks (about 10 s each) run side by side, while `tidings dev` starts; their tests read the results.
    for (const tsconfig of TSCONFIGS) {
      compiled.set(tsconfig, run(join(app, 'node_modules/.bin/tsc'), ['-p', tsconfig], { cwd: app, env, timeout: STEP_TIMEOUT }).catch((err) => err));
    }
    dev = await startDev(app, env);
  }, INSTALL_TIMEOUT + 2 * STEP_TIMEOUT);

  afterAll(async () => {
    await dev?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  }, STEP_TIMEOUT);

  test('the tarballs hold the built files, the dashboard, README and LICENSE, and no sources or tests', () => {
    expect(packed.map((p) => p.name)).toEqual(PUBLISHED.map((d: string) => `@tidings/${d.split('/')[1]}`));
    for (const p of packed) {
      expect(p.files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts']));
      expect(p.files.filter((f) => f.startsWith('src/') || f.startsWith('test/') || /\.test\.|tsbuildinfo/.test(f))).toEqual([]);
    }
    const server = packed.find((p) => p.name === '@tidings/server')!;
    expect(server.files).toEqual(expect.arrayContaining(['bin/tidings.js', 'dist/cli.js', 'dashboard/index.html']));
    expect(server.files.some((f) => /^dashboard\/assets\/.+\.js$/.test(f))).toBe(true);
    expect(server.files.filter((f) => f.startsWith('dashboard/') && f.endsWith('.map'))).toEqual([]);
    expect(packed.find((p) => p.name === '@tidings/client')!.files).toContain('dist/tidings.browser.js');
  });

  test("npm resolves the packages' dependencies on each other from the tarballs: one copy of each, at the packed version", async () => {
    const { stdout } = await run('npm', ['ls', '--all', '--json'], { cwd: app, env, timeout: STEP_TIMEOUT, maxBuffer: 16 << 20 });
    const copies = new Map<string, Set<string>>();
    const walk = (deps: Record<string, { version?: string; dependencies?: Record<string, unknown> }> | undefined) => {
      for (const [name, node] of Object.entries(deps ?? {})) {
        if (name.startsWith('@tidings/')) copies.set(name, (copies.get(name) ?? new Set()).add(node.version ?? '?'));
        walk(node.dependencies as never);
      }
    };
    walk(JSON.parse(stdout).dependencies);
    const version = packed[0]!.version;
    expect(Object.fromEntries([...copies].map(([n, v]) => [n, [...v]]))).toEqual({
      '@tidings/protocol': [version],
      '@tidings/server': [version],
      '@tidings/client': [version],
      '@tidings/react': [version],
    });
    for (const nested of ['server', 'client', 'react']) expect(existsSync(join(app, 'node_modules/@tidings', nested, 'node_modules/@tidings'))).toBe(false);
  });

  test('npx tidings dev starts from the tarball without the demo and serves the dashboard and /api/v1/health', async () => {
    const d = dev!;
    expect(d.stdout).not.toContain('DEMO_URL');
    const version = await run('npx', ['--no', '--', 'tidings', '--version'], { cwd: app, env, timeout: STEP_TIMEOUT });
    expect(version.stdout.trim()).toBe(packed[0]!.version);

    const page = await fetch(`${d.origin}/dashboard/`, { signal: AbortSignal.timeout(10_000) });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toMatch(/<div id="root">/);
    const script = /<script[^>]+src="([^"]+\.js)"/.exec(html)?.[1];
    expect(script).toMatch(/^\/dashboard\/assets\//);
    const asset = await fetch(`${d.origin}${script}`, { signal: AbortSignal.timeout(10_000) });
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    await asset.arrayBuffer();

    const health = await fetch(`${d.origin}/api/v1/health`, { signal: AbortSignal.timeout(10_000) });
    expect(health.status).toBe(200);
    expect((await health.json()).data.status).toBe('healthy');
  });

  test('a Node script using @tidings/client connects, subscribes and receives a publication made through the server API', async () => {
    const { stdout } = await run(process.execPath, ['client-check.mjs'], { cwd: app, env: { ...env, ...dev!.checkEnv }, timeout: STEP_TIMEOUT });
    const result = JSON.parse(stdout.trim());
    expect(result.received).toBe(true);
    expect(fileURLToPath(result.resolved)).toBe(join(realpathSync(app), 'node_modules/@tidings/client/dist/node.js'));
  });

  test('a React component using @tidings/react renders live data in jsdom', async () => {
    const { stdout } = await run(process.execPath, ['react-check.mjs'], { cwd: app, env: { ...env, ...dev!.checkEnv }, timeout: STEP_TIMEOUT });
    expect(JSON.parse(stdout.trim())).toEqual({ rendered: true });
  });

  test.each(TSCONFIGS)('TypeScript (%s) compiles the public types of every package and the README examples', async (tsconfig) => {
    const result = await compiled.get(tsconfig)!;
    expect(`${result.stdout ?? ''}${result.stderr ?? ''}`).toBe('');
    expect(result.code ?? 0).toBe(0);
  });

  // docs/deploy.md, from the tarballs: the production config and env file, `tidings serve`
  // from the app's own node_modules/.bin, the nginx site with TLS in front (a throwaway
  // certificate instead of certbot's), then section 7's checks. About 2 s on top of the install.
  test.skipIf(nginxMissing())(
    'behind nginx with TLS as docs/deploy.md sets it up, tidings serve from the app answers health and the dashboard, and a Node client receives over wss://',
    async () => {
      const etc = join(work, 'etc-tidings');
      mkdirSync(etc);
      const dataDir = join(work, 'var-lib-tidings');
      mkdirSync(dataDir, { mode: 0o750 });
      // Section 2: the config example as it is, on this host's paths (the node behind nginx
      // needs no fixed port here: 0, read back from its "tidings listening" line), and the env file.
      let yaml = readFileSync(join(ROOT, 'deploy/tidings.production.yaml'), 'utf8');
      yaml = replaceExactly(yaml, '\nport: 8080\n', '\nport: 0\n');
      yaml = replaceExactly(yaml, '/var/lib/tidings', dataDir, 2);
      const configFile = join(etc, 'tidings.yaml');
      const envFile = join(etc, 'tidings.env');
      writeFileSync(configFile, yaml);
      cpSync(join(ROOT, 'deploy/tidings.env.example'), envFile);
      const bin = join(app, 'node_modules/.bin/tidings');
      const cert = await selfSignedCert(etc);
      let serve: ServeProcess | undefined;
      let nginx: NginxProcess | undefined;
      let api: BoundFetch | undefined;
      try {
        // Section 3: what the unit runs, with the unit's EnvironmentFile.
        serve = await startServe(bin, configFile, envFile, app, env);
        // Section 4: the site file in front of it.
        nginx = await startNginx(serve.port, cert);
        const origin = `https://127.0.0.1:${nginx.tlsPort}`;
        api = boundFetch('127.0.0.1', cert.pem);
        const get = async (path: string) => {
          const res = await api!.fetch(`${origin}${path}`);
          return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
        };

        // Section 7: health, the dashboard, a token minted with the production secret, a client.
        const health = await get('/api/v1/health');
        expect(health.status, `${health.text}\n${serve.output()}\n${await nginx.output()}`).toBe(200);
        expect(JSON.parse(health.text).data.status).toBe('healthy');
        const page = await get('/dashboard/');
        expect(page.status).toBe(200);
        expect(page.type).toMatch(/^text\/html/);
        expect(page.text).toMatch(/<div id="root">/);
        const script = /<script[^>]+src="([^"]+\.js)"/.exec(page.text)?.[1];
        expect(script).toMatch(/^\/dashboard\/assets\//);
        const asset = await get(script!);
        expect(asset.status).toBe(200);
        expect(asset.type).toMatch(/javascript/);

        const token = await run('bash', ['-c', 'set -a; . "$0"; exec "$1" token alice --config "$2" --ttl 10m', envFile, bin, configFile], { cwd: app, env, timeout: STEP_TIMEOUT });
        const apiKeys = JSON.parse(/^TIDINGS_API_KEYS='(.*)'$/m.exec(readFileSync(envFile, 'utf8'))![1]!) as { id: string; key: string }[];
        const backendKey = apiKeys.find((k) => k.id === 'backend')!.key;
        const { stdout } = await run(process.execPath, ['client-check.mjs'], {
          cwd: app,
          env: {
            ...env,
            // How a Node script trusts a certificate no public CA signed.
            NODE_EXTRA_CA_CERTS: cert.certFile,
            WS_URL: `wss://127.0.0.1:${nginx.tlsPort}/connection/websocket`,
            TOKEN: token.stdout.trim(),
            API_ORIGIN: origin,
            API_KEY: backendKey,
          },
          timeout: STEP_TIMEOUT,
        }).catch(async (err) => {
          throw new Error(`client-check through nginx failed: ${err.stderr}\n${serve!.output()}\n${await nginx!.output()}`);
        });
        expect(JSON.parse(stdout.trim())).toMatchObject({ received: true, transport: 'websocket' });
      } finally {
        api?.close();
        await nginx?.stop();
        await serve?.stop();
      }
    },
    2 * STEP_TIMEOUT,
  );
});

// ------------------------------------------------------------------ better-sqlite3's binary

/**
 * better-sqlite3 (a dependency of @tidings/server) installs with prebuild-install, which
 * downloads a prebuilt binary or else compiles it from source: about a minute on 2 cores,
 * the same compile of the same version for the same Node that the repository's own install
 * already did. prebuild-install first looks for a "local prebuild" (its
 * npm_config_better_sqlite3_local_prebuilds folder); this packs the repository's compiled
 * binary there under the name prebuild-install asks for. A scratch app that resolves another
 * version of better-sqlite3, or another Node, finds no file of its name there and downloads
 * or compiles as before. The binary is still loaded from the app: prebuild-install requires
 * it after unpacking, and `tidings dev` and `tidings serve` open their SQLite store with it.
 */
async function localSqlitePrebuild(work: string): Promise<Record<string, string>> {
  const pkg = join(ROOT, 'node_modules/better-sqlite3');
  const binary = 'build/Release/better_sqlite3.node';
  if (!existsSync(join(pkg, binary))) return {};
  const { version } = readJson(join(pkg, 'package.json'));
  const dir = join(work, 'prebuilds');
  mkdirSync(dir);
  // prebuild-install names a Linux build 'linux-x64' on glibc and 'linuxmusl-x64' on musl.
  const glibc = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime;
  const libc = process.platform === 'linux' && !glibc ? 'musl' : '';
  const file = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}${libc}-${process.arch}.tar.gz`;
  await run('tar', ['-czf', join(dir, file), '-C', pkg, binary], { timeout: STEP_TIMEOUT });
  return { npm_config_better_sqlite3_local_prebuilds: dir };
}

// ------------------------------------------------------------------ tidings dev, from the app

interface DevProcess {
  origin: string;
  stdout: string;
  /** WS_URL, TOKEN, API_KEY and API_ORIGIN for the check scripts. */
  checkEnv: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * `npx tidings dev --port 0` in the app, in its own process group (npx runs the bin in a
 * child), until its banner is complete; stopped by signalling that group by its PID.
 */
async function startDev(app: string, env: NodeJS.ProcessEnv): Promise<DevProcess> {
  const child: ChildProcess = spawn('npx', ['--no', '--', 'tidings', 'dev', '--port', '0', '--host', '127.0.0.1', '--data-dir', join(app, 'data')], {
    cwd: app,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let all = '';
  child.stdout!.on('data', (d: Buffer) => ((stdout += d), (all += d)));
  child.stderr!.on('data', (d: Buffer) => (all += d));
  const stop = async (): Promise<void> => {
    await stopChild(child, { graceMs: 10_000, group: true });
  };
  const line = (name: string) => new RegExp(`^${name}=(\\S+)$`, 'm').exec(stdout)?.[1];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npx tidings dev printed no banner within ${STEP_TIMEOUT} ms:\n${all}`)), STEP_TIMEOUT);
      child.stdout!.on('data', () => {
        if (stdout.includes('Press Ctrl+C')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`npx tidings dev exited early (${code ?? sig}):\n${all}`));
      });
    });
  } catch (err) {
    await stop();
    throw err;
  }
  const wsUrl = line('WS_URL')!;
  const origin = new URL(line('DASHBOARD_URL')!).origin;
  return {
    origin,
    stdout,
    checkEnv: { WS_URL: wsUrl, TOKEN: line('TOKEN')!, API_KEY: line('API_KEY')!, API_ORIGIN: origin },
    stop,
  };
}

// ------------------------------------------------------------------ tidings serve, as the unit runs it

/** Replaces `from` in a deploy file's text, failing when it is no longer there exactly `times` times. */
function replaceExactly(text: string, from: string, to: string, times = 1): string {
  const found = text.split(from).length - 1;
  if (found !== times) throw new Error(`deploy file: expected ${times} × ${JSON.stringify(from)}, found ${found}: the test's rewrite needs updating`);
  return text.split(from).join(to);
}

interface ServeProcess {
  port: number;
  output(): string;
  stop(): Promise<void>;
}

/**
 * `tidings serve --config <file>` with the variables of the env file, as systemd's
 * EnvironmentFile gives them (`set -a; . file` in bash, then exec: the PID is the server's),
 * until its "tidings listening" log line names the port. Stopped by that PID.
 */
async function startServe(bin: string, configFile: string, envFile: string, cwd: string, env: NodeJS.ProcessEnv): Promise<ServeProcess> {
  const child = spawn('bash', ['-c', 'set -a; . "$0"; exec "$1" serve --config "$2"', envFile, bin, configFile], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (out += d));
  const stop = async (): Promise<void> => {
    await stopChild(child, { graceMs: 20_000 });
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tidings serve did not listen within ${STEP_TIMEOUT} ms:\n${out}`)), STEP_TIMEOUT);
      child.stdout!.on('data', () => {
        const port = /"port":(\d+).*"msg":"tidings listening"/.exec(out)?.[1];
        if (port) {
          clearTimeout(timer);
          resolve(Number(port));
        }
      });
      child.once('exit', (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`tidings serve exited early (${code ?? sig}):\n${out}`));
      });
    });
    return { port, output: () => out, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
