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
import { isCluster, publishRouted, type RedisCluster, type RedisCommandClient, type RedisClient } from './redis-connection.js';
import { SubscriberCore } from './redis-subscriber-core.js';
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

export class RedisClusterSubscriber extends SubscriberCore<RedisCluster> implements BrokerPubSub {
  /** Pub/sub names subscribed on the current connection. */
  private held = new Set<string>();
  private connected = false;
  /** A classic PUBLISH counts the receivers of the node it ran on only: no verdict from 0. */
  protected readonly zeroReceiversIsDead: boolean;

  constructor(client: RedisCluster, connection: RedisCluster, options: SubscriberOptions, events: SubscriberEvents) {
    super(client, connection, options, events, 'Redis Cluster pub/sub');
    this.zeroReceiversIsDead = options.sharded;
    this.watch(connection);
    if (connection.isReady) this.onConnect();
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
    return this.probeOnce();
  }

  protected async publishProbe(name: string, token: string): Promise<number> {
    return Number(this.options.sharded ? await this.client.sPublish(name, token) : await publishRouted(this.client, name, token, name));
  }

  protected watch(conn: RedisCluster): void {
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

  /** The pub/sub names wanted now, the probe channel included. */
  private wanted(): Set<string> {
    const want = new Set(this.events.wanted());
    want.add(this.options.probeName);
    return want;
  }

  protected async reconcile(): Promise<void> {
    await this.subscribe([...this.wanted()]);
    // Wanted now, not before the await: a channel subscribed meanwhile is not extra.
    const want = this.wanted();
    const extra = [...this.held].filter((name) => !want.has(name));
    if (extra.length > 0) await this.unsubscribe(extra);
  }

  protected async tick(): Promise<void> {
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
    this.replaceConnection('Redis Cluster pub/sub probe did not come back: replaced by a new connection', () => {
      this.held = new Set();
      this.connected = false;
    });
  }
}
