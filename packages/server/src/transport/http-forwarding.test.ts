/**
 * SSE and long-polling sessions behind a load balancer that sends a session's requests to
 * any node: two nodes sharing one MemoryCluster, each on its own port on 127.0.0.1; a session
 * opened on A is driven through B (commands, polls, DELETE), its frames arriving in order;
 * a session of a node that does not exist, or of a node that closed, is answered
 * `404 not_found` within the bound (`cluster.requestTimeout`).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, test } from 'vitest';
import { resolveConfig } from '../config/schema.js';
import { MemoryCluster, memoryClusterOptions } from '../engine/memory/memory-cluster.js';
import { startTestNode, TEST_NAMESPACES, type TestNode } from '../test-support/test-node.js';
import { mintSessionKey, ownerOf } from './http-forwarding.js';

/** The bound within which an unreachable session's node is answered (cluster.requestTimeout here). */
const BOUND = 1_500;

let cluster: MemoryCluster | undefined;
let nodes: TestNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.map((n) => n.close()));
  nodes = [];
  await cluster?.close();
  cluster = undefined;
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
  cluster = new MemoryCluster(memoryClusterOptions(resolveConfig({ namespaces: TEST_NAMESPACES })));
  const options = { http, cluster: { requestTimeout: BOUND } };
  const a = await startTestNode({ ...options, engine: cluster.node() });
  const b = await startTestNode({ ...options, engine: cluster.node() });
  nodes = [a, b];
  return [a, b];
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

/** Reads an event stream into its events (`event` and parsed `data`). */
function readStream(url: string) {
  const controller = new AbortController();
  const events: Array<{ id: number; event: string; data: any }> = [];
  const done = (async () => {
    const res = await fetch(url, { signal: controller.signal });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
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
      // aborted
    }
  })();
  return { events, stop: () => controller.abort(), done };
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

  test('SSE: the stream stays on A; commands POSTed to B subscribe and publish, and the events arrive in order', async () => {
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
    nodes = [b];
    const started = Date.now();
    const res = await fetch(`${base(b)}/poll/${session}?ack=1`, { headers: { authorization: `Bearer ${token}` } });
    expect(Date.now() - started).toBeLessThan(BOUND);
    expect(res.status).toBe(404);
    expect(res.headers.get('x-tidings-error')).toBe('not_found');
    const command = await post(b, 'poll', session, '{"id":2,"type":"subscribe","channel":"chat:x"}', token);
    expect(command.status).toBe(404);
  });
});
