/**
 * Prometheus metrics of one node, served at `metrics.path` (default `/metrics`).
 *
 * Each node has its own registry, never prom-client's global one: an app (or a test
 * file) may run several nodes in one process, and they must not share counters.
 * Label values always come from small fixed or capped sets; channel names and user
 * ids never become labels, since every distinct label value is a time series kept
 * forever by the node and by Prometheus.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import {
  bump,
  CappedCounter,
  DEFAULT_COMMAND_TYPES,
  HTTP_METHODS,
  LIMIT_NAMES,
  PER_WORKER,
  PUBLICATION_SOURCES,
  workerProcessLabel,
  zeroed,
  type PublicationSource,
} from './metric-labels.js';
// What the history gauges and eviction counters read at scrape time: the broker's `historyStats`.
import type { HistoryStats } from '../engine/broker.js';

export { DEFAULT_COMMAND_TYPES, LIMIT_NAMES, labelWorkerProcess, type PublicationSource } from './metric-labels.js';

/** What the gauges read at scrape time. */
export interface MetricsSnapshot {
  connections: number;
  users: number;
  subscriptions: number;
  channels: number;
}

export interface NodeMetricsOptions {
  /** Prefix of every metric name; default `tidings_`. */
  prefix?: string;
  /** Also report process metrics (CPU, memory, event-loop lag, GC); default true. */
  defaultMetrics?: boolean;
  /** Command types counted by name; others count as `unknown`. */
  commandTypes?: readonly string[];
  /** Distinct `code` labels of `errors_total` and `disconnects_total` before the rest count as `other`; default 50. */
  maxCodes?: number;
}

/**
 * Process metrics describe the process, not a node, and prom-client's collectors
 * for them (a GC observer, an event-loop delay histogram) can never be stopped. So
 * they are collected once per process (per prefix) into a registry every node's
 * output includes, instead of once per node, which would leak a collector pair for
 * every node a test file starts and closes.
 */
const processRegistries = new Map<string, Registry>();

function processRegistry(prefix: string): Registry {
  let registry = processRegistries.get(prefix);
  if (!registry) {
    registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix });
    processRegistries.set(prefix, registry);
  }
  return registry;
}

export class NodeMetrics {
  /** This node's own metrics (process metrics live in a shared registry; see `processRegistry`). */
  readonly registry = new Registry();
  readonly contentType: string = this.registry.contentType;

  private source: () => MetricsSnapshot = () => ({ connections: 0, users: 0, subscriptions: 0, channels: 0 });
  /** The snapshot of the scrape in progress, so one scrape calls the source once for all four gauges. */
  private scrape: MetricsSnapshot | undefined;
  private readonly processRegistry: Registry | undefined;
  private aggregate: (() => Promise<string>) | undefined;

  private readonly commands = new Map<string, Counter.Internal>();
  private readonly unknownCommand: Counter.Internal;
  private readonly errors: CappedCounter;
  private readonly disconnects: CappedCounter;
  private readonly publicationsBySource = new Map<string, Counter.Internal>();
  /**
   * Per-write counts accumulate in plain numbers and reach prom-client at scrape
   * time: these sit on the fan-out path, once per socket write.
   */
  private readonly pending = { publicationsOut: 0, bytesIn: 0, bytesOut: 0 };
  /** The same for labelled counters on per-command and per-publication paths. */
  private readonly pendingByLabel = { commands: new Map<string, number>(), publications: new Map<string, number>() };
  private readonly limits = new Map<string, Counter.Internal>();
  private readonly otherLimit: Counter.Internal;
  private readonly apiDuration: Histogram<string>;
  private readonly apiChildren = new Map<string, Histogram.Internal<string>>();
  /** Running totals by code, in plain numbers, for the dashboard's per-second rates. */
  readonly errorCounts = new Map<string, number>();
  readonly disconnectCounts = new Map<string, number>();
  private historySource: (() => HistoryStats) | undefined;
  private readonly storeCommits: Histogram<string>;
  private readonly storeWrites: Counter;
  private readonly deliveryGaps: Counter;
  private readonly stuckWorkers: Counter;
  private readonly auditWrittenTotal: Counter;
  private readonly auditDroppedTotal: Counter;
  private readonly webhookDeliveries: Counter<string>;
  private readonly webhookDuration: Histogram<string>;
  private readonly webhookDroppedTotal: Counter;
  private webhookSource: (() => Promise<{ pending: number; dead: number }>) | undefined;
  private readonly proxyRequests: Counter<string>;
  private readonly proxyRetries: Counter<string>;
  private readonly proxyDuration: Histogram<string>;

  constructor(options: NodeMetricsOptions = {}) {
    const prefix = options.prefix ?? 'tidings_';
    const maxCodes = options.maxCodes ?? 50;
    const registers = [this.registry];
    const name = (n: string) => prefix + n;

    const worker = workerProcessLabel();
    const gauge = (n: keyof MetricsSnapshot, help: string) => {
      // prom-client calls `collect` on every scrape.
      if (worker !== undefined && PER_WORKER.has(n)) {
        const g: Gauge = new Gauge({ name: name(n), help, labelNames: ['worker'], registers, collect: () => g.set({ worker }, (this.scrape ?? this.source())[n]) });
        return;
      }
      const g: Gauge = new Gauge({ name: name(n), help, registers, collect: () => g.set((this.scrape ?? this.source())[n]) });
    };
    gauge('connections', 'Open client connections on this node that completed connect.');
    gauge('users', 'Distinct users connected to this node (anonymous connections not counted).');
    gauge('subscriptions', 'Channel subscriptions held by connections on this node.');
    gauge('channels', 'Channels with at least one subscriber on this node.');

    const drain = (pending: Map<string, number>, child: (key: string) => Counter.Internal | undefined) => () => {
      for (const [key, n] of pending) child(key)?.inc(n);
      pending.clear();
    };
    const commands = new Counter({
      name: name('commands_total'),
      help: 'Protocol commands received, by type.',
      labelNames: ['type'],
      registers,
      collect: drain(this.pendingByLabel.commands, (key) => this.commands.get(key) ?? this.unknownCommand),
    });
    for (const type of options.commandTypes ?? DEFAULT_COMMAND_TYPES) this.commands.set(type, zeroed(commands.labels(type)));
    this.unknownCommand = zeroed(commands.labels('unknown'));

    const errors = new Counter({ name: name('errors_total'), help: 'Error replies sent to clients, by error code.', labelNames: ['code'], registers });
    this.errors = new CappedCounter(errors, maxCodes, 'other');
    const disconnects = new Counter({ name: name('disconnects_total'), help: 'Closed client connections, by WebSocket close code.', labelNames: ['code'], registers });
    this.disconnects = new CappedCounter(disconnects, maxCodes, 'other');

    const pubsIn = new Counter({
      name: name('publications_in_total'),
      help: 'Publications accepted, by where they came from (client, api, library).',
      labelNames: ['source'],
      registers,
      collect: drain(this.pendingByLabel.publications, (key) => this.publicationsBySource.get(key)),
    });
    for (const source of PUBLICATION_SOURCES) this.publicationsBySource.set(source, zeroed(pubsIn.labels(source)));
    const accumulated = (n: string, help: string, key: keyof NodeMetrics['pending']) => {
      const pending = this.pending;
      const c: Counter = new Counter({
        name: name(n),
        help,
        registers,
        collect: () => {
          if (pending[key] > 0) c.inc(pending[key]);
          pending[key] = 0;
        },
      });
    };
    accumulated('publications_out_total', 'Publications delivered to subscribers on this node.', 'publicationsOut');
    accumulated('bytes_in_total', 'Bytes received from clients.', 'bytesIn');
    accumulated('bytes_out_total', 'Bytes sent to clients.', 'bytesOut');

    const limits = new Counter({ name: name('limit_hits_total'), help: 'Requests refused by a limit, by limit.', labelNames: ['limit'], registers });
    for (const limit of LIMIT_NAMES) this.limits.set(limit, zeroed(limits.labels(limit)));
    this.otherLimit = zeroed(limits.labels('other'));

    this.apiDuration = new Histogram({
      name: name('api_request_duration_seconds'),
      help: 'Server API requests by method, route pattern and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });

    // History: read from the broker at scrape time; nothing on the publish path.
    const historyGauge = (n: string, help: string, key: 'bytes' | 'publications' | 'streams') => {
      const g: Gauge = new Gauge({ name: name(n), help, registers, collect: () => g.set(this.historySource?.()[key] ?? 0) });
    };
    historyGauge('history_bytes', 'Bytes held by publications stored in history on this node (JSON length plus a fixed cost per publication).', 'bytes');
    historyGauge('history_publications', 'Publications stored in history on this node.', 'publications');
    historyGauge('history_streams', 'Channel streams (epoch and offset) kept on this node.', 'streams');
    const evictionReasons = { node_bytes: 'evictedByNodeBudget', namespace_bytes: 'evictedByNamespaceBudget', streams: 'evictedStreams' } as const;
    const evictedSeen: Record<string, number> = { node_bytes: 0, namespace_bytes: 0, streams: 0 };
    const evictions: Counter = new Counter({
      name: name('history_evictions_total'),
      help: 'Publications evicted from history by a byte budget (node_bytes, namespace_bytes), and streams forgotten beyond history.maxStreams (streams).',
      labelNames: ['reason'],
      registers,
      collect: () => {
        const stats = this.historySource?.();
        if (!stats) return;
        for (const [reason, key] of Object.entries(evictionReasons)) {
          const delta = stats[key] - evictedSeen[reason]!;
          if (delta > 0) evictions.labels(reason).inc(delta);
          evictedSeen[reason] = stats[key];
        }
      },
    });
    for (const reason of Object.keys(evictionReasons)) zeroed(evictions.labels(reason));

    this.storeCommits = new Histogram({
      name: name('store_commit_seconds'),
      help: 'Group commits of the durable store (one transaction, one fsync), by duration.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.storeWrites = new Counter({ name: name('store_writes_total'), help: 'Writes committed to the durable store.', registers });
    this.deliveryGaps = new Counter({ name: name('delivery_gaps_total'), help: 'Delivery gaps: a channel publication reached this node after a skipped offset or a changed epoch (its subscribers were told to recover).', registers });
    this.stuckWorkers = new Counter({ name: name('workers_stuck_total'), help: 'Workers the primary killed because they stopped reading their IPC channel (past cluster.maxIpcBacklog).', registers });
    this.auditWrittenTotal = new Counter({ name: name('audit_events_written_total'), help: 'Audit events stored in the audit log.', registers });
    this.auditDroppedTotal = new Counter({ name: name('audit_events_dropped_total'), help: 'Audit events not stored: the queue was full or a write failed.', registers });
    // Webhooks (webhooks/): `endpoint` labels are the configured endpoints' ids.
    this.webhookDeliveries = new Counter({ name: name('webhook_deliveries_total'), help: 'Webhook attempts by endpoint and outcome (delivered, failed: tried again later, dead: given up).', labelNames: ['endpoint', 'outcome'], registers });
    this.webhookDuration = new Histogram({ name: name('webhook_delivery_seconds'), help: 'Webhook requests by duration, by endpoint.', labelNames: ['endpoint'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers });
    this.webhookDroppedTotal = new Counter({ name: name('webhook_events_dropped_total'), help: 'Webhook rows never written to the outbox: its queue was full (webhooks.maxQueue) or the write failed.', registers });
    // Read from the outbox at scrape time, by the process that delivers it (0 elsewhere, so a sum over workers is the primary's).
    const outboxGauge = (n: string, help: string, key: 'pending' | 'dead') => {
      const g: Gauge = new Gauge({ name: name(n), help, registers, collect: async () => g.set(this.webhookSource ? (await this.webhookSource().catch(() => ({ pending: 0, dead: 0 })))[key] : 0) });
    };
    outboxGauge('webhook_pending', 'Webhook rows waiting for delivery in the outbox (every endpoint).', 'pending');
    outboxGauge('webhook_dead', 'Webhook rows given up on (the dead letters) in the outbox.', 'dead');
    // Proxy hooks (proxy/): labels from fixed sets (the six hooks, the outcomes of proxy/proxy-client.ts).
    this.proxyRequests = new Counter({ name: name('proxy_requests_total'), help: 'Proxy hook requests to the backend, by hook and outcome (ok, rejected, disconnect, timeout, unreachable, http_error, bad_response).', labelNames: ['hook', 'outcome'], registers });
    this.proxyRetries = new Counter({ name: name('proxy_retries_total'), help: 'Proxy hook requests sent again after a connection error, by hook.', labelNames: ['hook'], registers });
    this.proxyDuration = new Histogram({ name: name('proxy_request_seconds'), help: 'Proxy hook requests by duration (every attempt included), by hook.', labelNames: ['hook'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers });

    if (options.defaultMetrics ?? true) this.processRegistry = processRegistry(prefix);
  }

  /** Where the gauges read connections, users, subscriptions and channels from, at scrape time. */
  setSource(fn: () => MetricsSnapshot): void {
    this.source = fn;
  }

  /** Where the history gauges and eviction counters read from, at scrape time. */
  setHistorySource(fn: () => HistoryStats): void {
    this.historySource = fn;
  }

  commandReceived(type: string): void {
    // Label children hash their labels on every inc(); count in a plain number instead.
    const key = this.commands.has(type) ? type : 'unknown';
    this.pendingByLabel.commands.set(key, (this.pendingByLabel.commands.get(key) ?? 0) + 1);
  }

  error(code: string): void {
    this.errors.child(code).inc();
    bump(this.errorCounts, code);
  }

  disconnect(code: number): void {
    this.disconnects.child(String(code)).inc();
    bump(this.disconnectCounts, String(code));
  }

  publicationIn(source: PublicationSource): void {
    if (!this.publicationsBySource.has(source)) return;
    this.pendingByLabel.publications.set(source, (this.pendingByLabel.publications.get(source) ?? 0) + 1);
  }

  // prom-client throws on a negative or non-finite increment; a hot path must not.
  publicationsOut(n: number): void {
    if (n > 0 && n !== Infinity) this.pending.publicationsOut += n;
  }

  bytesIn(n: number): void {
    if (n > 0 && n !== Infinity) this.pending.bytesIn += n;
  }

  bytesOut(n: number): void {
    if (n > 0 && n !== Infinity) this.pending.bytesOut += n;
  }

  /** The engine delivered a channel's publication out of continuity (see `cluster/channels.ts`). */
  deliveryGap(): void {
    this.deliveryGaps.inc();
  }

  /** The primary of `--workers` gave up on a worker that stopped reading its IPC channel. */
  workerStuck(): void {
    this.stuckWorkers.inc();
  }

  limitHit(limit: string): void {
    (this.limits.get(limit) ?? this.otherLimit).inc();
  }

  /** `route` is the route's pattern name (`/channels/:channel`), never the requested path. */
  apiRequest(method: string, route: string, status: number, seconds: number): void {
    if (!(seconds >= 0) || seconds === Infinity) return;
    const m = HTTP_METHODS.includes(method) ? method : 'other';
    const key = `${m} ${route} ${status}`;
    let child = this.apiChildren.get(key);
    if (!child) {
      // Routes come from the API's own table; the cap only guards against a caller passing paths.
      if (this.apiChildren.size >= 1000) return;
      child = this.apiDuration.labels(m, route, String(status));
      this.apiChildren.set(key, child);
    }
    child.observe(seconds);
  }

  storeCommit(writes: number, seconds: number): void {
    if (writes > 0) this.storeWrites.inc(writes);
    if (seconds >= 0 && seconds !== Infinity) this.storeCommits.observe(seconds);
  }

  auditWritten(n: number): void {
    if (n > 0) this.auditWrittenTotal.inc(n);
  }

  auditDropped(n: number): void {
    if (n > 0) this.auditDroppedTotal.inc(n);
  }

  /** One webhook attempt's outcome, and how long its request took (absent when none was made). */
  webhookDelivery(endpoint: string, outcome: string, seconds?: number): void {
    this.webhookDeliveries.labels(endpoint, outcome).inc();
    if (seconds !== undefined && seconds >= 0 && seconds !== Infinity) this.webhookDuration.labels(endpoint).observe(seconds);
  }

  webhookEventsDropped(rows: number): void {
    if (rows > 0) this.webhookDroppedTotal.inc(rows);
  }

  /** Where the webhook outbox gauges read from, at scrape time (the process that delivers it). */
  setWebhookSource(fn: () => Promise<{ pending: number; dead: number }>): void {
    this.webhookSource = fn;
  }

  /** One proxy hook call: its outcome and how long it took (all attempts). */
  proxyRequest(hook: string, outcome: string, seconds: number): void {
    this.proxyRequests.labels(hook, outcome).inc();
    if (seconds >= 0 && seconds !== Infinity) this.proxyDuration.labels(hook).observe(seconds);
  }

  proxyRetry(hook: string): void {
    this.proxyRetries.labels(hook).inc();
  }

  /** This node's registry and the process metrics' (a primary of `--workers` aggregates them). */
  registries(): Registry[] {
    return this.processRegistry ? [this.registry, this.processRegistry] : [this.registry];
  }

  /** In a worker of `--workers`: `render` answers with what `fn` gives (every worker's metrics, aggregated). */
  setAggregate(fn: () => Promise<string>): void {
    this.aggregate = fn;
  }

  /** The Prometheus text exposition of this node's metrics and the process metrics. */
  async render(): Promise<string> {
    this.scrape = this.source();
    try {
      const own = this.aggregate ? await this.aggregate() : await this.registry.metrics();
      const text = this.processRegistry && !this.aggregate ? own + (await this.processRegistry.metrics()) : own;
      // prom-client 15 writes NaN (an event-loop lag mean with no samples yet) as "Nan"; the format says "NaN".
      return text.replace(/ Nan$/gm, ' NaN');
    } finally {
      this.scrape = undefined;
    }
  }
}
