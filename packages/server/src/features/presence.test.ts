import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Push } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, TEST_SECRET, type TestNode } from '../test-support/test-node.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const GRACE = 150;
const TYPING_TIMEOUT = 400;

let t: TestNode;
beforeAll(async () => {
  t = await startTestNode();
  t.node.onFollow(({ users }) => {
    if (users.includes('forbidden-follow')) throw new TidingsError('permission_denied', 'not your contact');
    return users.filter((u) => u !== 'hidden');
  });
});
afterAll(() => t.close());

let seq = 0;
const fresh = (name: string) => `${name}-${++seq}`;

async function connect(user: string, info?: Record<string, unknown>) {
  return (await TestClient.connect(t.wsUrl, await t.token(user, info ? { info } : {}))).client;
}

const of = <T extends Push['type']>(c: TestClient, type: T, channel?: string) =>
  c.pushes.filter((p): p is Extract<Push, { type: T }> => p.type === type && (channel === undefined || (p as { channel?: string }).channel === channel));

describe('channel presence per user', () => {
  it('joins once per user, does not flap when one device reconnects, leaves after the grace period', async () => {
    const ch = `chat:${fresh('devices')}`;
    const watcher = await connect('watcher');
    await watcher.ok('subscribe', { channel: ch });
    const laptop = await connect('jane', { name: 'Jane' });
    const first = await laptop.ok('subscribe', { channel: ch });
    // The snapshot on subscribe includes the subscriber itself.
    expect(first.presence.users.map((u: { user: string }) => u.user)).toEqual(['jane', 'watcher']);
    const phone = await connect('jane', { name: 'Jane' });
    await phone.ok('subscribe', { channel: ch });
    await watcher.waitForPush((p) => p.type === 'join' && p.info.user === 'jane');
    // Phone drops and comes back while the laptop stays: no leave, no second join.
    phone.ws.terminate();
    await phone.closed;
    const phone2 = await connect('jane', { name: 'Jane' });
    await phone2.ok('subscribe', { channel: ch });
    await sleep(GRACE * 2);
    expect(of(watcher, 'join', ch).filter((p) => p.info.user === 'jane')).toHaveLength(1);
    expect(of(watcher, 'leave', ch)).toHaveLength(0);
    expect(await watcher.ok('presence_stats', { channel: ch })).toEqual({ clients: 3, users: 2 });
    // Last device gone: the leave comes only after the grace period.
    laptop.close();
    phone2.close();
    await sleep(GRACE / 3);
    expect(of(watcher, 'leave', ch)).toHaveLength(0);
    const leave = await watcher.waitForPush((p) => p.type === 'leave');
    expect(leave).toMatchObject({ channel: ch, info: { user: 'jane', info: { name: 'Jane' } } });
    expect(await watcher.ok('presence_stats', { channel: ch })).toEqual({ clients: 1, users: 1 });
    watcher.close();
  });

  it('does not announce a lone device that reloads within the grace period', async () => {
    const ch = `chat:${fresh('reload')}`;
    const watcher = await connect('watcher');
    await watcher.ok('subscribe', { channel: ch });
    const tab = await connect('kim');
    await tab.ok('subscribe', { channel: ch });
    await watcher.waitForPush((p) => p.type === 'join' && p.info.user === 'kim');
    tab.ws.terminate();
    await tab.closed;
    const reloaded = await connect('kim');
    await reloaded.ok('subscribe', { channel: ch });
    await sleep(GRACE * 2);
    expect(of(watcher, 'join', ch).filter((p) => p.info.user === 'kim')).toHaveLength(1);
    expect(of(watcher, 'leave', ch)).toHaveLength(0);
    reloaded.close();
    watcher.close();
  });

  it('pushes status and state changes, with the aggregated user', async () => {
    const ch = `chat:${fresh('state')}`;
    const watcher = await connect('watcher');
    await watcher.ok('subscribe', { channel: ch });
    const a = await connect('ann');
    const b = await connect('ann');
    await a.ok('subscribe', { channel: ch });
    await b.ok('subscribe', { channel: ch });
    await a.ok('status', { status: 'away' });
    await sleep(30);
    // One device still online: the user is still online, nothing to push.
    expect(of(watcher, 'presence', ch)).toHaveLength(0);
    await b.ok('status', { status: 'away' });
    const away = await watcher.waitForPush((p) => p.type === 'presence');
    expect(away).toMatchObject({ channel: ch, user: { user: 'ann', status: 'away', clients: 2, lastSeen: expect.any(Number) } });
    await a.ok('presence_state', { channel: ch, state: { currentTask: 'task-42' } });
    const withState = await watcher.waitForPush((p) => p.type === 'presence' && (p.user as { state?: unknown }).state !== undefined);
    expect(withState).toMatchObject({ user: { user: 'ann', state: { currentTask: 'task-42' } } });
    const pres = await watcher.ok('presence', { channel: ch });
    expect(pres.users.find((u: { user: string }) => u.user === 'ann')).toMatchObject({ status: 'away', state: { currentTask: 'task-42' }, clients: 2 });
    expect(await a.call('presence_state', { channel: ch, state: { blob: 'x'.repeat(2000) } })).toMatchObject({ error: { code: 'payload_too_large' } });
    expect(await a.call('presence_state', { channel: 'live:nope', state: 1 })).toMatchObject({ error: { code: 'permission_denied' } });
    expect(await a.call('status', { status: 'busy' })).toMatchObject({ error: { code: 'bad_request', message: 'status.status: expected one of "online", "away"' } });
    [a, b, watcher].forEach((c) => c.close());
  });
});

describe('presence pushes on device changes', () => {
  it('pushes when an online device joins beside an away one, and when it leaves', async () => {
    const ch = `chat:${fresh('devices-status')}`;
    const watcher = await connect('watcher');
    await watcher.ok('subscribe', { channel: ch });
    const away = await connect('dev');
    await away.ok('status', { status: 'away' });
    await away.ok('subscribe', { channel: ch });
    const online = await connect('dev');
    await online.ok('subscribe', { channel: ch });
    expect(await watcher.waitForPush((p) => p.type === 'presence' && p.user.status === 'online')).toMatchObject({ user: { user: 'dev', clients: 2 } });
    online.close();
    expect(await watcher.waitForPush((p) => p.type === 'presence' && p.user.status === 'away')).toMatchObject({ user: { user: 'dev', clients: 1 } });
    away.close();
    watcher.close();
  });
});

describe('global user status', () => {
  it('is online if any connection is online, away if all are, offline after the grace period; lastSeen survives', async () => {
    const user = fresh('sam');
    const api = (path: string) => t.api('GET', path).then((r) => r.body.data);
    const c1 = await connect(user, { name: 'Sam' });
    const c2 = await connect(user, { name: 'Sam' });
    expect(await api(`/users/${user}/status`)).toEqual({ userId: user, info: { name: 'Sam' }, isOnline: true, status: 'online', lastSeen: expect.any(String) });
    await c1.ok('status', { status: 'away' });
    expect((await api(`/users/${user}/status`)).status).toBe('online');
    await c2.ok('status', { status: 'away' });
    expect((await api(`/users/${user}/status`)).status).toBe('away');
    const online = await api('/users/online?limit=1000');
    expect(online.users.find((u: { userId: string }) => u.userId === user)).toMatchObject({ status: 'away', isOnline: true });
    expect(online.count).toBeGreaterThanOrEqual(1);
    c1.close();
    c2.close();
    await c2.closed;
    expect((await api(`/users/${user}/status`)).status).toBe('away'); // within the grace period
    await sleep(GRACE * 2);
    const off = await api(`/users/${user}/status`);
    expect(off).toMatchObject({ isOnline: false, status: 'offline' });
    expect(Date.parse(off.lastSeen)).toBeGreaterThan(Date.now() - 5000);
    expect((await api('/users/online?limit=1000')).users.some((u: { userId: string }) => u.userId === user)).toBe(false);
    expect(await api(`/users/${fresh('never')}/status`)).toMatchObject({ isOnline: false, status: 'offline', lastSeen: null });
  });

  it('paginates the online users', async () => {
    const prefix = fresh('page');
    const clients = [];
    for (const x of ['a', 'b', 'c']) clients.push(await connect(`${prefix}-${x}`));
    const seen: string[] = [];
    let cursor = `${prefix}`;
    for (let i = 0; i < 5; i++) {
      const page = (await t.api('GET', `/users/online?limit=1&cursor=${encodeURIComponent(cursor)}`)).body.data;
      const ids = page.users.map((u: { userId: string }) => u.userId).filter((id: string) => id.startsWith(prefix));
      if (ids.length === 0) break;
      seen.push(...ids);
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    expect(seen).toEqual([`${prefix}-a`, `${prefix}-b`, `${prefix}-c`]);
    clients.forEach((c) => c.close());
  });

  it('a connection that follows no one and is in no presence keeps no map for either (made at first use: idle memory per connection)', async () => {
    const user = fresh('lazy');
    const lazy = await connect(user);
    const hub = (t.node as unknown as { hub: { allSessions(): Iterable<{ id: string; user: string }> } }).hub;
    const id = [...hub.allSessions()].find((s) => s.user === user)!.id;
    const members = (t.node as unknown as { presenceFeature: { members: Map<string, { follows?: Map<string, unknown>; channels?: Map<unknown, unknown> }> } }).presenceFeature.members;
    // Before: two empty Maps per connection from connect on.
    expect(members.get(id)).toEqual({ statusTracked: true });
    await lazy.ok('follow', { users: [fresh('followed')] });
    await lazy.ok('subscribe', { channel: `chat:${fresh('lazy-room')}` });
    expect(members.get(id)?.follows?.size).toBe(1);
    expect(members.get(id)?.channels?.size).toBe(1);
    lazy.close();
  });

  it('lets a client follow statuses without subscribing to their channels', async () => {
    const friend = fresh('friend');
    const fan = await connect(fresh('fan'));
    const reply = await fan.ok('follow', { users: [friend, 'hidden'] });
    expect(reply).toEqual({ statuses: { [friend]: { status: 'offline' } } });
    const f1 = await connect(friend);
    expect(await fan.waitForPush((p) => p.type === 'status' && p.user === friend)).toMatchObject({ status: 'online', lastSeen: expect.any(Number) });
    await f1.ok('status', { status: 'away' });
    await fan.waitForPush((p) => p.type === 'status' && p.status === 'away');
    f1.close();
    await fan.waitForPush((p) => p.type === 'status' && p.status === 'offline');
    expect(fan.pushes.filter((p) => p.type === 'status').map((p) => (p as { status: string }).status)).toEqual(['online', 'away', 'offline']);
    // Following is refused where the rules say so.
    expect(await fan.call('follow', { users: ['forbidden-follow'] })).toMatchObject({ error: { code: 'permission_denied', message: 'not your contact' } });
    expect(await fan.call('follow', { users: ['bad user'] })).toMatchObject({ error: { code: 'bad_request' } });
    // Follows are internal: they do not show up as channels.
    const listing = (await t.api('GET', '/channels?limit=1000')).body.data;
    expect(listing.channels.some((c: { channel: string }) => c.channel.startsWith('$'))).toBe(false);
    // Unfollow stops the pushes.
    await fan.ok('unfollow', { users: [friend] });
    const before = fan.pushes.length;
    const f2 = await connect(friend);
    await sleep(50);
    expect(fan.pushes.length).toBe(before);
    f2.close();
    fan.close();
  });

  it('follows users named like Object.prototype members: each has its entry in statuses, __proto__ included', async () => {
    const fan = await connect(fresh('fan'));
    const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];
    const reply = await fan.ok('follow', { users: names });
    // JSON.parse makes "__proto__" an own key, so the reply's keys are what the server sent.
    expect(Object.keys(reply.statuses).sort()).toEqual([...names].sort());
    for (const name of names) expect(Object.getOwnPropertyDescriptor(reply.statuses, name)?.value).toEqual({ status: 'offline' });
    fan.close();
  });

  it('limits follows and refuses them when disabled or anonymous', async () => {
    const n = await startTestNode({ status: { follow: 'none' } });
    try {
      const { client } = await TestClient.connect(n.wsUrl, await n.token('x'));
      expect(await client.call('follow', { users: ['y'] })).toMatchObject({ error: { code: 'permission_denied' } });
      client.close();
    } finally {
      await n.close();
    }
    const small = await startTestNode({ status: { maxFollows: 2 }, auth: { secret: TEST_SECRET, allowAnonymous: true } });
    try {
      const { client } = await TestClient.connect(small.wsUrl, await small.token('x'));
      expect(await client.call('follow', { users: ['a', 'b', 'c'] })).toMatchObject({ error: { code: 'limit_exceeded' } });
      await client.ok('follow', { users: ['a', 'b'] });
      expect(await client.call('follow', { users: ['c'] })).toMatchObject({ error: { code: 'limit_exceeded' } });
      const anon = await TestClient.open(small.wsUrl);
      await anon.ok('connect');
      expect(await anon.call('follow', { users: ['a'] })).toMatchObject({ error: { code: 'permission_denied' } });
      client.close();
      anon.close();
    } finally {
      await small.close();
    }
  });
});

describe('typing indicators', () => {
  it('reach other users, not the sender own connections, and show in the API', async () => {
    const ch = `chat:${fresh('typing')}`;
    const jane = await connect('jane', { name: 'Jane' });
    const janeOther = await connect('jane', { name: 'Jane' });
    const bob = await connect('bob');
    for (const c of [jane, janeOther, bob]) await c.ok('subscribe', { channel: ch });
    await jane.ok('typing', { channel: ch, typing: true });
    expect(await bob.waitForPush((p) => p.type === 'typing')).toEqual({ type: 'typing', channel: ch, user: 'jane', info: { name: 'Jane' }, typing: true });
    const info = (await t.api('GET', `/channels/${encodeURIComponent(ch)}`)).body.data;
    expect(info.typingUsers).toEqual(['jane']);
    await jane.ok('typing', { channel: ch, typing: false });
    await bob.waitForPush((p) => p.type === 'typing' && p.typing === false);
    await sleep(30);
    expect(of(janeOther, 'typing')).toHaveLength(0);
    expect(of(jane, 'typing')).toHaveLength(0);
    expect((await t.api('GET', `/channels/${encodeURIComponent(ch)}`)).body.data.typingUsers).toEqual([]);
    [jane, janeOther, bob].forEach((c) => c.close());
  });

  it('expires on its own after the timeout', async () => {
    const ch = `chat:${fresh('expire')}`;
    const a = await connect('typist');
    const b = await connect('reader');
    await a.ok('subscribe', { channel: ch });
    await b.ok('subscribe', { channel: ch });
    const started = Date.now();
    await a.ok('typing', { channel: ch, typing: true });
    await b.waitForPush((p) => p.type === 'typing' && p.typing === true);
    const stop = await b.waitForPush((p) => p.type === 'typing' && p.typing === false, 3000);
    expect(stop).toMatchObject({ user: 'typist' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(TYPING_TIMEOUT - 20);
    a.close();
    b.close();
  });

  it('is throttled per connection and cleared on unsubscribe and disconnect', async () => {
    const ch = `chat:${fresh('throttle')}`;
    const a = await connect('fast-typist');
    const b = await connect('watcher');
    await a.ok('subscribe', { channel: ch });
    await b.ok('subscribe', { channel: ch });
    for (let i = 0; i < 10; i++) await a.ok('typing', { channel: ch, typing: true });
    await sleep(30);
    // Ten keystrokes within the throttle interval forward one start.
    expect(of(b, 'typing', ch).filter((p) => p.typing)).toHaveLength(1);
    await a.ok('unsubscribe', { channel: ch });
    await b.waitForPush((p) => p.type === 'typing' && p.typing === false);
    await a.ok('subscribe', { channel: ch });
    await a.ok('typing', { channel: ch, typing: true });
    await b.waitForPush((p) => p.type === 'typing' && p.typing === true && of(b, 'typing', ch).filter((x) => x.typing).length === 2);
    a.ws.terminate();
    await b.waitForPush((p) => p.type === 'typing' && p.typing === false && of(b, 'typing', ch).filter((x) => !x.typing).length === 2);
    expect(await b.call('typing', { channel: 'live:x', typing: true })).toMatchObject({ error: { code: 'permission_denied' } });
    await b.ok('subscribe', { channel: 'news:no-typing' });
    expect(await b.call('typing', { channel: 'news:no-typing', typing: true })).toMatchObject({ error: { code: 'not_available' } });
    b.close();
  });
});
