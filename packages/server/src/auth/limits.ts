/**
 * Node-wide limits that are not a single connection's business: admission of new
 * connections (per node, open and new per IP) and the namespace publish `rateLimit` per user.
 */
import { ErrorCode } from '@tidings/protocol';
import type { NamespaceConfig, TidingsConfig } from '../config/schema.js';
import type { Rejection } from '../wire/http-responses.js';
import { KeyedRateLimiter } from './rate-limit.js';

export type LimitReporter = (limit: string, details: { user?: string; client?: string; ip?: string }) => void;

/**
 * The outcome of an admission: a rejection, or a slot among the client IP's open
 * connections that the caller gives back with `release` when the connection ends
 * (on every path: refused later, failed, closed). `release` may be called more than once.
 */
export type Admission = { rejection: Rejection; release?: undefined } | { rejection?: undefined; release: () => void };

export class NodeLimits {
  /** New connections per IP (limits.connectionRatePerIp). */
  private readonly ipLimiter: KeyedRateLimiter | undefined;
  /** Open connections per client IP (limits.connectionsPerIp); an IP leaves the map at 0. */
  private readonly openPerIp = new Map<string, number>();
  /** Publishes per user, one limiter per namespace with a `rateLimit`. */
  private readonly publishLimiters = new Map<NamespaceConfig, KeyedRateLimiter>();

  constructor(
    private readonly config: TidingsConfig,
    private readonly report: LimitReporter,
  ) {
    const perIp = config.limits.connectionRatePerIp;
    if (perIp > 0) this.ipLimiter = new KeyedRateLimiter(perIp, perIp * 2);
  }

  /**
   * Admission of a new connection from `ip` while `open` connections exist on this node:
   * `limits.connectionsPerNode`, `limits.connectionsPerIp` (open connections from `ip`,
   * counted from admission until `release`), then `limits.connectionRatePerIp`.
   */
  admit(ip: string, open: number): Admission {
    const { connectionsPerNode: perNode, connectionsPerIp: perIp } = this.config.limits;
    if (perNode > 0 && open >= perNode) {
      this.report('connections_per_node', { ip });
      return { rejection: { status: 503, code: ErrorCode.LimitExceeded, message: `node has ${perNode} connections (limits.connectionsPerNode)`, temporary: true } };
    }
    const held = this.openPerIp.get(ip) ?? 0;
    if (perIp > 0 && held >= perIp) {
      this.report('connections_per_ip', { ip });
      return {
        rejection: { status: 429, code: ErrorCode.LimitExceeded, message: `this address has ${perIp} open connections (limits.connectionsPerIp)`, temporary: true },
      };
    }
    if (this.ipLimiter && !this.ipLimiter.take(ip)) {
      this.report('connection_rate_per_ip', { ip });
      return { rejection: { status: 429, code: ErrorCode.RateLimited, message: 'too many new connections from this address (limits.connectionRatePerIp)', temporary: true } };
    }
    this.openPerIp.set(ip, held + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const n = (this.openPerIp.get(ip) ?? 1) - 1;
        if (n > 0) this.openPerIp.set(ip, n);
        else this.openPerIp.delete(ip);
      },
    };
  }

  /** Open connections counted for `ip` (admitted and not yet released). */
  openFrom(ip: string): number {
    return this.openPerIp.get(ip) ?? 0;
  }

  /** True when `user` may publish once more in the namespace (its `rateLimit`, per user). */
  publishAllowed(namespace: string, ns: NamespaceConfig, user: string): boolean {
    const rl = ns.rateLimit;
    if (!rl) return true;
    let limiter = this.publishLimiters.get(ns);
    if (!limiter) {
      limiter = new KeyedRateLimiter(rl.messages / (rl.intervalMs / 1000), rl.messages);
      this.publishLimiters.set(ns, limiter);
    }
    return limiter.take(`${namespace}\u0000${user}`);
  }

  /** Forgets publish budgets (namespaces were reloaded). */
  resetPublishLimits(): void {
    for (const limiter of this.publishLimiters.values()) limiter.close();
    this.publishLimiters.clear();
  }

  close(): void {
    this.ipLimiter?.close();
    this.resetPublishLimits();
  }
}
