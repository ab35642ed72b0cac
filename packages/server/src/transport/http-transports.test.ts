/**
 * The SSE and long-polling endpoints over real HTTP on 127.0.0.1: the wire format, resume
 * and acknowledgements, user binding, CORS, and bad input (which gets a clear error and
 * never hurts the server or other sessions).
 */
import { afterEach, describe, expect, test } from 'vitest';
import { startTestNode, type TestNode } from '../test-support/test-node.js';

let server: TestNode;
afterEach(async () => {
  await server?.close();
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function base(): string {
  return `http://127.0.0.1:${server.port}/connection`;
}

async function open(transport: 'sse' | 'polling', token?: string, headers: Record<string, string> = {}): Promise<{ session: string; ticket?: string }> {
  const res = await fetch(`${base()}/open`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: JSON.stringify({ transport }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { session: string; ticket?: string };
}

function post(kind: 'sse' | 'poll', session: string, body: string, token?: string, contentType = 'text/plain') {
  return fetch(`${base()}/${kind}/${session}`, { method: 'POST', headers: { 'content-type': contentType, ...(token ? { authorization: `Bearer ${token}` } : {}) }, body });
}

interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** Reads an event stream into parsed events (comments counted apart). */
function readStream(url: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const events: SseEvent[] = [];
  let comments = 0;
  let status = 0;
  const done = (async () => {
    const res = await fetch(url, { headers, signal: controller.signal });
    status = res.status;
    if (!res.body) return;
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    let cur: Partial<SseEvent> & { data?: string } = {};
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n')) !== -1) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line === '') {
            if (cur.data !== undefined) events.push({ event: cur.event ?? 'message', data: cur.data, ...(cur.id ? { id: cur.id } : {}) });
            cur = {};
          } else if (line.startsWith(':')) comments++;
          else if (line.startsWith('id: ')) cur.id = line.slice(4);
          else if (line.startsWith('event: ')) cur.event = line.slice(7);
          else if (line.startsWith('data: ')) cur.data = line.slice(6);
        }
      }
    } catch {
      // aborted
    }
  })();
  return {
    events,
    comments: () => comments,
    status: () => status,
    stop: () => controller.abort(),
    done,
  };
}

/** Reads an event stream as text, exactly as it arrives (the body, after chunked decoding). */
function readRaw(url: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  let text = '';
  const done = (async () => {
    const res = await fetch(url, { headers, signal: controller.signal });
    if (!res.body) return;
    const reader = res.body.getReader();
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
  return { text: () => text, stop: () => controller.abort(), done };
}

/** The events in a raw stream text (same rules as readStream). */
function parseEvents(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  let cur: Partial<SseEvent> = {};
  for (const line of text.split('\n')) {
    if (line === '') {
      if (cur.data !== undefined) events.push({ event: cur.event ?? 'message', data: cur.data, ...(cur.id ? { id: cur.id } : {}) });
      cur = {};
    } else if (line.startsWith('id: ')) cur.id = line.slice(4);
    else if (line.startsWith('event: ')) cur.event = line.slice(7);
    else if (line.startsWith('data: ')) cur.data = line.slice(6);
  }
  return events;
}

/** The wire form of events, as docs/protocol.md section 16 gives it. */
function wire(events: SseEvent[]): string {
  return events.map((e) => `${e.id !== undefined ? `id: ${e.id}\n` : ''}event: ${e.event}\ndata: ${e.data}\n\n`).join('');
}

/** The start of every stream: `retry:`, the id it starts after (an `id:` without data, so no event), padding. */
const preamble = (from: number) => `retry: 1000\nid: ${from}\n: ${' '.repeat(16)}\n\n`;

async function until(check: () => boolean | Promise<boolean>, what: string, timeout = 3_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(5);
  }
}

describe('SSE', () => {
  test('frames arrive as events named after their type, with increasing ids; replies too', async () => {
    server = await startTestNode({ http: { heartbeat: 50 } });
    const token = await server.token('alice');
    const { session, ticket } = await open('sse', token);
    // The node holding the session, then 128 random bits (transport/http-forwarding.ts).
    expect(session).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    const stream = readStream(`${base()}/sse?ticket=${ticket}`);
    expect((await post('sse', session, '{"id":1,"type":"connect"}\n{"id":2,"type":"subscribe","channel":"chat:a"}', token)).status).toBe(204);
    await until(() => stream.events.length >= 3, 'connect, subscribe, join');
    await server.api('POST', '/publish', { channel: 'chat:a', data: { n: 1 } });
    await until(() => stream.events.some((e) => e.event === 'publication'), 'publication');
    expect(stream.events.map((e) => e.event)).toEqual(['reply', 'reply', 'join', 'publication']);
    expect(stream.events.map((e) => Number(e.id))).toEqual([1, 2, 3, 4]);
    expect(JSON.parse(stream.events[0]!.data)).toMatchObject({ id: 1, result: { user: 'alice' } });
    expect(JSON.parse(stream.events[3]!.data)).toEqual({ type: 'publication', channel: 'chat:a', offset: 1, data: { n: 1 } });
    // Heartbeats keep the stream busy.
    await until(() => stream.comments() >= 3, 'heartbeats');
    stream.stop();
  });

  test('named events: a named publication is the SSE event of its name; a session opened with sseEvents "types" gets it as publication', async () => {
    server = await startTestNode();
    const token = await server.token('alice');
    const openWith = async (body: unknown) =>
      fetch(`${base()}/open`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
    const streams = [];
    for (const body of [{ transport: 'sse' }, { transport: 'sse', sseEvents: 'types' }, { transport: 'sse', sseEvents: 'names' }]) {
      const res = await openWith(body);
      expect(res.status).toBe(200);
      const { session, ticket } = (await res.json()) as { session: string; ticket: string };
      const stream = readStream(`${base()}/sse?ticket=${ticket}`);
      expect((await post('sse', session, '{"id":1,"type":"connect"}\n{"id":2,"type":"subscribe","channel":"chat:a"}', token)).status).toBe(204);
      await until(() => stream.events.length >= 2, 'connect, subscribe');
      streams.push(stream);
    }
    await server.api('POST', '/publish', { channel: 'chat:a', data: { n: 1 }, event: 'task:updated' });
    await server.api('POST', '/publish', { channel: 'chat:a', data: { n: 2 } });
    await server.api('POST', '/publish', { channel: 'chat:a', data: { n: 3 }, event: 'close' });
    for (const stream of streams) await until(() => stream.events.filter((e) => e.data.includes('"publication"')).length === 3, 'publications');
    const named = (i: number) => streams[i]!.events.filter((e) => e.data.startsWith('{"type":"publication"')).map((e) => e.event);
    expect(named(0)).toEqual(['task:updated', 'publication', 'close']);
    expect(named(1)).toEqual(['publication', 'publication', 'publication']);
    expect(named(2)).toEqual(['task:updated', 'publication', 'close']);
    const first = streams[0]!.events.find((e) => e.event === 'task:updated')!;
    expect(JSON.parse(first.data)).toEqual({ type: 'publication', channel: 'chat:a', offset: 1, event: 'task:updated', data: { n: 1 } });
    const bad = await openWith({ transport: 'sse', sseEvents: 'all' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('bad_request');
    for (const stream of streams) stream.stop();
  });

  test('a stream that breaks resumes from Last-Event-ID without loss or duplicates', async () => {
    server = await startTestNode({ http: { sessionTimeout: 5_000 } });
    const token = await server.token('alice');
    const { session, ticket } = await open('sse', token);
    const first = readStream(`${base()}/sse?ticket=${ticket}`);
    await post('sse', session, '{"id":1,"type":"connect"}\n{"id":2,"type":"subscribe","channel":"news:r"}', token);
    await server.api('POST', '/publish', { channel: 'news:r', data: { n: 1 } });
    await until(() => first.events.length === 3, 'three events');
    const lastId = first.events.at(-1)!.id!;
    first.stop();
    await sleep(50);
    // Published while no stream is open.
    for (let n = 2; n <= 4; n++) await server.api('POST', '/publish', { channel: 'news:r', data: { n } });
    const second = readStream(`${base()}/sse?ticket=${ticket}`, { 'last-event-id': lastId });
    await until(() => second.events.length === 3, 'replayed');
    expect(second.events.map((e) => JSON.parse(e.data).data.n)).toEqual([2, 3, 4]);
    expect(second.events.map((e) => Number(e.id))).toEqual([4, 5, 6]);
    second.stop();
  });

  test('tickets: unknown or expired ones are refused, and a used one only resumes', async () => {
    server = await startTestNode({ http: { ticketTtl: 100 } });
    const token = await server.token('alice');
    expect((await fetch(`${base()}/sse?ticket=nope`)).status).toBe(401);
    const late = await open('sse', token);
    await sleep(150);
    const expired = await fetch(`${base()}/sse?ticket=${late.ticket}`);
    expect(expired.status).toBe(401);
    expect(await expired.json()).toEqual({ error: { code: 'unauthorized', message: 'unknown or expired ticket' } });
    const ok = await open('sse', token);
    const stream = readStream(`${base()}/sse?ticket=${ok.ticket}`);
    await until(() => stream.status() === 200, 'stream open');
    const again = await fetch(`${base()}/sse?ticket=${ok.ticket}`);
    expect(again.status).toBe(401);
    stream.stop();
  });

  test('the stream is byte for byte the documented format: several events per write, non-ASCII text, the close event', async () => {
    server = await startTestNode();
    const token = await server.token('alice');
    const { session, ticket } = await open('sse', token);
    const raw = readRaw(`${base()}/sse?ticket=${ticket}`);
    await post('sse', session, '{"id":1,"type":"connect"}\n{"id":2,"type":"subscribe","channel":"news:bytes"}', token);
    await until(() => parseEvents(raw.text()).length === 2, 'replies');
    // Three publications in one turn: one write, three events.
    await Promise.all([
      server.node.publish('news:bytes', { n: 1, text: 'héllo ✓ 😀' }),
      server.node.publish('news:bytes', { n: 2 }),
      server.node.publish('news:bytes', { n: 3, text: 'Zürich\u2028' }),
    ]);
    await until(() => parseEvents(raw.text()).length === 5, 'publications');
    await server.node.disconnectUser('alice');
    await raw.done;
    const events = parseEvents(raw.text());
    expect(events.map((e) => e.event)).toEqual(['reply', 'reply', 'publication', 'publication', 'publication', 'disconnect', 'close']);
    expect(events.map((e) => e.id)).toEqual(['1', '2', '3', '4', '5', '6', undefined]);
    expect(raw.text()).toBe(preamble(0) + wire(events));
    expect(JSON.parse(events[2]!.data)).toEqual({ type: 'publication', channel: 'news:bytes', offset: 1, data: { n: 1, text: 'héllo ✓ 😀' } });
    expect(JSON.parse(events[4]!.data).data).toEqual({ n: 3, text: 'Zürich\u2028' });
    const { code, reason } = JSON.parse(events[5]!.data) as { code: number; reason: string };
    expect(events[6]!.data).toBe(JSON.stringify({ code, reason }));
  });

  test('a resume replays the very bytes the first stream carried', async () => {
    server = await startTestNode({ http: { sessionTimeout: 5_000 } });
    const token = await server.token('alice');
    const { session, ticket } = await open('sse', token);
    const first = readRaw(`${base()}/sse?ticket=${ticket}`);
    await post('sse', session, '{"id":1,"type":"connect"}\n{"id":2,"type":"subscribe","channel":"news:same"}', token);
    await until(() => parseEvents(first.text()).length === 2, 'replies');
    await Promise.all([server.node.publish('news:same', { text: 'ünïcødé ✓ 😀' }), server.node.publish('news:same', { n: 2 })]);
    await server.node.publish('news:same', { n: 3 });
    await until(() => parseEvents(first.text()).length === 5, 'five events');
    first.stop();
    await first.done;
    const events = parseEvents(first.text());
    expect(events.map((e) => e.id)).toEqual(['1', '2', '3', '4', '5']);
    expect(first.text()).toBe(preamble(0) + wire(events));
    const second = readRaw(`${base()}/sse?ticket=${ticket}`, { 'last-event-id': '2' });
    await until(() => parseEvents(second.text()).length === 3, 'replayed');
    second.stop();
    await second.done;
    expect(second.text()).toBe(preamble(2) + wire(events.slice(2)));
    expect(JSON.parse(parseEvents(second.text())[0]!.data).data).toEqual({ text: 'ünïcødé ✓ 😀' });
  });

  test('resumes from anywhere in a trimmed replay window replay exactly the frames after it', async () => {
    const replayBytes = 2_000;
    server = await startTestNode({ http: { replayBytes, sessionTimeout: 5_000 } });
    const token = await server.token('alice');
    const { session, ticket } = await open('sse', token);
    const first = readRaw(`${base()}/sse?ticket=${ticket}`);
    await post('sse', session, '{"id":1,"type":"connect"}\n{"id":2,"type":"subscribe","channel":"news:trim"}', token);
    // 150 publications, some alone in their turn, some several to a write.
    for (let n = 1; n <= 150; ) {
      const burst = n % 7 === 0 ? 5 : 1;
      const batch: Promise<unknown>[] = [];
      for (let i = 0; i < burst && n <= 150; i++, n++) batch.push(server.node.publish('news:trim', { n, pad: 'x'.repeat(n % 13) }));
      await Promise.all(batch);
      await new Promise((r) => setImmediate(r));
    }
    await until(() => parseEvents(first.text()).length === 152, 'all 152 events', 5_000);
    first.stop();
    await first.done;
    const events = parseEvents(first.text());
    expect(events.map((e) => Number(e.id))).toEqual(Array.from({ length: 152 }, (_, i) => i + 1));
    expect(first.text()).toBe(preamble(0) + wire(events));
    // The window keeps the newest frames whose bytes fit in replayBytes.
    let kept = 0;
    for (let i = events.length - 1, bytes = 0; i >= 0 && (bytes += Buffer.byteLength(events[i]!.data)) <= replayBytes; i--) kept++;
    const oldest = 152 - kept + 1;
    expect(oldest).toBeGreaterThan(70); // more than 64 dropped: the window compacted
    // From just before the oldest frame kept: all of it, in the same bytes.
    const all = readRaw(`${base()}/sse?ticket=${ticket}`, { 'last-event-id': String(oldest - 1) });
    await until(() => parseEvents(all.text()).length === kept, 'the whole window');
    await server.node.publish('news:trim', { n: 151 });
    await until(() => parseEvents(all.text()).length === kept + 1, 'a live one after the replay');
    all.stop();
    await all.done;
    const live = parseEvents(all.text());
    expect(all.text()).toBe(preamble(oldest - 1) + wire(events.slice(oldest - 1)) + wire(live.slice(-1)));
    expect(live.at(-1)!.id).toBe('153');
    expect(JSON.parse(live.at(-1)!.data).data).toEqual({ n: 151 });
    // From the middle: the frames after it.
    const middle = 140;
    const tail = readRaw(`${base()}/sse?ticket=${ticket}`, { 'last-event-id': String(middle) });
    await until(() => parseEvents(tail.text()).length === 153 - middle, 'the tail');
    tail.stop();
    await tail.done;
    expect(parseEvents(tail.text()).map((e) => Number(e.id))).toEqual(Array.from({ length: 153 - middle }, (_, i) => middle + 1 + i));
    expect(tail.text()).toBe(preamble(middle) + wire([...events, ...live.slice(-1)].slice(middle)));
    // That resume acknowledged everything up to 140: 139 is gone now.
    const gone = readStream(`${base()}/sse?ticket=${ticket}`, { 'last-event-id': String(middle - 1) });
    await gone.done;
    expect(gone.events).toEqual([{ event: 'close', data: JSON.stringify({ code: 4005, reason: 'cannot resume' }) }]);
  });

  test('a stream cut before its first event announced id 0: Last-Event-ID 0 replays from the start of the window, in the same bytes; once the window moved on, it cannot resume', async () => {
    server = await startTestNode({ http: { replayBytes: 600, sessionTimeout: 5_000 } });
    const token = await server.token('alice');
    const { session, ticket } = await open('sse', token);
    const first = readRaw(`${base()}/sse?ticket=${ticket}`);
    await until(() => first.text().length > 0, 'the preamble');
    expect(first.text()).toBe(preamble(0));
    // The server writes the frames, but the client loses them all (the stream breaks before they arrive).
    await post('sse', session, '{"id":1,"type":"connect"}\n{"id":2,"type":"subscribe","channel":"news:zero"}', token);
    await server.api('POST', '/publish', { channel: 'news:zero', data: { n: 1 } });
    await until(() => parseEvents(first.text()).length === 3, 'three events written');
    first.stop();
    await first.done;
    const events = parseEvents(first.text());
    const resumed = readRaw(`${base()}/sse?ticket=${ticket}`, { 'last-event-id': '0' });
    await until(() => parseEvents(resumed.text()).length === 3, 'replayed from the start');
    await server.api('POST', '/publish', { channel: 'news:zero', data: { n: 2 } });
    await until(() => parseEvents(resumed.text()).length === 4, 'live after the replay');
    resumed.stop();
    await resumed.done;
    const live = parseEvents(resumed.text());
    expect(live.map((e) => e.id)).toEqual(['1', '2', '3', '4']);
    expect(resumed.text()).toBe(preamble(0) + wire(events) + wire(live.slice(-1)));
    // Enough traffic to push frame 1 out of the window: 0 is no longer a point to resume from.
    for (let n = 3; n <= 12; n++) await server.api('POST', '/publish', { channel: 'news:zero', data: { n, pad: 'x'.repeat(60) } });
    const tail = readStream(`${base()}/sse?ticket=${ticket}`, { 'last-event-id': '4' });
    await until(() => tail.events.length === 10, 'the frames after 4');
    tail.stop();
    await tail.done;
    const gone = readStream(`${base()}/sse?ticket=${ticket}`, { 'last-event-id': '0' });
    await gone.done;
    expect(gone.events).toEqual([{ event: 'close', data: JSON.stringify({ code: 4005, reason: 'cannot resume' }) }]);
  });

  test('frames piling up without a stream count toward maxQueueBytes: the session closes with 4002', async () => {
    server = await startTestNode({ client: { maxQueueBytes: 4_096 }, http: { sessionTimeout: 5_000 } });
    const token = await server.token('alice');
    const { session, ticket } = await open('sse', token);
    const first = readStream(`${base()}/sse?ticket=${ticket}`);
    await post('sse', session, '{"id":1,"type":"connect"}\n{"id":2,"type":"subscribe","channel":"news:slow"}', token);
    await until(() => first.events.length === 2, 'replies');
    first.stop();
    await first.done;
    await sleep(50);
    for (let n = 1; n <= 60; n++) {
      await server.node.publish('news:slow', { n, pad: 'x'.repeat(100) });
      await new Promise((r) => setImmediate(r));
    }
    const second = readStream(`${base()}/sse?ticket=${ticket}`, { 'last-event-id': '2' });
    await second.done;
    const last = second.events.at(-1)!;
    expect(last.event).toBe('close');
    expect(JSON.parse(last.data).code).toBe(4002);
    const ids = second.events.filter((e) => e.id !== undefined).map((e) => Number(e.id));
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => 3 + i));
    // The frames before the cut-off were all kept, in order.
    const ns = second.events.filter((e) => e.event === 'publication').map((e) => JSON.parse(e.data).data.n as number);
    expect(ns).toEqual(Array.from({ length: ns.length }, (_, i) => i + 1));
    expect(ns.length).toBeLessThan(60);
  });

  test('a resume from before the replay window gets a close event (4005) and the session ends', async () => {
    server = await startTestNode({ http: { replayBytes: 200 } });
    const token = await server.token('alice');
    const { session, ticket } = await open('sse', token);
    const first = readStream(`${base()}/sse?ticket=${ticket}`);
    await post('sse', session, '{"id":1,"type":"connect"}\n{"id":2,"type":"subscribe","channel":"news:w"}', token);
    for (let n = 1; n <= 20; n++) await server.api('POST', '/publish', { channel: 'news:w', data: { n, pad: 'x'.repeat(40) } });
    await until(() => first.events.length === 22, 'all events');
    first.stop();
    const second = readStream(`${base()}/sse?ticket=${ticket}`, { 'last-event-id': '1' });
    await second.done;
    expect(second.events).toEqual([{ event: 'close', data: JSON.stringify({ code: 4005, reason: 'cannot resume' }) }]);
    expect((await post('sse', session, '{"type":"pong"}', token)).status).toBe(404);
  });
});

describe('long-polling', () => {
  test('a poll returns every unacknowledged frame; a lost response is delivered again', async () => {
    server = await startTestNode();
    const token = await server.token('alice');
    const { session } = await open('polling', token);
    const auth = { authorization: `Bearer ${token}` };
    await post('poll', session, '{"id":1,"type":"connect"}\n{"id":2,"type":"subscribe","channel":"news:p"}', token);
    for (let n = 1; n <= 5; n++) await server.api('POST', '/publish', { channel: 'news:p', data: { n } });
    const first = (await (await fetch(`${base()}/poll/${session}?ack=0`, { headers: auth })).json()) as { from: number; frames: Array<{ data?: { n: number } }> };
    expect(first.from).toBe(1);
    expect(first.frames).toHaveLength(7);
    // The response "was lost": asking again with the same ack gets the same frames.
    const again = (await (await fetch(`${base()}/poll/${session}?ack=0`, { headers: auth })).json()) as typeof first;
    expect(again).toEqual(first);
    // Acknowledged frames are gone; the next poll waits for new ones.
    const waiting = fetch(`${base()}/poll/${session}?ack=7`, { headers: auth }).then((r) => r.json() as Promise<typeof first>);
    await sleep(50);
    await server.api('POST', '/publish', { channel: 'news:p', data: { n: 6 } });
    const next = await waiting;
    expect(next.from).toBe(8);
    expect(next.frames.map((f) => f.data?.n)).toEqual([6]);
  });

  test('acknowledgements across many frames: every poll starts right after its ack', async () => {
    server = await startTestNode();
    const token = await server.token('alice');
    const { session } = await open('polling', token);
    const auth = { authorization: `Bearer ${token}` };
    type Answer = { from: number; frames: Array<{ data?: { n: number } }> };
    const poll = async (ack: number) => (await (await fetch(`${base()}/poll/${session}?ack=${ack}`, { headers: auth })).json()) as Answer;
    await post('poll', session, '{"id":1,"type":"connect"}\n{"id":2,"type":"subscribe","channel":"news:many"}', token);
    for (let n = 1; n <= 150; n++) await server.node.publish('news:many', { n });
    await sleep(20);
    const all = await poll(0);
    expect(all.from).toBe(1);
    expect(all.frames).toHaveLength(152);
    // Frames 1 and 2 are the replies; frame s from 3 on carries publication s - 2.
    for (const ack of [1, 2, 70, 100, 101, 151]) {
      const answer = await poll(ack);
      expect(answer.from).toBe(ack + 1);
      expect(answer.frames.map((f) => f.data?.n)).toEqual(Array.from({ length: 152 - ack }, (_, i) => (ack + 1 + i >= 3 ? ack + i - 1 : undefined)));
    }
    // A lower ack than before cannot bring frames back: they are gone.
    expect((await poll(120)).from).toBe(152);
    const waiting = poll(152);
    await sleep(30);
    await server.node.publish('news:many', { n: 151 });
    expect(await waiting).toEqual({ from: 153, frames: [expect.objectContaining({ data: { n: 151 } })] });
  });

  test('a poll with nothing to deliver is answered empty after pollTimeout; a newer poll answers the waiting one', async () => {
    server = await startTestNode({ http: { pollTimeout: 150 } });
    const token = await server.token('alice');
    const { session } = await open('polling', token);
    const auth = { authorization: `Bearer ${token}` };
    await post('poll', session, '{"id":1,"type":"connect"}', token);
    await fetch(`${base()}/poll/${session}?ack=0`, { headers: auth });
    const started = Date.now();
    const empty = (await (await fetch(`${base()}/poll/${session}?ack=1`, { headers: auth })).json()) as { from: number; frames: unknown[] };
    expect(empty).toEqual({ from: 2, frames: [] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    const older = fetch(`${base()}/poll/${session}?ack=1`, { headers: auth }).then((r) => r.json());
    await sleep(20);
    const newer = fetch(`${base()}/poll/${session}?ack=1`, { headers: auth });
    expect(await older).toEqual({ from: 2, frames: [] });
    expect((await newer).status).toBe(200);
  });

  test('a flood of polls is refused with 429 and the session keeps working', async () => {
    server = await startTestNode({ http: { maxPollsPerSecond: 5, pollTimeout: 100 } });
    const token = await server.token('alice');
    const { session } = await open('polling', token);
    const auth = { authorization: `Bearer ${token}` };
    await post('poll', session, '{"id":1,"type":"connect"}', token);
    const statuses = await Promise.all(Array.from({ length: 12 }, () => fetch(`${base()}/poll/${session}?ack=0`, { headers: auth }).then((r) => r.status)));
    expect(statuses.filter((s) => s === 429).length).toBe(7);
    expect(statuses.filter((s) => s === 200).length).toBe(5);
    await sleep(1_000);
    const res = await fetch(`${base()}/poll/${session}?ack=0`, { headers: auth });
    expect(res.status).toBe(200);
  });

  test('a client that keeps up is never refused for the poll rate: polls that acknowledge new frames, and the poll that collects a close, are not counted', async () => {
    server = await startTestNode({ http: { maxPollsPerSecond: 3, pollTimeout: 100 } });
    const token = await server.token('alice');
    const { session } = await open('polling', token);
    const auth = { authorization: `Bearer ${token}` };
    await post('poll', session, '{"id":1,"type":"connect"}\n{"id":2,"type":"subscribe","channel":"chat:busy"}', token);
    let ack = 0;
    const poll = async () => {
      const res = await fetch(`${base()}/poll/${session}?ack=${ack}`, { headers: auth });
      const body = res.status === 200 ? ((await res.json()) as { from: number; frames: Array<{ type?: string; data?: { n: number } }>; close?: { code: number } }) : (await res.text(), undefined);
      if (body && body.frames.length > 0) ack = Math.max(ack, body.from + body.frames.length - 1);
      return { status: res.status, body };
    };
    // A busy channel: every poll is answered at once and the next one acknowledges it, far above 3 a second.
    const got: number[] = [];
    expect((await poll()).status).toBe(200);
    for (let n = 1; n <= 12; n++) {
      await server.node.publish('chat:busy', { n });
      let answer = await poll();
      // The publication may not be written yet: the poll then waits for it (or answers empty after pollTimeout).
      while (answer.status === 200 && answer.body!.frames.every((f) => f.type !== 'publication')) answer = await poll();
      expect(answer.status).toBe(200);
      got.push(...answer.body!.frames.filter((f) => f.type === 'publication').map((f) => f.data!.n));
    }
    expect(got).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    // Polls that acknowledge nothing new (a client hammering with the same ack) are still limited.
    const repeats = await Promise.all(Array.from({ length: 5 }, () => poll()));
    expect(repeats.filter((r) => r.status === 429).length).toBeGreaterThan(0);
    // A close made meanwhile (the server disconnects the user) still reaches the client with its next poll, at once.
    expect(await server.node.disconnectUser('alice')).toBe(1);
    const last = await poll();
    expect(last.status).toBe(200);
    expect(last.body!.close).toMatchObject({ code: 4005 });
    expect(last.body!.frames.at(-1)).toMatchObject({ type: 'disconnect', code: 4005 });
  });

  test('a session without polls ends after sessionTimeout, and leaves its channels', async () => {
    server = await startTestNode({ http: { sessionTimeout: 150 } });
    const token = await server.token('alice');
    const { session } = await open('polling', token);
    await post('poll', session, '{"id":1,"type":"connect"}\n{"id":2,"type":"subscribe","channel":"chat:idle"}', token);
    await until(async () => (await server.node.listConnections({ user: 'alice' })).connections.length === 1, 'connected');
    await until(async () => (await server.node.listConnections({ user: 'alice' })).connections.length === 0, 'timed out', 2_000);
    expect((await post('poll', session, '{"type":"pong"}', token)).status).toBe(404);
  });

  test('DELETE ends the session at once', async () => {
    server = await startTestNode();
    const token = await server.token('alice');
    const { session } = await open('polling', token);
    await post('poll', session, '{"id":1,"type":"connect"}', token);
    await until(async () => (await server.node.listConnections({ user: 'alice' })).connections.length === 1, 'connected');
    const res = await fetch(`${base()}/poll/${session}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(204);
    expect((await server.node.listConnections({ user: 'alice' })).connections).toHaveLength(0);
  });
});

describe('bad input gets a clear error and hurts nobody', () => {
  test('unknown sessions, another user, missing token, size, content type, method', async () => {
    server = await startTestNode();
    const alice = await server.token('alice');
    const bob = await server.token('bob');
    const { session } = await open('polling', alice);
    await post('poll', session, '{"id":1,"type":"connect"}', alice);
    const errorOf = async (res: Response) => ({ status: res.status, code: ((await res.json()) as { error: { code: string } }).error.code });
    expect(await errorOf(await post('poll', 'AAAAAAAAAAAAAAAAAAAAAA', '{"type":"pong"}', alice))).toEqual({ status: 404, code: 'not_found' });
    // The SSE path does not reach a polling session.
    expect(await errorOf(await post('sse', session, '{"type":"pong"}', alice))).toEqual({ status: 404, code: 'not_found' });
    expect(await errorOf(await post('poll', session, '{"type":"pong"}', bob))).toEqual({ status: 403, code: 'forbidden' });
    expect(await errorOf(await post('poll', session, '{"type":"pong"}'))).toEqual({ status: 401, code: 'unauthorized' });
    expect(await errorOf(await fetch(`${base()}/poll/${session}?ack=0`, { headers: { authorization: `Bearer ${bob}` } }))).toEqual({ status: 403, code: 'forbidden' });
    expect(await errorOf(await post('poll', session, 'x'.repeat(70_000), alice))).toEqual({ status: 413, code: 'payload_too_large' });
    expect(await errorOf(await post('poll', session, '{"type":"pong"}', alice, 'application/xml'))).toEqual({ status: 415, code: 'unsupported_media_type' });
    expect(await errorOf(await fetch(`${base()}/poll/${session}?ack=-1`, { headers: { authorization: `Bearer ${alice}` } }))).toEqual({ status: 400, code: 'bad_request' });
    expect(await errorOf(await fetch(`${base()}/poll/${session}`, { method: 'PUT', headers: { authorization: `Bearer ${alice}` } }))).toEqual({ status: 405, code: 'method_not_allowed' });
    expect(await errorOf(await fetch(`${base()}/open`, { method: 'GET' }))).toEqual({ status: 405, code: 'method_not_allowed' });
    // The session survived all of it.
    const res = await fetch(`${base()}/poll/${session}?ack=0`, { headers: { authorization: `Bearer ${alice}` } });
    expect(((await res.json()) as { frames: unknown[] }).frames).toHaveLength(1);
  });

  test('opening: bad bodies and bad tokens', async () => {
    server = await startTestNode();
    const openWith = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) => fetch(`${base()}/open`, { method: 'POST', headers, body });
    expect((await openWith('{"transport":"carrier-pigeon"}')).status).toBe(400);
    expect((await openWith('not json')).status).toBe(400);
    expect((await openWith('[]')).status).toBe(400);
    expect((await openWith('{"transport":"sse"}', { 'content-type': 'application/xml' })).status).toBe(415);
    const bad = await openWith('{"transport":"sse","token":"not-a-jwt"}');
    expect(bad.status).toBe(401);
    expect(bad.headers.get('x-tidings-error')).toBe('unauthorized');
    // Anonymous sessions open; their connect decides (here anonymous access is off).
    const anon = await open('polling');
    await post('poll', anon.session, '{"id":1,"type":"connect"}');
    const answer = (await (await fetch(`${base()}/poll/${anon.session}?ack=0`)).json()) as { frames: Array<{ error?: { code: string } }>; close?: { code: number } };
    expect(answer.frames[0]?.error?.code).toBe('unauthorized');
    expect(answer.close?.code).toBe(4500);
  });

  test('malformed frames close that session with 4501, like on WebSocket; others are untouched', async () => {
    server = await startTestNode();
    const token = await server.token('alice');
    const victim = await open('polling', token);
    const bystander = await open('polling', token);
    await post('poll', victim.session, '{"id":1,"type":"connect"}', token);
    await post('poll', bystander.session, '{"id":1,"type":"connect"}', token);
    expect((await post('poll', victim.session, 'this is not json', token)).status).toBe(204);
    const auth = { authorization: `Bearer ${token}` };
    const answer = (await (await fetch(`${base()}/poll/${victim.session}?ack=0`, { headers: auth })).json()) as { close?: { code: number } };
    expect(answer.close?.code).toBe(4501);
    const other = (await (await fetch(`${base()}/poll/${bystander.session}?ack=0`, { headers: auth })).json()) as { frames: unknown[]; close?: unknown };
    expect(other.frames).toHaveLength(1);
    expect(other.close).toBeUndefined();
  });
});

describe('CORS', () => {
  test('allowed origins get preflight answers and credentials; others get 403, on transports and the API', async () => {
    server = await startTestNode({ allowedOrigins: ['https://app.example.com'] });
    for (const path of ['/connection/open', '/api/v1/publish']) {
      const pre = await fetch(`http://127.0.0.1:${server.port}${path}`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      });
      expect(pre.status).toBe(204);
      expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      expect(pre.headers.get('access-control-allow-credentials')).toBe('true');
      expect(pre.headers.get('access-control-allow-headers')).toContain('authorization');
      expect(pre.headers.get('access-control-allow-methods')).toContain('POST');
      const denied = await fetch(`http://127.0.0.1:${server.port}${path}`, { method: 'OPTIONS', headers: { origin: 'https://evil.example.net' } });
      expect(denied.status).toBe(403);
    }
    const token = await server.token('alice');
    const opened = await fetch(`${base()}/open`, { method: 'POST', headers: { origin: 'https://app.example.com', 'content-type': 'text/plain', authorization: `Bearer ${token}` }, body: '{"transport":"sse"}' });
    expect(opened.status).toBe(200);
    expect(opened.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    const api = await fetch(`http://127.0.0.1:${server.port}/api/v1/stats`, { headers: { origin: 'https://app.example.com', authorization: `Bearer ${'test-api-key-0123456789abcdef'}` } });
    expect(api.status).toBe(200);
    expect(api.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    // Without Origin (a backend), the API works as before.
    expect((await server.api('GET', '/stats')).status).toBe(200);
  });
});
