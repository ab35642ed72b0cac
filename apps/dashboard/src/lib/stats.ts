/**
 * The live stats each node publishes once a second on `tidings-admin:stats` (every node of
 * the deployment while any dashboard watches, each sample tagged with its node id), merged
 * into the deployment's figures: the latest sample of each node summed, one point per round,
 * kept as a rolling window for the charts and cards. One store for the whole session, so the
 * charts keep their history when the operator moves between pages.
 */
import type { AdminStatsSnapshot } from '@tidings/server';

export const STATS_CHANNEL = 'tidings-admin:stats';

/** One publication on the stats channel (rates per second over the last interval). */
export type { AdminStatsSnapshot };

/**
 * The deployment's figures at one point: the latest sample of every node summed (rates,
 * counts, memory), the worst event-loop lag, the longest uptime. `node` is the one node's id,
 * or "N nodes"; `nodeIds` lists the nodes counted.
 */
export interface DeploymentSample extends AdminStatsSnapshot {
  nodeIds: string[];
}

/** Samples kept: five minutes at one a second. */
export const WINDOW = 300;
/** A node not heard from for this many of its intervals is left out of the sums. */
export const SILENT_INTERVALS = 3;
/** A node's interval until two of its samples tell it. */
const DEFAULT_INTERVAL_MS = 1000;

export interface StatsSnapshot {
  samples: readonly DeploymentSample[];
  latest: DeploymentSample | undefined;
  /** When the latest sample arrived (local clock), ms. */
  receivedAt: number | undefined;
}

function isSample(v: unknown): v is AdminStatsSnapshot {
  const s = v as Partial<AdminStatsSnapshot> | null;
  return typeof s === 'object' && s !== null && typeof s.time === 'number' && typeof s.connections === 'number' && typeof s.node === 'string';
}

function addCodes(into: Record<string, number>, from: Record<string, number> | undefined): void {
  for (const [code, n] of Object.entries(from ?? {})) into[code] = Math.round(((into[code] ?? 0) + n) * 100) / 100;
}

/** The deployment's figures from the latest sample of each node (at least one), sorted by node id. */
export function mergeSamples(latest: readonly AdminStatsSnapshot[]): DeploymentSample {
  const nodes = [...latest].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  const sum = (pick: (s: AdminStatsSnapshot) => number | undefined) => Math.round(nodes.reduce((a, s) => a + (pick(s) ?? 0), 0) * 100) / 100;
  const max = (pick: (s: AdminStatsSnapshot) => number | undefined) => Math.max(...nodes.map((s) => pick(s) ?? 0));
  const errorsPerSecond: Record<string, number> = {};
  const disconnectsPerSecond: Record<string, number> = {};
  for (const s of nodes) {
    addCodes(errorsPerSecond, s.errorsPerSecond);
    addCodes(disconnectsPerSecond, s.disconnectsPerSecond);
  }
  const nodeIds = nodes.map((s) => s.node);
  return {
    time: max((s) => s.time),
    node: nodeIds.length === 1 ? nodeIds[0]! : `${nodeIds.length} nodes`,
    nodeIds,
    version: [...new Set(nodes.map((s) => s.version))].join(', '),
    uptimeSeconds: max((s) => s.uptimeSeconds),
    memory: { rss: sum((s) => s.memory?.rss), heapUsed: sum((s) => s.memory?.heapUsed) },
    dashboards: sum((s) => s.dashboards),
    connections: sum((s) => s.connections),
    users: sum((s) => s.users),
    subscriptions: sum((s) => s.subscriptions),
    channels: sum((s) => s.channels),
    publicationsInPerSecond: sum((s) => s.publicationsInPerSecond),
    publicationsOutPerSecond: sum((s) => s.publicationsOutPerSecond),
    errorsPerSecond,
    disconnectsPerSecond,
    eventLoopLagMs: { mean: max((s) => s.eventLoopLagMs?.mean), p99: max((s) => s.eventLoopLagMs?.p99) },
  };
}

interface NodeState {
  sample: AdminStatsSnapshot;
  /** Local clock, ms. */
  receivedAt: number;
  /** Between its last two samples (its clock), ms. */
  intervalMs: number;
}

export class StatsStore {
  #snapshot: StatsSnapshot = { samples: [], latest: undefined, receivedAt: undefined };
  readonly #listeners = new Set<() => void>();
  /** The latest sample of each node heard from lately. */
  readonly #nodes = new Map<string, NodeState>();
  /** Nodes already counted in the window's last point: a second sample of one starts the next point. */
  #round = new Set<string>();

  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  readonly getSnapshot = (): StatsSnapshot => this.#snapshot;

  /** Adds a node's sample (a publication's data); anything that is not a stats sample is ignored. */
  push(data: unknown, receivedAt = Date.now()): void {
    if (!isSample(data)) return;
    const prev = this.#nodes.get(data.node);
    // A late or repeated sample of a node changes nothing.
    if (prev && data.time <= prev.sample.time) return;
    const intervalMs = prev ? Math.max(1, data.time - prev.sample.time) : DEFAULT_INTERVAL_MS;
    // Nodes not heard from for a few of their intervals (stopped, or gone) leave the sums.
    let fresh = false;
    for (const [id, n] of this.#nodes) {
      if (receivedAt - n.receivedAt > SILENT_INTERVALS * n.intervalMs) this.#nodes.delete(id);
      else if (id !== data.node && receivedAt - n.receivedAt <= 1.5 * n.intervalMs) fresh = true;
    }
    let base = this.#snapshot.samples;
    // A node not seen before while no other is still talking (a restarted single node, say): a new series.
    if (!prev && !fresh) {
      base = [];
      this.#nodes.clear();
      this.#round = new Set();
    }
    this.#nodes.set(data.node, { sample: data, receivedAt, intervalMs });
    const merged = mergeSamples([...this.#nodes.values()].map((n) => n.sample));
    // One point per round: the next sample of a node already in the last point starts a new one.
    let samples: DeploymentSample[];
    if (base.length > 0 && !this.#round.has(data.node)) {
      samples = [...base.slice(0, -1), merged];
      this.#round.add(data.node);
    } else {
      samples = base.length >= WINDOW ? [...base.slice(base.length - WINDOW + 1), merged] : [...base, merged];
      this.#round = new Set([data.node]);
    }
    this.#snapshot = { samples, latest: merged, receivedAt };
    for (const l of this.#listeners) l();
  }

  clear(): void {
    this.#nodes.clear();
    this.#round = new Set();
    this.#snapshot = { samples: [], latest: undefined, receivedAt: undefined };
    for (const l of this.#listeners) l();
  }
}

/** Codes seen anywhere in the window for a by-code series, sorted. */
export function codesOf(samples: readonly AdminStatsSnapshot[], pick: (s: AdminStatsSnapshot) => Record<string, number> | undefined): string[] {
  const codes = new Set<string>();
  for (const s of samples) for (const [code, n] of Object.entries(pick(s) ?? {})) if (n > 0) codes.add(code);
  return [...codes].sort();
}

/** Direction of a value over the last `span` samples: for the cards' trend arrows. */
export function trendOf(samples: readonly AdminStatsSnapshot[], pick: (s: AdminStatsSnapshot) => number, span = 10): 'up' | 'down' | 'flat' {
  if (samples.length < 2) return 'flat';
  const now = pick(samples[samples.length - 1]!);
  const then = pick(samples[Math.max(0, samples.length - 1 - span)]!);
  if (now > then) return 'up';
  if (now < then) return 'down';
  return 'flat';
}
