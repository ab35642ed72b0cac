/**
 * A real PostgreSQL for tests (Debian's, installed by `.ci/run`): `initdb` into its own temp dir,
 * `postgres` on a free loopback port (its socket in the temp dir too), fsync and synchronous
 * commit on, stopped by PID.
 *
 * PostgreSQL refuses to run as root, and tests run as root here and in CI: then initdb and the
 * server run as the `postgres` system user (Debian's package creates it), which owns the temp dir.
 * As any other user they run as that user.
 *
 * - `pgMissing()` is for `describe.skipIf`: outside CI a missing PostgreSQL skips with a message;
 *   with CI set it never skips, so `startPostgres()` fails loudly.
 * - `kill()` is a crash: SIGKILL to the postmaster and to every backend it started, nothing
 *   flushed; `restart()` starts it again on the same data dir and port (crash recovery replays
 *   the WAL); `stop()` is a fast shutdown (SIGINT); `close()` stops it and removes the dir.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { binaryMissing, findOnPath, freePort } from './binaries.js';

/** The directory holding initdb and postgres: PG_BIN, else PATH, else the newest /usr/lib/postgresql/<v>/bin. */
function findBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const onPath = findOnPath('initdb');
  if (onPath && existsSync(join(onPath, '..', 'postgres'))) return join(onPath, '..');
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  return join('/usr/lib/postgresql', versions[0] ?? '15', 'bin');
}

export const PG_BIN = findBin();

/** True (after a warning) only when PostgreSQL is missing outside CI. In CI always false. */
export function pgMissing(): boolean {
  return binaryMissing(
    existsSync(join(PG_BIN, 'initdb')) && existsSync(join(PG_BIN, 'postgres')),
    `SKIPPING PostgreSQL tests: initdb/postgres not found (${PG_BIN}): install Debian's postgresql (apt-get install -y --no-install-recommends postgresql), as .ci/run does, or set PG_BIN`,
  );
}

/** Who initdb and postgres run as: the `postgres` system user when we are root, else ourselves. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const uid = id('-u');
  const gid = id('-g');
  if (uid.status !== 0 || gid.status !== 0) throw new Error('tests run as root and PostgreSQL refuses root: a `postgres` system user is needed (Debian\'s postgresql package creates it)');
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

export interface PostgresServer {
  readonly port: number;
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust authentication on loopback). */
  readonly url: string;
  /** PID of the running postmaster (changes on restart). */
  readonly pid: number;
  /** A crash: SIGKILL to the postmaster and its backends; resolves when all are gone. */
  kill(): Promise<void>;
  /** Starts it again on the same data dir and port (after a kill: crash recovery). */
  restart(): Promise<void>;
  /** Fast shutdown (SIGINT): open transactions roll back, a checkpoint is written. */
  stop(): Promise<void>;
  /** Stops it and removes its temp dir. */
  close(): Promise<void>;
  /** A fresh database on this server; resolves with its URL. */
  createDatabase(name: string): Promise<string>;
}

export interface PostgresServerOptions {
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string>;
}

/** initdb in a temp dir and postgres on a free loopback port; resolves once it answers a query. */
export async function startPostgres(options: PostgresServerOptions = {}): Promise<PostgresServer> {
  const dir = await mkdtemp(join(tmpdir(), 'tidings-pg-'));
  const data = join(dir, 'data');
  const user = serverUser();
  if (user) chownSync(dir, user.uid, user.gid);
  const spawnOptions = { stdio: ['ignore', 'pipe', 'pipe'] as const, cwd: dir, ...(user ?? {}) };
  try {
    // --no-sync: the fresh cluster itself need not survive a machine crash, only what tests write later.
    const init = spawnSync(join(PG_BIN, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'], { ...spawnOptions, encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`initdb failed (${init.status ?? init.signal}):\n${init.stdout}\n${init.stderr}\n${init.error?.message ?? ''}`);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  let port = 0;
  let child: ChildProcess | undefined;
  const url = () => `postgres://postgres@127.0.0.1:${port}/postgres`;
  const settings: Record<string, string> = { listen_addresses: '127.0.0.1', fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on', max_connections: '60', ...options.settings };
  const launch = async (): Promise<void> => {
    const args = ['-D', data, '-p', String(port), '-k', dir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
    const proc = spawn(join(PG_BIN, 'postgres'), args, spawnOptions);
    let output = '';
    proc.stdout!.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-4000)));
    proc.stderr!.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-4000)));
    child = proc;
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`postgres exited with ${proc.exitCode ?? proc.signalCode} on port ${port}:\n${output}`);
      if (await answersQuery(url())) return;
      if (Date.now() > deadline) {
        await crash(proc);
        throw new Error(`postgres did not answer on port ${port} within 30 s:\n${output}`);
      }
      await sleep(50);
    }
  };
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (err) {
      if (attempt >= 2) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  const running = (): ChildProcess | undefined => (child && child.exitCode === null && child.signalCode === null ? child : undefined);
  return {
    port,
    url: url(),
    get pid() {
      return child?.pid ?? 0;
    },
    async kill() {
      const proc = running();
      if (proc) await crash(proc);
    },
    async restart() {
      const proc = running();
      if (proc) await crash(proc);
      await launch();
    },
    async stop() {
      const proc = running();
      if (!proc) return;
      proc.kill('SIGINT');
      await exited(proc);
    },
    async close() {
      const proc = running();
      if (proc) {
        proc.kill('SIGINT');
        const stopped = await Promise.race([exited(proc).then(() => true), sleep(10_000).then(() => false)]);
        if (!stopped) await crash(proc);
      }
      await rm(dir, { recursive: true, force: true });
    },
    async createDatabase(name: string) {
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(name)}`;
    },
  };
}

function exited(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => (proc.exitCode !== null || proc.signalCode !== null ? resolve() : proc.once('exit', () => resolve())));
}

/** SIGKILL to the postmaster and to its children (backends, WAL writer, checkpointer), as a power cut would; waits until all are gone. */
async function crash(proc: ChildProcess): Promise<void> {
  const pid = proc.pid!;
  const children = childrenOf(pid);
  proc.kill('SIGKILL');
  for (const c of children) {
    try {
      process.kill(c, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  await exited(proc);
  // The data dir can be started again only when no old backend holds its shared memory.
  const deadline = Date.now() + 10_000;
  while (children.some(alive) && Date.now() < deadline) await sleep(20);
}

/** PIDs whose parent is `pid`, from /proc (Linux). */
function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised command name: state, ppid, ...
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** Running (a zombie, waiting to be reaped by whoever adopted it, holds nothing). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function answersQuery(connectionString: string): Promise<boolean> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 1000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}
