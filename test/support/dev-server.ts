/**
 * Runs `tidings dev` as a child process on 127.0.0.1, port 0, with a fresh data
 * directory, and reads its banner (DASHBOARD_URL, DASHBOARD_SIGN_IN, API_KEY, WS_URL,
 * TOKEN). Stopped by PID, never by name. Needs packages/server/dist (`npm run build`).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cleanEnv, stopChild } from './child-process.js';

const ROOT = new URL('../../', import.meta.url).pathname;
export const TIDINGS_BIN = join(ROOT, 'packages/server/bin/tidings.js');

export interface DevBanner {
  dashboardUrl: string;
  dashboardSignIn: string;
  apiKey: string;
  wsUrl: string;
  token: string;
}

export interface DevServer extends DevBanner {
  child: ChildProcess;
  /** "http://127.0.0.1:<port>". */
  origin: string;
  dataDir: string;
  /** Everything the process wrote to stdout and stderr. */
  output(): string;
  /** A connection token for `user`, minted by `tidings token` with this server's dev secret. */
  mintToken(user: string, info?: Record<string, unknown>): Promise<string>;
  /** Calls the server API with the dev admin key. */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** SIGTERM, then SIGKILL after 10 s; removes the data directory. Safe to call twice. */
  stop(): Promise<void>;
}

const banner = (out: string, name: string) => new RegExp(`^${name}=(\\S+)$`, 'm').exec(out)?.[1];

/** Starts `tidings dev --port 0` with `env` added (TIDINGS_* of the test's own environment are dropped). */
export async function startDevServer(env: Record<string, string> = {}, timeoutMs = 30_000): Promise<DevServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tidings-dev-'));
  const child = spawn(process.execPath, [TIDINGS_BIN, 'dev', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir], {
    cwd: dataDir,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let all = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    all += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => (all += d.toString()));

  const stop = async () => {
    await stopChild(child, { graceMs: 10_000 });
    await rm(dataDir, { recursive: true, force: true });
  };

  let parsed: DevBanner;
  try {
    parsed = await new Promise<DevBanner>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tidings dev printed no full banner within ${timeoutMs} ms:\n${all}`)), timeoutMs);
      const check = () => {
        const b = {
          dashboardUrl: banner(stdout, 'DASHBOARD_URL'),
          dashboardSignIn: banner(stdout, 'DASHBOARD_SIGN_IN'),
          apiKey: banner(stdout, 'API_KEY'),
          wsUrl: banner(stdout, 'WS_URL'),
          token: banner(stdout, 'TOKEN'),
        };
        // The banner is written in one go; "Press Ctrl+C" ends it.
        if (stdout.includes('Press Ctrl+C') && Object.values(b).every(Boolean)) {
          clearTimeout(timer);
          resolve(b as DevBanner);
        } else if (stdout.includes('Press Ctrl+C')) {
          clearTimeout(timer);
          reject(new Error(`the banner of tidings dev lacks a line (want DASHBOARD_URL, DASHBOARD_SIGN_IN, API_KEY, WS_URL, TOKEN):\n${stdout}`));
        }
      };
      child.stdout!.on('data', check);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`tidings dev exited early (${code ?? signal}):\n${all}`));
      });
    });
  } catch (err) {
    await stop();
    throw err;
  }

  const origin = new URL(parsed.dashboardUrl).origin;
  if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(origin)) {
    await stop();
    throw new Error(`tidings dev is not on loopback: ${origin}`);
  }
  const run = promisify(execFile);
  return {
    ...parsed,
    child,
    origin,
    dataDir,
    output: () => all,
    async mintToken(user, info) {
      const args = [TIDINGS_BIN, 'token', user, '--data-dir', dataDir, ...(info ? ['--info', JSON.stringify(info)] : [])];
      const { stdout: out } = await run(process.execPath, args, { cwd: dataDir, env: cleanEnv(), timeout: 15_000 });
      return out.trim();
    },
    async api(method, path, body) {
      const res = await fetch(`${origin}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${parsed.apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    stop,
  };
}
