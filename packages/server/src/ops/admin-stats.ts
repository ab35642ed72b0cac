/**
 * Live node statistics for the admin dashboard, delivered through Tidings itself:
 * once per interval, while anyone on any node is subscribed to `tidings-admin:stats`, every
 * node publishes its own snapshot there (tagged with its node id), straight to the broker;
 * the dashboard sums the latest snapshot of each node. A node with watchers tells every node
 * so over the NodeBus each interval (`admin-stats.watch`); a node told so keeps publishing
 * for three intervals after the last word. Only the dashboard's own
 * connections (role `tidings-admin`, in tokens this node signs) may subscribe, with a
 * plain subscribe; the namespace is reserved against every other path (see
 * auth/channel-policy.ts and config/schema.ts).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { DASHBOARD_NAMESPACE } from '../auth/channel-policy.js';
import { DASHBOARD_ROLE } from '../auth/dashboard-sessions.js';

export const ADMIN_NAMESPACE = DASHBOARD_NAMESPACE;
export const ADMIN_STATS_CHANNEL = `${ADMIN_NAMESPACE}:stats`;
/** The bus message a node with watchers sends every node each interval. */
export const ADMIN_STATS_WATCH = 'admin-stats.watch';
/** A node told that someone watches keeps publishing for this many intervals. */
const WATCH_INTERVALS = 3;

/** What the stats need of the node's cluster membership (cluster/nodes.ts's ClusterNodes is one). */
export interface AdminStatsCluster {
  router: { handle(type: string, fn: (message: { type: string }, from: string) => unknown): unknown };
  askAll(message: { type: string }): Promise<Array<{ node: string; value: unknown }>>;
}

/** One snapshot, as published. Rates are per second over the last interval. */
export interface AdminStatsSnapshot {
  time: number;
  node: string;
  version: string;
  uptimeSeconds: number;
  memory: { rss: number; heapUsed: number };
  /** Open dashboards (their connections are not counted in the figures below). */
  dashboards: number;
  connections: number;
  users: number;
  subscriptions: number;
  channels: number;
  publicationsInPerSecond: number;
  publicationsOutPerSecond: number;
  errorsPerSecond: Record<string, number>;
  disconnectsPerSecond: Record<string, number>;
  eventLoopLagMs: { mean: number; p99: number };
}

export interface AdminStatsDeps {
  node: string;
  version: string;
  intervalMs: number;
  /** Subscribers of the stats channel on this node: publishing stops when there are none. */
  watchers(): number;
  gauges(): { connections: number; users: number; subscriptions: number; channels: number };
  /** What the dashboards' own connections add to the gauges, taken off so the figures show the apps' traffic. */
  dashboardShare(): { connections: number; users: number; subscriptions: number };
  /** Running totals; the snapshot reports their rate. */
  totals(): { publicationsIn: number; publicationsOut: number; errors: ReadonlyMap<string, number>; disconnects: ReadonlyMap<string, number> };
  publish(channel: string, data: AdminStatsSnapshot): Promise<unknown>;
  /** Tells every node (this one included) that this node has watchers; resolves with how many nodes answered (they publish too). */
  announce(): Promise<number>;
}

export class AdminStats {
  private readonly timer: NodeJS.Timeout;
  private readonly lag = monitorEventLoopDelay({ resolution: 10 });
  private last: { at: number; totals: ReturnType<AdminStatsDeps['totals']> };
  private readonly started = Date.now();
  /** Deliveries of the stats publications themselves, taken off `publicationsOut`. */
  private ownDeliveries = 0;
  /** Nodes publishing stats (each delivers its snapshot to this node's watchers every interval): the last announce's answers. */
  private publishers = 1;
  /** Until when (Date.now()) another node's watchers want this node's snapshots. */
  private watchedUntil = 0;

  constructor(private readonly deps: AdminStatsDeps) {
    this.lag.enable();
    this.last = { at: performance.now(), totals: this.copy(deps.totals()) };
    this.timer = setInterval(() => this.tick(), deps.intervalMs);
    this.timer.unref();
  }

  /** The snapshot of the time since the last one (also what `tick` publishes). */
  snapshot(): AdminStatsSnapshot {
    const now = performance.now();
    const seconds = Math.max(0.001, (now - this.last.at) / 1000);
    const totals = this.copy(this.deps.totals());
    // Other nodes' snapshots reach the watchers here at their own pace, not exactly one per
    // interval: a window that took off more of them than arrived shows 0 and the rest of the
    // difference comes off the next one (deliveries never run backwards).
    totals.publicationsOut = Math.max(totals.publicationsOut, this.last.totals.publicationsOut);
    const rate = (a: number, b: number) => Math.round(((a - b) / seconds) * 100) / 100;
    const rates = (cur: ReadonlyMap<string, number>, prev: ReadonlyMap<string, number>) => {
      const out: Record<string, number> = {};
      for (const [code, n] of cur) if (n !== (prev.get(code) ?? 0)) out[code] = rate(n, prev.get(code) ?? 0);
      return out;
    };
    const mem = process.memoryUsage();
    // The histogram's samples include its own 10 ms resolution timer: what is left is the lag.
    const lagMs = (v: number) => Math.max(0, Math.round(((Number.isFinite(v) ? v : 0) / 1e6 - LAG_RESOLUTION_MS) * 100) / 100);
    const gauges = this.deps.gauges();
    const own = this.deps.dashboardShare();
    const statsChannel = this.deps.watchers() > 0 ? 1 : 0;
    const snapshot: AdminStatsSnapshot = {
      time: Date.now(),
      node: this.deps.node,
      version: this.deps.version,
      uptimeSeconds: Math.round((Date.now() - this.started) / 1000),
      memory: { rss: mem.rss, heapUsed: mem.heapUsed },
      dashboards: own.connections,
      connections: gauges.connections - own.connections,
      users: gauges.users - own.users,
      subscriptions: gauges.subscriptions - own.subscriptions,
      channels: Math.max(0, gauges.channels - statsChannel),
      publicationsInPerSecond: rate(totals.publicationsIn, this.last.totals.publicationsIn),
      publicationsOutPerSecond: rate(totals.publicationsOut, this.last.totals.publicationsOut),
      errorsPerSecond: rates(totals.errors, this.last.totals.errors),
      disconnectsPerSecond: rates(totals.disconnects, this.last.totals.disconnects),
      eventLoopLagMs: { mean: lagMs(this.lag.mean), p99: lagMs(this.lag.percentile(99)) },
    };
    this.last = { at: now, totals };
    this.lag.reset();
    return snapshot;
  }

  /** Another node has watchers: publish for the next few intervals. */
  watchedElsewhere(): void {
    this.watchedUntil = Date.now() + WATCH_INTERVALS * this.deps.intervalMs;
  }

  close(): void {
    clearInterval(this.timer);
    this.lag.disable();
  }

  private tick(): void {
    const watchers = this.deps.watchers();
    const snapshot = this.snapshot();
    if (watchers > 0) {
      // Every publishing node's snapshot reaches this node's watchers once an interval.
      this.ownDeliveries += watchers * this.publishers;
      this.deps.announce().then((n) => (this.publishers = Math.max(1, n)), () => {});
    }
    // With no one watching anywhere, the snapshot only moves the rates' starting point.
    if (watchers === 0 && Date.now() >= this.watchedUntil) return;
    this.deps.publish(ADMIN_STATS_CHANNEL, snapshot).catch(() => {});
  }

  private copy(t: ReturnType<AdminStatsDeps['totals']>): ReturnType<AdminStatsDeps['totals']> {
    return { publicationsIn: t.publicationsIn, publicationsOut: t.publicationsOut - this.ownDeliveries, errors: new Map(t.errors), disconnects: new Map(t.disconnects) };
  }
}

const LAG_RESOLUTION_MS = 10;

/** A connection as the stats see it (a Session is one). */
export interface StatsConnection {
  readonly user: string;
  readonly roles: readonly string[];
  readonly subs: { readonly size: number };
}

/** Where a node's stats come from: node.ts hands its parts over, `watchAdminStats` wires them. */
export interface AdminStatsSources {
  node: string;
  version: string;
  intervalMs: number;
  /** This node's hub: the stats channel's watchers, the connections, the deliveries made. */
  hub: { subscriberCount(channel: string): number; allSessions(): Iterable<StatsConnection>; readonly deliveredTotal: number };
  gauges(): { connections: number; users: number; subscriptions: number; channels: number };
  counters: { readonly publicationsIn: number };
  metrics: { readonly errorCounts: ReadonlyMap<string, number>; readonly disconnectCounts: ReadonlyMap<string, number> };
  /** The stats' own publications: live only, through `cluster/publisher.ts`, not counted as traffic. */
  publish(channel: string, data: unknown): Promise<unknown>;
  /** The node's membership: watchers anywhere make every node publish. */
  cluster: AdminStatsCluster;
}

/** The dashboards' own connections (role `tidings-admin`): what they add to the gauges. */
export function dashboardShare(connections: Iterable<StatsConnection>): { connections: number; users: number; subscriptions: number } {
  const share = { connections: 0, users: 0, subscriptions: 0 };
  const users = new Set<string>();
  for (const c of connections) {
    if (!c.roles.includes(DASHBOARD_ROLE)) continue;
    share.connections++;
    share.subscriptions += c.subs.size;
    users.add(c.user);
  }
  share.users = users.size;
  return share;
}

/** Starts publishing the node's stats on `tidings-admin:stats` while the dashboard watches. */
export function watchAdminStats(s: AdminStatsSources): AdminStats {
  const stats: AdminStats = new AdminStats({
    node: s.node,
    version: s.version,
    intervalMs: s.intervalMs,
    watchers: () => s.hub.subscriberCount(ADMIN_STATS_CHANNEL),
    gauges: s.gauges,
    dashboardShare: () => dashboardShare(s.hub.allSessions()),
    totals: () => ({ publicationsIn: s.counters.publicationsIn, publicationsOut: s.hub.deliveredTotal, errors: s.metrics.errorCounts, disconnects: s.metrics.disconnectCounts }),
    publish: (channel, data) => s.publish(channel, data),
    announce: async () => (await s.cluster.askAll({ type: ADMIN_STATS_WATCH })).length,
  });
  // This node's own watchers count already; another node's make this one publish.
  s.cluster.router.handle(ADMIN_STATS_WATCH, (_message, from) => {
    if (from !== s.node) stats.watchedElsewhere();
    return true;
  });
  return stats;
}
