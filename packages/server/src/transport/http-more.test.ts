/**
 * More of the HTTP transports' edges over real HTTP on 127.0.0.1, on the SSE session path
 * as on /poll: another user's POST, an oversized body, a wrong content type; and CORS
 * preflights on every session endpoint.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { startTestNode, type TestNode } from '../test-support/test-node.js';

let server: TestNode;
afterEach(async () => {
  await server?.close();
});

function base(): string {
  return `http://127.0.0.1:${server.port}/connection`;
}

async function open(transport: 'sse' | 'polling', token: string): Promise<{ session: string; ticket?: string }> {
  const res = await fetch(`${base()}/open`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ transport }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { session: string; ticket?: string };
}

function post(kind: 'sse' | 'poll', session: string, body: string, token?: string, contentType = 'text/plain') {
  return fetch(`${base()}/${kind}/${session}`, { method: 'POST', headers: { 'content-type': contentType, ...(token ? { authorization: `Bearer ${token}` } : {}) }, body });
}

const errorOf = async (res: Response) => ({ status: res.status, code: ((await res.json()) as { error: { code: string } }).error.code });

/** Reads an SSE stream's events' data until `count` arrived (bounded). */
async function readEvents(url: string, count: number, timeout = 3_000): Promise<string[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout);
  const data: string[] = [];
  try {
    const res = await fetch(url, { signal: controller.signal, headers: { accept: 'text/event-stream' } });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    while (data.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.startsWith('data: ')) data.push(line.slice(6));
      }
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return data;
}

describe('the SSE session POST refuses bad input as /poll does', () => {
  test("another user's POST is refused with 403; an oversized body 413; a wrong content type 415; the session lives on", async () => {
    server = await startTestNode();
    const alice = await server.token('alice');
    const bob = await server.token('bob');
    const { session, ticket } = await open('sse', alice);
    expect(ticket).toBeTruthy();
    expect(await errorOf(await post('sse', session, '{"id":1,"type":"connect"}', bob))).toEqual({ status: 403, code: 'forbidden' });
    expect(await errorOf(await post('sse', session, 'x'.repeat(70_000), alice))).toEqual({ status: 413, code: 'payload_too_large' });
    expect(await errorOf(await post('sse', session, '{"id":1,"type":"connect"}', alice, 'application/xml'))).toEqual({ status: 415, code: 'unsupported_media_type' });
    // None of those ran: the owner's connect is the first command, and is answered on the stream.
    expect((await post('sse', session, '{"id":1,"type":"connect"}', alice)).status).toBe(204);
    const events = await readEvents(`${base()}/sse?ticket=${ticket}`, 1);
    const reply = JSON.parse(events[0]!) as { id: number; result?: { user: string }; error?: unknown };
    expect(reply.id).toBe(1);
    expect(reply.error).toBeUndefined();
    expect(reply.result?.user).toBe('alice');
  });
});

describe('CORS preflights on the session endpoints', () => {
  test('/sse, /sse/:session and /poll/:session answer an allowed origin, and refuse others with 403', async () => {
    server = await startTestNode({ allowedOrigins: ['https://app.example.com'] });
    const token = await server.token('alice');
    const sse = await open('sse', token);
    const poll = await open('polling', token);
    const cases: Array<{ path: string; method: string; methods: string[] }> = [
      { path: `/connection/sse?ticket=${sse.ticket}`, method: 'GET', methods: ['GET'] },
      { path: `/connection/sse/${sse.session}`, method: 'POST', methods: ['GET', 'POST', 'DELETE'] },
      { path: `/connection/poll/${poll.session}`, method: 'POST', methods: ['GET', 'POST', 'DELETE'] },
    ];
    for (const { path, method, methods } of cases) {
      const pre = await fetch(`http://127.0.0.1:${server.port}${path}`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example.com', 'access-control-request-method': method, 'access-control-request-headers': 'authorization, content-type' },
      });
      expect(pre.status, path).toBe(204);
      expect(pre.headers.get('access-control-allow-origin'), path).toBe('https://app.example.com');
      expect(pre.headers.get('access-control-allow-credentials'), path).toBe('true');
      expect(pre.headers.get('access-control-allow-headers'), path).toContain('authorization');
      const allowed = pre.headers.get('access-control-allow-methods') ?? '';
      for (const m of methods) expect(allowed, path).toContain(m);
      const denied = await fetch(`http://127.0.0.1:${server.port}${path}`, {
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example.net', 'access-control-request-method': method },
      });
      expect(denied.status, path).toBe(403);
      expect(denied.headers.get('access-control-allow-origin'), path).toBeNull();
    }
    // The preflights touched nothing: the polling session still takes its owner's connect.
    expect((await post('poll', poll.session, '{"id":1,"type":"connect"}', token)).status).toBe(204);
    const res = await fetch(`${base()}/poll/${poll.session}?ack=0`, { headers: { authorization: `Bearer ${token}` } });
    expect(((await res.json()) as { frames: unknown[] }).frames).toHaveLength(1);
    expect((await server.api('GET', '/stats')).status).toBe(200);
  });
});
