/**
 * SSE and long-polling sessions behind a load balancer that sends a session's requests to
 * any node: two nodes sharing one MemoryCluster, each on its own port on 127.0.0.1; a session
 * opened on A is driven through B (commands, polls, DELETE), its frames arriving in order;
 * a session of a node that does not exist, or of a node that closed, is answered
 * `404 not_found` within the bound (`cluster.requestTimeout`).
 */
import { randomBytes } from 'node:crypto';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Tidings } from '@tidings/client';
import { afterEach, describe, expect, test } from 'vitest';
import { startNodePair, type NodePair } from '../test-support/node-pair.js';
import type { TestNode } from '../test-support/test-node.js';
import { mintSessionKey, ownerOf } from './http-forwarding.js';

/** The bound within which an unreachable session's node is answered (cluster.requestTimeout here). */
const BOUND = 1_500;

let pair: NodePair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(check: () => boolean, what: string, timeout = 3_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(5);
  }
}

/** Two nodes on one memory cluster, each listening on its own port. */
async function twoNodes(http: Record<string, unknown> = {}): Promise<[TestNode, TestNode]> {
  pair = await startNodePair({ http, cluster: { requestTimeout: BOUND } });
  return [pair.a, pair.b];
}

const base = (node: TestNode) => `http://127.0.0.1:${node.port}/connection`;

async function open(node: TestNode, transport: 'sse' | 'polling', token: string): Promise<{ session: string; ticket?: string }> {
  const res = await fetch(`${base(node)}/open`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ transport }) });
  expect(res.status).toBe(200);
  return (await res.json()) as { session: string; ticket?: string };
}

function post(node: TestNode, kind: 'sse' | 'poll', session: string, body: string, token: string) {
  return fetch(`${base(node)}/${kind}/${session}`, { method: 'POST', headers: { 'content-type': 'text/plain', authorization: `Bearer ${token}` }, body });
}

type PollAnswer = { from: number; frames: Array<{ id?: number; type?: string; data?: { n: number } }> };

async function poll(node: TestNode, session: string, ack: number, token: string): Promise<PollAnswer> {
  const res = await fetch(`${base(node)}/poll/${session}?ack=${ack}`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as PollAnswer;
}

/**
 * Reads an event stream: its status, raw text and events (`id`, `event`, parsed `data`; whole
 * events only, as an EventSource dispatches them). `done` resolves when the stream ends.
 */
function readStream(url: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const events: Array<{ id: number; event: string; data: any }> = [];
  const state = { status: 0, raw: '', ended: false };
  const done = (async () => {
    try {
      const res = await fetch(url, { headers, signal: controller.signal });
      state.status = res.status;
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const text = decoder.decode(value, { stream: true });
        state.raw += text;
        buf += text;
        let i: number;
        while ((i = buf.indexOf('\n\n')) !== -1) {
          const block = buf.slice(0, i).split('\n');
          buf = buf.slice(i + 2);
          const field = (name: string) => block.find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
          const data = field('data');
          if (data !== undefined) events.push({ id: Number(field('id')), event: field('event') ?? 'message', data: JSON.parse(data) });
        }
      }
    } catch {
      // aborted, or cut by the server
    }
    state.ended = true;
  })();
  return { events, state, stop: () => controller.abort(), done, lastId: () => events.at(-1)?.id ?? 0 };
}

/** A session id of a node that never existed, in the form the nodes mint. */
function ghostSession(): string {
  return `${Buffer.from('ghost-node').toString('base64url')}.${randomBytes(16).toString('base64url')}`;
}

describe('session ids', () => {
  test('name the node that holds the session and stay unguessable', () => {
    const key = mintSessionKey('node-7');
    expect(key).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(ownerOf(key)).toBe('node-7');
    expect(mintSessionKey('node-7')).not.toBe(key);
    // Old-style ids and tampered node parts name no node (answered as unknown where they land).
    expect(ownerOf(key.split('.')[1]!)).toBeUndefined();
    expect(ownerOf(`x.${key.split('.')[1]}`)).toBeUndefined();
  });
});

describe('a session driven through another node', () => {
  test('long-polling: commands POSTed to B act on the session on A; polls on either node get its frames in order', async () => {
    const [a, b] = await twoNodes();
    const token = await a.token('alice');
    const { session } = await open(a, 'polling', token);
    expect(ownerOf(session)).toBe(a.node.nodeId);
    expect((await post(b, 'poll', session, '{"id":1,"type":"connect"}\n{"id":2,"type":"subscribe","channel":"chat:fwd"}', token)).status).toBe(204);
    // A poll sent to B is held by A and answered with A's frames.
    const first = await poll(b, session, 0, token);
    expect(first.from).toBe(1);
    expect(first.frames.slice(0, 2)).toMatchObject([{ id: 1 }, { id: 2 }]);
    let ack = first.from + first.frames.length - 1;
    for (let n = 1; n <= 20; n++) {
      const res = await post(n % 2 ? b : a, 'poll', session, JSON.stringify({ id: 10 + n, type: 'publish', channel: 'chat:fwd', data: { n } }), token);
      expect(res.status).toBe(204);
    }
    const got: number[] = [];
    const deadline = Date.now() + 5_000;
    for (let i = 0; got.length < 20 && Date.now() < deadline; i++) {
      const answer = await poll(i % 2 ? a : b, session, ack, token);
      expect(answer.from).toBe(ack + 1);
      for (const f of answer.frames) if (f.type === 'publication') got.push(f.data!.n);
      ack += answer.frames.length;
    }
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    // DELETE through B ends the session on A.
    expect((await fetch(`${base(b)}/poll/${session}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })).status).toBe(204);
    const gone = await fetch(`${base(a)}/poll/${session}?ack=${ack}`, { headers: { authorization: `Bearer ${token}` } });
    expect(gone.status).toBe(404);
  });

  test('long-polling: a poll waiting on B is answered when A gets a frame; the session user is checked on A', async () => {
    const [a, b] = await twoNodes();
    const token = await a.token('alice');
    const { session } = await open(a, 'polling', token);
    await post(a, 'poll', session, '{"id":1,"type":"connect"}\n{"id":2,"type":"subscribe","channel":"news:held"}', token);
    const first = await poll(b, session, 0, token);
    const ack = first.frames.length;
    const waiting = poll(b, session, ack, token);
    await sleep(100);
    await a.api('POST', '/publish', { channel: 'news:held', data: { n: 1 } });
    const next = await waiting;
    expect(next.from).toBe(ack + 1);
    expect(next.frames).toMatchObject([{ type: 'publication', data: { n: 1 } }]);
    // Another user's token is refused by the owner, as it would be on A itself.
    const mallory = await b.token('mallory');
    const refused = await post(b, 'poll', session, '{"id":3,"type":"publish","channel":"news:held","data":{}}', mallory);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('x-tidings-error')).toBe('forbidden');
  });

  test('SSE: with the stream on A, commands POSTed to B subscribe and publish, and the events arrive in order', async () => {
    const [a, b] = await twoNodes();
    const token = await a.token('alice');
    const { session, ticket } = await open(a, 'sse', token);
    const stream = readStream(`${base(a)}/sse?ticket=${ticket}`);
    expect((await post(b, 'sse', session, '{"id":1,"type":"connect"}\n{"id":2,"type":"subscribe","channel":"chat:sse"}', token)).status).toBe(204);
    await until(() => stream.events.filter((e) => e.event === 'reply').length >= 2, 'connect and subscribe replies');
    for (let n = 1; n <= 20; n++) {
      const res = await post(n % 2 ? b : a, 'sse', session, JSON.stringify({ id: 10 + n, type: 'publish', channel: 'chat:sse', data: { n } }), token);
      expect(res.status).toBe(204);
    }
    await until(() => stream.events.filter((e) => e.event === 'publication').length >= 20, 'publications');
    expect(stream.events.filter((e) => e.event === 'publication').map((e) => e.data.data.n)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const ids = stream.events.map((e) => e.id);
    expect(ids).toEqual(ids.map((_, i) => i + 1));
    stream.stop();
  });
});

/**
 * An HTTP proxy on 127.0.0.1 that sends each request to the next of `ports` in turn, streaming
 * both ways: a load balancer without sticky sessions (node:cluster balances TCP connections,
 * which a keep-alive client spreads less evenly; per request is the harder case).
 */
async function roundRobinProxy(ports: number[]) {
  let next = 0;
  const log: Array<{ method: string; path: string; port: number }> = [];
  const server = createServer((req, res) => {
    const port = ports[next++ % ports.length]!;
    log.push({ method: req.method ?? '', path: req.url ?? '', port });
    const upstream = request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    log,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Connects and subscribes session `session` (held by A) to `channel` through `via`, and waits for both replies on `stream`. */
async function subscribe(via: TestNode, session: string, channel: string, token: string, stream: ReturnType<typeof readStream>): Promise<void> {
  expect((await post(via, 'sse', session, `{"id":1,"type":"connect"}\n{"id":2,"type":"subscribe","channel":"${channel}"}`, token)).status).toBe(204);
  await until(() => stream.events.filter((e) => e.event === 'reply').length >= 2, 'connect and subscribe replies');
}

const publications = (events: Array<{ event: string; data: any }>) => events.filter((e) => e.event === 'publication').map((e) => e.data.data.n as number);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('an SSE stream relayed by another node', () => {
  test('a session opened on A with its stream on B gets its replies and 50 publications in order, with the ids and bytes A writes', async () => {
    const [a, b] = await twoNodes();
    const token = await a.token('alice');
    const { session, ticket } = await open(a, 'sse', token);
    expect(ownerOf(ticket!)).toBe(a.node.nodeId);
    const stream = readStream(`${base(b)}/sse?ticket=${ticket}`);
    await subscribe(b, session, 'chat:relay', token, stream);
    expect(stream.state.status).toBe(200);
    for (let n = 1; n <= 50; n++) expect((await (n % 2 ? b : a).api('POST', '/publish', { channel: 'chat:relay', data: { n } })).status).toBe(200);
    await until(() => publications(stream.events).length >= 50, '50 publications through B');
    expect(publications(stream.events)).toEqual(range(1, 50));
    expect(stream.events.map((e) => e.id)).toEqual(range(1, stream.events.length));
    expect(stream.state.raw.startsWith('retry: 1000\nid: 0\n')).toBe(true);
    // A's own stream of the session, resumed from 0, carries byte for byte what B relayed.
    stream.stop();
    const direct = readStream(`${base(a)}/sse?ticket=${ticket}`, { 'last-event-id': '0' });
    await until(() => direct.events.length >= stream.events.length, 'the direct replay');
    expect(direct.state.raw).toBe(stream.state.raw);
    direct.stop();
  });

  test('resuming with Last-Event-ID through B, A and B again loses nothing and duplicates nothing; a new stream ends the one before', async () => {
    const [a, b] = await twoNodes();
    const token = await a.token('alice');
    const { session, ticket } = await open(a, 'sse', token);
    const url = (node: TestNode) => `${base(node)}/sse?ticket=${ticket}`;
    let stream = readStream(url(b));
    await subscribe(a, session, 'chat:resume', token, stream);
    const seen: Array<{ id: number; event: string; data: any }> = [];
    const publisher = (async () => {
      for (let n = 1; n <= 60; n++) {
        expect((await (n % 2 ? a : b).api('POST', '/publish', { channel: 'chat:resume', data: { n } })).status).toBe(200);
        await sleep(3);
      }
    })();
    let resumeFrom = 0;
    for (const [k, next] of [b, a, b, a].entries()) {
      await until(() => publications([...seen, ...stream.events]).length >= (k + 1) * 12, `publication ${(k + 1) * 12}`);
      stream.stop();
      await stream.done;
      seen.push(...stream.events);
      resumeFrom = stream.events.at(-1)?.id ?? resumeFrom;
      stream = readStream(url(next), { 'last-event-id': String(resumeFrom) });
    }
    await publisher;
    await until(() => publications([...seen, ...stream.events]).length >= 60, 'all 60 publications');
    seen.push(...stream.events);
    expect(publications(seen)).toEqual(range(1, 60));
    expect(seen.map((e) => e.id)).toEqual(range(1, seen.length));
    // A resume while the stream on A is open replaces it, as it does on one node: A's ends.
    const replacing = readStream(url(b), { 'last-event-id': String(seen.at(-1)!.id) });
    await Promise.race([stream.done, sleep(BOUND)]);
    expect(stream.state.ended).toBe(true);
    expect((await a.api('POST', '/publish', { channel: 'chat:resume', data: { n: 61 } })).status).toBe(200);
    await until(() => publications(replacing.events).length === 1, 'publication 61 on the new stream');
    expect(replacing.events.map((e) => e.id)).toEqual([seen.at(-1)!.id + 1]);
    replacing.stop();
  });

  test('the ticket rules hold through B: used once, resumed only with Last-Event-ID, only by the client that opened', async () => {
    const [a, b] = await twoNodes();
    const token = await a.token('alice');
    const { ticket } = await open(a, 'sse', token);
    const url = `${base(b)}/sse?ticket=${ticket}`;
    const stream = readStream(url);
    await until(() => stream.state.status === 200, 'the stream through B');
    const error = async (res: Response) => ({ status: res.status, code: res.headers.get('x-tidings-error'), message: ((await res.json()) as { error: { message: string } }).error.message });
    expect(await error(await fetch(url))).toEqual({ status: 401, code: 'unauthorized', message: 'this ticket was used; resume with Last-Event-ID' });
    expect(await error(await fetch(url, { headers: { 'last-event-id': '0', 'user-agent': 'another browser' } }))).toEqual({ status: 401, code: 'unauthorized', message: 'unknown or expired ticket' });
    expect(await error(await fetch(url, { headers: { 'last-event-id': 'x' } }))).toEqual({ status: 400, code: 'bad_request', message: 'Last-Event-ID: expected a non-negative integer' });
    expect(stream.state.ended).toBe(false);
    stream.stop();
  });

  test('closing the stream on B releases it on A: the session goes idle and times out, or a later direct stream on A resumes it', async () => {
    const [a, b] = await twoNodes({ sessionTimeout: 600, pollTimeout: 5_000 });
    const token = await a.token('alice');
    // Left alone after its stream on B closed, a session ends after http.sessionTimeout (the
    // owner's stream would otherwise hold it for pollTimeout + requestTimeout).
    const idle = await open(a, 'sse', token);
    const idleStream = readStream(`${base(b)}/sse?ticket=${idle.ticket}`);
    await subscribe(b, idle.session, 'chat:idle', token, idleStream);
    idleStream.stop();
    const closed = Date.now();
    let status = 0;
    while (status !== 404 && Date.now() - closed < 3_000) {
      await sleep(100);
      status = (await post(a, 'sse', idle.session, '{"type":"pong"}', token)).status;
    }
    expect(status).toBe(404);
    // Resumed directly on A after its stream on B closed: the frames made in between arrive once.
    const { session, ticket } = await open(a, 'sse', token);
    const relayed = readStream(`${base(b)}/sse?ticket=${ticket}`);
    await subscribe(a, session, 'chat:back', token, relayed);
    await a.api('POST', '/publish', { channel: 'chat:back', data: { n: 1 } });
    await until(() => publications(relayed.events).length === 1, 'publication 1 through B');
    relayed.stop();
    await relayed.done;
    await a.api('POST', '/publish', { channel: 'chat:back', data: { n: 2 } });
    const direct = readStream(`${base(a)}/sse?ticket=${ticket}`, { 'last-event-id': String(relayed.lastId()) });
    await until(() => publications(direct.events).length === 1, 'publication 2 on A');
    expect(publications(direct.events)).toEqual([2]);
    expect(direct.events[0]!.id).toBe(relayed.lastId() + 1);
    direct.stop();
  });

  test('A closed: the stream on B ends at once, and its resume through B is told the ticket is unknown', async () => {
    const [a, b] = await twoNodes();
    const token = await a.token('alice');
    const { session, ticket } = await open(a, 'sse', token);
    const stream = readStream(`${base(b)}/sse?ticket=${ticket}`);
    await subscribe(b, session, 'chat:gone', token, stream);
    const started = Date.now();
    await a.close();
    await Promise.race([stream.done, sleep(BOUND)]);
    expect(stream.state.ended).toBe(true);
    expect(Date.now() - started).toBeLessThan(BOUND);
    const resumed = await fetch(`${base(b)}/sse?ticket=${ticket}`, { headers: { 'last-event-id': String(stream.lastId()) } });
    expect(resumed.status).toBe(401);
    expect(await resumed.json()).toEqual({ error: { code: 'unauthorized', message: 'unknown or expired ticket' } });
    // A ticket naming a node that never existed: the same answer, within the bound.
    const ghost = Date.now();
    const res = await fetch(`${base(b)}/sse?ticket=${ghostSession()}`);
    expect(Date.now() - ghost).toBeLessThan(BOUND);
    expect(res.status).toBe(401);
  });
});

describe('@tidings/client over SSE behind a balancer', () => {
  test('its stream relayed by the node the balancer picked, it receives 50 publications in order', async () => {
    const [a, b] = await twoNodes();
    const proxy = await roundRobinProxy([a.port, b.port]);
    const client = new Tidings(`ws://127.0.0.1:${proxy.port}/connection/websocket`, { transports: ['sse'], upgradeProbeDelay: false, timeout: 5_000, token: await a.token('alice') });
    try {
      await client.connect();
      expect(client.transport).toBe('sse');
      const received: number[] = [];
      const sub = client.subscribe<{ n: number }>('chat:balanced');
      sub.on('publication', (p) => received.push(p.data.n));
      await sub.ready();
      for (let n = 1; n <= 50; n++) expect((await (n % 2 ? a : b).api('POST', '/publish', { channel: 'chat:balanced', data: { n } })).status).toBe(200);
      await until(() => received.length >= 50, '50 publications on the client');
      expect(received).toEqual(range(1, 50));
      // The stream went to the other node than the open: B relayed A's session (or A relayed B's).
      const opened = proxy.log.find((r) => r.path === '/connection/open')!;
      const streams = proxy.log.filter((r) => r.path.startsWith('/connection/sse?'));
      expect(streams).toHaveLength(1);
      expect(streams[0]!.port).not.toBe(opened.port);
      // Its commands went to both nodes.
      expect(new Set(proxy.log.filter((r) => r.method === 'POST' && r.path.startsWith('/connection/sse/')).map((r) => r.port)).size).toBe(2);
    } finally {
      client.disconnect();
      await proxy.close();
    }
  });
});

describe('a session whose node is not there', () => {
  test('a session id naming a node that does not exist answers 404 unknown session within the bound', async () => {
    const [, b] = await twoNodes();
    const token = await b.token('alice');
    const session = ghostSession();
    for (const request of [
      () => post(b, 'poll', session, '{"id":1,"type":"connect"}', token),
      () => fetch(`${base(b)}/poll/${session}?ack=0`, { headers: { authorization: `Bearer ${token}` } }),
      () => post(b, 'sse', session, '{"id":1,"type":"connect"}', token),
      () => fetch(`${base(b)}/sse/${session}`, { method: 'DELETE' }),
    ]) {
      const started = Date.now();
      const res = await request();
      expect(Date.now() - started).toBeLessThan(BOUND);
      expect(res.status).toBe(404);
      expect(res.headers.get('x-tidings-error')).toBe('not_found');
      expect(await res.json()).toEqual({ error: { code: 'not_found', message: 'unknown or expired session' } });
    }
  });

  test('node A closed: B answers its sessions unknown at once', async () => {
    const [a, b] = await twoNodes();
    const token = await a.token('alice');
    const { session } = await open(a, 'polling', token);
    await post(b, 'poll', session, '{"id":1,"type":"connect"}', token);
    expect((await poll(b, session, 0, token)).frames).toMatchObject([{ id: 1 }]);
    await a.close();
    const started = Date.now();
    const res = await fetch(`${base(b)}/poll/${session}?ack=1`, { headers: { authorization: `Bearer ${token}` } });
    expect(Date.now() - started).toBeLessThan(BOUND);
    expect(res.status).toBe(404);
    expect(res.headers.get('x-tidings-error')).toBe('not_found');
    const command = await post(b, 'poll', session, '{"id":2,"type":"subscribe","channel":"chat:x"}', token);
    expect(command.status).toBe(404);
  });
});
