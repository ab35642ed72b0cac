/**
 * The label values of a node's metrics: the fixed sets counted by name (commands, limits,
 * publication sources, HTTP methods), the counter that caps label values from clients, the
 * `worker` label of a worker process, and the small helpers the counters share.
 */
import type { Counter } from 'prom-client';
import { COMMAND_TYPES } from '@tidings/protocol';

export type PublicationSource = 'client' | 'api' | 'library';

/** The protocol's command types; a new command is counted by name as soon as the protocol knows it. */
export const DEFAULT_COMMAND_TYPES: readonly string[] = COMMAND_TYPES;

export const LIMIT_NAMES: readonly string[] = [
  'connections_per_user',
  'connections_per_node',
  'connection_rate_per_ip',
  'connections_per_ip',
  'websocket_fragments',
  'websocket_buffered_chunks',
  'pre_connect_bytes',
  'pre_connect_frames',
  'subscriptions_per_connection',
  'max_subscribers',
  'command_rate',
  'publish_rate',
  'presence_state_size',
  'handshake_timeout',
  'max_follows',
  'history_bytes_per_user',
  'history_publication_bytes',
];

export const PUBLICATION_SOURCES: readonly PublicationSource[] = ['client', 'api', 'library'];
/** Node's HTTP parser accepts ~35 methods; anything but these is lumped together. */
export const HTTP_METHODS: readonly string[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
/** Longer label values are treated as overflow: a hook's error code is not meant to carry text. */
const MAX_LABEL_LENGTH = 64;

/**
 * Label values taken as they come until `max` distinct ones were seen, then the
 * overflow value. Children are cached, so a hot-path `inc` is a map lookup.
 */
export class CappedCounter {
  private readonly children = new Map<string, Counter.Internal>();
  private readonly overflow: Counter.Internal;

  constructor(
    private readonly counter: Counter<string>,
    private readonly max: number,
    overflowValue: string,
  ) {
    this.overflow = counter.labels(overflowValue);
  }

  child(value: string): Counter.Internal {
    const known = this.children.get(value);
    if (known) return known;
    if (this.children.size >= this.max || value.length === 0 || value.length > MAX_LABEL_LENGTH) return this.overflow;
    const created = this.counter.labels(value);
    this.children.set(value, created);
    return created;
  }
}

/**
 * prom-client's `labels()` child only appears in the output once incremented; a
 * sample of 0 from the start lets `rate()` see the first increment too.
 */
export function zeroed(child: Counter.Internal): Counter.Internal {
  child.inc(0);
  return child;
}

/** Counts by a key from clients (codes): capped like the Prometheus labels. */
export function bump(counts: Map<string, number>, key: string): void {
  const k = counts.has(key) || counts.size < 50 ? key : 'other';
  counts.set(k, (counts.get(k) ?? 0) + 1);
}

/**
 * In a worker of `tidings serve --workers` (one node per process), the worker's index: the
 * gauges whose sum over workers would mislead (`users`, `channels`: a user or channel on two
 * workers counts on both) carry it as a `worker` label in the aggregated `/metrics`.
 */
let workerLabel: string | undefined;

export function labelWorkerProcess(worker: string): void {
  workerLabel = worker;
}

/** @internal The worker label of this process (`labelWorkerProcess`), if any. */
export function workerProcessLabel(): string | undefined {
  return workerLabel;
}

export const PER_WORKER: ReadonlySet<string> = new Set(['users', 'channels']);
