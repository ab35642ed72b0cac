/**
 * `/metrics` with workers: any worker's scrape answers with every worker's metrics and the
 * primary's, aggregated by prom-client's `AggregatorRegistry.aggregate` (counters, histograms
 * and most process metrics summed; per-metric aggregators such as `first` for the Node.js
 * version and `average` for event-loop lag; `users` and `channels` kept apart by a `worker`
 * label, see ops/metrics.ts). The primary asks each worker for `getMetricsAsJSON()` of its
 * registries over IPC and adds its own (the durable store's commits happen there).
 */
import type { Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { Logger } from '../log.js';
import type { NodeMetrics } from '../ops/metrics.js';
import type { PrimaryMessage, WorkerMessage } from './protocol.js';

/** The per-connection gauges: the primary holds no connection, so it leaves them to the workers. */
const WORKER_ONLY = new Set(['tidings_connections', 'tidings_users', 'tidings_subscriptions', 'tidings_channels']);

interface Collection {
  answers: unknown[][];
  waiting: Set<Worker>;
  finish(): void;
}

/** The primary's side: collects from every connected worker within `timeoutMs`; one that does not answer is left out (and logged). */
export class MetricsRelay {
  private next = 0;
  private readonly collections = new Map<number, Collection>();

  constructor(
    private readonly own: NodeMetrics,
    private readonly log: Logger,
    private readonly timeoutMs = 2000,
  ) {}

  /** A worker's `collected` answer. */
  collected(worker: Worker, id: number, metrics: unknown[][]): void {
    const collection = this.collections.get(id);
    if (!collection || !collection.waiting.delete(worker)) return;
    collection.answers.push(...metrics);
    if (collection.waiting.size === 0) collection.finish();
  }

  /** The aggregated exposition of the given workers' metrics and the primary's. */
  async scrape(workers: Worker[]): Promise<string> {
    const id = ++this.next;
    const live = workers.filter((w) => w.isConnected());
    const answers: unknown[][] = [];
    await new Promise<void>((resolve) => {
      const waiting = new Set(live);
      const finish = () => {
        clearTimeout(timer);
        this.collections.delete(id);
        if (waiting.size > 0) this.log.warn({ workers: [...waiting].map((w) => w.process.pid) }, 'metrics: workers did not answer in time; left out of this scrape');
        resolve();
      };
      const timer = setTimeout(finish, this.timeoutMs);
      this.collections.set(id, { answers, waiting, finish });
      for (const worker of live) send(worker, { type: 'tidings.worker:collect', id });
      if (live.length === 0) finish();
    });
    const own = await Promise.all(this.own.registries().map((r) => r.getMetricsAsJSON()));
    for (const metrics of own) answers.push(metrics.filter((m) => !WORKER_ONLY.has(m.name)));
    return AggregatorRegistry.aggregate(answers).metrics();
  }
}

export function send(worker: Worker, message: PrimaryMessage): void {
  if (worker.isConnected()) worker.send(message);
}

/**
 * The worker's side: `/metrics` asks the primary (within `timeoutMs`; a primary that does not
 * answer is a 500 on that scrape) and the primary's collections are answered from `metrics`.
 */
export class WorkerMetrics {
  private next = 0;
  private readonly waiting = new Map<number, { resolve(text: string): void; reject(err: Error): void }>();

  constructor(
    private readonly metrics: NodeMetrics,
    private readonly sendToPrimary: (message: WorkerMessage) => void,
    private readonly timeoutMs = 5000,
  ) {
    metrics.setAggregate(() => this.aggregated());
  }

  onMessage(message: PrimaryMessage): void {
    if (message.type === 'tidings.worker:collect') {
      const id = message.id;
      void Promise.all(this.metrics.registries().map((r) => r.getMetricsAsJSON())).then(
        (metrics) => this.sendToPrimary({ type: 'tidings.worker:collected', id, metrics }),
        () => this.sendToPrimary({ type: 'tidings.worker:collected', id, metrics: [] }),
      );
    } else if (message.type === 'tidings.worker:scraped') {
      const waiter = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      if (message.text !== undefined) waiter?.resolve(message.text);
      else waiter?.reject(new Error(`metrics aggregation failed: ${message.error ?? 'no answer'}`));
    }
  }

  private aggregated(): Promise<string> {
    const id = ++this.next;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error('metrics aggregation: the primary did not answer in time'));
      }, this.timeoutMs);
      const done = <T>(fn: (v: T) => void) => (v: T) => {
        clearTimeout(timer);
        fn(v);
      };
      this.waiting.set(id, { resolve: done(resolve), reject: done(reject) });
      this.sendToPrimary({ type: 'tidings.worker:scrape', id });
    });
  }
}
