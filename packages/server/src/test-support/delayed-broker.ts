/**
 * A MemoryBroker whose reads and subscriptions take a few milliseconds, like a
 * broker across a network. Publications keep flowing meanwhile, which is what
 * makes the subscribe/recovery race real in tests.
 */
import type { StreamPosition } from '@tidings/protocol';
import type { HistoryPage, HistoryQuery } from '../engine/broker.js';
import { MemoryBroker, type MemoryBrokerOptions } from '../engine/memory/memory-broker.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class DelayedBroker extends MemoryBroker {
  constructor(
    options: MemoryBrokerOptions,
    private readonly maxDelayMs: number,
  ) {
    super(options);
  }

  private delay(): Promise<void> {
    return sleep(Math.random() * this.maxDelayMs);
  }

  override async subscribe(channel: string): Promise<void> {
    await this.delay();
    return super.subscribe(channel);
  }

  // Latency on the way there and on the way back: publications land both before
  // the read (history covers them) and after it (only the live buffer has them).
  override async history(channel: string, query: HistoryQuery): Promise<HistoryPage> {
    await this.delay();
    const page = await super.history(channel, query);
    await this.delay();
    return page;
  }

  override async position(channel: string): Promise<StreamPosition> {
    await this.delay();
    const position = await super.position(channel);
    await this.delay();
    return position;
  }
}
