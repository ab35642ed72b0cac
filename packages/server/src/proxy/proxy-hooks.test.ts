/**
 * Proxy hooks and in-process hooks have one semantics. The same decision function (what a
 * backend answers to each hook) runs twice: as in-process hooks registered on the node, and
 * behind a real HTTP backend on 127.0.0.1 that the node's proxy hooks call. Every case of
 * `semantics` runs against both. Proxy-only cases (timeout, HTTP 500, garbage, backend down,
 * headers, retries, metrics, namespaces) follow.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TidingsError } from '../errors.js';
import { HookDisconnect, type ConnectionContext } from '../hooks.js';
import type { TidingsOptions } from '../node.js';
import { startTestNode, type TestNode } from '../test-support/test-node.js';
import { TestClient } from '../test-support/test-client.js';

type Answer = { result: Record<string, unknown> } | { error: { code: string; message: string; temporary?: boolean } } | { disconnect: { code: number; reason: string } };
type HookName = 'connect' | 'refresh' | 'subscribe' | 'publish' | 'sub_refresh' | 'rpc';

/** What the test backend decides, for both runs. Times are unix seconds, as on the wire. */
function makeDecider() {
  const refreshes = new Map<string, number>();
  const soon = () => Date.now() / 1000 + 0.3;
  return (hook: HookName, body: Record<string, any>, headers: IncomingHttpHeaders): Answer => {
    switch (hook) {
      case 'connect':
        if (body.user === 'banned') return { error: { code: 'permission_denied', message: 'banned user' } };
        if (body.user === 'kick') return { disconnect: { code: 4533, reason: 'go away' } };
        if (body.user === 'refresher') return { result: { expireAt: soon() } };
        if (body.user === 'bob') return { result: { info: { plan: 'pro' }, data: { welcome: 'bob' } } };
        if (body.user === '' && String(headers.cookie ?? '').includes('session=alice-cookie')) {
          return { result: { user: 'alice', info: { from: 'cookie' }, channels: ['news:extra'] } };
        }
        return { result: {} };
      case 'refresh':
      case 'sub_refresh': {
        const key = `${hook}:${body.client}:${body.channel ?? ''}`;
        const n = (refreshes.get(key) ?? 0) + 1;
        refreshes.set(key, n);
        return n === 1 ? { result: { expireAt: soon(), info: { refreshed: n } } } : { result: { expired: true } };
      }
      case 'subscribe':
        if (body.channel === 'chat:secret') return { error: { code: 'permission_denied', message: 'not a member' } };
        if (body.channel === 'chat:vip') return { result: { info: { role: 'vip' } } };
        if (body.channel === 'chat:short') return { result: { expireAt: soon() } };
        if (body.channel === 'chat:kick') return { disconnect: { code: 4009, reason: 'resubscribe elsewhere' } };
        return { result: {} };
      case 'publish':
        if (body.data?.text === 'bad') return { error: { code: 'bad_request', message: 'no bad words' } };
        if (body.data?.text === 'shout') return { result: { data: { text: 'SHOUT' } } };
        return { result: {} };
      case 'rpc':
        if (body.method === 'fail') return { error: { code: 'not_available', message: 'not today' } };
        return { result: { data: { echo: body.data, user: body.user } } };
    }
  };
}

/** The envelope an in-process hook would have sent, so both runs decide on the same input. */
function envelopeOf(ctx: ConnectionContext & Record<string, unknown>): Record<string, unknown> {
  return { client: ctx.client, user: ctx.user, channel: ctx.channel, data: ctx.data, method: ctx.method, info: ctx.info };
}

/** The decision as in-process hooks: errors thrown, expiries in ms. */
function inProcessOptions(): { options: TidingsOptions; install(node: TestNode['node']): void } {
  const decide = makeDecider();
  const run = (hook: HookName, ctx: ConnectionContext & Record<string, unknown>): Record<string, any> => {
    const a = decide(hook, envelopeOf(ctx), (ctx.headers ?? {}) as IncomingHttpHeaders);
    if ('error' in a) throw new TidingsError(a.error.code, a.error.message);
    if ('disconnect' in a) throw new HookDisconnect(a.disconnect.code, a.disconnect.reason);
    const r = { ...a.result };
    if (typeof r.expireAt === 'number') r.expiresAt = r.expireAt * 1000;
    delete r.expireAt;
    return r;
  };
  return {
    options: { proxy: { refreshGrace: 500, refreshRetryInterval: 100 } },
    install(node) {
      node.onConnect((ctx) => run('connect', ctx as never), { authenticates: true });
      node.onRefresh((ctx) => run('refresh', ctx as never));
      node.onSubscribe((ctx) => run('subscribe', ctx as never));
      node.onSubRefresh((ctx) => run('sub_refresh', ctx as never));
      node.onPublish((ctx) => run('publish', ctx as never) as never);
      node.onRpc((ctx) => run('rpc', ctx as never).data);
    },
  };
}

interface Backend {
  url: string;
  requests: { path: string; headers: IncomingHttpHeaders; body: any }[];
  close(): Promise<void>;
}

/** A real HTTP backend: the decision function at /<hook>, and misbehaving paths for the failure cases. */
async function startBackend(decide = makeDecider()): Promise<Backend> {
  const requests: Backend['requests'] = [];
  const server: Server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      const path = req.url ?? '/';
      const body = text ? JSON.parse(text) : {};
      requests.push({ path, headers: req.headers, body });
      if (path.startsWith('/slow')) return void setTimeout(() => res.end('{"result":{}}'), 400);
      if (path.startsWith('/500')) return void res.writeHead(500).end('oops');
      if (path.startsWith('/garbage')) return void res.end('<html>not json');
      if (path.startsWith('/other')) return void res.end(JSON.stringify({ result: { info: { from: 'other' }, data: { from: 'other' } } }));
      const hook = path.slice(1) as HookName;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(decide(hook, body, req.headers)));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function proxyOptions(url: string): TidingsOptions {
  return {
    proxy: {
      connect: { url: `${url}/connect` },
      refresh: { url: `${url}/refresh` },
      subscribe: { url: `${url}/subscribe` },
      publish: { url: `${url}/publish` },
      subRefresh: { url: `${url}/sub_refresh` },
      rpc: { url: `${url}/rpc` },
      refreshGrace: 500,
      refreshRetryInterval: 100,
    },
  };
}

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

async function open(t: TestNode, options: { token?: string; headers?: Record<string, string> } = {}): Promise<TestClient> {
  const c = await TestClient.open(t.wsUrl, options);
  closers.push(() => c.close());
  return c;
}

describe.each(['in-process', 'proxy'] as const)('hook semantics (%s)', (mode) => {
  let t: TestNode;
  let backend: Backend | undefined;
  beforeAll(async () => {
    if (mode === 'proxy') {
      backend = await startBackend();
      t = await startTestNode(proxyOptions(backend.url));
    } else {
      const { options, install } = inProcessOptions();
      t = await startTestNode(options);
      install(t.node);
    }
  });
  afterAll(async () => {
    await t.close();
    await backend?.close();
  });

  it('connect: accepts a token user, and modifies info and reply data', async () => {
    const c = await open(t);
    const r = await c.ok('connect', { token: await t.token('bob') });
    expect(r.user).toBe('bob');
    expect(r.data).toEqual({ welcome: 'bob' });
    await c.ok('subscribe', { channel: 'chat:room' });
    const presence = await c.ok('presence', { channel: 'chat:room' });
    expect(presence.clients[r.client].info).toEqual({ plan: 'pro' });
  });

  it('connect without any token: the hook decides the user from the cookie (and adds channels)', async () => {
    const c = await open(t, { headers: { cookie: 'theme=dark; session=alice-cookie' } });
    const r = await c.ok('connect', {});
    expect(r.user).toBe('alice');
    expect(Object.keys(r.subs)).toEqual(expect.arrayContaining(['user:#alice', 'news:extra']));
    const none = await open(t);
    const reply = await none.call('connect', {});
    expect('error' in reply && reply.error.code).toBe('unauthorized');
    expect((await none.closed).code).toBe(4500);
  });

  it('connect: rejects with the code shown to the client, or disconnects with the backend\'s code', async () => {
    const c = await open(t);
    const reply = await c.call('connect', { token: await t.token('banned') });
    expect('error' in reply && reply.error).toEqual({ code: 'permission_denied', message: 'banned user' });
    expect((await c.closed).code).toBe(4502);
    const k = await open(t);
    void k.call('connect', { token: await t.token('kick') });
    expect(await k.closed).toEqual({ code: 4533, reason: 'go away' });
  });

  it('subscribe: accepts, rejects with a code, gives the subscription info, disconnects', async () => {
    const c = await open(t);
    await c.ok('connect', { token: await t.token('carol') });
    expect(await c.ok('subscribe', { channel: 'chat:open' })).toMatchObject({ recoverable: true });
    const denied = await c.call('subscribe', { channel: 'chat:secret' });
    expect('error' in denied && denied.error).toEqual({ code: 'permission_denied', message: 'not a member' });
    expect((await c.ok('subscribe', { channel: 'chat:vip' })).info).toEqual({ role: 'vip' });
    void c.call('subscribe', { channel: 'chat:kick' });
    expect(await c.closed).toEqual({ code: 4009, reason: 'resubscribe elsewhere' });
  });

  it('publish: accepts, rejects with a code, replaces the data', async () => {
    const c = await open(t);
    await c.ok('connect', { token: await t.token('dave') });
    await c.ok('subscribe', { channel: 'chat:pub' });
    await c.ok('publish', { channel: 'chat:pub', data: { text: 'hi' } });
    const bad = await c.call('publish', { channel: 'chat:pub', data: { text: 'bad' } });
    expect('error' in bad && bad.error.code).toBe('bad_request');
    await c.ok('publish', { channel: 'chat:pub', data: { text: 'shout' } });
    await c.waitForPush((p) => p.type === 'publication' && (p as any).data.text === 'SHOUT');
    expect(c.publications('chat:pub').map((p) => p.data)).toEqual([{ text: 'hi' }, { text: 'SHOUT' }]);
  });

  it('rpc: answers with the hook\'s data, or its error', async () => {
    const c = await open(t);
    await c.ok('connect', { token: await t.token('erin') });
    expect(await c.ok('rpc', { method: 'echo', data: { n: 1 } })).toEqual({ data: { echo: { n: 1 }, user: 'erin' } });
    const failed = await c.call('rpc', { method: 'fail' });
    expect('error' in failed && failed.error).toEqual({ code: 'not_available', message: 'not today' });
  });

  it('refresh: the server refreshes a hook-set expiry itself, then closes with 4003 when the answer is expired', async () => {
    const c = await open(t);
    const r = await c.ok('connect', { token: await t.token('refresher') });
    expect(r.expires).toBeGreaterThan(0);
    const started = Date.now();
    expect((await c.closed).code).toBe(4003);
    // One extension (about 0.3 s more) happened before the expired answer.
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
  });

  it('sub_refresh: a subscription with a hook-set expiry is refreshed once, then ended with "subscription expired"', async () => {
    const c = await open(t);
    await c.ok('connect', { token: await t.token('frank') });
    await c.ok('subscribe', { channel: 'chat:short' });
    const started = Date.now();
    const push = await c.waitForPush((p) => p.type === 'unsubscribe', 3000);
    expect(push).toEqual({ type: 'unsubscribe', channel: 'chat:short', code: 2001, reason: 'subscription expired' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    // The connection stays; the channel may be subscribed again.
    await c.ok('subscribe', { channel: 'chat:open2' });
  });
});

/** `tidings_<name>{labels} value` from the node's metrics, 0 when absent. */
async function metric(t: TestNode, line: string): Promise<number> {
  const text = await t.node.metrics.render();
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found ? Number(found.slice(line.length + 1)) : 0;
}

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('proxy hooks over HTTP', () => {
  let backend: Backend;
  beforeAll(async () => {
    backend = await startBackend();
  });
  afterAll(() => backend.close());

  async function node(proxy: NonNullable<TidingsOptions['proxy']>, extra: TidingsOptions = {}): Promise<TestNode> {
    const t = await startTestNode({ proxy, ...extra });
    closers.push(() => t.close());
    return t;
  }

  it('a slow backend (timeout), HTTP 500 and a garbage body give the client a temporary unavailable error, counted by outcome', async () => {
    const t = await node({ subscribe: { url: `${backend.url}/slow`, timeout: 100 } }, { namespaces: { chat: {}, five: { proxy: { subscribe: { url: `${backend.url}/500` } } }, junk: { proxy: { subscribe: { url: `${backend.url}/garbage` } } } } });
    const c = await open(t);
    await c.ok('connect', { token: await t.token('u1') });
    const started = Date.now();
    for (const channel of ['chat:a', 'five:a', 'junk:a']) {
      const reply = await c.call('subscribe', { channel });
      expect('error' in reply && reply.error, channel).toEqual({ code: 'unavailable', message: 'subscribe proxy: the backend is unavailable', temporary: true });
    }
    // Bounded by the 100 ms timeout, not the backend's 400 ms (nor forever).
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await metric(t, 'tidings_proxy_requests_total{hook="subscribe",outcome="timeout"}')).toBe(1);
    expect(await metric(t, 'tidings_proxy_requests_total{hook="subscribe",outcome="http_error"}')).toBe(1);
    expect(await metric(t, 'tidings_proxy_requests_total{hook="subscribe",outcome="bad_response"}')).toBe(1);
    expect(await metric(t, 'tidings_proxy_request_seconds_count{hook="subscribe"}')).toBe(3);
    // The connection is fine and keeps working.
    expect(await c.ok('rpc', { method: 'x' }).catch((e: Error) => e.message)).toMatch(/not_available/);
  });

  it('backend down: connect gets unavailable (temporary) and closes with 4006; the safe connect hook is retried twice, counted', async () => {
    const port = await closedPort();
    const t = await node({ connect: { url: `http://127.0.0.1:${port}/connect` } });
    const c = await open(t);
    const reply = await c.call('connect', { token: await t.token('u2') });
    expect('error' in reply && reply.error).toEqual({ code: 'unavailable', message: 'connect proxy: the backend is unavailable', temporary: true });
    expect((await c.closed).code).toBe(4006);
    expect(await metric(t, 'tidings_proxy_retries_total{hook="connect"}')).toBe(2);
    expect(await metric(t, 'tidings_proxy_requests_total{hook="connect",outcome="unreachable"}')).toBe(1);
  });

  it('publish and rpc are never retried: one failed request each, an error to the caller', async () => {
    const port = await closedPort();
    const down = `http://127.0.0.1:${port}`;
    const t = await node({ publish: { url: `${down}/publish` }, rpc: { url: `${down}/rpc` } });
    const c = await open(t);
    await c.ok('connect', { token: await t.token('u3') });
    await c.ok('subscribe', { channel: 'chat:p' });
    const pub = await c.call('publish', { channel: 'chat:p', data: { text: 'x' } });
    expect('error' in pub && pub.error.code).toBe('unavailable');
    const rpc = await c.call('rpc', { method: 'm' });
    expect('error' in rpc && rpc.error.code).toBe('unavailable');
    expect(await metric(t, 'tidings_proxy_retries_total{hook="publish"}')).toBe(0);
    expect(await metric(t, 'tidings_proxy_retries_total{hook="rpc"}')).toBe(0);
    expect(await metric(t, 'tidings_proxy_requests_total{hook="publish",outcome="unreachable"}')).toBe(1);
    expect(c.publications('chat:p')).toEqual([]);
  });

  it('forwards cookie, authorization and the configured headers, adds static headers and x-request-id, and nothing else', async () => {
    const t = await node({ connect: { url: `${backend.url}/connect`, forwardHeaders: ['X-Tenant'], staticHeaders: { 'x-backend-key': 'k1' } } });
    const before = backend.requests.length;
    const c = await open(t, { headers: { cookie: 'session=alice-cookie', 'x-tenant': 'acme', 'x-secret': 'do-not-send' } });
    expect((await c.ok('connect', {})).user).toBe('alice');
    const [req] = backend.requests.slice(before);
    expect(req!.path).toBe('/connect');
    expect(req!.headers.cookie).toBe('session=alice-cookie');
    expect(req!.headers['x-tenant']).toBe('acme');
    expect(req!.headers['x-backend-key']).toBe('k1');
    expect(req!.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(req!.headers['x-secret']).toBeUndefined();
    expect(req!.body).toMatchObject({ user: '', transport: 'websocket', remoteAddress: '127.0.0.1' });
    expect(typeof req!.body.client).toBe('string');
    expect(await metric(t, 'tidings_proxy_requests_total{hook="connect",outcome="ok"}')).toBe(1);
  });

  it('connect.withToken false: a connection with a token skips the proxy; one without still asks it', async () => {
    const t = await node({ connect: { url: `${backend.url}/connect`, withToken: false } });
    const before = backend.requests.length;
    const c = await open(t);
    expect((await c.ok('connect', { token: await t.token('tokenuser') })).user).toBe('tokenuser');
    expect(backend.requests.length).toBe(before);
    const d = await open(t, { headers: { cookie: 'session=alice-cookie' } });
    expect((await d.ok('connect', {})).user).toBe('alice');
    expect(backend.requests.length).toBe(before + 1);
  });

  it('a namespace\'s own endpoint wins for its channels and its rpc methods (ns:name); others use the top-level one', async () => {
    const t = await node({ subscribe: { url: `${backend.url}/subscribe` }, rpc: { url: `${backend.url}/rpc` } }, { namespaces: { chat: {}, dm: { proxy: { subscribe: { url: `${backend.url}/other` }, rpc: { url: `${backend.url}/other` } } } } });
    const c = await open(t);
    await c.ok('connect', { token: await t.token('u4') });
    expect((await c.ok('subscribe', { channel: 'dm:a' })).info).toEqual({ from: 'other' });
    expect((await c.ok('subscribe', { channel: 'chat:vip' })).info).toEqual({ role: 'vip' });
    expect(await c.ok('rpc', { method: 'dm:ping' })).toEqual({ data: { from: 'other' } });
    expect((await c.ok('rpc', { method: 'chat:ping', data: 1 })).data).toEqual({ echo: 1, user: 'u4' });
  });

  it('an unknown error code from the backend refuses with permission_denied', async () => {
    const bogus = await startBackend(() => ({ error: { code: 'nope', message: 'custom refusal' } }));
    closers.push(() => bogus.close());
    const t = await node({ subscribe: { url: `${bogus.url}/subscribe` } });
    const c = await open(t);
    await c.ok('connect', { token: await t.token('u5') });
    const reply = await c.call('subscribe', { channel: 'chat:a' });
    expect('error' in reply && reply.error).toEqual({ code: 'permission_denied', message: 'custom refusal' });
    expect(await metric(t, 'tidings_proxy_requests_total{hook="subscribe",outcome="rejected"}')).toBe(1);
  });

  it('refresh failing (backend down) is retried within proxy.refreshGrace, then closes with 4003', async () => {
    const port = await closedPort();
    const t = await node({ connect: { url: `${backend.url}/connect` }, refresh: { url: `http://127.0.0.1:${port}/refresh`, retries: 0 }, refreshGrace: 400, refreshRetryInterval: 100 });
    const c = await open(t);
    await c.ok('connect', { token: await t.token('refresher') });
    expect((await c.closed).code).toBe(4003);
    // The expiry (0.3 s) passed, then attempts every 100 ms within the 400 ms grace.
    expect(await metric(t, 'tidings_proxy_requests_total{hook="refresh",outcome="unreachable"}')).toBeGreaterThanOrEqual(3);
  });

  it('refuses a proxy URL that is not http(s), naming the key', async () => {
    await expect(startTestNode({ proxy: { connect: { url: 'ftp://example.com/x' } } })).rejects.toThrow(/proxy\.connect\.url/);
    await expect(startTestNode({ namespaces: { chat: { proxy: { publish: { url: 'not a url' } } } } })).rejects.toThrow(/namespaces\.chat\.proxy\.publish\.url/);
    await expect(startTestNode({ proxy: { publish: { url: 'http://x/p', retries: 1 } as never } })).rejects.toThrow(/retries/);
  });
});
