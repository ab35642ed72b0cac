/**
 * The SDK against a real Tidings node: connection, subscriptions, publish with ack,
 * history, presence, typing, status, rpc, server-side subscriptions and errors.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { CLIENT_VERSION, Tidings, TidingsError, type PresenceUser } from '@tidings/client';
import { mintToken } from '../../server/src/auth/token-mint.js';
import { startTestNode, TEST_SECRET, type TestNode } from '../../server/src/test-support/test-node.js';
import { Clients, FAST, TRANSPORTS, collect, recording, sleep, until, type TransportName } from './support.js';

let server: TestNode;
let current: TransportName = 'websocket';
/** Short timers, over the transport under test. */
const T = () => ({ ...FAST, transports: [current] });
const clients = new Clients();

beforeEach(async () => {
  server = await startTestNode();
});
afterEach(async () => {
  clients.closeAll();
  await server.close();
});

async function connected(user: string, options: ConstructorParameters<typeof Tidings>[1] = {}): Promise<Tidings> {
  const client = clients.make(server.wsUrl, { ...T(), token: await server.token(user, { info: { name: user.toUpperCase() } }), ...options });
  await client.connect();
  return client;
}

describe.each(TRANSPORTS)('over %s', (transport) => {
  beforeEach(() => {
    current = transport;
  });

  describe('connection', () => {
    test('goes connecting → connected with events, and reports the user and transport', async () => {
      const client = clients.make(server.wsUrl, { ...T(), token: await server.token('alice') });
      const events: string[] = [];
      client.on('state', ({ state, previous }) => events.push(`${previous}→${state}`));
      client.on('connecting', () => events.push('connecting'));
      client.on('connected', (ctx) => events.push(`connected:${ctx.user}:${ctx.transport}`));
      client.on('disconnected', (ctx) => events.push(`disconnected:${ctx.code}`));
      expect(client.state).toBe('disconnected');
      const promise = client.connect();
      expect(client.state).toBe('connecting');
      await promise;
      expect(client.state).toBe('connected');
      expect(client.user).toBe('alice');
      expect(client.clientId).toMatch(/[0-9a-f-]{36}/);
      expect(client.transport).toBe(transport);
      client.disconnect();
      expect(events).toEqual(['disconnected→connecting', 'connecting', 'connecting→connected', `connected:alice:${transport}`, 'connected→disconnected', 'disconnected:1000']);
      // The server saw the SDK's name and version.
      const ws = recording(transport);
      const second = clients.make(server.wsUrl, { ...T(), token: await server.token('alice'), transports: [ws.factory] });
      await second.connect();
      expect(ws.sent[0]).toMatchObject({ type: 'connect', name: '@tidings/client', version: CLIENT_VERSION });
    });

    test('connect() on a connected client resolves at once, and disconnect() rejects a pending connect', async () => {
      const client = await connected('alice');
      await client.connect();
      client.disconnect();
      const other = clients.make('ws://127.0.0.1:9/connection/websocket', { ...T(), token: 'x' });
      const pending = other.connect();
      other.disconnect();
      await expect(pending).rejects.toMatchObject({ code: 'disconnected' });
    });

    test('several commands in one turn travel in one message', async () => {
      const ws = recording(transport);
      const client = await connected('alice', { transports: [ws.factory] });
      const sub = client.subscribe('chat:batch');
      await sub.ready();
      const before = ws.sent.length;
      await Promise.all([sub.publish({ n: 1 }), sub.publish({ n: 2 }), sub.publish({ n: 3 })]);
      expect(ws.sent.length - before).toBe(3);
      // Published in order: offsets 1, 2, 3.
      const history = await sub.history({ limit: 10 });
      expect(history.publications.map((p) => (p.data as { n: number }).n)).toEqual([1, 2, 3]);
    });
  });

  describe('subscriptions', () => {
    test('subscribe, publish with ack, and receive API publications in order', async () => {
      const client = await connected('alice');
      const sub = client.subscribe<{ n: number }>('chat:room');
      expect(sub.state).toBe('subscribing');
      const subscribed: unknown[] = [];
      sub.on('subscribed', (ctx) => subscribed.push(ctx));
      await sub.ready();
      expect(subscribed).toEqual([{ channel: 'chat:room', recoverable: true, wasRecovering: false, recovered: false, serverSide: false, epoch: expect.any(String), offset: 0 }]);
      const got = collect(sub);
      const ack = await sub.publish({ n: 1 });
      expect(ack).toMatchObject({ offset: 1, epoch: sub.position!.epoch });
      await server.api('POST', '/publish', { channel: 'chat:room', data: { n: 2 } });
      await until(() => got.length === 2, () => `got ${JSON.stringify(got)}`);
      expect(got).toEqual([{ n: 1 }, { n: 2 }]);
      expect(sub.position).toEqual({ epoch: expect.any(String), offset: 2 });
      // Subscribing again returns the same subscription.
      expect(client.subscribe('chat:room')).toBe(sub);
      expect(client.getSubscription('chat:room')).toBe(sub);
    });

    test('a publication carries the publisher info', async () => {
      const alice = await connected('alice');
      const bob = await connected('bob');
      const bobSub = bob.subscribe('chat:info');
      await bobSub.ready();
      const seen: unknown[] = [];
      bobSub.on('publication', (p) => seen.push(p.info));
      await alice.subscribe('chat:info').ready();
      await alice.publish('chat:info', { text: 'hi' });
      await until(() => seen.length === 1, 'publication');
      expect(seen[0]).toMatchObject({ user: 'alice', client: alice.clientId, info: { name: 'ALICE' } });
    });

    test('history reads stored publications, oldest first or newest first', async () => {
      const client = await connected('alice');
      for (let n = 1; n <= 5; n++) await server.api('POST', '/publish', { channel: 'news:h', data: { n } });
      const sub = client.subscribe<{ n: number }>('news:h');
      await sub.ready();
      expect(sub.position?.offset).toBe(5);
      const all = await sub.history({ limit: 10 });
      expect(all.publications.map((p) => p.offset)).toEqual([1, 2, 3, 4, 5]);
      const latest = await client.history('news:h', { limit: 2, reverse: true });
      expect(latest.publications.map((p) => p.offset)).toEqual([5, 4]);
    });

    test('unsubscribe ends the subscription on the server; subscribe() starts it again', async () => {
      const client = await connected('alice');
      const sub = client.subscribe('chat:u');
      await sub.ready();
      const ended: unknown[] = [];
      sub.on('unsubscribed', (ctx) => ended.push(ctx));
      sub.unsubscribe();
      expect(sub.state).toBe('unsubscribed');
      expect(client.getSubscription('chat:u')).toBeUndefined();
      expect(ended).toEqual([{ channel: 'chat:u', code: 0, reason: 'unsubscribed', server: false }]);
      const listed = async () => (await server.node.channels()).channels.some((c) => c.channel === 'chat:u');
      for (let i = 0; i < 1000 && (await listed()); i++) await sleep(5);
      expect(await listed(), 'channel gone on the server').toBe(false);
      sub.subscribe();
      await sub.ready();
      expect(client.getSubscription('chat:u')).toBe(sub);
    });

    test('a refused subscribe emits a typed error and ends; ready() rejects with it', async () => {
      const client = await connected('alice');
      const sub = client.subscribe('staff:secret');
      const errors: TidingsError[] = [];
      sub.on('error', (e) => errors.push(e));
      await expect(sub.ready()).rejects.toMatchObject({ code: 'permission_denied', temporary: false });
      expect(errors[0]).toBeInstanceOf(TidingsError);
      expect(sub.state).toBe('unsubscribed');
      // The connection is unaffected.
      expect(client.state).toBe('connected');
      await client.subscribe('chat:ok').ready();
    });

    test('a private channel subscribes with a token from the subscription getToken', async () => {
      const client = await connected('alice');
      const asked: string[] = [];
      const sub = client.subscribe('task:7', {
        getToken: (channel) => {
          asked.push(channel);
          return mintToken(TEST_SECRET, { sub: 'alice', channel, ttlSeconds: 60 });
        },
      });
      await sub.ready();
      expect(asked).toEqual(['task:7']);
      const denied = client.subscribe('task:8');
      await expect(denied.ready()).rejects.toMatchObject({ code: 'permission_denied' });
    });

    test('server-side subscriptions (personal channel) deliver through the same API', async () => {
      const client = await connected('alice');
      const personal = client.getSubscription<{ job: string }>('user:#alice');
      expect(personal).toBeDefined();
      expect(personal!.serverSide).toBe(true);
      expect(personal!.state).toBe('subscribed');
      const got = collect(personal!);
      await server.api('POST', '/publish', { channel: 'user:#alice', data: { job: 'j1' } });
      await until(() => got.length === 1, 'personal publication');
      expect(got).toEqual([{ job: 'j1' }]);
    });

    test('channels from the token claim are server-side subscriptions', async () => {
      const client = clients.make(server.wsUrl, { ...T(), token: await server.token('alice', { channels: ['news:team'] }) });
      await client.connect();
      const sub = client.getSubscription('news:team');
      expect(sub?.serverSide).toBe(true);
      expect(sub?.state).toBe('subscribed');
    });

    test('a server unsubscribe surfaces as an unsubscribed event with the server code', async () => {
      const client = await connected('alice');
      const sub = client.subscribe('chat:kick');
      await sub.ready();
      const ended = new Promise((resolve) => sub.on('unsubscribed', resolve));
      const res = await server.api('POST', '/channels/chat:kick/unsubscribe', { user: 'alice' });
      expect(res.status).toBe(200);
      expect(await ended).toEqual({ channel: 'chat:kick', code: 2000, reason: 'unsubscribed by server', server: true });
      expect(client.getSubscription('chat:kick')).toBeUndefined();
    });
  });

  describe('presence, typing and status', () => {
    test('presence: snapshot, join, state changes and leave', async () => {
      const alice = await connected('alice');
      const aSub = alice.subscribe('chat:p');
      await aSub.ready();
      const names = () => aSub.presenceUsers().map((u) => u.user).sort();
      expect(names()).toEqual(['alice']);
      const joins: string[] = [];
      aSub.on('join', (j) => joins.push(j.info.user));
      const bob = await connected('bob');
      const bSub = bob.subscribe('chat:p');
      await bSub.ready();
      await until(() => names().join() === 'alice,bob', () => names().join());
      expect(joins).toEqual(['bob']);
      // Bob sets a state and goes away: Alice sees his entry change.
      const snapshot = aSub.presenceUsers();
      await bSub.setState({ viewing: 'comments' });
      await bob.setStatus('away');
      const bobEntry = () => aSub.presenceUsers().find((u) => u.user === 'bob') as PresenceUser;
      await until(() => bobEntry().status === 'away' && (bobEntry().state as { viewing?: string })?.viewing === 'comments', () => JSON.stringify(bobEntry()));
      expect(aSub.presenceUsers()).not.toBe(snapshot);
      // presence() reads the server's view.
      const fromServer = await aSub.presence();
      expect(fromServer.users.map((u) => u.user).sort()).toEqual(['alice', 'bob']);
      expect((await aSub.presenceStats()).users).toBe(2);
      bSub.unsubscribe();
      await until(() => names().join() === 'alice', () => names().join());
    });

    test('typing: throttled, seen by others, ended by idle', async () => {
      const alice = await connected('alice', { typing: { throttle: 1000, idle: 250, timeout: 2000 } });
      const ws = recording(transport);
      const bob = await connected('bob', { transports: [ws.factory], typing: { throttle: 1000, idle: 250, timeout: 2000 } });
      const aSub = alice.subscribe('chat:t');
      const bSub = bob.subscribe('chat:t');
      await Promise.all([aSub.ready(), bSub.ready()]);
      const seen: string[] = [];
      aSub.on('typing', (t) => seen.push(`${t.user}:${t.typing}`));
      for (let i = 0; i < 5; i++) bSub.setTyping();
      await until(() => aSub.typingUsers().length === 1, 'bob typing');
      expect(aSub.typingUsers()).toEqual([{ user: 'bob', info: { name: 'BOB' } }]);
      // Five keystrokes within the throttle: one typing frame.
      expect(ws.sent.filter((f) => f.type === 'typing').length).toBe(1);
      // Bob stops typing; after `idle` the SDK sends typing:false on its own.
      await until(() => aSub.typingUsers().length === 0, 'bob stopped', 2_000);
      expect(seen).toEqual(['bob:true', 'bob:false']);
      expect(ws.sent.filter((f) => f.type === 'typing').map((f) => f.typing)).toEqual([true, false]);
      // setTyping(false) stops at once.
      bSub.setTyping(true);
      await until(() => aSub.typingUsers().length === 1, 'typing again');
      bSub.setTyping(false);
      await until(() => aSub.typingUsers().length === 0, 'stopped explicitly', 200);
    });

    test('status: follow reports and updates a user global status', async () => {
      const alice = await connected('alice');
      const bob = await connected('bob');
      const statuses = await alice.follow(['bob', 'carol']);
      expect(statuses.bob?.status).toBe('online');
      expect(statuses.carol?.status).toBe('offline');
      const events: string[] = [];
      alice.on('status', (s) => events.push(`${s.user}:${s.status}`));
      await bob.setStatus('away');
      await until(() => alice.userStatus('bob')?.status === 'away', 'away');
      bob.disconnect();
      await until(() => alice.userStatus('bob')?.status === 'offline', 'offline after the leave grace');
      expect(events).toEqual(['bob:away', 'bob:offline']);
      await alice.unfollow(['bob']);
      expect(alice.userStatus('bob')).toBeUndefined();
      expect(alice.followed()).toEqual(['carol']);
    });

    test('status: follow of users named like Object.prototype members gives each its own entry, __proto__ included', async () => {
      const alice = await connected('alice');
      await connected('__proto__');
      const names = ['__proto__', 'constructor', 'toString'];
      const statuses = await alice.follow(names);
      expect(Object.keys(statuses).sort()).toEqual([...names].sort());
      expect(Object.getOwnPropertyDescriptor(statuses, '__proto__')?.value).toMatchObject({ status: 'online' });
      expect(Object.getOwnPropertyDescriptor(statuses, 'constructor')?.value).toMatchObject({ status: 'offline' });
      // Asked again (nothing new to follow), the known statuses come back the same way.
      expect(Object.keys(await alice.follow(names)).sort()).toEqual([...names].sort());
    });
  });

  describe('page visibility', () => {
    test('with awayWhenHidden, a hidden page sets status away and a visible one online again', async () => {
      const doc = Object.assign(new EventTarget(), { visibilityState: 'visible' });
      (globalThis as { document?: unknown }).document = doc;
      try {
        const alice = await connected('alice', { awayWhenHidden: true });
        const bob = await connected('bob');
        await bob.follow(['alice']);
        expect(bob.userStatus('alice')?.status).toBe('online');
        doc.visibilityState = 'hidden';
        doc.dispatchEvent(new Event('visibilitychange'));
        await until(() => bob.userStatus('alice')?.status === 'away', 'away');
        expect(alice.status).toBe('away');
        doc.visibilityState = 'visible';
        doc.dispatchEvent(new Event('visibilitychange'));
        await until(() => bob.userStatus('alice')?.status === 'online', 'online again');
        // Without the option, visibility is left alone.
        const carol = await connected('carol');
        await bob.follow(['carol']);
        doc.visibilityState = 'hidden';
        doc.dispatchEvent(new Event('visibilitychange'));
        await until(() => bob.userStatus('alice')?.status === 'away', 'alice away');
        expect(carol.status).toBe('online');
        expect(bob.userStatus('carol')?.status).toBe('online');
      } finally {
        delete (globalThis as { document?: unknown }).document;
      }
    });
  });

  describe('rpc and errors', () => {
    test('rpc returns the handler data, times out, and reports not_available', async () => {
      const client = await connected('alice');
      await expect(client.rpc('sum', { a: 1 })).rejects.toMatchObject({ code: 'not_available' });
      server.node.onRpc('sum', async (ctx) => {
        const { a, b } = ctx.data as { a: number; b: number };
        return a + b;
      });
      server.node.onRpc('never', () => new Promise(() => {}));
      expect(await client.rpc<number>('sum', { a: 2, b: 3 })).toBe(5);
      const started = Date.now();
      await expect(client.rpc('never', {}, { timeout: 150 })).rejects.toMatchObject({ code: 'timeout', temporary: true });
      expect(Date.now() - started).toBeLessThan(2_000);
    });

    test('a command over the message size is refused locally; the connection stays up', async () => {
      const client = await connected('alice', { maxMessageBytes: 1024 });
      const sub = client.subscribe('chat:big');
      await sub.ready();
      await expect(sub.publish({ text: 'x'.repeat(2000) })).rejects.toMatchObject({ code: 'payload_too_large', temporary: false });
      expect(client.state).toBe('connected');
      expect((await sub.publish({ text: 'small' })).offset).toBe(1);
    });
  });
});
