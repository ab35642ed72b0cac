/**
 * The SSE transport on its own: every push type reaches a client that listens by event
 * name (a browser's EventSource), and the server's `retry:` delay is clamped like every
 * other timer (a delay past 2^31 − 1 ms would fire at once on Node).
 */
import { afterEach, describe, expect, test } from 'vitest';
import { PUSH_TYPES } from '@tidings/protocol';
import { sseTransport, type FetchLike } from '@tidings/client';
import { startTestNode, type TestNode } from '../../server/src/test-support/test-node.js';
import { Clients, FAST, collect, sleep, until } from './support.js';

const clients = new Clients();
let server: TestNode | undefined;
afterEach(async () => {
  clients.closeAll();
  await server?.close();
  server = undefined;
});

/**
 * An EventSource as browsers have it, over fetch: it delivers an event only to listeners
 * of its name (`addEventListener(name)`), which is what a hardcoded list of names misses.
 */
class NamedEventSource {
  static names = new Set<string>();
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  readonly #listeners = new Map<string, Array<(ev: { data: string }) => void>>();
  readonly #controller = new AbortController();

  constructor(url: string) {
    void this.#run(url);
  }

  addEventListener(type: string, listener: (ev: { data: string }) => void): void {
    NamedEventSource.names.add(type);
    this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), listener]);
  }

  close(): void {
    this.readyState = 2;
    this.#controller.abort();
  }

  async #run(url: string): Promise<void> {
    try {
      const res = await fetch(url, { headers: { accept: 'text/event-stream' }, signal: this.#controller.signal });
      if (res.ok && res.body) {
        this.readyState = 1;
        this.onopen?.({});
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buffer = '';
        let event = 'message';
        let data: string[] = [];
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let nl: number;
          while ((nl = buffer.indexOf('\n')) !== -1) {
            const line = buffer.slice(0, nl);
            buffer = buffer.slice(nl + 1);
            if (line === '') {
              if (data.length > 0) for (const l of this.#listeners.get(event) ?? []) l({ data: data.join('\n') });
              event = 'message';
              data = [];
            } else if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          }
        }
      }
    } catch {
      // Aborted, or the stream broke.
    }
    if (this.readyState !== 2) {
      this.readyState = 2;
      this.onerror?.({});
    }
  }
}

test('a client on EventSource gets every push type, the user-level ones included', async () => {
  server = await startTestNode();
  const client = clients.make(server.wsUrl, { ...FAST, transports: [sseTransport({ EventSource: NamedEventSource })], token: await server.token('alice') });
  await client.connect();
  expect(client.transport).toBe('sse');
  for (const type of PUSH_TYPES) expect(NamedEventSource.names).toContain(type);
  const seen: string[] = [];
  client.on('notification', () => seen.push('notification'));
  client.on('notification_update', () => seen.push('notification_update'));
  client.on('progress', () => seen.push('progress'));
  expect((await server.api('POST', '/notify', { user: 'alice', type: 'info', title: 'hello' })).status).toBe(200);
  await until(() => seen.includes('notification'), () => seen.join());
  expect((await server.api('POST', '/progress', { user: 'alice', jobId: 'job-1', percent: 5 })).status).toBe(200);
  // Another device of alice reads everything: this one hears of it.
  const phone = clients.make(server.wsUrl, { ...FAST, token: await server.token('alice') });
  await phone.connect();
  await phone.notifications.markAllRead();
  await until(() => seen.length === 3, () => seen.join());
  expect(seen.sort()).toEqual(['notification', 'notification_update', 'progress']);
});

test('a client on EventSource gets named publications (its session asks for events named by type), on(name) fires', async () => {
  server = await startTestNode();
  const client = clients.make(server.wsUrl, { ...FAST, transports: [sseTransport({ EventSource: NamedEventSource })], token: await server.token('alice') });
  await client.connect();
  const sub = client.subscribe('chat:board');
  const all: (string | undefined)[] = [];
  const named: unknown[] = [];
  sub.on('publication', (p) => all.push(p.event));
  sub.on('task:updated', (p) => named.push(p.data));
  await sub.ready();
  await server.api('POST', '/publish', { channel: 'chat:board', data: { id: 1 }, event: 'task:updated' });
  await server.api('POST', '/publish', { channel: 'chat:board', data: { id: 2 }, event: 'close' });
  await server.api('POST', '/publish', { channel: 'chat:board', data: { id: 3 } });
  await until(() => all.length === 3, () => `publications: ${all.length}`);
  expect(all).toEqual(['task:updated', 'close', undefined]);
  expect(named).toEqual([{ id: 1 }]);
  expect(client.state).toBe('connected');
});

test("the server's retry: delay is clamped: a huge one does not resume the stream at once", async () => {
  let streams = 0;
  const fake: FetchLike = async (input) => {
    if (input.endsWith('/open')) return { ok: true, status: 200, json: async () => ({ session: 's1', ticket: 't1' }), text: async () => '' };
    streams++;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        // 2^32 ms: Node would run such a timer after 1 ms.
        controller.enqueue(new TextEncoder().encode('retry: 4294967296\n: hello\n\n'));
        controller.close();
      },
    });
    return { ok: true, status: 200, body, json: async () => ({}), text: async () => '' };
  };
  const closed: number[] = [];
  const transport = sseTransport({ fetch: fake, EventSource: null }).open(
    'ws://127.0.0.1:9/connection/websocket',
    { onOpen: () => {}, onMessage: () => {}, onClose: (code) => closed.push(code) },
    { token: () => undefined, maxMessageBytes: 65_536 },
  );
  await until(() => streams === 1, 'stream opened');
  await sleep(200);
  expect(streams).toBe(1);
  expect(closed).toEqual([]);
  transport.close();
});

/**
 * An HTTP proxy on 127.0.0.1 in front of a real server that can cut an event stream
 * through it at a chosen byte, as a broken network would. The armed rule sees each stream's
 * body so far (latin1, one character per byte) at every chunk and returns the offset to cut
 * at, or -1 for not yet: the bytes before the offset reach the client, then its connection
 * ends in the middle of the response. A rule cuts once.
 */
async function cuttingProxy(targetPort: number) {
  const { createServer, request } = await import('node:http');
  let rule: ((body: string) => number) | null = null;
  let opens = 0;
  const streams: Array<string | undefined> = [];
  const server = createServer((req, res) => {
    const isStream = req.method === 'GET' && /^\/connection\/sse\?/.test(req.url ?? '');
    if (req.method === 'POST' && req.url === '/connection/open') opens++;
    if (isStream) streams.push(req.headers['last-event-id'] as string | undefined);
    const upstream = request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      if (!isStream) {
        up.pipe(res);
        return;
      }
      let body = '';
      let sent = 0;
      up.on('data', (chunk: Buffer) => {
        if (sent < 0) return;
        body += chunk.toString('latin1');
        const at = rule ? rule(body) : -1;
        if (at < 0) {
          res.write(chunk);
          sent = body.length;
          return;
        }
        rule = null;
        if (at > sent) res.write(Buffer.from(body.slice(sent, at), 'latin1'));
        sent = -1;
        // What was written leaves first; then the connection ends before the response does.
        res.socket?.end();
        up.destroy();
      });
      up.on('end', () => res.end());
    });
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as import('node:net').AddressInfo).port;
  return {
    url: (wsUrl: string) => wsUrl.replace(/:\d+\//, `:${port}/`),
    /** Arms a cut of the event stream (the open one, or the next) where `cutAt` says. */
    cut: (cutAt: (body: string) => number) => void (rule = cutAt),
    /** True while an armed cut has not happened. */
    armed: () => rule !== null,
    opens: () => opens,
    /** The `Last-Event-ID` of every stream request (undefined for none). */
    streams: () => [...streams],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('resuming a cut stream (fetch reader, through a cutting proxy)', () => {
  let proxy: Awaited<ReturnType<typeof cuttingProxy>> | undefined;
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
  });

  async function connectThrough(p: NonNullable<typeof proxy>, channel: string) {
    const client = clients.make(p.url(server!.wsUrl), { ...FAST, transports: [sseTransport({ EventSource: null })], token: await server!.token('alice') });
    const reconnects: number[] = [];
    client.on('connecting', (ctx) => ctx.code !== 0 && reconnects.push(ctx.code));
    await client.connect();
    const sub = client.subscribe<{ n: number; text: string }>(channel);
    const gaps: unknown[] = [];
    sub.on('gap', (g) => gaps.push(g));
    await sub.ready();
    return { client, sub, gaps, reconnects, got: collect(sub) };
  }

  test('a stream cut before its first event resumes on the same session with Last-Event-ID 0: no new session, no gap, nothing lost or repeated', async () => {
    server = await startTestNode({ http: { retry: 50 } });
    proxy = await cuttingProxy(server.port);
    // The preamble (`retry:` …) reaches the client; the first event (the connect reply) does not.
    proxy.cut((body) => {
      const end = body.indexOf('\n\nid: ');
      return end < 0 ? -1 : end + 2;
    });
    const { gaps, reconnects, got } = await connectThrough(proxy, 'chat:cut-first');
    expect(proxy.armed()).toBe(false);
    for (let n = 1; n <= 3; n++) await server.api('POST', '/publish', { channel: 'chat:cut-first', data: { n, text: 'x' } });
    await until(() => got.length >= 3, () => JSON.stringify(got));
    await sleep(50);
    expect(got.map((d) => d.n)).toEqual([1, 2, 3]);
    expect(gaps).toEqual([]);
    expect(reconnects).toEqual([]);
    expect(proxy.opens()).toBe(1);
    expect(proxy.streams()).toEqual([undefined, '0']);
  });

  test('a stream cut in the middle of an event (inside a UTF-8 character) resumes after the last whole event: the cut one arrives once, intact', async () => {
    server = await startTestNode({ http: { retry: 50 } });
    proxy = await cuttingProxy(server.port);
    // A channel without history: nothing would recover a frame the transport lost.
    const { gaps, reconnects, got } = await connectThrough(proxy, 'live:cut-middle');
    await server.api('POST', '/publish', { channel: 'live:cut-middle', data: { n: 1, text: 'before' } });
    await until(() => got.length === 1, 'first');
    // Cut after the event's `id:` and `event:` lines and part of its data: between the bytes of '€'.
    const marker = 'cut here ';
    proxy.cut((body) => {
      const i = body.indexOf(marker);
      return i < 0 ? -1 : i + marker.length + 1;
    });
    await server.api('POST', '/publish', { channel: 'live:cut-middle', data: { n: 2, text: `${marker}€ and ü` } });
    await until(() => !proxy!.armed(), 'the cut');
    await server.api('POST', '/publish', { channel: 'live:cut-middle', data: { n: 3, text: 'after' } });
    await until(() => got.length >= 3, () => JSON.stringify(got));
    await sleep(50);
    expect(got).toEqual([
      { n: 1, text: 'before' },
      { n: 2, text: `${marker}€ and ü` },
      { n: 3, text: 'after' },
    ]);
    expect(gaps).toEqual([]);
    expect(reconnects).toEqual([]);
    expect(proxy.opens()).toBe(1);
    // Resumed after the last whole event: the publication before the cut one.
    const streams = proxy.streams();
    expect(streams).toHaveLength(2);
    expect(streams[0]).toBeUndefined();
    expect(Number(streams[1])).toBeGreaterThan(0);
  });
});

test('the fetch reader parses any SSE line ending (CR, LF, CRLF, split across chunks) and drops a BOM at the start of every stream', async () => {
  const { createServer } = await import('node:http');
  const BOM = '\uFEFF';
  const streams: Array<string | undefined> = [];
  const raw = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/connection/open') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ session: 's1', transport: 'sse', ticket: 't1' }));
      return;
    }
    if (req.method !== 'GET') {
      res.writeHead(204).end();
      return;
    }
    streams.push(req.headers['last-event-id'] as string | undefined);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    if (streams.length === 1) {
      // CR only, then CRLF with the pair split across two writes; the response then ends (a cut).
      res.write(`${BOM}retry: 20\r: hello\r\rid: 1\revent: reply\rdata: {"id":1,"result":{}}\r\rid: 2\r\nevent: publication\r\ndata: {"type":"publication","channel":"live:a","data":1}\r`);
      setTimeout(() => res.end('\n\r\n'), 20);
    } else {
      res.end(`${BOM}id: 3\nevent: ping\ndata: {"type":"ping"}\n\nevent: close\rdata: {"code":4005,"reason":"bye"}\r\r`);
    }
  });
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  try {
    const port = (raw.address() as import('node:net').AddressInfo).port;
    const messages: string[] = [];
    const closed: Array<[number, string]> = [];
    const transport = sseTransport({ EventSource: null }).open(
      `ws://127.0.0.1:${port}/connection/websocket`,
      { onOpen: () => {}, onMessage: (text) => messages.push(text), onClose: (code, reason) => closed.push([code, reason]) },
      { token: () => undefined, maxMessageBytes: 65_536 },
    );
    await until(() => closed.length > 0, () => JSON.stringify({ messages, streams }));
    expect(messages).toEqual(['{"id":1,"result":{}}', '{"type":"publication","channel":"live:a","data":1}', '{"type":"ping"}']);
    expect(closed).toEqual([[4005, 'bye']]);
    // The second stream resumed after the last event of the first.
    expect(streams).toEqual([undefined, '2']);
    transport.close();
  } finally {
    raw.closeAllConnections();
    await new Promise<void>((resolve) => raw.close(() => resolve()));
  }
});
