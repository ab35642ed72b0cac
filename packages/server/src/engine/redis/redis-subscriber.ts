/**
 * The Redis broker's pub/sub connection, kept honest (issue 14, failure semantics).
 *
 * - **Fail fast**: subscribing while the connection is not ready throws `BrokerUnavailableError`
 *   at once; a SUBSCRIBE that Redis does not answer within `commandTimeoutMs` (a paused or
 *   unreachable Redis) rejects with it too. Nothing waits in a queue.
 * - **Reconnects**: node-redis reconnects by itself and SUBSCRIBEs again to what its listeners
 *   hold before it reports `ready`. On every `ready` this class *repairs*: it reconciles the
 *   subscriptions with what the broker wants (subscribes what is missing, e.g. a SUBSCRIBE that
 *   timed out; unsubscribes what is no longer wanted) and then asks the broker to compare
 *   positions (`restored`), which uses `probe()` as a barrier.
 * - **Liveness probe**: a connection can be dead without noticing (a half-open TCP connection,
 *   Redis dropping the subscription): every `probeIntervalMs` a token is PUBLISHed on this
 *   connection's own probe channel. It must come back within `probeTimeoutMs`; PUBLISH answering
 *   0 receivers means Redis no longer holds the subscription. Either way the connection is
 *   replaced by a new one (a `duplicate()` of the command client), which subscribes to
 *   everything again and repairs. So a dead subscriber is found within `probeIntervalMs +
 *   probeTimeoutMs` of dying. A PUBLISH that fails is no verdict on this connection (Redis
 *   itself does not answer: publishes fail meanwhile, and delivery resumes when it does).
 *   A connection that stays not ready (its reconnect hangs) while the command connection works
 *   is replaced after the same bound.
 */
import { ErrorReply } from 'redis';
import { BrokerUnavailableError, HistoryBudgetError } from '../broker.js';
import type { RedisClient } from './redis-connection.js';
import { SubscriberCore, type ProbeResult, type SubscriberEvents, type SubscriberOptions } from './redis-subscriber-core.js';

export type { ProbeResult, SubscriberEvents, SubscriberOptions } from './redis-subscriber-core.js';

/** Redis replies that mean "not now" rather than "wrong". */
const TEMPORARY_REPLY = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY)\b/;

/** A connection failure or timeout becomes `BrokerUnavailableError`; Redis's own answers (script errors) stay as they are. */
export function unavailable(err: unknown): unknown {
  if (err instanceof BrokerUnavailableError || err instanceof HistoryBudgetError) return err;
  if (err instanceof ErrorReply && !TEMPORARY_REPLY.test(err.message)) return err;
  return new BrokerUnavailableError(`Redis is not answering: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
/** Names per SUBSCRIBE command when many are subscribed at once. */
const SUBSCRIBE_CHUNK = 1000;

export class RedisSubscriber extends SubscriberCore<RedisClient> {
  /** Whether a pub/sub connection of this subscriber was ever ready: any later `ready` follows an interruption. */
  private wasReady = false;
  private notReadySince: number | undefined;
  protected readonly zeroReceiversIsDead = true;

  /**
   * `client` is the command connection (probes are published on it; a replacement is its
   * `duplicate()`), `connection` the pub/sub connection to start with (connected or connecting).
   */
  constructor(client: RedisClient, connection: RedisClient, options: SubscriberOptions, events: SubscriberEvents) {
    super(client, connection, options, events, 'Redis pub/sub');
    this.watch(connection);
    // Connected already: subscribe the probe channel now (a later `ready` follows an interruption).
    if (connection.isReady) this.onReady();
  }

  async subscribe(names: string[]): Promise<void> {
    const conn = this.connection;
    if (!conn.isReady) throw new BrokerUnavailableError('Redis pub/sub connection is not ready');
    for (let i = 0; i < names.length; i += SUBSCRIBE_CHUNK) {
      const chunk = names.slice(i, i + SUBSCRIBE_CHUNK);
      await this.timed(this.options.sharded ? conn.sSubscribe(chunk, this.listener) : conn.subscribe(chunk, this.listener), 'SUBSCRIBE');
    }
  }

  /** Unsubscribes; while the connection is down the next repair drops them instead. */
  async unsubscribe(names: string[]): Promise<void> {
    const conn = this.connection;
    if (!conn.isReady || this.closed) return;
    await this.timed(this.options.sharded ? conn.sUnsubscribe(names, this.listener) : conn.unsubscribe(names, this.listener), 'UNSUBSCRIBE');
  }

  /**
   * Publishes a token on the probe channel and waits for it: 'ok' when it came back within
   * `probeTimeoutMs` (then every message Redis sent this connection before it was handled),
   * 'dead' when Redis answered but the token did not come back, 'unknown' when Redis did not answer.
   */
  async probe(): Promise<ProbeResult> {
    if (!this.connection.isReady) return 'dead';
    return this.probeOnce();
  }

  protected async publishProbe(name: string, token: string): Promise<number> {
    return Number(this.options.sharded ? await this.client.sPublish(name, token) : await this.client.publish(name, token));
  }

  protected watch(conn: RedisClient): void {
    conn.on('ready', () => {
      if (conn === this.connection && !this.closed) this.onReady();
    });
  }

  /** The first ready only subscribes (nothing was missed); every later one repairs. */
  private onReady(): void {
    if (this.wasReady) this.needsRepair = true;
    this.wasReady = true;
    void this.repair();
  }

  /** Subscribes what is wanted but not held (the probe channel included) and drops what is held but no longer wanted. */
  protected async reconcile(): Promise<void> {
    const conn = this.connection;
    const want = new Set(this.events.wanted());
    want.add(this.options.probeName);
    const held = conn.getPubSubListeners(this.options.sharded ? 'SHARDED' : 'CHANNELS');
    const missing = [...want].filter((name) => !held.has(name));
    const extra = [...held.keys()].filter((name) => !want.has(name));
    await this.subscribe(missing);
    if (extra.length > 0) await this.unsubscribe(extra);
  }

  protected async tick(): Promise<void> {
    if (this.closed || this.ticking || this.repairing) return;
    this.ticking = true;
    try {
      if (!this.connection.isReady) {
        // node-redis is reconnecting; replaced only if that hangs while Redis answers the command connection.
        const now = Date.now();
        this.notReadySince ??= now;
        if (this.client.isReady && now - this.notReadySince > this.options.probeIntervalMs + this.options.probeTimeoutMs) this.replace('did not reconnect');
        return;
      }
      this.notReadySince = undefined;
      if (this.needsRepair) {
        await this.repair();
        return;
      }
      if ((await this.probe()) === 'dead' && !this.closed) this.replace('probe did not come back');
    } catch (err) {
      this.report(err);
    } finally {
      this.ticking = false;
    }
  }

  /** A new pub/sub connection instead of the current one; its `ready` subscribes everything and repairs. */
  private replace(why: string): void {
    this.replaceConnection(`Redis pub/sub connection ${why}: replaced by a new connection`, () => (this.notReadySince = undefined));
  }
}
