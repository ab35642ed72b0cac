import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode, CloseReason, MAX_JSON_DEPTH, closeCodeIsTerminal, closeCodeReconnects } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, TEST_SECRET, type TestNode } from '../test-support/test-node.js';

let t: TestNode;
beforeAll(async () => {
  t = await startTestNode();
  t.node.onRpc('echo', ({ data, user }) => ({ echoed: data, user }));
  t.node.onRpc('fail', () => {
    throw new TidingsError('app_rejected', 'no way');
  });
  t.node.onRpc('slow', async () => {
    await new Promise((r) => setTimeout(r, 50));
    return 'slow done';
  });
  t.node.onRpc('crash', () => {
    throw new Error('boom');
  });
  t.node.onSubscribe(({ channel }) => {
    if (channel === 'news:forbidden-by-hook') throw new TidingsError('permission_denied', 'hook says no');
  });
  t.node.onPublish(({ channel, data }) => {
    if (channel === 'chat:shout') return { data: String(data).toUpperCase() };
    if (channel === 'chat:moderated') throw new TidingsError('permission_denied', 'moderated');
    return undefined;
  });
});
afterAll(() => t.close());

async function connected(user = 'alice', claims = {}) {
  return (await TestClient.connect(t.wsUrl, await t.token(user, claims))).client;
}

describe('protocol handling', () => {
  it('closes with bad_request on malformed JSON, after a disconnect push', async () => {
    const c = await connected();
    c.send('{not json');
    const closed = await c.closed;
    expect(closed.code).toBe(CloseCode.BadRequest);
    expect(c.pushes.find((p) => p.type === 'disconnect')).toMatchObject({ code: CloseCode.BadRequest, reconnect: false, terminal: true });
  });

  it('every terminal close code says terminal: true in its disconnect push (4600 too); reconnect codes leave it out', async () => {
    for (const code of [4005, 4321, 4499, 4500, 4503, 4600, 4999]) {
      const user = `dc-${code}`;
      const c = await connected(user);
      expect((await t.api('POST', `/users/${user}/disconnect`, { code })).status).toBe(200);
      const closed = await c.closed;
      expect(closed.code, String(code)).toBe(code);
      const push = c.pushes.find((p) => p.type === 'disconnect');
      const terminal = code >= 4500;
      expect(push, String(code)).toEqual({
        type: 'disconnect',
        code,
        reason: CloseReason[code] ?? 'disconnect',
        reconnect: closeCodeReconnects(code),
        ...(terminal ? { terminal: true } : {}),
      });
      expect(closeCodeIsTerminal(code)).toBe(terminal);
    }
  });

  it('answers an unknown command with unknown_command and keeps the connection', async () => {
    const c = await connected();
    const reply = await c.call('teleport', { to: 'mars' });
    expect(reply).toEqual({ id: 2, error: { code: 'unknown_command', message: 'unknown command type "teleport"' } });
    expect(await c.ok('subscribe', { channel: 'live:a' })).toEqual({ recoverable: false });
    c.close();
  });

  it('answers wrong field types with bad_request naming the field', async () => {
    const c = await connected();
    expect(await c.call('subscribe', { channel: 42 })).toMatchObject({ error: { code: 'bad_request', message: 'subscribe.channel: expected string, got number' } });
    expect(await c.call('history', { channel: 'news:a', limit: 'ten' })).toMatchObject({ error: { code: 'bad_request', message: 'history.limit: expected integer, got string' } });
    expect(await c.call('publish', { channel: 'chat:a' })).toMatchObject({ error: { code: 'bad_request', message: 'publish.data: required' } });
    c.close();
  });

  it('refuses commands before connect with not_connected and closes', async () => {
    const c = await TestClient.open(t.wsUrl);
    const reply = await c.call('subscribe', { channel: 'live:a' });
    expect(reply).toMatchObject({ error: { code: 'not_connected' } });
    expect((await c.closed).code).toBe(CloseCode.BadRequest);
  });

  it('closes on a frame without id', async () => {
    const c = await connected();
    c.send('{"type":"subscribe","channel":"live:a"}');
    expect((await c.closed).code).toBe(CloseCode.BadRequest);
  });

  it('closes on binary messages', async () => {
    const c = await connected();
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect((await c.closed).code).toBe(CloseCode.BadRequest);
  });

  it('refuses a second connect', async () => {
    const c = await connected();
    expect(await c.call('connect', { token: await t.token('alice') })).toMatchObject({ error: { code: 'already_connected' } });
    c.close();
  });

  it('runs pipelined commands in order from one message and echoes ids', async () => {
    const c = await TestClient.open(t.wsUrl);
    const token = await t.token('bob');
    const replies: unknown[] = [];
    c.ws.on('message', (m) => replies.push(...m.toString().split('\n').map((l) => JSON.parse(l))));
    c.send(
      [
        JSON.stringify({ id: 7, type: 'connect', token }),
        JSON.stringify({ id: 8, type: 'subscribe', channel: 'chat:pipe' }),
        JSON.stringify({ id: 9, type: 'publish', channel: 'chat:pipe', data: 'x' }),
      ].join('\n'),
    );
    await c.waitForPush((p) => p.type === 'publication');
    const ids = replies.filter((r): r is { id: number } => typeof (r as { id?: number }).id === 'number').map((r) => r.id);
    expect(ids).toEqual([7, 8, 9]);
    c.close();
  });

  it('keeps replies in command order when a bad frame sits between slow commands', async () => {
    const c = await connected();
    const order: number[] = [];
    c.ws.on('message', (m) => {
      for (const line of m.toString().split('\n')) {
        const f = JSON.parse(line);
        if (typeof f.id === 'number') order.push(f.id);
      }
    });
    c.send(['{"id":10,"type":"rpc","method":"slow"}', '{"id":11,"type":"bogus"}', '{"id":12,"type":"publish","channel":"chat:x","data":1,"idempotencyKey":""}', '{"id":13,"type":"rpc","method":"echo"}'].join('\n'));
    await new Promise((r) => setTimeout(r, 150));
    expect(order).toEqual([10, 11, 12, 13]);
    c.close();
  });

  it('answers earlier commands before closing on a fatal frame', async () => {
    const c = await connected();
    const slow = c.call('rpc', { method: 'slow' });
    c.send('not json');
    expect(await slow).toMatchObject({ result: { data: 'slow done' } });
    expect((await c.closed).code).toBe(CloseCode.BadRequest);
  });

  it('coalesces pushes of one turn into one WebSocket message', async () => {
    const c = await connected();
    await c.ok('subscribe', { channel: 'live:burst' });
    const before = c.messages.length;
    await Promise.all(Array.from({ length: 20 }, (_, i) => t.node.publish('live:burst', i)));
    await c.waitForPush((p) => p.type === 'publication' && p.data === 19);
    const msgs = c.messages.slice(before);
    expect(msgs.length).toBeLessThan(20);
    expect(msgs.join('\n').split('\n').length).toBe(20);
    expect(c.publications('live:burst').map((p) => p.data)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    c.close();
  });

  it('keeps other clients working while one misbehaves', async () => {
    const good = await connected('good');
    await good.ok('subscribe', { channel: 'live:shared' });
    const bad = await connected('bad');
    bad.send('\u0000\u0001garbage');
    await bad.closed;
    await t.node.publish('live:shared', 'still here');
    expect(await good.waitForPush((p) => p.type === 'publication')).toMatchObject({ data: 'still here' });
    good.close();
  });
});

describe('JSON depth limit', () => {
  const nestedText = (levels: number): string => '['.repeat(levels) + '0' + ']'.repeat(levels);
  /** Sends a raw frame (one JSON.stringify could not even write) and resolves with its reply. */
  const rawCall = (c: TestClient, id: number, text: string): Promise<Record<string, unknown>> =>
    new Promise((resolve) => {
      const onMessage = (m: Buffer) => {
        for (const line of m.toString().split('\n')) {
          const frame = JSON.parse(line) as Record<string, unknown>;
          if (frame.id === id) {
            c.ws.off('message', onMessage);
            resolve(frame);
          }
        }
      };
      c.ws.on('message', onMessage);
      c.send(text);
    });

  it('answers a 6,000-level publish with bad_request; the connection, the channel and its other subscribers go on', async () => {
    const good = await connected('good');
    await good.ok('subscribe', { channel: 'chat:bomb' });
    const bad = await connected('mallory');
    await bad.ok('subscribe', { channel: 'chat:bomb' });
    await bad.ok('publish', { channel: 'chat:bomb', data: { n: 1 } });
    const before = (await t.node.stats()).badRequestsTotal;
    const reply = await rawCall(bad, 900, `{"id":900,"type":"publish","channel":"chat:bomb","data":${nestedText(6000)}}`);
    expect(reply).toEqual({ id: 900, error: { code: 'bad_request', message: `publish.data: nested deeper than ${MAX_JSON_DEPTH} levels` } });
    expect((await t.node.stats()).badRequestsTotal).toBe(before + 1);
    // 30,000 levels: as deep as fits in one message under websocket.maxPayload (64 KiB).
    expect(await rawCall(bad, 901, `{"id":901,"type":"presence_state","channel":"chat:bomb","state":${nestedText(30_000)}}`)).toMatchObject({
      error: { code: 'bad_request', message: `presence_state.state: nested deeper than ${MAX_JSON_DEPTH} levels` },
    });
    // The same connection publishes again, and everyone reads the channel, live and from history.
    await bad.ok('publish', { channel: 'chat:bomb', data: { n: 2 } });
    await good.waitForPush((p) => p.type === 'publication' && p.offset === 2);
    expect(good.publications('chat:bomb').map((p) => p.data)).toEqual([{ n: 1 }, { n: 2 }]);
    const history = await good.ok('history', { channel: 'chat:bomb' });
    expect(history.publications.map((p: { data: unknown }) => p.data)).toEqual([{ n: 1 }, { n: 2 }]);
    good.close();
    bad.close();
  });

  it('answers the same bomb in a long-polling POST with an error reply in the next poll; the session goes on', async () => {
    const token = await t.token('poller');
    const base = `http://${new URL(t.wsUrl).host}/connection`;
    const auth = { authorization: `Bearer ${token}` };
    const opened = await fetch(`${base}/open`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: '{"transport":"polling"}' });
    const { session } = (await opened.json()) as { session: string };
    const frames = ['{"id":1,"type":"connect"}', '{"id":2,"type":"subscribe","channel":"chat:poll-bomb"}', `{"id":3,"type":"publish","channel":"chat:poll-bomb","data":${nestedText(6000)}}`, '{"id":4,"type":"publish","channel":"chat:poll-bomb","data":"fine"}'];
    const posted = await fetch(`${base}/poll/${session}`, { method: 'POST', headers: { 'content-type': 'text/plain', ...auth }, body: frames.join('\n') });
    expect(posted.status).toBe(204);
    const got: Array<Record<string, unknown>> = [];
    for (let i = 0; i < 20 && !got.some((f) => f.id === 4); i++) {
      const poll = (await (await fetch(`${base}/poll/${session}?ack=${got.length}`, { headers: auth })).json()) as { frames: Array<Record<string, unknown>> };
      got.push(...poll.frames);
    }
    expect(got.find((f) => f.id === 3)).toEqual({ id: 3, error: { code: 'bad_request', message: `publish.data: nested deeper than ${MAX_JSON_DEPTH} levels` } });
    expect(got.find((f) => f.id === 4)).toMatchObject({ result: { offset: 1 } });
    expect(got.find((f) => f.type === 'publication')).toMatchObject({ channel: 'chat:poll-bomb', offset: 1, data: 'fine' });
    await fetch(`${base}/poll/${session}`, { method: 'DELETE', headers: auth });
  });
});

describe('channels and permissions', () => {
  it('rejects invalid channel names and unknown namespaces', async () => {
    const c = await connected();
    expect(await c.call('subscribe', { channel: 'no-namespace' })).toMatchObject({ error: { code: 'invalid_channel' } });
    expect(await c.call('subscribe', { channel: 'chat:a*' })).toMatchObject({ error: { code: 'invalid_channel' } });
    expect(await c.call('subscribe', { channel: 'chat:a\u0000b' })).toMatchObject({ error: { code: 'invalid_channel' } });
    expect(await c.call('subscribe', { channel: 'chat:' + 'x'.repeat(300) })).toMatchObject({ error: { code: 'invalid_channel' } });
    expect(await c.call('subscribe', { channel: 'nope:a' })).toMatchObject({ error: { code: 'unknown_namespace' } });
    expect(await c.call('subscribe', { channel: 'user:alice' })).toMatchObject({ error: { code: 'invalid_channel' } });
    c.close();
  });

  it('admits real user ids in channel names', async () => {
    const c = await connected('jane.doe+test@example.com');
    expect(await c.ok('subscribe', { channel: 'dm:#jane.doe+test@example.com,auth0|123' })).toMatchObject({ recoverable: true });
    c.close();
  });

  it('enforces user-limited channels', async () => {
    const alice = await connected('alice');
    const mallory = await connected('mallory');
    expect(await alice.ok('subscribe', { channel: 'dm:#alice,bob' })).toMatchObject({ offset: 0 });
    expect(await mallory.call('subscribe', { channel: 'dm:#alice,bob' })).toMatchObject({ error: { code: 'permission_denied' } });
    expect(await mallory.call('publish', { channel: 'dm:#alice,bob', data: 'x' })).toMatchObject({ error: { code: 'permission_denied' } });
    alice.close();
    mallory.close();
  });

  it('subscribes the personal channel server-side and delivers only to that user', async () => {
    const { client: alice, result } = await TestClient.connect(t.wsUrl, await t.token('alice'));
    expect(result.subs['user:#alice']).toEqual({ recoverable: false });
    const bob = await connected('bob');
    expect(await bob.call('subscribe', { channel: 'user:#alice' })).toMatchObject({ error: { code: 'permission_denied' } });
    expect(await alice.call('publish', { channel: 'user:#alice', data: 'x' })).toMatchObject({ error: { code: 'permission_denied' } });
    await t.node.publish('user:#alice', { kind: 'direct' });
    expect(await alice.waitForPush((p) => p.type === 'publication')).toMatchObject({ channel: 'user:#alice', data: { kind: 'direct' } });
    expect(bob.publications()).toEqual([]);
    alice.close();
    bob.close();
  });

  it('subscribes the token channels claim server-side and announces it in the connect reply', async () => {
    const { client, result } = await TestClient.connect(t.wsUrl, await t.token('carol', { channels: ['news:global', 'task:7'] }));
    expect(Object.keys(result.subs).sort()).toEqual(['news:global', 'task:7', 'user:#carol']);
    expect(result.subs['news:global']).toMatchObject({ recoverable: true, offset: expect.any(Number) });
    await t.node.publish('task:7', 'update');
    expect(await client.waitForPush((p) => p.type === 'publication')).toMatchObject({ channel: 'task:7', data: 'update' });
    client.close();
  });

  it('needs a subscription token for private namespaces and checks it', async () => {
    const c = await connected('alice');
    expect(await c.call('subscribe', { channel: 'task:123' })).toMatchObject({ error: { code: 'permission_denied' } });
    const wrongChannel = await t.token('alice', { channel: 'task:999' });
    expect(await c.call('subscribe', { channel: 'task:123', token: wrongChannel })).toMatchObject({ error: { code: 'permission_denied' } });
    const wrongUser = await t.token('bob', { channel: 'task:123' });
    expect(await c.call('subscribe', { channel: 'task:123', token: wrongUser })).toMatchObject({ error: { code: 'permission_denied' } });
    expect(await c.call('subscribe', { channel: 'task:123', token: 'garbage' })).toMatchObject({ error: { code: 'permission_denied' } });
    const good = await t.token('alice', { channel: 'task:123' });
    expect(await c.ok('subscribe', { channel: 'task:123', token: good })).toMatchObject({ recoverable: true });
    c.close();
  });

  it('answers every bad subscription token on the subscription alone: permission_denied, or token_expired (temporary) to fetch a new one', async () => {
    const c = await connected('alice');
    const secret = new TextEncoder().encode(TEST_SECRET);
    const now = Math.floor(Date.now() / 1000);
    const signed = (claims: Record<string, unknown>, key = secret) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject('alice').sign(key);
    const refused = async (token: string, message: string) => {
      const reply = await c.call('subscribe', { channel: 'task:9', token });
      // Not the connection-level `unauthorized` (terminal when it answers connect), and not temporary.
      expect(reply, message).toEqual({ id: expect.any(Number), error: { code: 'permission_denied', message } });
    };
    await refused('garbage', 'subscription token: malformed token');
    await refused(await signed({ channel: 'task:9' }, new TextEncoder().encode('another-secret-0123456789-abcdefghij')), 'subscription token: invalid signature');
    await refused(await t.token('alice'), 'subscription token: missing channel');
    await refused(await signed({ channel: 'task:9', nbf: now + 3600 }), 'subscription token: token not active yet');
    await refused(await t.token('bob', { channel: 'task:9' }), 'subscription token was issued to another user');
    await refused(await t.token('alice', { channel: 'task:10' }), 'subscription token is for another channel');
    // Expired: token_expired and temporary, so a client fetches a new subscription token and retries.
    const expired = await signed({ channel: 'task:9', exp: now - 60 });
    expect(await c.call('subscribe', { channel: 'task:9', token: expired })).toMatchObject({ error: { code: 'token_expired', message: 'token expired', temporary: true } });
    // The same holds for an activity read with a token.
    expect(await c.call('activity', { scope: 'x', token: 'garbage' })).toMatchObject({ error: { code: 'permission_denied', message: 'subscription token: malformed token' } });
    // None of it touched the connection: the fresh token subscribes.
    expect(await c.ok('subscribe', { channel: 'task:9', token: await t.token('alice', { channel: 'task:9' }) })).toMatchObject({ recoverable: true });
    expect(c.pushes.some((p) => p.type === 'disconnect')).toBe(false);
    c.close();
  });

  it('enforces allowedRoles and role-based clientPublish', async () => {
    const guest = await connected('guest');
    expect(await guest.call('subscribe', { channel: 'staff:room' })).toMatchObject({ error: { code: 'permission_denied' } });
    const staff = await connected('sam', { roles: ['staff'] });
    expect(await staff.ok('subscribe', { channel: 'staff:room' })).toEqual({ recoverable: false });
    expect(await staff.ok('publish', { channel: 'staff:room', data: 'memo' })).toEqual({});
    expect(await guest.call('publish', { channel: 'staff:room', data: 'memo' })).toMatchObject({ error: { code: 'permission_denied' } });
    guest.close();
    staff.close();
  });

  it('does not let a publish role bypass a private namespace', async () => {
    const editor = await connected('ed', { roles: ['editor'] });
    expect(await editor.call('publish', { channel: 'board:b1', data: 1 })).toMatchObject({ error: { code: 'permission_denied' } });
    await editor.ok('subscribe', { channel: 'board:b1', token: await t.token('ed', { channel: 'board:b1' }) });
    expect(await editor.ok('publish', { channel: 'board:b1', data: 1 })).toEqual({});
    const viewer = await connected('vi');
    await viewer.ok('subscribe', { channel: 'board:b1', token: await t.token('vi', { channel: 'board:b1' }) });
    expect(await viewer.call('publish', { channel: 'board:b1', data: 1 })).toMatchObject({ error: { code: 'permission_denied' } });
    editor.close();
    viewer.close();
  });

  it('allows client publish only where the namespace says, with publisher info', async () => {
    const alice = await connected('alice', { info: { name: 'Alice' } });
    expect(await alice.call('publish', { channel: 'news:a', data: 'x' })).toMatchObject({ error: { code: 'permission_denied' } });
    expect(await alice.call('publish', { channel: 'chat:room1', data: 'x' })).toMatchObject({ error: { code: 'permission_denied', message: expect.stringContaining('subscription') } });
    await alice.ok('subscribe', { channel: 'chat:room1' });
    const res = await alice.ok('publish', { channel: 'chat:room1', data: { text: 'hello' } });
    expect(res).toMatchObject({ offset: 1, epoch: expect.any(String) });
    const pub = await alice.waitForPush((p) => p.type === 'publication');
    expect(pub).toEqual({
      type: 'publication',
      channel: 'chat:room1',
      offset: 1,
      data: { text: 'hello' },
      info: { user: 'alice', client: expect.any(String), info: { name: 'Alice' } },
    });
    alice.close();
  });

  it('publishes once per client idempotency key', async () => {
    const c = await connected('alice');
    await c.ok('subscribe', { channel: 'chat:idem' });
    const a = await c.ok('publish', { channel: 'chat:idem', data: 1, idempotencyKey: 'k-1' });
    const b = await c.ok('publish', { channel: 'chat:idem', data: 1, idempotencyKey: 'k-1' });
    expect(b).toEqual({ ...a, deduplicated: true });
    // Another user's identical key does not collide.
    const other = await connected('bob');
    await other.ok('subscribe', { channel: 'chat:idem' });
    expect(await other.ok('publish', { channel: 'chat:idem', data: 2, idempotencyKey: 'k-1' })).toMatchObject({ offset: a.offset + 1 });
    await c.waitForPush((p) => p.type === 'publication' && p.data === 2);
    expect(c.publications('chat:idem').map((p) => p.data)).toEqual([1, 2]);
    c.close();
    other.close();
  });

  it('scopes idempotency keys unambiguously: user "alice:x" with key "k" and user "alice" with key "x:k" are both delivered', async () => {
    const attacker = await connected('alice:x');
    const victim = await connected('alice');
    await attacker.ok('subscribe', { channel: 'chat:idem-scope' });
    await victim.ok('subscribe', { channel: 'chat:idem-scope' });
    const first = await attacker.ok('publish', { channel: 'chat:idem-scope', data: 'from alice:x', idempotencyKey: 'k' });
    const second = await victim.ok('publish', { channel: 'chat:idem-scope', data: 'from alice', idempotencyKey: 'x:k' });
    expect(second.deduplicated).toBeUndefined();
    expect(second.offset).toBe(first.offset + 1);
    await attacker.waitForPush((p) => p.type === 'publication' && p.data === 'from alice');
    expect(attacker.publications('chat:idem-scope').map((p) => p.data)).toEqual(['from alice:x', 'from alice']);
    attacker.close();
    victim.close();
  });

  it('allows anonymous connections only when configured, and only in anonymous namespaces', async () => {
    const strict = await TestClient.open(t.wsUrl);
    expect(await strict.call('connect')).toMatchObject({ error: { code: 'unauthorized' } });
    expect((await strict.closed).code).toBe(CloseCode.InvalidToken);

    const anonNode = await startTestNode({ auth: { secret: 'another-secret-0123456789abcdef', allowAnonymous: true } });
    try {
      const anon = await TestClient.open(anonNode.wsUrl);
      const result = await anon.ok('connect');
      expect(result).toMatchObject({ user: '', subs: {} });
      expect(await anon.ok('subscribe', { channel: 'open:lobby' })).toEqual({ recoverable: false });
      expect(await anon.call('subscribe', { channel: 'chat:lobby' })).toMatchObject({ error: { code: 'permission_denied' } });
      anon.close();
    } finally {
      await anonNode.close();
    }
  });

  it('answers unsubscribe and already/not subscribed', async () => {
    const c = await connected();
    await c.ok('subscribe', { channel: 'live:x' });
    expect(await c.call('subscribe', { channel: 'live:x' })).toMatchObject({ error: { code: 'already_subscribed' } });
    expect(await c.ok('unsubscribe', { channel: 'live:x' })).toEqual({});
    expect(await c.call('unsubscribe', { channel: 'live:x' })).toMatchObject({ error: { code: 'not_subscribed' } });
    await t.node.publish('live:x', 'after');
    await c.ok('subscribe', { channel: 'live:y' });
    expect(c.publications('live:x')).toEqual([]);
    c.close();
  });
});

describe('history, presence and rpc commands', () => {
  it('reads history with limit, since and reverse, for subscribers only', async () => {
    const c = await connected();
    expect(await c.call('history', { channel: 'news:h' })).toMatchObject({ error: { code: 'permission_denied' } });
    await c.ok('subscribe', { channel: 'live:h' });
    expect(await c.call('history', { channel: 'live:h' })).toMatchObject({ error: { code: 'not_available' } });
    const sub = await c.ok('subscribe', { channel: 'news:h' });
    for (let i = 1; i <= 5; i++) await t.node.publish('news:h', i);
    const all = await c.ok('history', { channel: 'news:h' });
    expect(all).toMatchObject({ epoch: sub.epoch, offset: 5 });
    expect(all.publications.map((p: { data: number }) => p.data)).toEqual([1, 2, 3, 4, 5]);
    const since = await c.ok('history', { channel: 'news:h', since: { epoch: sub.epoch, offset: 3 } });
    expect(since.publications.map((p: { offset: number }) => p.offset)).toEqual([4, 5]);
    const rev = await c.ok('history', { channel: 'news:h', limit: 2, reverse: true });
    expect(rev.publications.map((p: { offset: number }) => p.offset)).toEqual([5, 4]);
    c.close();
  });

  it('lists presence and joins/leaves where the namespace enables them', async () => {
    const a = await connected('alice', { info: { name: 'Alice' } });
    const b = await connected('bob');
    await a.ok('subscribe', { channel: 'chat:presence' });
    await b.ok('subscribe', { channel: 'chat:presence' });
    const join = await a.waitForPush((p) => p.type === 'join' && p.info.user === 'bob');
    expect(join).toMatchObject({ channel: 'chat:presence', info: { user: 'bob' } });
    const pres = await a.ok('presence', { channel: 'chat:presence' });
    expect(Object.values(pres.clients).map((c: any) => c.user).sort()).toEqual(['alice', 'bob']);
    expect(pres.users.map((u: any) => u.user)).toEqual(['alice', 'bob']);
    expect(await a.ok('presence_stats', { channel: 'chat:presence' })).toEqual({ clients: 2, users: 2 });
    b.close();
    expect(await a.waitForPush((p) => p.type === 'leave')).toMatchObject({ info: { user: 'bob' } });
    await a.ok('subscribe', { channel: 'live:np' });
    expect(await a.call('presence', { channel: 'live:np' })).toMatchObject({ error: { code: 'not_available' } });
    a.close();
  });

  it('answers rpc through onRpc, and not_available without a handler', async () => {
    const c = await connected('alice');
    expect(await c.ok('rpc', { method: 'echo', data: { n: 1 } })).toEqual({ data: { echoed: { n: 1 }, user: 'alice' } });
    expect(await c.call('rpc', { method: 'missing' })).toEqual({ id: 3, error: { code: 'not_available', message: 'no RPC handler for method "missing"' } });
    expect(await c.call('rpc', { method: 'fail' })).toMatchObject({ error: { code: 'app_rejected', message: 'no way' } });
    expect(await c.call('rpc', { method: 'crash' })).toMatchObject({ error: { code: 'internal', message: 'internal error', temporary: true } });
    c.close();
  });

  it('lets hooks reject subscribes and rewrite or reject publications', async () => {
    const c = await connected('alice');
    expect(await c.call('subscribe', { channel: 'news:forbidden-by-hook' })).toMatchObject({ error: { code: 'permission_denied', message: 'hook says no' } });
    await c.ok('subscribe', { channel: 'chat:shout' });
    await c.ok('publish', { channel: 'chat:shout', data: 'hello' });
    expect(await c.waitForPush((p) => p.type === 'publication')).toMatchObject({ data: 'HELLO' });
    await c.ok('subscribe', { channel: 'chat:moderated' });
    expect(await c.call('publish', { channel: 'chat:moderated', data: 'x' })).toMatchObject({ error: { code: 'permission_denied', message: 'moderated' } });
    c.close();
  });
});

describe('liveness without a timer per connection', () => {
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

  it('connected sessions share one timer for connect timeouts, pings and pongs: 40 connections add no Timeout each', async () => {
    const before = timers();
    const clients = [];
    // Tokens without exp: the expiry is a timer of its own (only for tokens that expire).
    for (let i = 0; i < 40; i++) clients.push(await connected(`idle-${i}`, { ttlSeconds: 0 }));
    // Before the shared wheel every session held a Timeout of its own (connect timeout, then the next ping): +40.
    expect(timers() - before).toBeLessThan(5);
    // They still answer: the personal channel is live and commands run.
    expect(await clients[39]!.ok('rpc', { method: 'echo', data: 1 })).toMatchObject({ data: { echoed: 1 } });
    for (const c of clients) c.close();
  });

  it('tokens with exp share one expiry timer too: 40 connections whose tokens expire add no Timeout each', async () => {
    const before = timers();
    const clients = [];
    for (let i = 0; i < 40; i++) clients.push(await connected(`expiring-${i}`, { ttlSeconds: 600 + i }));
    // Before the node's expiry heap (session/expiry-wheel.ts) every such session held a Timeout until its exp: +40.
    expect(timers() - before).toBeLessThan(5);
    expect(await clients[0]!.ok('rpc', { method: 'echo', data: 2 })).toMatchObject({ data: { echoed: 2 } });
    for (const c of clients) c.close();
  });
});
