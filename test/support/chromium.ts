/**
 * Browser tests in Debian's Chromium (/usr/bin/chromium, installed by `.ci/run` with apt),
 * driven by playwright-core. Playwright's own browser downloads are never used.
 *
 * - `launchChromium()` starts a headless Chromium with a fresh, empty profile directory of
 *   its own and returns a handle whose `close()` stops the browser and removes the profile.
 * - `chromiumMissing()` is for `describe.skipIf`: outside CI a missing Chromium skips the
 *   browser tests with a message; with CI set it never skips, so `launchChromium()` fails loudly.
 * - `watchPage()` collects page errors and console errors, which browser tests assert are none.
 * - `serveFiles()` serves fixed files from a node:http server on 127.0.0.1, port 0.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium. CHROMIUM_PATH points the tests at another build of Chromium. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/**
 * Flags for this machine's closed network: without the background-networking ones Chromium
 * keeps trying Google's hosts. `--headless` and `--no-sandbox` (root has no sandbox) are also
 * what playwright adds for `headless: true`; they are listed so the launch never depends on it.
 * `--user-data-dir` is not here: playwright takes the profile directory as the first argument
 * of `launchPersistentContext` and rejects the flag in `args`.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
] as const;

/** Whether this run is CI (`CI=true`, as `.ci/run` runs): there, browser tests never skip. */
export function isCI(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

function missingMessage(): string {
  return `Chromium not found at ${CHROMIUM_PATH}: install Debian's chromium (apt-get install -y --no-install-recommends chromium), as .ci/run does`;
}

/**
 * For `describe.skipIf(chromiumMissing())`: true (after a warning) only when Chromium is
 * missing outside CI. In CI it is always false, so a missing Chromium fails the tests.
 */
export function chromiumMissing(): boolean {
  if (existsSync(CHROMIUM_PATH) || isCI()) return false;
  console.warn(`SKIPPING browser tests: ${missingMessage()}`);
  return true;
}

export interface ChromiumSession {
  /** The browser context on the fresh profile. */
  context: BrowserContext;
  /** The page Chromium opened at start (about:blank). */
  page: Page;
  /** The browser's full version, e.g. "156.0.8078.79". */
  version: string;
  /** The profile directory (removed by `close()`). */
  userDataDir: string;
  newPage(): Promise<Page>;
  /** Stops the browser and removes the profile directory. Safe to call twice. */
  close(): Promise<void>;
}

export interface LaunchOptions {
  /** Milliseconds to wait for the browser to start. Default 30000. */
  timeout?: number;
  /** Extra Chromium flags. */
  args?: string[];
}

/** Starts headless Chromium on a new empty profile. Throws (never skips) when Chromium is missing. */
export async function launchChromium(options: LaunchOptions = {}): Promise<ChromiumSession> {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(missingMessage());
  const userDataDir = await mkdtemp(join(tmpdir(), 'tidings-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      chromiumSandbox: false,
      args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
      timeout: options.timeout ?? 30_000,
    });
  } catch (err) {
    await rm(userDataDir, { recursive: true, force: true });
    throw err;
  }
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      try {
        await context.close();
      } finally {
        await rm(userDataDir, { recursive: true, force: true });
      }
    })());
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    // The user agent says only "156.0.0.0"; the browser knows its full version.
    const version = context.browser()?.version() ?? 'unknown';
    return { context, page, version, userDataDir, newPage: () => context.newPage(), close };
  } catch (err) {
    await close();
    throw err;
  }
}

export interface PageWatch {
  /** Uncaught exceptions and unhandled rejections in the page, and console.error messages. */
  errors: string[];
  /** Everything the page logged, for failure messages. */
  console: string[];
}

/** Starts collecting a page's errors; attach it before the page loads anything. */
export function watchPage(page: Page): PageWatch {
  const watch: PageWatch = { errors: [], console: [] };
  page.on('pageerror', (err) => watch.errors.push(`pageerror: ${err.stack ?? err.message}`));
  page.on('console', (msg) => {
    const line = `${msg.type()}: ${msg.text()}`;
    watch.console.push(line);
    if (msg.type() === 'error') watch.errors.push(`console.${line}`);
  });
  page.on('crash', () => watch.errors.push('page crashed'));
  return watch;
}

export interface ServedFile {
  body: string | Buffer;
  /** Content-Type, e.g. "text/html; charset=utf-8". */
  type: string;
}

export interface FileServer {
  server: Server;
  /** "http://127.0.0.1:<port>": the pages' origin. */
  origin: string;
  /** Paths requested so far, in order, with their status. */
  requests: string[];
  close(): Promise<void>;
}

/** Serves `files` (path → file) on 127.0.0.1, port 0; any other path is a 404. No caching. */
export async function serveFiles(files: Record<string, ServedFile>): Promise<FileServer> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const file = req.method === 'GET' || req.method === 'HEAD' ? files[path] : undefined;
    requests.push(`${req.method} ${path} ${file ? 200 : 404}`);
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : file.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Rejects with a message naming `what` when `promise` has not settled within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
