/**
 * The worker's side of `tidings serve --workers`: a worker runs the same `tidings serve` (or
 * `dev`) command as the primary that forked it, and this module is what differs. It asks the
 * primary for its slot, names it in every log line (`worker`), takes the durable stores and
 * the engine over IPC (engine/ipc; with `engine.type: redis` it connects to Redis itself), answers metrics collections, and stops and reloads when
 * the primary says so. When the primary is gone, node:cluster ends the worker at once.
 */
import cluster from 'node:cluster';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import { labelWorkerProcess, type NodeMetrics } from '../ops/metrics.js';
import type { TidingsOptions } from '../options.js';
import { WorkerMetrics } from './metrics.js';
import { isOwn, type PrimaryMessage, type WorkerMessage } from './protocol.js';
import { workerParts } from './host.js';

/** What a worker reads of its running node (a `Tidings`; workers/ leaves node.ts to the entry points). */
export interface RunningNode {
  readonly nodeId: string;
  readonly metrics: NodeMetrics;
}

export interface WorkerSide {
  /** The slot, 1..N, kept when the primary replaces a worker that died. */
  readonly index: number;
  /** Whether this process replaces one that died (the dev banner is printed once, by slot 1). */
  readonly restart: boolean;
  /** What `createTidings` gets besides the configuration: the stores and (unless the worker builds its own, `engine.type: redis`) the engine over IPC, and the heartbeat's `nodeInfo` (worker index, role). */
  readonly parts: Partial<TidingsOptions>;
  /** The CLI's logger with this worker's index on every line. */
  logger(base: Logger): Logger;
  /** Wires the running node: metrics, stop and reload on the primary's word, the ready report. */
  started(tidings: RunningNode, address: AddressInfo, hooks: { stop(reason: string): void; reload(): void }): void;
  /** After the node closed: lets go of the IPC channel so the process can end. */
  detach(): void;
}

const SLOT_TIMEOUT_MS = 10_000;

/** A worker that failed to start lets go of the IPC channel, so it ends (the primary then sees it exit). */
export function leavePrimary(): void {
  // Through the cluster worker, so the process ends with its own exit code (a bare
  // process.disconnect() counts as losing the primary, which exits at once with 0).
  if (cluster.isWorker && process.connected) cluster.worker!.disconnect();
}

/** In a worker process, its side of the cluster; undefined in a process that is not a worker. */
export async function joinPrimary(): Promise<WorkerSide | undefined> {
  if (!cluster.isWorker) return undefined;
  const sendToPrimary = (message: WorkerMessage) => {
    if (process.connected) process.send!(message);
  };
  let onOwn: ((message: PrimaryMessage) => void) | undefined;
  const pending: PrimaryMessage[] = [];
  process.on('message', (message: unknown) => {
    if (!isOwn<PrimaryMessage>(message)) return;
    if (onOwn) onOwn(message);
    else pending.push(message);
  });
  const slot = await new Promise<{ index: number; restart: boolean; ownEngine?: boolean }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the primary did not assign a worker slot in time')), SLOT_TIMEOUT_MS);
    onOwn = (message) => {
      if (message.type !== 'tidings.worker:slot') return void pending.push(message);
      clearTimeout(timer);
      resolve(message);
    };
    sendToPrimary({ type: 'tidings.worker:hello' });
  });
  onOwn = undefined;
  labelWorkerProcess(String(slot.index));

  return {
    index: slot.index,
    restart: slot.restart,
    // The heartbeat names the slot: GET /api/v1/nodes lists each worker with its index and role.
    parts: { ...workerParts(slot.ownEngine === true), nodeInfo: { worker: slot.index, role: 'worker' } },
    logger: (base) => base.child({ worker: slot.index }),
    started(tidings, address, hooks) {
      const metrics = new WorkerMetrics(tidings.metrics, sendToPrimary);
      onOwn = (message) => {
        if (message.type === 'tidings.worker:stop') hooks.stop('primary');
        else if (message.type === 'tidings.worker:reload') hooks.reload();
        else metrics.onMessage(message);
      };
      for (const message of pending.splice(0)) onOwn(message);
      // The primary is gone (killed, crashed): node:cluster ends the worker at once (nothing
      // serves its engine any more), so its clients reconnect to the next primary's workers.
      sendToPrimary({ type: 'tidings.worker:ready', node: tidings.nodeId, pid: process.pid, host: address.address, port: address.port });
    },
    detach: leavePrimary,
  };
}
