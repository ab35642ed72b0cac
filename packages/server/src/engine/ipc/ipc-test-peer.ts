/**
 * The process at the other end of the IPC engine's tests (engine/ipc/*.test.ts fork its built
 * file, dist/engine/ipc/ipc-test-peer.js). Not used by the server itself.
 *
 * - `host`: serves engine nodes and stores over its IPC channel to the parent. A node's
 *   options `{ cluster, ...MemoryClusterOptions }` pick a MemoryCluster by name (created with
 *   those options by its first node, closed with its last), so two nodes of one name share
 *   state like two workers of one primary. Stores options `{ path, retention }` open SQLite.
 * - `worker`: opens one engine node on the parent's host, starts its bus as `worker`,
 *   subscribes to `argv[3]`, takes a limit slot of `argv[4]`, then tells the parent (a plain
 *   `{ ready: true }` message) and waits to be killed.
 * - `echo`: answers every envelope of the link with the number of messages it carried.
 * - `stall`: opens one engine node on the parent's host and subscribes to `argv[3]`, counting
 *   what arrives; a plain `{ stall: ms }` message blocks its event loop for `ms` (it reads
 *   nothing meanwhile) after answering `{ stalled: true }`; `{ count: true }` answers
 *   `{ received, last }` (the publications so far and the last one's data as its JSON text).
 */
import { ENCODED_DATA, type EncodedPublication } from '../broker.js';
import { MemoryCluster, type MemoryClusterOptions } from '../memory/memory-cluster.js';
import { openSqliteStores } from '../../store/sqlite/sqlite-stores.js';
import { sqliteStoresOptions, type StoreRetention } from '../../store/store-retention.js';
import { serveEngine } from './engine-host.js';
import { ipcEngine } from './ipc-engine.js';
import { serveStores } from './ipc-stores.js';
import { processLink } from './link.js';

function host(): void {
  const link = processLink(process);
  const clusters = new Map<string, { cluster: MemoryCluster; nodes: number }>();
  serveEngine(link, ({ options }) => {
    const { cluster: name, ...clusterOptions } = options as { cluster: string } & MemoryClusterOptions;
    let entry = clusters.get(name);
    if (!entry) clusters.set(name, (entry = { cluster: new MemoryCluster(clusterOptions), nodes: 0 }));
    const held = entry;
    held.nodes++;
    const node = held.cluster.node();
    let closed = false;
    return {
      ...node,
      async close() {
        if (closed) return;
        closed = true;
        await node.close();
        if (--held.nodes === 0) {
          clusters.delete(name);
          await held.cluster.close();
        }
      },
    };
  });
  serveStores(link, ({ options }) => {
    const { path, retention } = options as { path: string; retention: StoreRetention };
    const s = openSqliteStores(sqliteStoresOptions(path, retention));
    return { notifications: s.notifications, activity: s.activity, audit: s.audit, userChannels: s.userChannels, readReceipts: s.readReceipts, webhooks: s.webhooks, close: () => s.database.close() };
  });
  process.send!({ ready: true });
}

async function worker(channel: string, limitKey: string): Promise<void> {
  const engine = ipcEngine(processLink(process));
  engine.broker.setHandler({ onPublication: () => {}, onControl: () => {} });
  await engine.bus.start('worker', { onMessage: () => 'worker' });
  await engine.broker.subscribe([channel]);
  await engine.limits.acquire(limitKey, 'worker-connection', 10);
  process.send!({ ready: true });
}

async function stall(channel: string): Promise<void> {
  const engine = ipcEngine(processLink(process));
  let received = 0;
  let last: string | undefined;
  engine.broker.setHandler({
    onPublication: (_channel, pub) => {
      received++;
      last = (pub as EncodedPublication)[ENCODED_DATA];
    },
    onControl: () => {},
  });
  await engine.broker.subscribe([channel]);
  process.on('message', (m: { stall?: number; count?: boolean }) => {
    if (typeof m?.stall === 'number') {
      const ms = m.stall;
      process.send!({ stalled: true }, () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms));
    } else if (m?.count) process.send!({ received, last });
  });
  process.send!({ ready: true });
}

function echo(): void {
  process.on('message', (raw: { tidings?: string; b?: unknown[] }) => {
    if (raw?.tidings === 'tidings.engine' && Array.isArray(raw.b)) process.send!({ batch: raw.b.length });
  });
  process.send!({ ready: true });
}

const [mode, a = '', b = ''] = process.argv.slice(2);
if (mode === 'host') host();
else if (mode === 'worker') void worker(a, b);
else if (mode === 'echo') echo();
else if (mode === 'stall') void stall(a);
else throw new Error(`ipc-test-peer: unknown mode ${String(mode)}`);
