import { randomBytes } from 'node:crypto';
import type { Publication, StreamPosition } from '@tidings/protocol';
import type {
  Broker,
  BrokerHandler,
  ControlEvent,
  HistoryPage,
  HistoryQuery,
  PublishOptions,
  PublishOutcome,
} from '../broker.js';

export interface MemoryBrokerOptions {
  /** A stream without publications for this long is forgotten (its next publish starts a new epoch). */
  metaTtlMs: number;
  /** How often expired streams are swept. */
  sweepIntervalMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

interface StoredPublication {
  pub: Publication;
  expiresAt: number;
}

interface Stream {
  epoch: string;
  top: number;
  /** Oldest first; at most the namespace's history size. */
  items: StoredPublication[];
  touchedAt: number;
}

function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

/**
 * Broker for a single node: history and positions live in this process and are
 * lost on restart, which is why every stream gets a fresh random epoch: a client
 * recovering across a restart learns `recovered: false` instead of a silent gap.
 */
export class MemoryBroker implements Broker {
  private handler: BrokerHandler | undefined;
  private readonly streams = new Map<string, Stream>();
  private readonly subscribed = new Set<string>();
  private readonly now: () => number;
  private readonly sweepTimer: NodeJS.Timeout;

  constructor(private readonly options: MemoryBrokerOptions) {
    this.now = options.now ?? Date.now;
    this.sweepTimer = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 60_000);
    this.sweepTimer.unref();
  }

  setHandler(handler: BrokerHandler): void {
    this.handler = handler;
  }

  publish(channel: string, data: unknown, options: PublishOptions): Promise<PublishOutcome> {
    // Not `async`: the fan-out path saves the async function's extra promise machinery.
    try {
      return Promise.resolve(this.publishSync(channel, data, options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Synchronous core of `publish`, so the library's hot path pays for no extra promise hop. */
  publishSync(channel: string, data: unknown, options: PublishOptions): PublishOutcome {
    const now = this.now();
    const pub: Publication = options.info ? { data, info: options.info } : { data };
    let outcome: PublishOutcome;
    if (options.history && options.history.size > 0) {
      const stream = this.stream(channel, now);
      pub.offset = ++stream.top;
      stream.touchedAt = now;
      stream.items.push({ pub, expiresAt: now + options.history.ttlMs });
      while (stream.items.length > options.history.size) stream.items.shift();
      outcome = { position: { epoch: stream.epoch, offset: pub.offset } };
    } else {
      outcome = {};
    }
    if (this.handler && this.subscribed.has(channel)) this.handler.onPublication(channel, pub);
    return outcome;
  }

  async publishControl(channel: string, event: ControlEvent): Promise<void> {
    if (this.handler && this.subscribed.has(channel)) this.handler.onControl(channel, event);
  }

  async subscribe(channel: string): Promise<void> {
    this.subscribed.add(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.subscribed.delete(channel);
  }

  async history(channel: string, query: HistoryQuery): Promise<HistoryPage> {
    return this.historySync(channel, query);
  }

  historySync(channel: string, query: HistoryQuery): HistoryPage {
    const now = this.now();
    const stream = this.stream(channel, now);
    this.dropExpired(stream, now);
    const position = { epoch: stream.epoch, offset: stream.top };
    if (query.limit <= 0) return { position, publications: [] };
    let items = stream.items;
    if (query.since) {
      if (query.since.epoch !== stream.epoch) return { position, publications: [] };
      const after = query.since.offset;
      // Offsets in `items` are consecutive, so the start index is arithmetic.
      const first = items.length > 0 ? items[0]!.pub.offset! : stream.top + 1;
      items = items.slice(Math.max(0, after + 1 - first));
    }
    const selected = query.reverse ? items.slice(-query.limit).reverse() : items.slice(0, query.limit);
    return { position, publications: selected.map((s) => s.pub) };
  }

  async position(channel: string): Promise<StreamPosition> {
    const stream = this.stream(channel, this.now());
    return { epoch: stream.epoch, offset: stream.top };
  }

  async removeHistory(channel: string): Promise<void> {
    this.streams.delete(channel);
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
  }

  /** A stream expires after `metaTtlMs` without publications, unless this node has subscribers to it. */
  private expired(channel: string, stream: Stream, now: number): boolean {
    return now - stream.touchedAt > this.options.metaTtlMs && !this.subscribed.has(channel);
  }

  private stream(channel: string, now: number): Stream {
    let stream = this.streams.get(channel);
    if (stream && this.expired(channel, stream, now)) {
      this.streams.delete(channel);
      stream = undefined;
    }
    if (!stream) {
      stream = { epoch: newEpoch(), top: 0, items: [], touchedAt: now };
      this.streams.set(channel, stream);
    }
    return stream;
  }

  private dropExpired(stream: Stream, now: number): void {
    let n = 0;
    while (n < stream.items.length && stream.items[n]!.expiresAt <= now) n++;
    if (n > 0) stream.items.splice(0, n);
  }

  /** Frees memory of expired publications and forgotten streams. */
  sweep(): void {
    const now = this.now();
    for (const [channel, stream] of this.streams) {
      if (this.expired(channel, stream, now)) this.streams.delete(channel);
      else this.dropExpired(stream, now);
    }
  }
}
