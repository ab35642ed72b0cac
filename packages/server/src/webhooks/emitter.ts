/**
 * The node's `WebhookEmitter`: an event becomes one outbox row per endpoint that subscribes to
 * its type (and, for a channel's event, the channel's namespace), with one id (`msg_…`) and one
 * body for all of them: `{"type","timestamp","data"}`, the Standard Webhooks payload shape.
 *
 * `emit` never throws and never waits: rows queue here and are written to the outbox in one
 * `enqueue` per tick (one group commit however many events a tick saw), one write at a time so
 * the outbox's `seq` keeps the order events were emitted in. Beyond `maxQueue` waiting rows, new
 * events are dropped; a failed write is tried again a few times (the database may be restarting),
 * then its rows are dropped. Both are logged and counted.
 */
import { randomBytes } from 'node:crypto';
import type { WebhookEndpointConfig } from '../config/schema-webhooks.js';
import type { Logger } from '../log.js';
import type { NewOutboxRow, WebhookOutbox } from '../store/webhook-outbox.js';
import { WEBHOOK_EVENT_TYPES, type WebhookEmitter, type WebhookEvent, type WebhookEventType } from '../webhook-events.js';

/** Rows written per `enqueue` at most (a long queue goes in several). */
const WRITE_CHUNK = 1000;
/** A failed write is tried again this many times, after 0.5 s, 1 s, 1.5 s…, before its rows are dropped. */
const WRITE_RETRIES = 5;

export interface EmitterOptions {
  endpoints: readonly WebhookEndpointConfig[];
  outbox: Pick<WebhookOutbox, 'enqueue'>;
  /** Rows waiting to be written beyond which new events are dropped. */
  maxQueue: number;
  log: Logger;
  /** Rows are in the outbox (a local dispatcher looks at once). */
  onEnqueued?: () => void;
  /** Rows that will never be written (queue full, or the write failed). */
  onDropped?: (rows: number) => void;
  now?: () => number;
  /** The pause before the first retry of a failed write (the n-th waits n times this); default 500 ms. */
  writeRetryMs?: number;
}

/** A new event id: `msg_` and 128 random bits. */
export function newEventId(): string {
  return `msg_${randomBytes(16).toString('base64url')}`;
}

/** The namespace of a channel name (`chat` of `chat:lobby`; '' for a name without one). */
function namespaceOf(channel: string): string {
  const colon = channel.indexOf(':');
  return colon < 0 ? '' : channel.slice(0, colon);
}

/** Rows of one endpoint with one key are delivered in order: the channel, else the user, else the connection. */
export function orderKeyOf(event: WebhookEvent, id: string): string {
  if (event.type === 'webhook.test') return `test:${id}`;
  if (event.channel !== undefined) return event.channel;
  if (event.user) return `user:${event.user}`;
  if (event.client !== undefined) return `client:${event.client}`;
  return event.type;
}

/** The exact bytes sent (and signed): `{"type","timestamp","data":{channel?,user?,client?,…data}}`. */
export function payloadOf(event: WebhookEvent, time: number): string {
  const data: Record<string, unknown> = {};
  if (event.channel !== undefined) data['channel'] = event.channel;
  if (event.user !== undefined) data['user'] = event.user;
  if (event.client !== undefined) data['client'] = event.client;
  Object.assign(data, event.data);
  return JSON.stringify({ type: event.type, timestamp: new Date(time).toISOString(), data });
}

export class OutboxEmitter implements WebhookEmitter {
  private queue: NewOutboxRow[] = [];
  private scheduled = false;
  private writing = false;
  /** `flush` callers: told once the queue is empty, with the first write error meanwhile. */
  private waiters: Array<{ resolve(): void; reject(err: unknown): void }> = [];
  private failure: unknown;
  private closed = false;
  private droppedSinceLog = 0;
  /** Consecutive failed writes of the chunk at the front of the queue. */
  private failedWrites = 0;
  private readonly byType = new Map<WebhookEventType, WebhookEndpointConfig[]>();
  private readonly now: () => number;

  constructor(private readonly options: EmitterOptions) {
    this.now = options.now ?? Date.now;
    for (const endpoint of options.endpoints) {
      for (const type of endpoint.events) {
        const types = type === '*' ? null : [type];
        for (const t of types ?? WEBHOOK_EVENT_TYPES) {
          const list = this.byType.get(t) ?? [];
          if (!list.includes(endpoint)) list.push(endpoint);
          this.byType.set(t, list);
        }
      }
    }
  }

  wants(type: WebhookEventType): boolean {
    return this.byType.has(type);
  }

  emit(event: WebhookEvent): void {
    if (this.closed) return;
    try {
      const endpoints = this.byType.get(event.type);
      if (!endpoints) return;
      const ns = event.channel === undefined ? undefined : namespaceOf(event.channel);
      const targets = endpoints.filter((e) => ns === undefined || e.namespaces === undefined || e.namespaces.includes(ns));
      if (targets.length > 0) this.add(event, targets);
    } catch (err) {
      this.options.log.error({ err, type: event?.type }, 'webhook event not queued');
    }
  }

  /**
   * A `webhook.test` event to one endpoint (whatever its `events`) or to every endpoint;
   * resolves with its id once it is in the outbox. Throws when `endpoint` is not configured.
   */
  async sendTest(endpoint?: string): Promise<{ id: string; endpoints: string[] }> {
    const targets = endpoint === undefined ? [...this.options.endpoints] : this.options.endpoints.filter((e) => e.id === endpoint);
    if (endpoint !== undefined && targets.length === 0) throw new Error(`no webhook endpoint "${endpoint}"`);
    const id = targets.length > 0 ? this.add({ type: 'webhook.test', data: { message: 'a test event from Tidings' } }, targets, true) : newEventId();
    await this.flush();
    return { id, endpoints: targets.map((e) => e.id) };
  }

  /** Writes what is queued; later events are ignored (the node is closing, its outbox next). */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush().catch(() => {});
  }

  /** Resolves once every row queued so far is written (rejects if a write failed meanwhile). */
  flush(): Promise<void> {
    if (this.queue.length === 0 && !this.writing) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.schedule();
    });
  }

  private add(event: WebhookEvent, targets: readonly WebhookEndpointConfig[], force = false): string {
    const id = newEventId();
    if (!force && this.queue.length + targets.length > this.options.maxQueue) {
      this.dropped(targets.length);
      return id;
    }
    const time = event.time ?? this.now();
    const payload = payloadOf(event, time);
    const orderKey = orderKeyOf(event, id);
    for (const e of targets) this.queue.push({ eventId: id, endpoint: e.id, type: event.type, orderKey, payload, createdAt: time });
    this.schedule();
    return id;
  }

  private dropped(rows: number): void {
    this.options.onDropped?.(rows);
    if (this.droppedSinceLog === 0) setTimeout(() => this.logDropped(), 1000).unref();
    this.droppedSinceLog += rows;
  }

  private logDropped(): void {
    this.options.log.warn({ rows: this.droppedSinceLog, maxQueue: this.options.maxQueue }, 'webhook events dropped: the outbox queue is full (webhooks.maxQueue) or its writes fail');
    this.droppedSinceLog = 0;
  }

  private schedule(): void {
    if (this.scheduled || this.writing) return;
    this.scheduled = true;
    setImmediate(() => void this.write());
  }

  private async write(): Promise<void> {
    this.scheduled = false;
    if (this.writing) return;
    if (this.queue.length === 0) return this.settle();
    this.writing = true;
    const rows = this.queue.splice(0, WRITE_CHUNK);
    try {
      await this.options.outbox.enqueue(rows);
      this.options.onEnqueued?.();
      this.failedWrites = 0;
    } catch (err) {
      // The database may be away for a moment (PostgreSQL restarting): the rows go back to the
      // front of the queue and are written again after a pause, a few times, then dropped.
      if (!this.closed && ++this.failedWrites <= WRITE_RETRIES) {
        this.options.log.warn({ err, rows: rows.length, attempt: this.failedWrites }, 'writing webhook events to the outbox failed; retrying');
        this.queue.unshift(...rows);
        this.writing = false;
        this.scheduled = true; // new events wait for the retry, not write at once
        setTimeout(() => void this.write(), (this.options.writeRetryMs ?? 500) * this.failedWrites).unref();
        return;
      }
      this.failedWrites = 0;
      this.failure ??= err;
      this.options.log.error({ err, rows: rows.length }, 'webhook events lost: writing them to the outbox failed');
      this.dropped(rows.length);
    }
    this.writing = false;
    if (this.queue.length > 0) this.schedule();
    else this.settle();
  }

  private settle(): void {
    const waiters = this.waiters.splice(0);
    const failure = this.failure;
    this.failure = undefined;
    for (const w of waiters) {
      if (failure === undefined) w.resolve();
      else w.reject(failure);
    }
  }
}
