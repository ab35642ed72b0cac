/**
 * Attack classes on the HTTP transports (issue 20 §6), against a real node on 127.0.0.1: session
 * hijack (someone who learnt an SSE or long-polling session id, from a log or a shared screen,
 * without the user's token) and SSE ticket replay (the one-time ticket in the stream's URL used
 * again). Each gets its documented status and code, and the owner's session goes on receiving.
 * http-transports.test.ts and http-tickets.test.ts cover the rules one by one; docs/reliability.md
 * "Attack classes" lists every class and its test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode, type TestNode } from '../test-support/test-node.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let t: TestNode;
beforeAll(async () => {
  t = await startTestNode({ http: { ticketTtl: 300 } });
});
afterAll(() => t.close());

const base = () => `http://127.0.0.1:${t.port}/connection`;
const auth = (token?: string): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});

async function open(transport: 'sse' | 'polling', token: string): Promise<{ session: string; ticket?: string }> {
  const res = await fetch(`${base()}/open`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth(token) }, body: JSON.stringify({ transport }) });
  expect(res.status).toBe(200);
  return (await res.json()) as { session: string; ticket?: string };
}

async function errorOf(res: Response): Promise<{ status: number; code: string }> {
  return { status: res.status, code: ((await res.json()) as { error: { code: string } }).error.code };
}

/** An open event stream whose text grows as it arrives. */
function stream(url: string) {
  const controller = new AbortController();
  let text = '';
  let status = 0;
  const done = (async () => {
    const res = await fetch(url, { signal: controller.signal });
    status = res.status;
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
    } catch {
      // aborted
    }
  })();
  return { text: () => text, status: () => status, stop: () => controller.abort(), done };
}

async function until(what: string, ok: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('session hijack', () => {
  it('attack: SSE and long-poll session hijack: a session id without its user\'s token cannot send, poll or close (401, 403, 404), and the owner keeps receiving', async () => {
    const alice = await t.token('alice');
    const mallory = await t.token('mallory');
    // Alice on SSE, with her stream open, subscribed.
    const sse = await open('sse', alice);
    const s = stream(`${base()}/sse?ticket=${sse.ticket}`);
    await until('stream', () => s.status() === 200);
    const cmd = (body: string, token?: string) => fetch(`${base()}/sse/${sse.session}`, { method: 'POST', headers: { 'content-type': 'text/plain', ...auth(token) }, body });
    expect((await cmd('{"id":1,"type":"connect"}\n{"id":2,"type":"subscribe","channel":"news:h"}', alice)).status).toBe(204);
    // Alice on long-polling, subscribed.
    const poll = await open('polling', alice);
    const pollCmd = (body: string, token?: string) => fetch(`${base()}/poll/${poll.session}`, { method: 'POST', headers: { 'content-type': 'text/plain', ...auth(token) }, body });
    expect((await pollCmd('{"id":1,"type":"connect"}\n{"id":2,"type":"subscribe","channel":"news:h"}', alice)).status).toBeLessThan(300);

    for (const [kind, session] of [['sse', sse.session], ['poll', poll.session]] as const) {
      const url = `${base()}/${kind}/${session}`;
      // Another user's valid token: 403 forbidden, whatever the request.
      expect(await errorOf(await fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain', ...auth(mallory) }, body: '{"id":9,"type":"subscribe","channel":"news:h2"}' }))).toEqual({ status: 403, code: 'forbidden' });
      expect(await errorOf(await fetch(url, { method: 'DELETE', headers: auth(mallory) }))).toEqual({ status: 403, code: 'forbidden' });
      // No token: 401 unauthorized.
      expect(await errorOf(await fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"id":9,"type":"unsubscribe","channel":"news:h"}' }))).toEqual({ status: 401, code: 'unauthorized' });
      expect(await errorOf(await fetch(url, { method: 'DELETE' }))).toEqual({ status: 401, code: 'unauthorized' });
      // A guessed id: 404 not_found, even with a valid token.
      expect(await errorOf(await fetch(`${base()}/${kind}/${session.slice(0, -2)}AA`, { method: 'DELETE', headers: auth(mallory) }))).toEqual({ status: 404, code: 'not_found' });
    }
    expect(await errorOf(await fetch(`${base()}/poll/${poll.session}?ack=0`, { headers: auth(mallory) }))).toEqual({ status: 403, code: 'forbidden' });
    expect(await errorOf(await fetch(`${base()}/poll/${poll.session}?ack=0`))).toEqual({ status: 401, code: 'unauthorized' });

    // Alice's sessions are as she left them: both get the next publication.
    await t.api('POST', '/publish', { channel: 'news:h', data: { after: 'attack' } });
    await until('publication on the stream', () => s.text().includes('{"after":"attack"}'));
    const polled = await fetch(`${base()}/poll/${poll.session}?ack=0`, { headers: auth(alice) });
    expect(polled.status).toBe(200);
    expect(JSON.stringify(await polled.json())).toContain('{"after":"attack"}');
    s.stop();
  });
});

describe('ticket replay', () => {
  it('attack: SSE ticket replay: a used ticket opens no second stream (401), from anywhere; an expired one neither; the first stream goes on', async () => {
    const alice = await t.token('alice');
    const sse = await open('sse', alice);
    const first = stream(`${base()}/sse?ticket=${sse.ticket}`);
    await until('stream', () => first.status() === 200);
    expect((await fetch(`${base()}/sse/${sse.session}`, { method: 'POST', headers: { 'content-type': 'text/plain', ...auth(alice) }, body: '{"id":1,"type":"connect"}\n{"id":2,"type":"subscribe","channel":"news:r"}' })).status).toBe(204);
    // Replayed as is, with the owner's token beside it, from another browser (a resume marker too): 401 each time.
    const used = 'this ticket was used; resume with Last-Event-ID';
    const unknown = 'unknown or expired ticket';
    for (const [headers, message] of [[{}, used], [auth(alice), used], [{ 'user-agent': 'curl/8' }, unknown], [{ 'user-agent': 'curl/8', 'last-event-id': '0' }, unknown]] as const) {
      const again = await fetch(`${base()}/sse?ticket=${sse.ticket}`, { headers });
      expect(again.status).toBe(401);
      expect(await again.json()).toEqual({ error: { code: 'unauthorized', message } });
    }
    // A ticket never used, past http.ticketTtl: 401 as well.
    const late = await open('sse', alice);
    await sleep(400);
    expect(await errorOf(await fetch(`${base()}/sse?ticket=${late.ticket}`))).toEqual({ status: 401, code: 'unauthorized' });
    // The first stream was not disturbed.
    await t.api('POST', '/publish', { channel: 'news:r', data: { still: 'here' } });
    await until('publication', () => first.text().includes('{"still":"here"}'));
    first.stop();
  });
});
