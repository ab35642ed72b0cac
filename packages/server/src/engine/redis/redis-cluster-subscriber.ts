/**
 * The Redis broker's pub/sub on Redis Cluster (`engine.cluster`), beside `redis-subscriber.ts`
 * (one Redis). Same duties, on a node-redis cluster client (`createCluster`):
 *
 * - **Routing**: classic pub/sub (SUBSCRIBE) goes to one node of the cluster, which receives
 *   every PUBLISH (Cluster relays them to all nodes); sharded pub/sub (`sharded`, SSUBSCRIBE)
 *   goes to the primary owning each channel's slot (a channel's pub/sub name shares its keys'
 *   hash tag, so the publish script's SPUBLISH runs on that primary). One SSUBSCRIBE per name:
 *   names of different slots cannot share one.
 * - **Fail fast**: subscribing while the cluster client is not ready, or a (S)SUBSCRIBE not
 *   answered within `commandTimeoutMs`, throws `BrokerUnavailableError`.
 * - **Reconnects**: node-redis reconnects a node's pub/sub connection and subscribes again by
 *   itself (following a slot that moved). A node connection that reconnected and is ready again
 *   was interrupted: the subscriptions are reconciled and the broker compares positions
 *   (`restored`, with `probe()` as a barrier).
 * - **Liveness probe**: as on one Redis, a token on this subscriber's probe channel (on the
 *   cluster: routed like a channel's) must come back within `probeTimeoutMs`, else the whole
 *   cluster client is replaced by a new `duplicate()` that subscribes everything again. With
 *   sharded pub/sub the probe checks the connection of its own slot's primary only; the others
 *   are watched by their reconnects.
 */
import { BrokerUnavailableError } from '../broker.js';
import { closeRedis, duplicateClient, isCluster, publishRouted, type RedisCluster, type RedisCommandClient, type RedisClient } from './redis-connection.js';
import { RedisSubscriber, type ProbeResult, type SubscriberEvents, type SubscriberOptions } from './redis-subscriber.js';

/** What the broker uses of its pub/sub connection, on one Redis or on a cluster. */
export interface BrokerPubSub {
  readonly ready: boolean;
  readonly replacements: number;
  subscribe(names: string[]): Promise<void>;
  unsubscribe(names: string[]): Promise<void>;
  probe(): Promise<ProbeResult>;
  check(): Promise<void>;
  close(): Promise<void>;
}

/** The pub/sub of a broker: `RedisSubscriber` on one Redis, `RedisClusterSubscriber` on a cluster. */
export function openBrokerPubSub(client: RedisCommandClient, connection: RedisCommandClient, options: SubscriberOptions, events: SubscriberEvents): BrokerPubSub {
  if (isCluster(client) && isCluster(connection)) return new RedisClusterSubscriber(client, connection, options, events);
  if (isCluster(client) || isCluster(connection)) throw new Error('Redis broker: the command and pub/sub connections must both be cluster clients, or neither');
  return new RedisSubscriber(client as RedisClient, connection as RedisClient, options, events);
}

/** True if `promise` settles within `ms`; its rejection is swallowed. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class RedisClusterSubscriber implements BrokerPubSub {
  private connection: RedisCluster;
  /** Pub/sub names subscribed on the current connection. */
  private held = new Set<string>();
  private readonly listener = (message: string, name: string) => this.receive(message, name);
  private readonly probes = new Map<string, () => void>();
  private probeSeq = 0;
  private readonly timer: NodeJS.Timeout;
  private ticking = false;
  private repairing: Promise<void> | undefined;
  private repairAgain = false;
  private needsRepair = false;
  private connected = false;
  private closed = false;
  replacements = 0;

  constructor(
    private readonly client: RedisCluster,
    connection: RedisCluster,
    private readonly options: SubscriberOptions,
    private readonly events: SubscriberEvents,
  ) {
    this.connection = connection;
    this.watch(connection);
    this.timer = setInterval(() => void this.tick(), Math.max(10, options.probeIntervalMs));
    this.timer.unref();
    if (connection.isReady) this.onConnect();
  }

  get ready(): boolean {
    return this.connection.isReady && !this.closed;
  }

  async subscribe(names: string[]): Promise<void> {
    const conn = this.connection;
    if (!conn.isReady) throw new BrokerUnavailableError('Redis Cluster pub/sub connection is not ready');
    const fresh = names.filter((name) => !this.held.has(name));
    if (fresh.length === 0) return;
    if (this.options.sharded) await this.timed(Promise.all(fresh.map((name) => conn.sSubscribe(name, this.listener))), 'SSUBSCRIBE');
    else await this.timed(conn.subscribe(fresh, this.listener), 'SUBSCRIBE');
    if (conn === this.connection) for (const name of fresh) this.held.add(name);
  }

  async unsubscribe(names: string[]): Promise<void> {
    const conn = this.connection;
    const gone = names.filter((name) => this.held.delete(name));
    if (gone.length === 0 || !conn.isReady || this.closed) return;
    if (this.options.sharded) await this.timed(Promise.all(gone.map((name) => conn.sUnsubscribe(name))), 'SUNSUBSCRIBE');
    else await this.timed(conn.unsubscribe(gone), 'UNSUBSCRIBE');
  }

  async probe(): Promise<ProbeResult> {
    if (!this.connection.isReady || !this.held.has(this.options.probeName)) return 'dead';
    const token = `${++this.probeSeq}`;
    let arrived!: () => void;
    const back = new Promise<void>((resolve) => (arrived = resolve));
    this.probes.set(token, arrived);
    try {
      let receivers: number;
      try {
        const name = this.options.probeName;
        receivers = Number(this.options.sharded ? await this.client.sPublish(name, token) : await publishRouted(this.client, name, token, name));
      } catch {
        return 'unknown';
      }
      // A classic PUBLISH counts the receivers of the node it ran on only: no verdict from 0.
      if (receivers === 0 && this.options.sharded) return 'dead';
      return (await settlesWithin(back, this.options.probeTimeoutMs)) ? 'ok' : 'dead';
    } finally {
      this.probes.delete(token);
    }
  }

  async check(): Promise<void> {
    await this.tick();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.probes.clear();
    const conn = this.connection;
    if (!conn.isReady || !(await settlesWithin(closeRedis(conn), this.options.commandTimeoutMs))) {
      if (conn.isOpen) conn.destroy();
    }
  }

  private receive(message: string, name: string): void {
    if (name === this.options.probeName) {
      this.probes.get(message)?.();
      return;
    }
    this.events.message(message, name);
  }

  private watch(conn: RedisCluster): void {
    conn.on('connect', () => {
      if (conn === this.connection && !this.closed) this.onConnect();
    });
    // A node connection that reconnects was interrupted: repair once it is ready again. (A node
    // connection opened for the first time, e.g. for a shard's first SSUBSCRIBE, missed nothing.)
    let interrupted = false;
    conn.on('node-reconnecting', () => (interrupted = true));
    conn.on('node-ready', () => {
      if (conn !== this.connection || this.closed || !this.connected || !interrupted) return;
      interrupted = false;
      this.needsRepair = true;
      void this.repair();
    });
  }

  private onConnect(): void {
    if (this.connected) return;
    this.connected = true;
    void this.repair();
  }

  private report(error: unknown): void {
    try {
      this.options.onError?.(error instanceof Error ? error : new Error(String(error)));
    } catch {
      // A failing reporter must not break the repair.
    }
  }

  private async timed<T>(promise: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BrokerUnavailableError(`Redis did not answer ${what} within ${this.options.commandTimeoutMs} ms`)), this.options.commandTimeoutMs);
    });
    try {
      return await Promise.race([promise, timeout]);
    } catch (err) {
      if (err instanceof BrokerUnavailableError) throw err;
      throw new BrokerUnavailableError(`Redis Cluster pub/sub: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  /** The pub/sub names wanted now, the probe channel included. */
  private wanted(): Set<string> {
    const want = new Set(this.events.wanted());
    want.add(this.options.probeName);
    return want;
  }

  /** Subscriptions as wanted, then (after an interruption) the broker's comparison; one at a time. */
  private repair(): Promise<void> {
    if (this.repairing) {
      this.repairAgain = true;
      return this.repairing;
    }
    this.repairing = (async () => {
      try {
        do {
          this.repairAgain = false;
          await this.subscribe([...this.wanted()]);
          // Wanted now, not before the await: a channel subscribed meanwhile is not extra.
          const want = this.wanted();
          const extra = [...this.held].filter((name) => !want.has(name));
          if (extra.length > 0) await this.unsubscribe(extra);
          if (this.needsRepair) await this.events.restored();
        } while (this.repairAgain && !this.closed);
        this.needsRepair = false;
      } catch (err) {
        this.report(err);
      } finally {
        this.repairing = undefined;
      }
    })();
    return this.repairing;
  }

  private async tick(): Promise<void> {
    if (this.closed || this.ticking || this.repairing) return;
    this.ticking = true;
    try {
      if (!this.connection.isReady) return;
      if (this.needsRepair || !this.held.has(this.options.probeName)) {
        await this.repair();
        return;
      }
      if ((await this.probe()) === 'dead' && !this.closed) this.replace();
    } catch (err) {
      this.report(err);
    } finally {
      this.ticking = false;
    }
  }

  /** A new cluster client instead of the current one; its connect subscribes everything and repairs. */
  private replace(): void {
    this.report(new Error('Redis Cluster pub/sub probe did not come back: replaced by a new connection'));
    const old = this.connection;
    const fresh = duplicateClient(this.client, this.options.onError);
    this.connection = fresh;
    this.held = new Set();
    this.connected = false;
    this.replacements++;
    this.needsRepair = true;
    this.watch(fresh);
    if (old.isOpen) old.destroy();
    fresh.connect().catch((err: unknown) => {
      if (!this.closed) this.report(err);
    });
  }
}
