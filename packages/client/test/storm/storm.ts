/**
 * A storm with accounting (issue 20, section 3): `clients` real SDK clients (`@tidings/client`
 * over real sockets, one transport) subscribe with recovery to a fresh channel, each through a
 * fault proxy of its own (test-support/fault-proxy.ts), spread over the deployment's nodes. A
 * publisher publishes `messages` numbered messages through the server API while connections are
 * cut: in each round a few random clients, half of them by the server (`POST
 * /users/:id/disconnect`: force reconnect, 4005) and half by the network (an RST on every TCP
 * connection of the client through its proxy). At the end each client's received sequence is
 * counted against 1..messages (see `Accounting`).
 */
import { Tidings, type Subscription } from '@tidings/client';
import { FaultProxy } from '../../../server/src/test-support/fault-proxy.js';
import { prng } from '../../../protocol/test/prng.js';
import type { Deployment } from './deployments.js';

export type StormTransport = 'websocket' | 'sse' | 'polling';

export interface StormOptions {
  transport: StormTransport;
  clients: number;
  /** Numbered messages published during the storm. */
  messages: number;
  /** Pause between two publications (ms). */
  publishEveryMs: number;
  /** Clients cut per round (at least one), and the pause between rounds (ms). */
  cutsPerRound: number;
  cutEveryMs: number;
  /** Seed of the choice of clients to cut. */
  seed: number;
  /** How long the clients get to catch up after the last publication (ms). */
  settleMs: number;
}

/**
 * What one storm counted, over all its clients:
 * - `lost`: a message (1..messages) a client never had: neither delivered (live or recovered)
 *   nor read from history after it was told of a gap;
 * - `duplicated`: deliveries of a message the client already had delivered;
 * - `outOfOrder`: deliveries of a message lower than one delivered before;
 * - `silentGaps`: messages never delivered that no gap the client was told of covers (a `gap`
 *   event, which comes with `subscribed` `recovered: false`, covers the offsets after its
 *   `from` up to its `to`; a new epoch covers everything); a told gap whose messages the client
 *   then reads from history is counted in `toldGaps` and `refilled`, not here;
 * - `reconnectToRecoveredMs`: for each reconnect of a client, from its `connecting` event with a
 *   close code (the connection was lost) to its subscription's next `subscribed` with
 *   `wasRecovering` (every missed publication delivered, or a gap told).
 */
export interface Accounting {
  transport: StormTransport;
  clients: number;
  messages: number;
  delivered: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  silentGaps: number;
  toldGaps: number;
  refilled: number;
  cutsByServer: number;
  cutsByNetwork: number;
  reconnects: number;
  reconnectToRecoveredMs: number[];
  /** Clients that had not caught up (every message, connected) when the settle time ran out. */
  behind: number;
}

interface Watcher {
  user: string;
  client: Tidings;
  sub: Subscription<{ n: number }>;
  proxy: FaultProxy;
  got: number[];
  told: Array<{ from: number; to: number }>;
  lostAt: number | undefined;
  samples: number[];
  reconnects: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs one storm on `channel` (fresh: its offsets are the message numbers) and counts. */
export async function runStorm(deployment: Deployment, channel: string, options: StormOptions): Promise<Accounting> {
  const watchers: Watcher[] = [];
  try {
    // Connect in batches, as a fleet of browsers coming online would, not all in one tick.
    for (let start = 0; start < options.clients; start += 50) {
      const batch: Watcher[] = [];
      for (let i = start; i < Math.min(options.clients, start + 50); i++) batch.push(await watcher(deployment, channel, options, i));
      watchers.push(...batch);
      await Promise.all(batch.map((w) => w.client.connect()));
      await Promise.all(batch.map((w) => w.sub.ready(20_000)));
    }
    const random = prng(options.seed);
    let published = 0;
    let cutsByServer = 0;
    let cutsByNetwork = 0;
    const publishing = (async () => {
      while (published < options.messages) {
        const res = await deployment.api('POST', '/publish', { channel, data: { n: published + 1 } });
        if (res.status !== 200) throw new Error(`publish ${published + 1}: ${res.status} ${JSON.stringify(res.body)}`);
        published++;
        if (options.publishEveryMs > 0) await sleep(options.publishEveryMs);
      }
    })();
    const cutting = (async () => {
      for (let round = 0; published < options.messages && round < 10_000; round++) {
        for (let k = 0; k < Math.max(1, options.cutsPerRound); k++) {
          const w = watchers[Math.floor(random() * watchers.length)]!;
          if ((round + k) % 2 === 0) {
            const res = await deployment.api('POST', `/users/${w.user}/disconnect`, {});
            if (res.status === 200 && res.body.data.disconnected > 0) cutsByServer++;
          } else if (w.proxy.reset() > 0) cutsByNetwork++;
        }
        await sleep(options.cutEveryMs);
      }
    })();
    await Promise.all([publishing, cutting]);
    // Caught up: connected, subscribed, and the last message delivered or inside a gap it was told of.
    const hasLast = (w: Watcher) => w.got.includes(options.messages) || w.told.some((g) => options.messages > g.from && options.messages <= g.to);
    const caughtUp = (w: Watcher) => hasLast(w) && w.client.state === 'connected' && w.sub.state === 'subscribed';
    const deadline = Date.now() + options.settleMs;
    while (!watchers.every(caughtUp) && Date.now() < deadline) await sleep(20);
    await sleep(100); // a late duplicate is counted too
    const behind = watchers.filter((w) => !caughtUp(w)).length;

    const total: Accounting = {
      transport: options.transport,
      clients: options.clients,
      messages: options.messages,
      delivered: 0,
      lost: 0,
      duplicated: 0,
      outOfOrder: 0,
      silentGaps: 0,
      toldGaps: 0,
      refilled: 0,
      cutsByServer,
      cutsByNetwork,
      reconnects: 0,
      reconnectToRecoveredMs: [],
      behind,
    };
    for (const w of watchers) {
      const delivered = new Set<number>();
      let highest = 0;
      for (const n of w.got) {
        if (delivered.has(n)) total.duplicated++;
        else if (n < highest) total.outOfOrder++;
        delivered.add(n);
        highest = Math.max(highest, n);
      }
      total.delivered += w.got.length;
      total.toldGaps += w.told.length;
      total.reconnects += w.reconnects;
      total.reconnectToRecoveredMs.push(...w.samples);
      const missing: number[] = [];
      for (let n = 1; n <= options.messages; n++) if (!delivered.has(n)) missing.push(n);
      if (missing.length === 0) continue;
      // Told gaps are refilled from history, as an app does on `gap`; anything else is silent.
      const told = (n: number) => w.told.some((g) => n > g.from && n <= g.to);
      const refill = w.told.length > 0 ? await readHistory(w) : new Set<number>();
      for (const n of missing) {
        if (!told(n)) total.silentGaps++;
        if (refill.has(n) && told(n)) total.refilled++;
        else total.lost++;
      }
    }
    return total;
  } finally {
    for (const w of watchers) w.client.disconnect();
    await Promise.all(watchers.map((w) => w.proxy.close()));
  }
}

async function watcher(deployment: Deployment, channel: string, options: StormOptions, i: number): Promise<Watcher> {
  const port = deployment.ports[i % deployment.ports.length]!;
  const proxy = await FaultProxy.start({ port });
  const user = `${channel.replace(/[^a-z0-9]/gi, '-')}-${i}`;
  const client = new Tidings(`ws://127.0.0.1:${proxy.port}/connection/websocket`, {
    token: await deployment.token(user),
    transports: [options.transport],
    minReconnectDelay: 20,
    maxReconnectDelay: 500,
    timeout: 10_000,
  });
  const w: Watcher = { user, client, proxy, sub: client.subscribe<{ n: number }>(channel), got: [], told: [], lostAt: undefined, samples: [], reconnects: 0 };
  w.sub.on('publication', (p) => w.got.push(p.data.n));
  // A gap covers the offsets after `from` up to `to`; a new epoch (or an unknown top) covers everything.
  w.sub.on('gap', (g) => w.told.push({ from: g.to.epoch !== undefined && g.to.epoch !== g.from.epoch ? 0 : g.from.offset, to: g.to.offset ?? Number.MAX_SAFE_INTEGER }));
  client.on('connecting', (ctx) => {
    if (ctx.code === 0) return;
    w.reconnects++;
    w.lostAt ??= performance.now();
  });
  w.sub.on('subscribed', (ctx) => {
    if (!ctx.wasRecovering || w.lostAt === undefined) return;
    w.samples.push(performance.now() - w.lostAt);
    w.lostAt = undefined;
  });
  return w;
}

/** Every message number in the channel's history (the refill after a told gap). */
async function readHistory(w: Watcher): Promise<Set<number>> {
  const out = new Set<number>();
  try {
    let since: { epoch: string; offset: number } | undefined;
    for (let page = 0; page < 100; page++) {
      const result = await w.sub.history({ limit: 1000, ...(since ? { since } : {}) });
      for (const p of result.publications) out.add((p.data as { n: number }).n);
      const last = result.publications.at(-1);
      if (!last || result.publications.length < 1000 || last.offset === undefined) break;
      since = { epoch: result.epoch, offset: last.offset };
    }
  } catch {
    // Not read: the told gap counts as lost.
  }
  return out;
}

/** The p-th percentile (0-100) of `values`, nearest rank; 0 for none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
