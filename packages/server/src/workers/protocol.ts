/**
 * The messages between the primary of `tidings serve --workers` and its workers that are not
 * engine calls (those are engine/ipc's): which slot a worker fills, that it listens, stop and
 * reload, and metrics scrapes. They share the cluster IPC channel with the engine's messages
 * and prom-client's; every type here starts with `tidings.worker:`, and each side ignores the
 * messages that are not its own.
 */

export const PREFIX = 'tidings.worker:';

/** Worker → primary. */
export type WorkerMessage =
  /** Asks which slot this process fills (sent once its listener is in place, so the answer is never lost). */
  | { type: 'tidings.worker:hello' }
  /** Listening: the node's id and address. */
  | { type: 'tidings.worker:ready'; node: string; pid: number; host: string; port: number }
  /** A client asked this worker for `/metrics`: the primary answers with every worker's, aggregated. */
  | { type: 'tidings.worker:scrape'; id: number }
  /** This worker's metrics, as `Registry.getMetricsAsJSON()` gives them, one array per registry. */
  | { type: 'tidings.worker:collected'; id: number; metrics: unknown[][] };

/** Primary → worker. */
export type PrimaryMessage =
  /**
   * The slot (1..N, kept across restarts) and whether this process replaces one that died.
   * `ownEngine`: the worker builds its engine from the configuration (`engine.type: redis`)
   * instead of taking the primary's over IPC.
   */
  | { type: 'tidings.worker:slot'; index: number; restart: boolean; ownEngine?: boolean }
  | { type: 'tidings.worker:stop' }
  | { type: 'tidings.worker:reload' }
  | { type: 'tidings.worker:collect'; id: number }
  | { type: 'tidings.worker:scraped'; id: number; text?: string; error?: string };

export function isOwn<M extends { type: string }>(message: unknown): message is M {
  return typeof message === 'object' && message !== null && typeof (message as { type?: unknown }).type === 'string' && (message as { type: string }).type.startsWith(PREFIX);
}

/** `auto`: one worker per core the process may use. */
export function workerCount(setting: number | 'auto', cores: () => number): number {
  return setting === 'auto' ? Math.max(1, cores()) : setting;
}
