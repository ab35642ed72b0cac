/**
 * What the broker's two pub/sub implementations share (`redis-subscriber.ts` on one Redis,
 * `redis-cluster-subscriber.ts` on Redis Cluster): the probe tokens and their timer, fail-fast
 * commands bounded by `commandTimeoutMs`, one repair at a time (again if asked meanwhile),
 * replacing the connection by a `duplicate()` of the command client, and closing.
 */
import { BrokerUnavailableError } from '../broker.js';
import { closeRedis, duplicateClient, type RedisCommandClient } from './redis-connection.js';

export interface SubscriberOptions {
  /** SSUBSCRIBE/SPUBLISH instead of SUBSCRIBE/PUBLISH. */
  sharded: boolean;
  /** This connection's probe channel (a pub/sub name nothing else subscribes to). */
  probeName: string;
  probeIntervalMs: number;
  probeTimeoutMs: number;
  /** Longest wait for Redis to answer a SUBSCRIBE (or the connection to close). */
  commandTimeoutMs: number;
  onError?: (error: Error) => void;
}

export interface SubscriberEvents {
  /** A message on a subscribed pub/sub name (never a probe). */
  message(message: string, name: string): void;
  /** The pub/sub names wanted now. */
  wanted(): Iterable<string>;
  /** Delivery is back after an interruption: compare positions. Throwing leaves the repair for the next probe. */
  restored(): Promise<void>;
}

export type ProbeResult = 'ok' | 'dead' | 'unknown';

/** True if `promise` settles (resolved or rejected) within `ms`; its rejection is swallowed. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export abstract class SubscriberCore<C extends RedisCommandClient> {
  protected connection: C;
  protected readonly listener = (message: string, name: string) => this.receive(message, name);
  private readonly probes = new Map<string, () => void>();
  private probeSeq = 0;
  private readonly timer: NodeJS.Timeout;
  protected ticking = false;
  protected repairing: Promise<void> | undefined;
  private repairAgain = false;
  /** An interruption not yet repaired (a repair failed): retried at the next probe tick. */
  protected needsRepair = false;
  protected closed = false;
  /** Connections replaced because the probe found them dead (or stuck). */
  replacements = 0;

  /** `label` names the connection in errors ('Redis pub/sub', 'Redis Cluster pub/sub'). */
  constructor(
    protected readonly client: C,
    connection: C,
    protected readonly options: SubscriberOptions,
    protected readonly events: SubscriberEvents,
    private readonly label: string,
  ) {
    this.connection = connection;
    this.timer = setInterval(() => void this.tick(), Math.max(10, options.probeIntervalMs));
    this.timer.unref();
  }

  /** True while the pub/sub connection is up (for readiness). */
  get ready(): boolean {
    return this.connection.isReady && !this.closed;
  }

  /** Subscriptions as wanted now (the probe channel included). */
  protected abstract reconcile(): Promise<void>;
  /** One probe tick. */
  protected abstract tick(): Promise<void>;
  /** Listens to a (new) connection's events. */
  protected abstract watch(conn: C): void;
  /** Publishes the probe token: the receivers Redis counted. */
  protected abstract publishProbe(name: string, token: string): Promise<number>;
  /** Whether a probe PUBLISH counting 0 receivers means the subscription is gone. */
  protected abstract readonly zeroReceiversIsDead: boolean;

  /**
   * Publishes a token on the probe channel and waits for it: 'ok' when it came back within
   * `probeTimeoutMs` (then every message Redis sent this connection before it was handled),
   * 'dead' when Redis answered but the token did not come back, 'unknown' when Redis did not answer.
   */
  protected async probeOnce(): Promise<ProbeResult> {
    const token = `${++this.probeSeq}`;
    let arrived!: () => void;
    const back = new Promise<void>((resolve) => (arrived = resolve));
    this.probes.set(token, arrived);
    try {
      let receivers: number;
      try {
        receivers = await this.publishProbe(this.options.probeName, token);
      } catch {
        return 'unknown';
      }
      if (receivers === 0 && this.zeroReceiversIsDead) return 'dead';
      return (await settlesWithin(back, this.options.probeTimeoutMs)) ? 'ok' : 'dead';
    } finally {
      this.probes.delete(token);
    }
  }

  /** Runs one probe tick now (tests; the timer does it every `probeIntervalMs`). */
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

  protected report(error: unknown): void {
    try {
      this.options.onError?.(error instanceof Error ? error : new Error(String(error)));
    } catch {
      // A failing reporter must not break the repair.
    }
  }

  protected async timed<T>(promise: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BrokerUnavailableError(`Redis did not answer ${what} within ${this.options.commandTimeoutMs} ms`)), this.options.commandTimeoutMs);
    });
    try {
      return await Promise.race([promise, timeout]);
    } catch (err) {
      if (err instanceof BrokerUnavailableError) throw err;
      throw new BrokerUnavailableError(`${this.label}: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Subscriptions as wanted, then (after an interruption) the broker's comparison; one at a time, again if asked meanwhile. */
  protected repair(): Promise<void> {
    if (this.repairing) {
      this.repairAgain = true;
      return this.repairing;
    }
    this.repairing = (async () => {
      try {
        do {
          this.repairAgain = false;
          await this.reconcile();
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

  /**
   * A new connection instead of the current one (`reset` clears what the subclass kept of the
   * old one); the new one's ready/connect subscribes everything and repairs.
   */
  protected replaceConnection(message: string, reset: () => void): void {
    this.report(new Error(message));
    const old = this.connection;
    const fresh = duplicateClient(this.client, this.options.onError);
    this.connection = fresh;
    reset();
    this.replacements++;
    this.needsRepair = true;
    this.watch(fresh);
    if (old.isOpen) old.destroy();
    fresh.connect().catch((err: unknown) => {
      if (!this.closed) this.report(err);
    });
  }
}
