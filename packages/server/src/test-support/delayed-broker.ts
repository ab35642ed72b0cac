/**
 * A MemoryBroker whose reads and subscriptions take a few milliseconds, like a
 * broker across a network. Publications keep flowing meanwhile, which is what
 * makes the subscribe/recovery race real in tests. `delayedEngine` is a memory engine
 * whose broker is one, for `createTidings({ engine })`.
 */
import type { StreamPosition } from '@tidings/protocol';
import { resolveConfig } from '../config/schema.js';
import type { HistoryPage, HistoryQuery } from '../engine/broker.js';
import type { Engine } from '../engine/engine.js';
import { MemoryBroker, type MemoryBrokerOptions } from '../engine/memory/memory-broker.js';
import { MemoryCluster, memoryClusterOptions } from '../engine/memory/memory-cluster.js';
import type { MemoryStreams } from '../engine/memory/memory-streams.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class DelayedBroker extends MemoryBroker {
  constructor(
    source: MemoryStreams | MemoryBrokerOptions,
    private readonly maxDelayMs: number,
  ) {
    super(source);
  }

  private delay(): Promise<void> {
    return sleep(Math.random() * this.maxDelayMs);
  }

  override async subscribe(channels: string[]): Promise<void> {
    await this.delay();
    return super.subscribe(channels);
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

/** A memory engine of one node (default settings) whose broker is a `DelayedBroker`; closed with the node. */
export function delayedEngine(maxDelayMs: number): Engine {
  const cluster = new MemoryCluster(memoryClusterOptions(resolveConfig({})));
  const node = cluster.node();
  const broker = new DelayedBroker(cluster.streams, maxDelayMs);
  return {
    ...node,
    broker,
    close: async () => {
      await broker.close();
      await cluster.close();
    },
  };
}
