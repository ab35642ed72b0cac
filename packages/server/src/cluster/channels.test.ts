import type { Publication } from '@tidings/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { Hub, type HubSubscription } from '../hub/hub.js';
import { DelayedBroker } from '../test-support/delayed-broker.js';
import type { OutFrame } from '../wire/out-frame.js';
import { Channels } from './channels.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A DelayedBroker whose unsubscribe takes time too, and which says which channels it was last told to deliver. */
class LaggyBroker extends DelayedBroker {
  readonly engaged = new Set<string>();
  inFlight = 0;

  override async subscribe(channel: string): Promise<void> {
    this.inFlight++;
    try {
      await super.subscribe(channel);
      this.engaged.add(channel);
    } finally {
      this.inFlight--;
    }
  }

  override async unsubscribe(channel: string): Promise<void> {
    this.inFlight++;
    try {
      await sleep(Math.random() * 3);
      await super.unsubscribe(channel);
      this.engaged.delete(channel);
    } finally {
      this.inFlight--;
    }
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
});
