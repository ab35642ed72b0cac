/**
 * What the Broker contract suites share (broker.contract.ts, broker-publish.contract.ts,
 * broker-two-nodes.contract.ts): the factory an implementation's test passes, a recording
 * handler, fresh channels, and waiting for deliveries.
 */
import type { Publication, StreamPosition } from '@tidings/protocol';
import type { Broker } from './broker.js';
import { sleep, unique } from './contract-support.js';

export interface BrokerFactoryOptions {
  metaTtlMs: number;
  /** Node-wide history byte budget (0: none). */
  maxBytes: number;
  /** Streams kept at most (0: no limit). */
  maxStreams: number;
  /** Idempotency keys held at most (absent: the implementation's default). */
  idempotencyMaxKeys?: number;
}

export interface BrokerNodes {
  /** `count` handles, one per node, over one shared engine state. */
  nodes: Broker[];
  /** Closes what the factory opened beyond the nodes (shared state, a relay); the nodes are closed first. */
  close(): Promise<void>;
}

export type BrokerFactory = (options: BrokerFactoryOptions, count: number) => Promise<BrokerNodes>;

/** What one node's handler received. */
export interface Received {
  channel: string;
  pub: Publication;
  position: StreamPosition | undefined;
}

/** Sets a recording handler on a broker. */
export function record(broker: Broker): { received: Received[]; events: string[] } {
  const received: Received[] = [];
  const events: string[] = [];
  broker.setHandler({
    onPublication: (channel, pub, position) => {
      received.push({ channel, pub, position });
      events.push(`pub:${channel}:${JSON.stringify(pub.data)}`);
    },
    onControl: (channel, event) => events.push(`${event.type}:${channel}:${JSON.stringify(event)}`),
  });
  return { received, events };
}

export const HISTORY = { size: 100, ttlMs: 60_000 };

export const freshChannel = () => unique('test:c');

/** A publication without the ENCODED_DATA it may carry. */
export function plain(pub: Publication): Publication {
  const out: Publication = { data: pub.data };
  if (pub.info !== undefined) out.info = pub.info;
  if (pub.offset !== undefined) out.offset = pub.offset;
  return out;
}

export type Make = (options?: Partial<BrokerFactoryOptions>) => Promise<{ broker: Broker; received: Received[] }>;

/** An idempotency key for one publish, remembered `windowMs`. */
export const once = (key: string, windowMs = 60_000) => ({ key, windowMs });

/** Polls `cond` until it holds, for at most 2 s. */
export async function waitFor(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(5);
  }
}
