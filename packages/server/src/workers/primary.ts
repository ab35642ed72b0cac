/**
 * The primary of `tidings serve --workers N|auto`: it forks N workers (node:cluster; they share
 * the listening port), holds what they share (workers/host.ts), replaces a worker that dies
 * (after a delay that doubles for each death in a row), relays metrics scrapes, and turns its
 * own signals into the workers': SIGTERM/SIGINT stop every worker gracefully (each runs its
 * node's close()) and then close the shared state; SIGHUP makes every worker reload its
 * configuration (each reads the file and env again, as one process does).
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { CliError } from '../cli-error.js';
import type { TidingsConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { NodeMetrics } from '../ops/metrics.js';
import { openHost } from './host.js';
import { MetricsRelay, send } from './metrics.js';
import { isOwn, workerCount, type WorkerMessage } from './protocol.js';

export interface PrimaryOptions {
  config: TidingsConfig;
  log: Logger;
  /** First restart delay of a slot whose worker died; doubles for each death in a row. Default 100 ms. */
  restartDelayMs?: number;
  /** Longest restart delay. Default 10 s. */
  maxRestartDelayMs?: number;
  /** A worker that ran this long before it died restarts after the first delay again. Default 30 s. */
  stableMs?: number;
}

interface Slot {
  index: number;
  worker: Worker | undefined;
  ready: boolean;
  /** Deaths in a row (reset once a worker ran `stableMs`). */
  deaths: number;
  startedAt: number;
  restart: NodeJS.Timeout | undefined;
  detach: (() => Promise<void>) | undefined;
}

/** Whether this process should be the primary of workers (a worker never forks again). */
export function isPrimaryOfWorkers(config: TidingsConfig): boolean {
  return cluster.isPrimary && workerCount(config.workers, availableParallelism) > 1;
}

/** Forks the workers and resolves once every one listens; rejects (exit code 1) when one fails to start. */
export async function runPrimary(options: PrimaryOptions): Promise<void> {
  const { config } = options;
  const log = options.log.child({ role: 'primary' });
  const first = options.restartDelayMs ?? 100;
  const longest = options.maxRestartDelayMs ?? 10_000;
  const stableMs = options.stableMs ?? 30_000;
  const count = workerCount(config.workers, availableParallelism);
  const metrics = new NodeMetrics();
  const host = openHost(config, metrics, log);
  const relay = new MetricsRelay(metrics, log);
  const slots: Slot[] = Array.from({ length: count }, (_, i) => ({ index: i + 1, worker: undefined, ready: false, deaths: 0, startedAt: 0, restart: undefined, detach: undefined }));
  const bySlot = new Map<Worker, Slot>();
  let stopping = false;
  let port: number | undefined;
  let startup: { resolve(): void; reject(err: Error): void } | undefined;
  const live = () => slots.flatMap((s) => (s.worker ? [s.worker] : []));

  const fork = (slot: Slot, restart: boolean) => {
    slot.restart = undefined;
    const worker = cluster.fork();
    slot.worker = worker;
    slot.ready = false;
    slot.startedAt = Date.now();
    bySlot.set(worker, slot);
    slot.detach = host.attach(worker);
    worker.on('error', (err) => log.warn({ err, worker: slot.index }, 'worker IPC error'));
    worker.on('message', (message: unknown) => {
      if (!isOwn<WorkerMessage>(message)) return;
      if (message.type === 'tidings.worker:hello') send(worker, { type: 'tidings.worker:slot', index: slot.index, restart, ...(host.sharesEngine ? {} : { ownEngine: true }) });
      else if (message.type === 'tidings.worker:ready') {
        slot.ready = true;
        port = message.port;
        log.info({ worker: slot.index, pid: message.pid, node: message.node, port: message.port }, restart ? 'worker restarted' : 'worker started');
        if (slots.every((s) => s.ready)) startup?.resolve();
      } else if (message.type === 'tidings.worker:collected') relay.collected(worker, message.id, message.metrics);
      else if (message.type === 'tidings.worker:scrape') {
        relay.scrape(live()).then(
          (text) => send(worker, { type: 'tidings.worker:scraped', id: message.id, text }),
          (err: unknown) => send(worker, { type: 'tidings.worker:scraped', id: message.id, error: String(err) }),
        );
      }
    });
    worker.once('exit', (code, signal) => onExit(slot, worker, code, signal));
  };

  const onExit = (slot: Slot, worker: Worker, code: number | null, signal: string | null) => {
    bySlot.delete(worker);
    if (slot.worker === worker) slot.worker = undefined;
    const wasReady = slot.ready;
    slot.ready = false;
    void slot.detach?.();
    slot.detach = undefined;
    if (stopping) return;
    if (startup) {
      // Not every worker listens yet: a worker that cannot start (port in use...) ends the run.
      startup.reject(new CliError(`worker ${slot.index} exited (${signal ?? `code ${code}`}) before it was listening`, 1));
      return;
    }
    if (Date.now() - slot.startedAt >= stableMs) slot.deaths = 0;
    const delay = Math.min(longest, first * 2 ** slot.deaths);
    slot.deaths++;
    log.warn({ worker: slot.index, pid: worker.process.pid, code, signal, wasReady, restartInMs: delay }, `worker ${slot.index} exited; restarting it in ${delay} ms`);
    slot.restart = setTimeout(() => {
      if (!stopping) fork(slot, true);
    }, delay);
  };

  const stopAll = async (reason: string): Promise<void> => {
    stopping = true;
    for (const slot of slots) clearTimeout(slot.restart);
    log.info({ ...(reason.startsWith('SIG') ? { signal: reason } : { reason }), workers: live().length }, 'shutting down');
    const exits = live().map((w) => new Promise<void>((resolve) => (w.isDead() ? resolve() : w.once('exit', () => resolve()))));
    for (const worker of live()) send(worker, { type: 'tidings.worker:stop' });
    // Each worker's close() is bounded by shutdown.timeout; one that still runs after that is killed.
    const killer = setTimeout(() => {
      for (const worker of live()) worker.process.kill('SIGKILL');
    }, config.shutdown.timeout + 5000);
    await Promise.all(exits);
    clearTimeout(killer);
    await host.close();
    log.info('tidings stopped');
  };

  const onStopSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      // A second signal: everything ends at once.
      for (const worker of live()) worker.process.kill('SIGKILL');
      process.exit(1);
    }
    stopAll(signal).then(
      () => exitSoon(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        exitSoon(1);
      },
    );
  };
  const onHangup = () => {
    if (stopping) return;
    log.info({ signal: 'SIGHUP', workers: live().length }, 'SIGHUP: every worker reloads its configuration');
    for (const worker of live()) send(worker, { type: 'tidings.worker:reload' });
  };

  log.info({ workers: count, pid: process.pid }, `starting ${count} workers`);
  const started = new Promise<void>((resolve, reject) => {
    startup = {
      resolve: () => {
        startup = undefined;
        resolve();
      },
      reject: (err) => {
        startup = undefined;
        reject(err);
      },
    };
  });
  for (const slot of slots) fork(slot, false);
  // Signals count from the start: a stop during startup stops the workers already forked.
  process.on('SIGINT', onStopSignal);
  process.on('SIGTERM', onStopSignal);
  process.on('SIGHUP', onHangup);
  try {
    await started;
  } catch (err) {
    if (!stopping) await stopAll('startup failed');
    throw err;
  }
  log.info({ workers: count, port }, 'tidings workers ready');
}

/** Like the single process: the exit code is set, pending log writes go out, a second at most. */
function exitSoon(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 1000).unref();
}
