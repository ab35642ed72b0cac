/**
 * A client pointed at a URL where the server has no Tidings endpoint (HTTP 404) stops with a
 * clear `not_found` error naming the URL after one round of transports, instead of
 * reconnecting forever; a 404 on WebSocket alone (a proxy that does not pass upgrades) still
 * falls back to the HTTP transports. A browser's WebSocket hides the status of a refused
 * handshake (`BrowserLikeWebSocket` below, over `ws`): the client asks the URL with a plain GET
 * after a few failed handshakes and stops on a 404, and keeps retrying anything else.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { TidingsError, type TidingsOptions, type WebSocketConstructor, type WebSocketLike } from '@tidings/client';
import { startTestNode, type TestNode } from '../../server/src/test-support/test-node.js';
import { Clients, FAST, sleep, until } from './support.js';

const clients = new Clients();
let server: TestNode;
beforeAll(async () => {
  server = await startTestNode({ auth: { allowAnonymous: true } });
});
afterAll(async () => {
  clients.closeAll();
  await server.close();
});

/** A client at `url` that records its transport opens, `connecting` events and its end. */
function watched(url: string, options: TidingsOptions) {
  const opened: string[] = [];
  const connecting: number[] = [];
  const client = clients.make(url, {
    ...FAST,
    ...options,
    debug: (message) => {
      if (message.startsWith('opening ')) opened.push(message.split(' ')[1]!);
    },
  });
  client.on('connecting', (ctx) => connecting.push(ctx.code));
  const ended = new Promise<{ code: number; reason: string; error?: TidingsError }>((resolve) => client.on('disconnected', resolve));
  return { client, opened, connecting, ended };
}

describe('a URL with no Tidings endpoint (404)', () => {
  for (const [name, transports, tried] of [
    ['WebSocket (ws reports the 404 of the handshake)', ['websocket'], ['websocket']],
    ['SSE', ['sse'], ['sse']],
    ['long-polling', ['polling'], ['polling']],
    ['every transport (the default list)', undefined, ['websocket', 'sse', 'polling']],
  ] as const) {
    test(`${name}: stops after one round with not_found naming the URL, and does not reconnect`, async () => {
      const url = `ws://127.0.0.1:${server.port}/wrong/websocket`;
      const { client, opened, connecting, ended } = watched(url, transports ? { transports: [...transports] } : {});
      const connected = client.connect().catch((e: unknown) => e);
      const end = await Promise.race([ended, sleep(5_000).then(() => undefined)]);
      expect(end, 'the client stopped within 5 s').toBeDefined();
      expect(end!.code).toBe(4404);
      expect(end!.error).toBeInstanceOf(TidingsError);
      expect(end!.error).toMatchObject({ code: 'not_found', temporary: false, closeCode: 4404 });
      expect(end!.error!.message).toBe(`no Tidings endpoint at ${url} (HTTP 404)`);
      expect(await connected).toMatchObject({ code: 'not_found' });
      expect(client.state).toBe('disconnected');
      // Well past the longest backoff (FAST: 200 ms): nothing more was tried.
      await sleep(600);
      expect(opened).toEqual(tried);
      expect(connecting).toEqual([0]);
      expect(client.state).toBe('disconnected');
    });
  }

  test('a 404 on WebSocket alone falls back to SSE (a proxy that does not pass upgrades) and connects', async () => {
    const { client, opened } = watched(`ws://127.0.0.1:${server.port}/wrong/websocket`, {
      transports: ['websocket', 'sse'],
      httpUrl: `http://127.0.0.1:${server.port}/connection`,
      upgradeProbeDelay: false,
    });
    await client.connect();
    expect(client.transport).toBe('sse');
    expect(opened).toEqual(['websocket', 'sse']);
  });

  test('a server that is down (no answer, not a 404) is still retried', async () => {
    const down = await startTestNode();
    const url = down.wsUrl;
    await down.close();
    const { client, opened } = watched(url, { transports: ['websocket'] });
    void client.connect().catch(() => {});
    await sleep(500);
    expect(client.state).toBe('connecting');
    expect(opened.length).toBeGreaterThan(1);
    client.disconnect();
  });
});

/**
 * The browser's WebSocket API over `ws`: a refused handshake is an `error` event without any
 * detail followed by `close` 1006, whatever the status was (as in every browser).
 */
class BrowserLikeWebSocket implements WebSocketLike {
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  readonly #ws: WebSocket;
  constructor(url: string, protocols?: string | string[]) {
    this.#ws = new WebSocket(url, protocols);
    this.#ws.on('open', () => this.onopen?.({ type: 'open' }));
    this.#ws.on('message', (data) => this.onmessage?.({ data: String(data) }));
    this.#ws.on('error', () => this.onerror?.({ type: 'error' }));
    this.#ws.on('close', (code, reason) => this.onclose?.({ code, reason: String(reason) }));
  }
  get readyState(): number {
    return this.#ws.readyState;
  }
  send(data: string): void {
    this.#ws.send(data);
  }
  close(code?: number, reason?: string): void {
    this.#ws.close(code, reason);
  }
}
const browserLike = BrowserLikeWebSocket as unknown as WebSocketConstructor;

describe('a browser-like WebSocket (a refused handshake reports only close 1006)', () => {
  test('a wrong path: the URL is probed after a few failed handshakes, and its 404 stops the client with not_found', async () => {
    const url = `ws://127.0.0.1:${server.port}/wrong/websocket`;
    const { client, opened, connecting, ended } = watched(url, { transports: ['websocket'], websocket: browserLike });
    const connected = client.connect().catch((e: unknown) => e);
    const end = await Promise.race([ended, sleep(5_000).then(() => undefined)]);
    expect(end, 'the client stopped within 5 s').toBeDefined();
    expect(end!.code).toBe(4404);
    expect(end!.error).toMatchObject({ code: 'not_found', temporary: false, closeCode: 4404, message: `no Tidings endpoint at ${url} (HTTP 404)` });
    expect(await connected).toMatchObject({ code: 'not_found' });
    // Three handshakes, then the probe; at most one more handshake began while it was out.
    expect(opened.length).toBeGreaterThanOrEqual(3);
    expect(opened.length).toBeLessThanOrEqual(4);
    const tried = opened.length;
    await sleep(600);
    expect(opened.length).toBe(tried);
    expect(connecting[0]).toBe(0);
    expect(client.state).toBe('disconnected');
  });

  test('a server that is down (the probe gets no answer) is still retried with backoff', async () => {
    const down = await startTestNode();
    const url = down.wsUrl;
    await down.close();
    const { client, opened } = watched(url, { transports: ['websocket'], websocket: browserLike });
    void client.connect().catch(() => {});
    await until(() => opened.length >= 8, () => `${opened.length} attempts`);
    expect(client.state).toBe('connecting');
    client.disconnect();
  });

  test('the right path while the server is briefly unavailable (503 to upgrades and GETs) is retried, then connects', async () => {
    const http: Server = createServer((_req, res) => res.writeHead(503).end('unavailable'));
    const unavailable = (_req: unknown, socket: import('node:stream').Duplex) => socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    http.on('upgrade', unavailable);
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const port = (http.address() as AddressInfo).port;
    const node = await startTestNode({ auth: { allowAnonymous: true } });
    try {
      const { client, opened } = watched(`ws://127.0.0.1:${port}/connection/websocket`, { transports: ['websocket'], websocket: browserLike });
      const connected = client.connect();
      // Two probes' worth of failed handshakes: neither 503 stopped the client.
      await until(() => opened.length >= 7, () => `${opened.length} attempts`);
      expect(client.state).toBe('connecting');
      // The server is back: Tidings takes the requests and upgrades of this HTTP server.
      http.removeAllListeners('request');
      http.off('upgrade', unavailable);
      node.node.attach(http);
      await connected;
      expect(client.transport).toBe('websocket');
      client.disconnect();
    } finally {
      await node.close();
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
    }
  });
});
