/**
 * Metrics of an engine that talks to a server (Redis), on the node's registry: its round trips'
 * latency, its failures by kind, its reconnects and the pub/sub channels it holds. The engine
 * feeds them through the EngineObserver interface (engine/engine-observer.ts); a node on the
 * memory engine has none of them.
 *
 * `summary()` is the short form a node puts in its heartbeat (GET /api/v1/nodes, the dashboard's
 * nodes table): the latency's p50/p99 over the last operations of `windowMs`, and running totals.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { ENGINE_ERROR_KINDS, ENGINE_OPS, type EngineErrorKind, type EngineObserver, type EngineOp } from '../engine/engine-observer.js';
import { zeroed } from './metric-labels.js';

export interface EngineMetricsOptions {
  /** Prefix of every metric name; default `tidings_`. */
  prefix?: string;
  /** The summary's latency window, in milliseconds; default 10,000. */
  windowMs?: number;
  /** Latencies the summary keeps at most (the most recent); default 1024. */
  windowSamples?: number;
}

/** What a node reports of its engine in its heartbeat (flat, so it lists as NodeInfo extras). */
export interface EngineSummary {
  /** Median round trip over the window, in ms; absent without operations in the window. */
  engineP50Ms?: number;
  /** 99th percentile round trip over the window, in ms; absent without operations in the window. */
  engineP99Ms?: number;
  /** Failures since the node started. */
  engineErrors: number;
  /** Reconnects since the node started. */
  engineReconnects: number;
  /** Pub/sub channels this node holds on the server now. */
  enginePubsubChannels: number;
}

const round2 = (ms: number) => Math.round(ms * 100) / 100;

export class EngineMetrics implements EngineObserver {
  private readonly latency = new Map<EngineOp, Histogram.Internal<string>>();
  private readonly errors = new Map<EngineErrorKind, Counter.Internal>();
  private readonly reconnects: Counter;
  private channels: () => number = () => 0;
  private errorTotal = 0;
  private reconnectTotal = 0;
  /** The latest latencies (ms) and when they ended, a ring. */
  private readonly recent: Float64Array;
  private readonly recentAt: Float64Array;
  private recentNext = 0;
  private recentCount = 0;
  private readonly windowMs: number;

  constructor(registry: Registry, options: EngineMetricsOptions = {}) {
    const prefix = options.prefix ?? 'tidings_';
    const registers = [registry];
    this.windowMs = options.windowMs ?? 10_000;
    const size = Math.max(1, options.windowSamples ?? 1024);
    this.recent = new Float64Array(size);
    this.recentAt = new Float64Array(size);

    const latency = new Histogram({
      name: `${prefix}engine_command_seconds`,
      help: "Round trips to the engine's server (Redis: one command, script or pipeline), from the call to the reply, by operation.",
      labelNames: ['op'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    for (const op of ENGINE_OPS) {
      // Listed from zero, so a rate over the series exists before the first operation.
      latency.zero({ op });
      this.latency.set(op, latency.labels(op));
    }
    const errors = new Counter({
      name: `${prefix}engine_errors_total`,
      help: "Engine failures, by kind: connection (server unreachable or connection down), timeout, reply (the server answered with an error), bad_message (a pub/sub message that could not be decoded).",
      labelNames: ['kind'],
      registers,
    });
    for (const kind of ENGINE_ERROR_KINDS) this.errors.set(kind, zeroed(errors.labels(kind)));
    this.reconnects = new Counter({ name: `${prefix}engine_reconnects_total`, help: "Times a connection to the engine's server was lost and opened again.", registers });
    const channels: Gauge = new Gauge({
      name: `${prefix}engine_pubsub_channels`,
      help: "Pub/sub channels this node subscribes to on the engine's server (one per channel with subscribers on this node).",
      registers,
      collect: () => channels.set(this.safeChannels()),
    });
  }

  operation(op: EngineOp, seconds: number): void {
    if (!(seconds >= 0) || seconds === Infinity) return;
    this.latency.get(op)?.observe(seconds);
    this.recent[this.recentNext] = seconds * 1000;
    this.recentAt[this.recentNext] = performance.now();
    this.recentNext = (this.recentNext + 1) % this.recent.length;
    this.recentCount = Math.min(this.recentCount + 1, this.recent.length);
  }

  error(kind: EngineErrorKind): void {
    const counter = this.errors.get(kind);
    if (!counter) return;
    counter.inc();
    this.errorTotal++;
  }

  reconnect(): void {
    this.reconnects.inc();
    this.reconnectTotal++;
  }

  pubsubChannels(read: () => number): void {
    this.channels = read;
  }

  /** The heartbeat's figures: latency percentiles over the window, totals, channels now. */
  summary(): EngineSummary {
    const since = performance.now() - this.windowMs;
    const window: number[] = [];
    for (let i = 0; i < this.recentCount; i++) if (this.recentAt[i]! >= since) window.push(this.recent[i]!);
    window.sort((a, b) => a - b);
    const at = (q: number) => round2(window[Math.min(window.length - 1, Math.floor(q * window.length))]!);
    return {
      ...(window.length > 0 ? { engineP50Ms: at(0.5), engineP99Ms: at(0.99) } : {}),
      engineErrors: this.errorTotal,
      engineReconnects: this.reconnectTotal,
      enginePubsubChannels: this.safeChannels(),
    };
  }

  private safeChannels(): number {
    try {
      const n = this.channels();
      return Number.isFinite(n) && n >= 0 ? n : 0;
    } catch {
      return 0;
    }
  }
}

/** What a node reports in its heartbeat besides the standard fields (createTidings option `nodeInfo` and these). */
export type HeartbeatExtras = Readonly<Record<string, string | number | boolean>>;

/**
 * A node's engine metrics and heartbeat extras: for the configured engine (`type`; undefined when
 * an engine was given in the options), `engine: <type>` first (a given `nodeInfo` may say
 * otherwise), then `nodeInfo`, then, for an engine with a server (Redis), the figures of
 * `summary()`, read at every heartbeat. `observer` is undefined for the memory engine.
 */
export function nodeEngineMetrics(type: string | undefined, registry: Registry, nodeInfo: HeartbeatExtras | undefined): { observer: EngineMetrics | undefined; nodeInfo: () => HeartbeatExtras } {
  const observer = type !== undefined && type !== 'memory' ? new EngineMetrics(registry) : undefined;
  const base: HeartbeatExtras = { ...(type !== undefined ? { engine: type } : {}), ...nodeInfo };
  return { observer, nodeInfo: observer ? () => ({ ...base, ...observer.summary() }) : () => base };
}
