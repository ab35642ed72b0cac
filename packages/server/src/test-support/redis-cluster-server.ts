/**
 * A real Redis Cluster for tests: three `redis-server` primaries (`cluster-enabled yes`), each
 * started by `startRedis` (own temp dir, free loopback port) with its cluster bus on another free
 * port (`cluster-port`, Redis 7), the 16384 slots split in three ranges (CLUSTER ADDSLOTSRANGE),
 * the nodes introduced to each other (CLUSTER MEET), ready once every node says `cluster_state:ok`
 * and knows all three. Stopped by PID like `startRedis`. `redisMissing()` applies as well.
 */
import { createClient } from 'redis';
import { freePort } from './binaries.js';
import { startRedis, type RedisServer } from './redis-server.js';

export interface RedisClusterServer {
  /** The primaries, slots 0-5460, 5461-10922, 10923-16383. */
  readonly nodes: readonly RedisServer[];
  /** Their URLs (seed nodes for `engine.cluster`). */
  readonly urls: readonly string[];
  /** The slot a key (or pub/sub name) hashes to, as the cluster computes it (CLUSTER KEYSLOT). */
  keySlot(key: string): Promise<number>;
  /** Which node (index into `nodes`) serves `slot`. */
  nodeOfSlot(slot: number): number;
  /** Stops every node and removes their temp dirs. */
  close(): Promise<void>;
}

const RANGES: ReadonlyArray<readonly [number, number]> = [
  [0, 5460],
  [5461, 10922],
  [10923, 16383],
];

type Admin = ReturnType<typeof createClient>;

async function admin(url: string): Promise<Admin> {
  const client = createClient({ url, socket: { reconnectStrategy: false } });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** True once a PUBLISH on each node reaches a subscriber on every node within a short wait (the cluster bus relays it). */
async function relaysPubSub(urls: readonly string[]): Promise<boolean> {
  const channel = `relay-check-${Math.random().toString(36).slice(2)}`;
  const subscribers = await Promise.all(urls.map((url) => admin(url)));
  try {
    const seen = urls.map(() => new Set<string>());
    await Promise.all(subscribers.map((s, i) => s.subscribe(channel, (message) => void seen[i]!.add(message))));
    const sent: string[] = [];
    for (const url of urls) {
      const from = await admin(url);
      try {
        sent.push(url);
        await from.publish(channel, url);
      } finally {
        await from.close();
      }
    }
    const deadline = Date.now() + 500;
    while (Date.now() < deadline) {
      if (seen.every((got) => sent.every((m) => got.has(m)))) return true;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return false;
  } finally {
    await Promise.allSettled(subscribers.map((c) => c.close()));
  }
}

/** Starts three primaries and forms a cluster of them; rejects if it is not `ok` within `timeoutMs`. */
export async function startRedisCluster(options: { timeoutMs?: number } = {}): Promise<RedisClusterServer> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const nodes: RedisServer[] = [];
  const busPorts: number[] = [];
  const clients: Admin[] = [];
  const stopAll = async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await Promise.allSettled(nodes.map((n) => n.close()));
  };
  try {
    for (let i = 0; i < RANGES.length; i++) {
      const busPort = await freePort();
      busPorts.push(busPort);
      nodes.push(
        await startRedis({
          args: ['--cluster-enabled', 'yes', '--cluster-port', String(busPort), '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '3000'],
        }),
      );
    }
    for (const node of nodes) clients.push(await admin(node.url));
    await Promise.all(clients.map((c, i) => c.sendCommand(['CLUSTER', 'ADDSLOTSRANGE', String(RANGES[i]![0]), String(RANGES[i]![1])])));
    for (let i = 1; i < nodes.length; i++) {
      await clients[0]!.sendCommand(['CLUSTER', 'MEET', '127.0.0.1', String(nodes[i]!.port), String(busPorts[i])]);
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const infos = await Promise.all(clients.map((c) => c.sendCommand(['CLUSTER', 'INFO']).then(String)));
      const links = await Promise.all(clients.map((c) => c.sendCommand(['CLUSTER', 'NODES']).then(String)));
      const ok = infos.every((info) => /cluster_state:ok/.test(info) && /cluster_known_nodes:3\b/.test(info) && /cluster_slots_ok:16384\b/.test(info));
      // Every node's links to the others up (a PUBLISH is relayed over them): no handshake, all connected.
      const linked = links.every((text) => text.trim().split('\n').every((line) => !/handshake|fail|noaddr/.test(line) && / connected\b/.test(line)));
      if (ok && linked && (await relaysPubSub(nodes.map((n) => n.url)))) break;
      if (Date.now() > deadline) throw new Error(`Redis Cluster not ok within ${timeoutMs} ms:\n${infos.join('\n---\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  return {
    nodes,
    urls: nodes.map((n) => n.url),
    keySlot: async (key) => Number(await clients[0]!.sendCommand(['CLUSTER', 'KEYSLOT', key])),
    nodeOfSlot: (slot) => RANGES.findIndex(([from, to]) => slot >= from && slot <= to),
    close: stopAll,
  };
}
