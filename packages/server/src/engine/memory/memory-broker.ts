/**
 * One node's handle on the memory engine's streams (`memory-streams.ts`): its subscriptions
 * and its handler. Handles over one `MemoryStreams` are nodes of one deployment: a publish
 * through any of them reaches every handle subscribed to the channel, in order, with its
 * position; history, positions, budgets and idempotency keys are the streams', shared.
 *
 * `new MemoryBroker(options)` makes a single node with streams of its own (closed with it);
 * `new MemoryBroker(streams)` joins shared streams (`MemoryCluster` does, per node).
 */
import type { Publication, StreamPosition } from '@tidings/protocol';
import type { Broker, BrokerHandler, ControlEvent, HistoryPage, HistoryQuery, HistoryStats, PublishOptions, PublishOutcome } from '../broker.js';
import { MemoryStreams, type MemoryStreamsOptions, type StreamSubscriber } from './memory-streams.js';

export type MemoryBrokerOptions = MemoryStreamsOptions;

const RESOLVED: Promise<void> = Promise.resolve();

export class MemoryBroker implements Broker, StreamSubscriber {
  readonly streams: MemoryStreams;
  private readonly ownsStreams: boolean;
  private handler: BrokerHandler | undefined;
  private readonly subscribed = new Set<string>();

  constructor(source: MemoryStreams | MemoryBrokerOptions) {
    this.ownsStreams = !(source instanceof MemoryStreams);
    this.streams = source instanceof MemoryStreams ? source : new MemoryStreams(source);
  }

  setHandler(handler: BrokerHandler): void {
    this.handler = handler;
  }

  publish(channel: string, data: unknown, options: PublishOptions): Promise<PublishOutcome> {
    // Not `async`: the fan-out path pays for one resolved promise, no async function machinery.
    try {
      return Promise.resolve(this.streams.publish(channel, data, options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  publishControl(channel: string, event: ControlEvent): Promise<void> {
    this.streams.publishControl(channel, event);
    return RESOLVED;
  }

  subscribe(channels: string[]): Promise<void> {
    for (const channel of channels) {
      if (this.subscribed.has(channel)) continue;
      this.subscribed.add(channel);
      this.streams.subscribe(channel, this);
    }
    return RESOLVED;
  }

  unsubscribe(channels: string[]): Promise<void> {
    for (const channel of channels) {
      if (!this.subscribed.delete(channel)) continue;
      this.streams.unsubscribe(channel, this);
    }
    return RESOLVED;
  }

  history(channel: string, query: HistoryQuery): Promise<HistoryPage> {
    try {
      return Promise.resolve(this.streams.history(channel, query));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  position(channel: string): Promise<StreamPosition> {
    return Promise.resolve(this.streams.position(channel));
  }

  removeHistory(channel: string): Promise<void> {
    this.streams.removeHistory(channel);
    return RESOLVED;
  }

  historyStats(): HistoryStats {
    return this.streams.historyStats();
  }

  /** Ends this node's subscriptions (and closes the streams when they are this broker's own). */
  close(): Promise<void> {
    for (const channel of this.subscribed) this.streams.unsubscribe(channel, this);
    this.subscribed.clear();
    this.handler = undefined;
    if (this.ownsStreams) this.streams.close();
    return RESOLVED;
  }

  /** @internal From the streams: a publication of a channel this node subscribes to. */
  deliver(channel: string, publication: Publication, position: StreamPosition | undefined): void {
    this.handler?.onPublication(channel, publication, position);
  }

  /** @internal From the streams: a control event of a channel this node subscribes to. */
  deliverControl(channel: string, event: ControlEvent): void {
    this.handler?.onControl(channel, event);
  }
}
