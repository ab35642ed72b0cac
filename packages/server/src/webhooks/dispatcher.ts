/**
 * Delivers the webhook outbox: claims due rows (leased to this process, `holder`), signs and
 * POSTs each to its endpoint, and marks it delivered (2xx), failed with its next attempt
 * (network error, timeout, 429, 5xx, and other answers that are not 4xx), or dead (other 4xx at
 * once; attempts past `retry.maxAttempts`, or a next attempt past `retry.maxAge` after the
 * event). Backoff doubles from `retry.initial` up to `retry.max`, with jitter; a `Retry-After`
 * is waited at least.
 *
 * It looks at the outbox every `pollInterval`, and at once when woken (a local enqueue, or a
 * row finished, which lets the next row of its key go). Each endpoint has at most
 * `concurrency` requests in flight; claimed rows wait here for a free slot, and one whose lease
 * would run out before its answer could come is not sent (it goes back to the outbox with its
 * lease). Order per key is the outbox's: it hands out one row of a key at a time.
 *
 * `close` stops claiming, gives in-flight requests `closeGraceMs` to finish, aborts the rest,
 * and hands every row it holds back (failed, due now) so the next holder sends it at once.
 */
import { setMaxListeners } from 'node:events';
import { VERSION } from '../version.js';
import type { WebhookEndpointConfig, WebhooksConfig } from '../config/schema-webhooks.js';
import type { Logger } from '../log.js';
import type { OutboxRow, WebhookOutbox } from '../store/webhook-outbox.js';
import { createPoster, type PostOutcome, type Poster } from './post.js';
import { secretKey, signHeaders } from './sign.js';

export type DeliveryOutcome = 'delivered' | 'failed' | 'dead';

export interface DeliveryMetrics {
  /** One attempt's outcome and how long its request took (absent when none was made). */
  webhookDelivery(endpoint: string, outcome: DeliveryOutcome, seconds?: number): void;
}

export interface DispatcherOptions {
  outbox: WebhookOutbox;
  config: Pick<WebhooksConfig, 'endpoints' | 'retry' | 'lease' | 'pollInterval' | 'batchSize' | 'retention'>;
  /** Names this process's leases: unique per process run. */
  holder: string;
  log: Logger;
  metrics?: DeliveryMetrics;
  /** How long `close` lets requests in flight finish before aborting them. */
  closeGraceMs: number;
  now?: () => number;
  random?: () => number;
}

interface Endpoint {
  config: WebhookEndpointConfig;
  keys: Buffer[];
  poster: Poster;
  inFlight: number;
  waiting: Array<{ row: OutboxRow; leaseEnd: number }>;
}

export class WebhookDispatcher {
  private readonly endpoints = new Map<string, Endpoint>();
  /** Endpoints of rows claimed that this node has not configured (warned about once). */
  private readonly unknown = new Set<string>();
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly abort = new AbortController();
  /** Every row claimed and not yet finished: waiting for a slot or in flight. */
  private held = 0;
  private readonly capacity: number;
  private readonly running = new Set<Promise<void>>();
  private ticking: Promise<void> | undefined;
  private again = false;
  private wakeScheduled = false;
  private closing = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: DispatcherOptions) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    let capacity = 0;
    for (const config of options.config.endpoints) {
      const secrets = typeof config.secret === 'string' ? [config.secret] : config.secret;
      this.endpoints.set(config.id, { config, keys: secrets.map(secretKey), poster: createPoster(config.url, config.timeout, config.concurrency), inFlight: 0, waiting: [] });
      capacity += config.concurrency;
    }
    this.capacity = Math.max(1, capacity);
    // Every request in flight listens to the one abort signal.
    setMaxListeners(0, this.abort.signal);
  }

  start(): void {
    if (this.pollTimer || this.closing) return;
    this.pollTimer = setInterval(() => this.wake(), this.options.config.pollInterval);
    this.pollTimer.unref();
    this.pruneTimer = setInterval(() => void this.prune(), this.options.config.retention.interval);
    this.pruneTimer.unref();
    this.wake();
  }

  /** Looks at the outbox soon (coalesced): rows were enqueued, or a row finished. */
  wake(): void {
    if (this.closing || this.wakeScheduled) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      if (this.ticking) this.again = true;
      else this.ticking = this.tick().finally(() => (this.ticking = undefined));
    });
  }

  /** Requests in flight and rows waiting for a slot. */
  get inFlight(): number {
    return this.held;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.pollTimer);
    clearInterval(this.pruneTimer);
    await this.ticking;
    // Rows waiting for a slot go back at once; requests in flight get a grace, then are aborted.
    for (const endpoint of this.endpoints.values()) for (const { row } of endpoint.waiting.splice(0)) this.track(this.release(endpoint, row, 'not sent: the node shut down'));
    if (this.running.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...this.running]), new Promise((resolve) => (timer = setTimeout(resolve, this.options.closeGraceMs)))]);
      clearTimeout(timer);
    }
    this.abort.abort();
    await Promise.allSettled([...this.running]);
    for (const endpoint of this.endpoints.values()) endpoint.poster.close();
  }

  private async tick(): Promise<void> {
    const { outbox, holder, config } = this.options;
    try {
      do {
        this.again = false;
        const limit = Math.min(config.batchSize, this.capacity - this.held);
        if (limit <= 0 || this.closing) return;
        const claimedAt = this.now();
        const rows = await outbox.claim(holder, claimedAt, config.lease, limit);
        for (const row of rows) this.accept(row, claimedAt + config.lease);
        // A full batch: more may be due.
        if (rows.length === limit) this.again = true;
      } while (this.again && !this.closing);
    } catch (err) {
      this.options.log.warn({ err }, 'claiming webhook rows failed (tried again at the next poll)');
    }
  }

  private accept(row: OutboxRow, leaseEnd: number): void {
    this.held++;
    const endpoint = this.endpoints.get(row.endpoint);
    if (!endpoint) {
      // Another node's endpoint (a configuration being rolled out), or one removed: not ours to send; the lease hands it on.
      this.held--;
      if (!this.unknown.has(row.endpoint)) this.options.log.warn({ endpoint: row.endpoint }, 'webhook rows of an endpoint this node has not configured are left to the nodes that have it');
      this.unknown.add(row.endpoint);
      return;
    }
    endpoint.waiting.push({ row, leaseEnd });
    this.next(endpoint);
  }

  /** Starts the endpoint's waiting rows while it has free slots. */
  private next(endpoint: Endpoint): void {
    while (!this.closing && endpoint.inFlight < endpoint.config.concurrency && endpoint.waiting.length > 0) {
      const { row, leaseEnd } = endpoint.waiting.shift()!;
      if (leaseEnd - this.now() <= endpoint.config.timeout) {
        // Its answer might come after the lease passed to another holder: not sent; the row goes back with its lease.
        this.held--;
        continue;
      }
      endpoint.inFlight++;
      this.track(
        this.attempt(endpoint, row).finally(() => {
          endpoint.inFlight--;
          this.next(endpoint);
        }),
      );
    }
  }

  private track(work: Promise<void>): void {
    this.running.add(work);
    void work.finally(() => this.running.delete(work));
  }

  private async attempt(endpoint: Endpoint, row: OutboxRow): Promise<void> {
    const { config } = endpoint;
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = {
      ...config.headers,
      'content-type': 'application/json',
      'user-agent': `tidings-webhooks/${VERSION}`,
      ...signHeaders(endpoint.keys, row.eventId, timestamp, row.payload),
    };
    const started = performance.now();
    let outcome: PostOutcome;
    try {
      outcome = await endpoint.poster.post(row.payload, headers, this.abort.signal);
    } catch (err) {
      outcome = { error: (err as Error).message };
    }
    const seconds = (performance.now() - started) / 1000;
    await this.settle(endpoint, row, outcome, seconds);
  }

  /** Marks the row after an attempt: delivered, failed (due again later) or dead. */
  private settle(endpoint: Endpoint, row: OutboxRow, outcome: PostOutcome, seconds: number): Promise<void> {
    const { outbox, holder, config } = this.options;
    const { status } = outcome;
    const id = endpoint.config.id;
    const now = this.now();
    if (status !== undefined && status >= 200 && status < 300) return this.finish(id, seconds, () => outbox.markDelivered(row.seq, holder, now), 'delivered');
    const error = outcome.error ?? `HTTP ${status}`;
    const withStatus = status !== undefined ? { status } : {};
    const attempts = row.attempts + 1;
    const terminal = status !== undefined && status >= 400 && status < 500 && status !== 429;
    let next = now + Math.max(this.backoff(attempts), outcome.retryAfterMs ?? 0);
    let reason: string | undefined;
    if (terminal) reason = error;
    else if (attempts >= config.retry.maxAttempts) reason = `${error} (after ${attempts} attempts, webhooks.retry.maxAttempts)`;
    else if (next > row.createdAt + config.retry.maxAge) reason = `${error} (no attempt left within webhooks.retry.maxAge)`;
    if (reason !== undefined) {
      const failure = { ...withStatus, error: reason, now };
      return this.finish(id, seconds, () => outbox.markDead(row.seq, holder, failure), 'dead');
    }
    if (this.closing) next = now;
    return this.finish(id, seconds, () => outbox.markFailed(row.seq, holder, { ...withStatus, error, nextAttemptAt: next }), 'failed');
  }

  /** A row handed back without an attempt that counts for anything but the outbox (the node shuts down). */
  private release(endpoint: Endpoint, row: OutboxRow, error: string): Promise<void> {
    return this.finish(endpoint.config.id, undefined, () => this.options.outbox.markFailed(row.seq, this.options.holder, { error, nextAttemptAt: this.now() }), undefined);
  }

  /** Writes a row's outcome (a lost lease or a failed write leaves the row to its lease), counts it, and lets the next rows go. */
  private async finish(endpoint: string, seconds: number | undefined, mark: () => Promise<boolean>, outcome: DeliveryOutcome | undefined): Promise<void> {
    try {
      const applied = await mark();
      if (!applied) this.options.log.warn({ endpoint }, 'a webhook row had passed to another holder before its outcome was written');
    } catch (err) {
      this.options.log.warn({ err, endpoint }, 'writing a webhook outcome failed (the row is sent again when its lease ends)');
    } finally {
      this.held--;
      if (outcome !== undefined) this.options.metrics?.webhookDelivery(endpoint, outcome, seconds);
      this.wake();
    }
  }

  /** The wait after `attempts` failed attempts: `initial` doubled each time, at most `max`, less up to 20 % jitter. */
  backoff(attempts: number): number {
    const { initial, max } = this.options.config.retry;
    const base = Math.min(max, initial * 2 ** Math.min(attempts - 1, 40));
    return Math.round(base * (1 - 0.2 * this.random()));
  }

  private async prune(): Promise<void> {
    const { retention } = this.options.config;
    const now = this.now();
    try {
      const removed = await this.options.outbox.prune(now - retention.delivered, now - retention.dead);
      if (removed > 0) this.options.log.debug({ removed }, 'old webhook rows deleted');
    } catch (err) {
      this.options.log.warn({ err }, 'deleting old webhook rows failed');
    }
  }
}
