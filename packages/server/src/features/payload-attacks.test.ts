/**
 * Attack classes on what clients put in their commands (issue 20 §6), each a named test against a
 * real node on 127.0.0.1: presence spoofing (whatever user or info a client sends, presence and
 * publications carry its token's user) and `__proto__` payloads (publish data and presence state
 * with `__proto__` / `constructor` keys travel as plain data and pollute nothing in the node's
 * process). docs/reliability.md "Attack classes" lists every class and its test.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, type TestNode } from '../test-support/test-node.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let t: TestNode | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** The node serves a fresh client end to end. */
async function expectHealthy(n: TestNode): Promise<void> {
  const { client } = await TestClient.connect(n.wsUrl, await n.token('fresh'));
  await client.ok('subscribe', { channel: 'chat:health' });
  await client.ok('publish', { channel: 'chat:health', data: { ok: true } });
  expect(await client.waitForPush((p) => p.type === 'publication' && p.channel === 'chat:health')).toMatchObject({ data: { ok: true } });
  client.close();
}

/** Properties any object would inherit if Object.prototype had been written to. */
function prototypeIsClean(): void {
  const probe = {} as Record<string, unknown>;
  for (const key of ['polluted', 'isAdmin', 'user', 'roles']) expect(probe[key], key).toBeUndefined();
  expect(Object.keys(Object.prototype)).toEqual([]);
}

describe('presence spoofing', () => {
  it('attack: presence spoofing: whatever user or info a client sends, presence, joins, typing and publications carry its token\'s user', async () => {
    t = await startTestNode();
    const { client: bob } = await TestClient.connect(t.wsUrl, await t.token('bob', { info: { name: 'Bob' } }));
    await bob.ok('subscribe', { channel: 'chat:lobby' });
    // Mallory claims to be alice (and an admin) in every field a command could carry one.
    const spoof = { user: 'alice', client: 'alice-client', info: { name: 'Alice', admin: true }, roles: ['staff'] };
    const mallory = await TestClient.open(t.wsUrl);
    const connected = await mallory.call('connect', { token: await t.token('mallory', { info: { name: 'Mallory' } }), ...spoof, data: spoof });
    expect(connected).toMatchObject({ result: { user: 'mallory' } });
    await mallory.call('subscribe', { channel: 'chat:lobby', ...spoof, data: spoof });
    await mallory.call('presence_state', { channel: 'chat:lobby', state: spoof, ...spoof });
    await mallory.call('status', { status: 'away', ...spoof });
    await mallory.call('typing', { channel: 'chat:lobby', typing: true, ...spoof });
    await mallory.call('publish', { channel: 'chat:lobby', data: { text: 'hi' }, ...spoof });
    // Staff-only: the spoofed roles give nothing.
    expect(await mallory.call('subscribe', { channel: 'staff:room', ...spoof })).toMatchObject({ error: { code: 'permission_denied' } });

    const join = await bob.waitForPush((p) => p.type === 'join' && p.channel === 'chat:lobby' && (p as { info: { user: string } }).info.user !== 'bob');
    expect(join).toMatchObject({ info: { user: 'mallory', info: { name: 'Mallory' } } });
    const pub = await bob.waitForPush((p) => p.type === 'publication' && p.channel === 'chat:lobby');
    expect(pub).toMatchObject({ data: { text: 'hi' }, info: { user: 'mallory', info: { name: 'Mallory' } } });
    const typing = await bob.waitForPush((p) => p.type === 'typing' && p.channel === 'chat:lobby');
    expect(typing).toMatchObject({ user: 'mallory' });
    const presence = (await bob.ok('presence', { channel: 'chat:lobby' })) as { clients: Record<string, { user: string; info?: unknown }>; users: Array<{ user: string; info?: unknown; state?: unknown }> };
    expect(Object.values(presence.clients).map((c) => c.user).sort()).toEqual(['bob', 'mallory']);
    expect(Object.keys(presence.clients)).not.toContain('alice-client');
    const entry = presence.users.find((u) => u.user === 'mallory')!;
    expect(entry.info).toEqual({ name: 'Mallory' });
    // The state is what mallory set, as data under her own entry: it names alice, and is nobody's identity.
    expect(entry.state).toEqual(spoof);
    expect(presence.users.map((u) => u.user).sort()).toEqual(['bob', 'mallory']);
    // Nothing was said in alice's name anywhere.
    const named = bob.pushes.map((p) => {
      const push = p as { type: string; user?: unknown; info?: { user?: string } };
      if (push.type === 'join' || push.type === 'leave' || push.type === 'publication') return push.info?.user;
      if (push.type === 'presence') return (push.user as { user?: string } | undefined)?.user;
      return typeof push.user === 'string' ? push.user : undefined;
    });
    expect(named).not.toContain('alice');
    mallory.close();
    bob.close();
    await expectHealthy(t);
  });
});

describe('__proto__ payloads', () => {
  it('attack: __proto__ and constructor keys in publish data, presence state and server API bodies round trip as data and pollute nothing', async () => {
    t = await startTestNode();
    const { client: reader } = await TestClient.connect(t.wsUrl, await t.token('reader'));
    await reader.ok('subscribe', { channel: 'chat:proto' });
    const { client: writer } = await TestClient.connect(t.wsUrl, await t.token('writer'));
    await writer.ok('subscribe', { channel: 'chat:proto' });
    // Raw JSON text: an object literal with __proto__ would set a prototype instead of a key.
    const evil = '{"__proto__":{"polluted":true,"isAdmin":true},"constructor":{"prototype":{"polluted":true}},"user":"x"}';
    writer.send(`{"id":501,"type":"publish","channel":"chat:proto","data":${evil}}`);
    writer.send(`{"id":502,"type":"presence_state","channel":"chat:proto","state":${evil}}`);
    writer.send(`{"id":503,"type":"publish","channel":"chat:__proto__","data":1}`);
    await t.api('POST', '/publish', `{"channel":"chat:proto","data":${evil}}`);
    // Both arrive as data: own keys named __proto__ and constructor, with the values sent.
    await sleep(100);
    const raw = reader.messages.flatMap((m) => m.split('\n')).filter((m) => m.includes('"publication"') && m.includes('"chat:proto"'));
    expect(raw.length).toBe(2);
    for (const m of raw) expect(m).toContain(`"data":${evil}`);
    const pub = JSON.parse(raw[0]!) as { data: Record<string, unknown> };
    expect(Object.hasOwn(pub.data, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(pub.data)).toBe(Object.prototype);
    // History gives them back the same way.
    const history = await reader.call('history', { channel: 'chat:proto', limit: 10 });
    expect(JSON.stringify(history)).toContain(`"data":${evil}`);
    // The presence state is the writer's own, as data.
    const presence = await reader.call('presence', { channel: 'chat:proto' });
    expect(JSON.stringify(presence)).toContain(`"state":${evil}`);
    prototypeIsClean();
    // A channel named after __proto__ is a channel like any other.
    const proto = await reader.call('subscribe', { channel: 'chat:__proto__' });
    expect(proto).toMatchObject({ result: {} });
    prototypeIsClean();
    writer.close();
    reader.close();
    await expectHealthy(t);
    prototypeIsClean();
  });
});
