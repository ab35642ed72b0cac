/**
 * Node-wide limits that are not a single connection's business: admission of new
 * connections (per node, per IP) and the namespace publish `rateLimit` per user.
 */
import { ErrorCode } from '@tidings/protocol';
import type { NamespaceConfig, TidingsConfig } from '../config/schema.js';
import { KeyedRateLimiter } from './rate-limit.js';

export type LimitReporter = (limit: string, details: { user?: string; client?: string; ip?: string }) => void;

export interface AdmissionRejection {
  status: number;
  code: string;
  message: string;
  temporary: boolean;
}

export class NodeLimits {
  /** New connections per IP (limits.connectionRatePerIp). */
  private readonly ipLimiter: KeyedRateLimiter | undefined;
  /** Publishes per user, one limiter per namespace with a `rateLimit`. */
  private readonly publishLimiters = new Map<NamespaceConfig, KeyedRateLimiter>();

  constructor(
    private readonly config: TidingsConfig,
    private readonly report: LimitReporter,
  ) {
    const perIp = config.limits.connectionRatePerIp;
    if (perIp > 0) this.ipLimiter = new KeyedRateLimiter(perIp, perIp * 2);
  }

  /** Admission of a new connection from `ip` while `open` connections exist on this node. */
  admit(ip: string, open: number): AdmissionRejection | undefined {
    const perNode = this.config.limits.connectionsPerNode;
    if (perNode > 0 && open >= perNode) {
      this.report('connections_per_node', { ip });
      return { status: 503, code: ErrorCode.LimitExceeded, message: `node has ${perNode} connections (limits.connectionsPerNode)`, temporary: true };
    }
    if (this.ipLimiter && !this.ipLimiter.take(ip)) {
      this.report('connection_rate_per_ip', { ip });
      return { status: 429, code: ErrorCode.RateLimited, message: 'too many new connections from this address (limits.connectionRatePerIp)', temporary: true };
    }
    return undefined;
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
