/**
 * What the presence feature asks of the engine, counted: the feature with the real cluster part
 * (cluster/presence-writes.ts) over the real memory stores, each store call recorded. The
 * feature's behaviour as clients see it is in presence.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ResolvedChannel } from '../auth/channel-policy.js';
import { PresenceWrites } from '../cluster/presence-writes.js';
import { resolveConfig } from '../config/schema.js';
import type { ControlEvent } from '../engine/broker.js';
import { MemoryPresenceManager } from '../engine/memory/memory-presence.js';
import { MemoryTypingStore } from '../engine/memory/memory-typing.js';
import { MemoryUserStatusStore } from '../engine/memory/memory-user-status.js';
import { emptyHooks, type ConnectionContext } from '../hooks.js';
import { createLogger } from '../log.js';
import { PresenceFeature, type PresenceChannel, type PresenceMember } from './presence.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TTL = 300;

/** Records every method call on `target` as `name.method`, then makes it. */
function counted<T extends object>(target: T, name: string, calls: string[]): T {
  return new Proxy(target, {
    get(t, key) {
      const value = Reflect.get(t, key, t) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(`${name}.${String(key)}`);
        return (value as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
}

interface Member extends PresenceMember {
  readonly subs: Map<string, PresenceChannel>;
}

function member(id: string, user: string): Member {
  return {
    id,
    user,
    info: undefined,
    clientInfo: { user, client: id },
    context: {} as ConnectionContext,
    request: { remoteAddress: '127.0.0.1' },
    status: 'online',
    closed: false,
    subs: new Map(),
    push: () => {},
  };
}

const config = resolveConfig({ namespaces: { chat: { presence: true, joinLeave: true } } });
const open: Array<{ close(): Promise<void> | void }> = [];
afterEach(async () => {
  for (const part of open.splice(0)) await part.close();
});

function setup() {
  const calls: string[] = [];
  const events: Array<{ channel: string; event: ControlEvent }> = [];
  const presence = new MemoryPresenceManager({ ttlMs: TTL });
  const userStatus = new MemoryUserStatusStore({ ttlMs: TTL, lastSeenTtlMs: 60_000 });
  const typing = new MemoryTypingStore();
  open.push(presence, userStatus, typing);
  const state = new PresenceWrites(counted(presence, 'presence', calls), counted(userStatus, 'userStatus', calls), counted(typing, 'typing', calls));
  const feature = new PresenceFeature({
    config,
    log: createLogger('silent'),
    channels: { subscribe: async () => {}, unsubscribe: () => {} },
    control: { publishControl: async (channel, event) => void events.push({ channel, event }) },
    state,
    hooks: emptyHooks(),
    limitHit: () => {},
  });
  open.push(feature);
  const enter = async (m: Member, channel: string) => {
    const sub: PresenceChannel = { channel, target: { channel, ns: config.namespaces.chat!, personal: false } as ResolvedChannel };
    m.subs.set(channel, sub);
    return feature.enterChannel(m, sub);
  };
  return { calls, events, presence, userStatus, feature, enter };
}

describe('presence feature: engine calls', () => {
  it('refresh keeps all of a node’s entries alive with one engine call per kind, whatever their number', async () => {
    const { calls, presence, userStatus, feature, enter } = setup();
    const members = [member('m1', 'alice'), member('m2', 'alice'), member('m3', 'bob')];
    for (const m of members) {
      await feature.connectionOpened(m);
      await enter(m, 'chat:one');
      await enter(m, 'chat:two');
    }
    await sleep(TTL - 100);
    calls.length = 0;
    feature.refresh(members);
    await sleep(10);
    // Three connections in two channels each: one presence touch (6 entries) and one status touch (3).
    expect(calls.sort()).toEqual(['presence.touch', 'userStatus.touch']);
    await sleep(200);
    // Past the first ttl: everything the refresh named is still there.
    for (const channel of ['chat:one', 'chat:two']) expect(await presence.stats(channel)).toEqual({ clients: 3, users: 2 });
    expect(await userStatus.get('alice')).toMatchObject({ status: 'online', connections: 2 });
    expect(await userStatus.get('bob')).toMatchObject({ status: 'online', connections: 1 });
    // Nothing to refresh, no engine call.
    calls.length = 0;
    feature.refresh([]);
    await sleep(10);
    expect(calls).toEqual([]);
  });

  it('enterChannel answers with the snapshot its own add produced: of two concurrent subscribes the first does not list the second', async () => {
    const { calls, events, enter } = setup();
    const [first, second] = await Promise.all([enter(member('k1', 'kim'), 'chat:race'), enter(member('l1', 'lee'), 'chat:race')]);
    expect(Object.keys(first!.clients)).toEqual(['k1']);
    expect(first!.users.map((u) => u.user)).toEqual(['kim']);
    expect(Object.keys(second!.clients).sort()).toEqual(['k1', 'l1']);
    expect(second!.users.map((u) => u.user)).toEqual(['kim', 'lee']);
    // lee reaches kim as a join (not in kim's snapshot): one join each, no separate presence read.
    expect(events.map((e) => e.event.type === 'join' && e.event.info.user)).toEqual(['kim', 'lee']);
    expect(calls).toEqual(['presence.add', 'presence.add']);
  });
});
