/**
 * The SSE transport on its own: every push type reaches a client that listens by event
 * name (a browser's EventSource), and the server's `retry:` delay is clamped like every
 * other timer (a delay past 2^31 − 1 ms would fire at once on Node).
 */
import { afterEach, expect, test } from 'vitest';
import { PUSH_TYPES } from '@tidings/protocol';
import { sseTransport, type FetchLike } from '@tidings/client';
import { startTestNode, type TestNode } from '../../server/src/test-support/test-node.js';
import { Clients, FAST, sleep, until } from './support.js';

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
