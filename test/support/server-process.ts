/**
 * Runs `tidings serve` as a child process for multi-process tests: its own
 * memory, its own signals. Stopped by PID, never by name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cleanEnv, stopChild } from './child-process.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(ROOT, 'packages/server/bin/tidings.js');
const SECRET = 'process-test-secret-0123456789abcdef';
const API_KEY = 'process-test-api-key-0123456789';

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  wsUrl: string;
  apiUrl: string;
  apiKey: string;
  /** The YAML file it runs on (its `--config` argument), in a directory of its own. */
  configFile: string;
  /** Everything the process wrote, for assertions and failure messages. */
  output(): string;
  /** Resolves with the exit code once the process ends. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  cleanup(): Promise<void>;
}

/** Starts `tidings serve` with the given YAML (secret and API key are added) on 127.0.0.1, port 0. */
export async function startServerProcess(yaml: string, env: Record<string, string> = {}): Promise<ServerProcess & { secret: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'tidings-proc-'));
  const file = join(dir, 'tidings.yaml');
  await writeFile(
    file,
    `host: 127.0.0.1\nport: 0\nlogLevel: info\nauth:\n  secret: ${SECRET}\napiKeys:\n  - id: test\n    key: ${API_KEY}\n    scopes: [admin]\n${yaml}`,
  );
  return serve(file, env);
}

/**
 * Starts `tidings serve` again on the config file and directory of one that has stopped, as a
 * restart of the service would (same secret and API key; port 0, so a new port).
 */
export function restartServerProcess(old: ServerProcess, env: Record<string, string> = {}): Promise<ServerProcess & { secret: string }> {
  return serve(old.configFile, env);
}

/** `tidings serve --config file` in the file's directory, until its "tidings listening" line names the port. */
async function serve(file: string, env: Record<string, string>): Promise<ServerProcess & { secret: string }> {
  const dir = dirname(file);
  const child = spawn(process.execPath, [BIN, 'serve', '--config', file], { cwd: dir, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 20_000);
    const check = () => {
      for (const line of out.split('\n')) {
        if (!line.includes('tidings listening')) continue;
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
        return;
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', () => reject(new Error(`server exited early:\n${out}`)));
  });
  const base = `127.0.0.1:${port}`;
  return {
    child,
    port,
    secret: SECRET,
    apiKey: API_KEY,
    configFile: file,
    wsUrl: `ws://${base}/connection/websocket`,
    apiUrl: `http://${base}/api/v1`,
    output: () => out,
    exited,
    stop: (signal = 'SIGTERM') => stopChild(child, { signal, graceMs: 15_000 }),
    async cleanup() {
      await stopChild(child, { signal: 'SIGKILL', graceMs: 15_000 });
      await rm(dir, { recursive: true, force: true });
    },
  };
}
