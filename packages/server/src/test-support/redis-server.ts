/**
 * A real `redis-server` for tests (Debian's, installed by `.ci/run`): its own temp dir, a free
 * loopback port (redis-server cannot pick one itself), no persistence unless asked, stopped by PID.
 *
 * - `redisMissing()` is for `describe.skipIf`: outside CI a missing redis-server skips with a
 *   message; with CI set it never skips, so `startRedis()` fails loudly.
 * - `kill()` is `kill -9`; `restart({ keepData })` starts it again on the same port, with its data
 *   (the snapshot a graceful `stop` saved, or with `appendOnly` the AOF, which survives `kill -9`)
 *   or empty; `pause()`/`resume()` are SIGSTOP/SIGCONT.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binaryMissing, findOnPath, freePort } from './binaries.js';

export { freePort };

/** redis-server to run; REDIS_SERVER points the tests at another build. */
export const REDIS_SERVER = process.env.REDIS_SERVER || findOnPath('redis-server') || '/usr/bin/redis-server';

/** True (after a warning) only when redis-server is missing outside CI. In CI always false. */
export function redisMissing(): boolean {
  return binaryMissing(existsSync(REDIS_SERVER), `SKIPPING Redis tests: redis-server not found (${REDIS_SERVER}): install Debian's redis-server (apt-get install -y --no-install-recommends redis-server), as .ci/run does`);
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** PID of the running redis-server (changes on restart). */
  readonly pid: number;
  /** `kill -9`: gone at once, nothing saved. */
  kill(): Promise<void>;
  /** Starts it again on the same port; `keepData` loads what the last graceful `stop` or AOF kept. */
  restart(options?: { keepData?: boolean }): Promise<void>;
  pause(): void;
  resume(): void;
  /** Graceful stop (SHUTDOWN semantics via SIGTERM: saves a snapshot when persistence is on). */
  stop(): Promise<void>;
  /** Stops it and removes its temp dir. */
  close(): Promise<void>;
}

export interface RedisServerOptions {
  /** `appendonly yes` with `appendfsync always`: data survives `kill -9`. Default off (a snapshot on graceful stop only). */
  appendOnly?: boolean;
  /** Extra `--key value` arguments. */
  args?: string[];
}

/** Starts redis-server on a free loopback port in a temp dir; resolves once it answers PING. */
export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'tidings-redis-'));
  let port = 0;
  let child: ChildProcess | undefined;
  // A snapshot is saved on a graceful stop (SIGTERM), never on its own schedule that matters to a test.
  const args = () => [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--daemonize', 'no', '--protected-mode', 'no',
    '--save', options.appendOnly ? '' : '3600 1',
    '--appendonly', options.appendOnly ? 'yes' : 'no',
    ...(options.appendOnly ? ['--appendfsync', 'always'] : []),
    '--dbfilename', 'dump.rdb', '--logfile', '',
    ...(options.args ?? []),
  ];
  const launch = async (keepData: boolean): Promise<void> => {
    if (!keepData) {
      await rm(join(dir, 'dump.rdb'), { force: true });
      await rm(join(dir, 'appendonlydir'), { recursive: true, force: true });
    }
    const proc = spawn(REDIS_SERVER, args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    proc.stdout!.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-4000)));
    proc.stderr!.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-4000)));
    child = proc;
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode} on port ${port}:\n${output}`);
      if (await answersPing(port)) return;
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`redis-server did not answer PING on port ${port} within 10 s:\n${output}`);
      }
      await sleep(25);
    }
  };
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await launch(false);
      break;
    } catch (err) {
      if (attempt >= 2) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  const exited = (proc: ChildProcess) => new Promise<void>((resolve) => (proc.exitCode !== null || proc.signalCode !== null ? resolve() : proc.once('exit', () => resolve())));
  const signal = async (sig: NodeJS.Signals): Promise<void> => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(sig);
    await exited(proc);
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child?.pid ?? 0;
    },
    kill: () => signal('SIGKILL'),
    async restart({ keepData = false } = {}) {
      await signal('SIGKILL');
      await launch(keepData);
    },
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
    async stop() {
      child?.kill('SIGCONT');
      await signal('SIGTERM');
    },
    async close() {
      child?.kill('SIGCONT');
      await signal('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One raw `PING` over RESP: true on `+PONG`. */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (b) => done(b.toString().startsWith('+PONG')));
  });
}
