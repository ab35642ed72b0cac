/**
 * The webhook parts of a node, built in one call from node.ts (and workers/host.ts):
 * - the emitter every event source calls (`NO_WEBHOOKS` when no endpoint is configured),
 * - the dispatcher, when this process delivers the outbox: the process that opened it (one
 *   node on SQLite, the primary of `--workers`, every node on PostgreSQL, where leases keep each
 *   row with one holder); a worker of `--workers` only enqueues, through the primary.
 */
import type { WebhooksConfig } from '../config/schema-webhooks.js';
import type { Logger } from '../log.js';
import type { WebhookOutbox } from '../store/webhook-outbox.js';
import { NO_WEBHOOKS, type WebhookEmitter } from '../webhook-events.js';
import { WebhookDispatcher, type DeliveryMetrics } from './dispatcher.js';
import { OutboxEmitter } from './emitter.js';

export interface WebhookMetrics extends DeliveryMetrics {
  webhookEventsDropped(rows: number): void;
  setWebhookSource(fn: () => Promise<{ pending: number; dead: number }>): void;
}

/** What `POST /webhooks/test` calls. */
export interface WebhookTester {
  /** A `webhook.test` event to one endpoint or every endpoint, in the outbox when this resolves. */
  sendTest(endpoint?: string): Promise<{ id: string; endpoints: string[] }>;
  /** The configured endpoints' ids. */
  endpointIds(): string[];
}

export interface NodeWebhooks {
  emitter: WebhookEmitter;
  tester: WebhookTester;
  /** Undefined when this process does not deliver (or no endpoint is configured). */
  dispatcher: WebhookDispatcher | undefined;
  /** Writes what the emitter queued, then stops the dispatcher. Before the outbox closes. */
  close(): Promise<void>;
}

export interface AssembleWebhooksOptions {
  config: { webhooks: WebhooksConfig; shutdown: { timeout: number } };
  /** The outbox; undefined: webhooks are off here (nothing to write to). */
  outbox: WebhookOutbox | undefined;
  /** Whether this process delivers the outbox it writes to; default: unless it was marked `deliveredElsewhere`. */
  deliver?: boolean;
  /** This process run's lease holder name (unique per run). */
  holder: string;
  log: Logger;
  metrics: WebhookMetrics;
}

const elsewhere = new WeakSet<object>();

/** Marks an outbox another process delivers (a worker's proxy of the primary's): a node writing to it only enqueues. */
export function deliveredElsewhere<T extends object>(outbox: T): T {
  elsewhere.add(outbox);
  return outbox;
}

export function assembleWebhooks(options: AssembleWebhooksOptions): NodeWebhooks {
  const { config, outbox, holder, metrics } = options;
  const { webhooks } = config;
  const log = options.log.child({ part: 'webhooks' });
  const endpointIds = () => webhooks.endpoints.map((e) => e.id);
  if (!outbox || webhooks.endpoints.length === 0) {
    const tester: WebhookTester = {
      sendTest: () => Promise.reject(new Error('no webhook endpoint is configured')),
      endpointIds,
    };
    return { emitter: NO_WEBHOOKS, tester, dispatcher: undefined, close: async () => {} };
  }
  const dispatcher = (options.deliver ?? !elsewhere.has(outbox))
    ? new WebhookDispatcher({ outbox, config: webhooks, holder, log, metrics, closeGraceMs: Math.min(2000, Math.floor(config.shutdown.timeout / 2)) })
    : undefined;
  const emitter = new OutboxEmitter({
    endpoints: webhooks.endpoints,
    outbox,
    maxQueue: webhooks.maxQueue,
    log,
    onEnqueued: () => dispatcher?.wake(),
    onDropped: (rows) => metrics.webhookEventsDropped(rows),
  });
  if (dispatcher) {
    metrics.setWebhookSource(() => outbox.stats());
    dispatcher.start();
  }
  return {
    emitter,
    tester: { sendTest: (endpoint) => emitter.sendTest(endpoint), endpointIds },
    dispatcher,
    async close() {
      await emitter.close();
      await dispatcher?.close();
    },
  };
}

/**
 * The primary of `--workers`: a dispatcher over the primary's outbox (undefined without
 * endpoints), and the outbox to serve the workers, which wakes it after their enqueues.
 */
export function hostWebhooks(options: Omit<AssembleWebhooksOptions, 'deliver' | 'outbox'> & { outbox: WebhookOutbox }): { outbox: WebhookOutbox; close(): Promise<void> } {
  const parts = assembleWebhooks({ ...options, deliver: true });
  const { outbox } = options;
  const dispatcher = parts.dispatcher;
  if (!dispatcher) return { outbox, close: () => parts.close() };
  const waking: WebhookOutbox = {
    enqueue: async (rows) => {
      await outbox.enqueue(rows);
      dispatcher.wake();
    },
    claim: (...a) => outbox.claim(...a),
    markDelivered: (...a) => outbox.markDelivered(...a),
    markFailed: (...a) => outbox.markFailed(...a),
    markDead: (...a) => outbox.markDead(...a),
    listDead: (...a) => outbox.listDead(...a),
    replay: async (...a) => {
      const n = await outbox.replay(...a);
      dispatcher.wake();
      return n;
    },
    stats: () => outbox.stats(),
    prune: (...a) => outbox.prune(...a),
  };
  return { outbox: waking, close: () => parts.close() };
}
