import type { Publication, StreamPosition } from '@tidings/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/schema.js';
import type { Engine } from '../engine/engine.js';
import { MemoryBroker } from '../engine/memory/memory-broker.js';
import { MemoryCluster, memoryClusterOptions } from '../engine/memory/memory-cluster.js';
import { Hub, type HubSubscription } from '../hub/hub.js';
import { DelayedBroker } from '../test-support/delayed-broker.js';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, type TestNode } from '../test-support/test-node.js';
import type { OutFrame } from '../wire/out-frame.js';
import { Channels } from './channels.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A DelayedBroker whose unsubscribe takes time too, and which says which channels it was last told to deliver and how it was called. */
class LaggyBroker extends DelayedBroker {
  readonly engaged = new Set<string>();
  readonly calls: string[][] = [];
  inFlight = 0;

  override async subscribe(channels: string[]): Promise<void> {
    this.calls.push(['subscribe', ...channels]);
    this.inFlight++;
    try {
      await super.subscribe(channels);
      for (const channel of channels) this.engaged.add(channel);
    } finally {
      this.inFlight--;
    }
  }

  override async unsubscribe(channels: string[]): Promise<void> {
    this.calls.push(['unsubscribe', ...channels]);
    this.inFlight++;
    try {
      await sleep(Math.random() * 3);
      await super.unsubscribe(channels);
      for (const channel of channels) this.engaged.delete(channel);
    } finally {
      this.inFlight--;
    }
  }
}

/** A broker handle that loses the delivery of some stored publications, as a failure between nodes would (history still has them). */
class LossyBroker extends MemoryBroker {
  constructor(
    source: ConstructorParameters<typeof MemoryBroker>[0],
    private readonly lose: (position: StreamPosition) => boolean,
  ) {
    super(source);
  }

  override deliver(channel: string, publication: Publication, position: StreamPosition | undefined): void {
    if (position && this.lose(position)) return;
    super.deliver(channel, publication, position);
  }
}

function subscriber(channel: string, user = 'u'): HubSubscription & { pubs: Publication[]; controls: string[] } {
  const pubs: Publication[] = [];
  const controls: string[] = [];
  return {
    channel,
    user,
    pubs,
    controls,
    deliver: (pub: Publication) => void pubs.push(pub),
    deliverControl: (frame: OutFrame) => void controls.push(frame.text),
  };
}

/** Waits (bounded) until no engine call is under way. */
async function settled(broker: LaggyBroker): Promise<void> {
  // A queued call starts a microtask after the one before it ends: a timer tick sees it.
  await sleep(1);
  for (let i = 0; i < 500 && broker.inFlight > 0; i++) await sleep(2);
  expect(broker.inFlight).toBe(0);
}

describe('Channels (cluster/channels.ts)', () => {
  let broker: LaggyBroker;
  afterEach(() => broker?.close());

  it('racing subscribes and unsubscribes on one channel leave the engine subscribed exactly when the hub has subscribers', async () => {
    broker = new LaggyBroker({ metaTtlMs: 60_000 }, 3);
    const hub = new Hub();
    const channels = new Channels(broker, hub);
    const channel = 'chat:race';
    for (let round = 0; round < 60; round++) {
      const live = new Set<HubSubscription>();
      const pending: Promise<unknown>[] = [];
      for (let step = 0; step < 12; step++) {
        const leave = live.size > 0 && Math.random() < 0.5;
        if (leave) {
          const sub = [...live][Math.floor(Math.random() * live.size)]!;
          live.delete(sub);
          channels.unsubscribe(sub);
        } else {
          const sub = subscriber(channel);
          live.add(sub);
          pending.push(channels.subscribe(sub).catch(() => {}));
        }
        if (Math.random() < 0.3) await sleep(Math.random() * 3);
      }
      // Half the rounds end with nobody left: the last unsubscribe races the subscribes still in flight.
      if (round % 2 === 0) for (const sub of live) channels.unsubscribe(sub), live.delete(sub);
      await Promise.all(pending);
      await settled(broker);
      expect(hub.subscriberCount(channel)).toBe(live.size);
      expect(broker.engaged.has(channel)).toBe(live.size > 0);
      // And the engine really delivers (or not): a publication reaches every subscriber left.
      const before = [...live].map((s) => (s as ReturnType<typeof subscriber>).pubs.length);
      await broker.publish(channel, { round }, {});
      expect([...live].map((s) => (s as ReturnType<typeof subscriber>).pubs.length)).toEqual(before.map((n) => n + 1));
      for (const sub of live) channels.unsubscribe(sub);
      await settled(broker);
      expect(broker.engaged.has(channel)).toBe(false);
    }
  });

  it('subscribe resolves once the engine delivers the channel; control events skip the excepted user', async () => {
    broker = new LaggyBroker({ metaTtlMs: 60_000 }, 5);
    const channels = new Channels(broker, new Hub());
    const a = subscriber('chat:c', 'alice');
    const b = subscriber('chat:c', 'bob');
    await Promise.all([channels.subscribe(a), channels.subscribe(b)]);
    expect(broker.engaged.has('chat:c')).toBe(true);
    await broker.publish('chat:c', { text: 'hi' }, {});
    expect(a.pubs.map((p) => p.data)).toEqual([{ text: 'hi' }]);
    expect(b.pubs.map((p) => p.data)).toEqual([{ text: 'hi' }]);
    await broker.publishControl('chat:c', { type: 'typing', user: 'alice', typing: true, exceptUser: 'alice' });
    expect(a.controls).toEqual([]);
    expect(JSON.parse(b.controls[0]!)).toMatchObject({ type: 'typing', channel: 'chat:c', user: 'alice', typing: true });
  });

  it('coalesces the engine calls of one tick: N first subscribers of N channels make one subscribe call, their last unsubscribes one unsubscribe call', async () => {
    broker = new LaggyBroker({ metaTtlMs: 60_000 }, 2);
    const channels = new Channels(broker, new Hub());
    const subs = Array.from({ length: 25 }, (_, i) => subscriber(`chat:batch-${i}`));
    // A second subscriber of a channel adds no engine call.
    const again = subscriber('chat:batch-0');
    await Promise.all([...subs, again].map((sub) => channels.subscribe(sub)));
    expect(broker.calls).toEqual([['subscribe', ...subs.map((s) => s.channel)]]);
    for (const sub of subs) expect(broker.engaged.has(sub.channel)).toBe(true);
    for (const sub of [...subs, again]) channels.unsubscribe(sub);
    await settled(broker);
    expect(broker.calls).toHaveLength(2);
    // chat:batch-0 is released by its second subscriber, the last to leave.
    expect(broker.calls[1]).toEqual(['unsubscribe', ...subs.slice(1).map((s) => s.channel), 'chat:batch-0']);
    expect(broker.engaged.size).toBe(0);
  });

  it('reports a delivery gap when an offset is skipped or the epoch changes, and still hands the publication on', async () => {
    const lossy = new LossyBroker({ metaTtlMs: 60_000 }, (p) => p.offset === 3);
    const gaps: Array<[string, StreamPosition, StreamPosition]> = [];
    const channels = new Channels(lossy, new Hub(), (channel, last, next) => void gaps.push([channel, last, next]));
    try {
      const sub = subscriber('chat:gap');
      await channels.subscribe(sub);
      const history = { size: 100, ttlMs: 60_000 };
      for (let i = 1; i <= 4; i++) await lossy.publish('chat:gap', i, { history });
      expect(sub.pubs.map((p) => p.offset)).toEqual([1, 2, 4]);
      const epoch = (await lossy.position('chat:gap')).epoch;
      expect(gaps).toEqual([['chat:gap', { epoch, offset: 2 }, { epoch, offset: 4 }]]);
      // The stream lost and started again: a new epoch is a gap too.
      await lossy.removeHistory('chat:gap');
      const next = (await lossy.publish('chat:gap', 5, { history })).position!;
      expect(next.offset).toBe(1);
      expect(gaps[1]).toEqual(['chat:gap', { epoch, offset: 4 }, next]);
      // Live-only publications carry no position and are not checked.
      await lossy.publish('chat:gap', 'live', {});
      expect(gaps).toHaveLength(2);
    } finally {
      await lossy.close();
    }
  });
});

describe('delivery gaps on a node (cluster/delivery-gaps.ts)', () => {
  let t: TestNode | undefined;
  let cluster: MemoryCluster | undefined;
  afterEach(async () => {
    await t?.close();
    await cluster?.close();
  });

  it('tells the live subscribers of a channel whose delivery skipped an offset to subscribe again with recovery (unsubscribe 2500), and counts it', async () => {
    cluster = new MemoryCluster(memoryClusterOptions(resolveConfig({})));
    const node = cluster.node();
    const lossy = new LossyBroker(cluster.streams, (p) => p.offset === 2);
    const engine: Engine = { ...node, broker: lossy, close: async () => (await lossy.close(), node.close()) };
    t = await startTestNode({ engine });
    const { client } = await TestClient.connect(t.wsUrl, await t.token('alice'));
    try {
      await client.ok('subscribe', { channel: 'chat:gap' });
      for (let i = 1; i <= 3; i++) await t.node.publish('chat:gap', { n: i });
      const push = await client.waitForPush((p) => p.type === 'unsubscribe');
      expect(push).toMatchObject({ type: 'unsubscribe', channel: 'chat:gap', code: 2500 });
      // It got offset 1, never 2, and the gap's publication reached it by no other way than recovery.
      expect(client.publications('chat:gap').map((p) => p.offset)).toEqual([1]);
      // Subscribing again with recovery from the last position it saw brings what the gap skipped.
      const again = await client.ok('subscribe', { channel: 'chat:gap', recover: { epoch: (await t.node.history('chat:gap', { limit: 0 })).epoch, offset: 1 } });
      expect(again).toMatchObject({ recovered: true });
      expect(again.publications.map((p: Publication) => p.offset)).toEqual([2, 3]);
      expect(await t.node.metrics.registry.getSingleMetricAsString('tidings_delivery_gaps_total')).toMatch(/tidings_delivery_gaps_total 1$/m);
    } finally {
      client.close();
    }
  });
});
