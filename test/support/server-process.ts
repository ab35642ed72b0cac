/**
 * Runs `tidings serve` as a child process for multi-process tests: its own
 * memory, its own signals. Stopped by PID, never by name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(ROOT, 'packages/server/bin/tidings.js');

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  wsUrl: string;
  apiUrl: string;
  apiKey: string;
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
  const secret = 'process-test-secret-0123456789abcdef';
  const apiKey = 'process-test-api-key-0123456789';
  const file = join(dir, 'tidings.yaml');
  await writeFile(
    file,
    `host: 127.0.0.1\nport: 0\nlogLevel: info\nauth:\n  secret: ${secret}\napiKeys:\n  - id: test\n    key: ${apiKey}\n    scopes: [admin]\n${yaml}`,
  );
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('TIDINGS_') && k !== 'PORT') clean[k] = v;
  const child = spawn(process.execPath, [BIN, 'serve', '--config', file], { cwd: dir, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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
    secret,
    apiKey,
    wsUrl: `ws://${base}/connection/websocket`,
    apiUrl: `http://${base}/api/v1`,
    output: () => out,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(killer);
      return code;
    },
    async cleanup() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
