/**
 * Node-wide limits that are not a single connection's business: admission of new
 * connections (per node, open and new per IP) and the namespace publish `rateLimit` per user.
 *
 * `limits.connectionsPerNode` is this node's own count. The others hold across every node of
 * the deployment: they are kept in the engine's SharedLimits (open connections per IP as slots,
 * new connections per IP and publishes per user as shared token buckets), so admission and the
 * publish check are asynchronous.
 */
import { randomBytes } from 'node:crypto';
import { ErrorCode } from '@tidings/protocol';
import type { NamespaceConfig, TidingsConfig } from '../config/schema.js';
import type { SharedLimits } from '../engine/shared-limits.js';
import { TidingsError } from '../errors.js';
import type { Rejection } from '../wire/http-responses.js';

export type LimitReporter = (limit: string, details: { user?: string; client?: string; ip?: string }) => void;

/**
 * The outcome of an admission: a rejection, or a slot among the client IP's open
 * connections that the caller gives back with `release` when the connection ends
 * (on every path: refused later, failed, closed). `release` may be called more than once.
 */
export type Admission = { rejection: Rejection; release?: undefined } | { rejection?: undefined; release: () => void };

/** The release of an admission that holds no slot (`limits.connectionsPerIp` 0): one function for all, no closure per connection. */
const NOTHING_HELD = (): void => {};

/** Gives the slot back once, however often it is called. */
function releaseOnce(shared: SharedLimits, key: string, holder: string): () => void {
  let released = false;
  return () => {
    if (released) return;
    released = true;
    // A failed release (the shared limits are gone) has nothing left to free.
    shared.release(key, holder).catch(() => {});
  };
}

const UNAVAILABLE: Rejection = { status: 503, code: ErrorCode.Unavailable, message: 'connection limits are not answering; try again', temporary: true };

export class NodeLimits {
  /** Names this node's slots apart from other nodes' (holders are unique across the deployment). */
  private readonly holderPrefix = randomBytes(9).toString('base64url');
  private seq = 0;

  /**
   * `admitTimeoutMs`: how long an admission waits for the shared limits before it is refused
   * with 503 (the socket waits meanwhile, unread); default `client.connectTimeout`.
   */
  constructor(
    private readonly config: TidingsConfig,
    private readonly report: LimitReporter,
    /** The engine's SharedLimits (the dashboard's sign-in throttle and one-time codes are kept there too). */
    readonly shared: SharedLimits,
    private readonly admitTimeoutMs = config.client.connectTimeout,
  ) {}

  /**
   * Admission of a new connection from `ip` while `open` connections exist on this node:
   * `limits.connectionsPerNode`, `limits.connectionsPerIp` (open connections from `ip` on all
   * nodes, counted from admission until `release`), then `limits.connectionRatePerIp`. Never
   * rejects: a failing or silent SharedLimits refuses the connection with 503 `unavailable`.
   */
  async admit(ip: string, open: number): Promise<Admission> {
    const { connectionsPerNode: perNode } = this.config.limits;
    if (perNode > 0 && open >= perNode) {
      this.report('connections_per_node', { ip });
      return { rejection: { status: 503, code: ErrorCode.LimitExceeded, message: `node has ${perNode} connections (limits.connectionsPerNode)`, temporary: true } };
    }
    const holder = `${this.holderPrefix}.${++this.seq}`;
    let timedOut = false;
    const checked = this.checkShared(ip, holder);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<Admission>((resolve) => {
      timer = setTimeout(() => {
        timedOut = true;
        resolve({ rejection: UNAVAILABLE });
      }, this.admitTimeoutMs);
      timer.unref();
    });
    // An answer after the timeout: the connection was refused meanwhile, so its slot goes back.
    void checked.then((a) => {
      if (timedOut) a.release?.();
    });
    try {
      return await Promise.race([checked, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async checkShared(ip: string, holder: string): Promise<Admission> {
    const { connectionsPerIp: perIp, connectionRatePerIp: rate } = this.config.limits;
    const key = `conn-ip\u0000${ip}`;
    try {
      if (perIp > 0 && !(await this.shared.acquire(key, holder, perIp))) {
        this.report('connections_per_ip', { ip });
        return {
          rejection: { status: 429, code: ErrorCode.LimitExceeded, message: `this address has ${perIp} open connections (limits.connectionsPerIp)`, temporary: true },
        };
      }
    } catch {
      return { rejection: UNAVAILABLE };
    }
    const release = perIp === 0 ? NOTHING_HELD : releaseOnce(this.shared, key, holder);
    try {
      if (rate > 0 && !(await this.shared.take(`conn-rate\u0000${ip}`, rate, rate * 2))) {
        release();
        this.report('connection_rate_per_ip', { ip });
        return { rejection: { status: 429, code: ErrorCode.RateLimited, message: 'too many new connections from this address (limits.connectionRatePerIp)', temporary: true } };
      }
    } catch {
      release();
      return { rejection: UNAVAILABLE };
    }
    return { release };
  }

  /** Open connections counted for `ip` on all nodes (admitted and not yet released). */
  openFrom(ip: string): Promise<number> {
    return this.shared.held(`conn-ip\u0000${ip}`);
  }

  /**
   * True when `user` may publish once more in the namespace (its `rateLimit`, per user, on all
   * nodes). The bucket's key names the rate, so a reload that changes it starts a fresh budget.
   * Throws `unavailable` (temporary) when the shared limits cannot answer.
   */
  async publishAllowed(namespace: string, ns: NamespaceConfig, user: string): Promise<boolean> {
    const rl = ns.rateLimit;
    if (!rl) return true;
    const key = `publish\u0000${namespace}\u0000${rl.messages}/${rl.intervalMs}\u0000${user}`;
    try {
      return await this.shared.take(key, rl.messages / (rl.intervalMs / 1000), rl.messages);
    } catch {
      throw new TidingsError(ErrorCode.Unavailable, 'publish rate limits are not answering; try again', { temporary: true });
    }
  }
}
