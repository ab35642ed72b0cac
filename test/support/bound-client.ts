/**
 * What a client on another machine would use, for tests behind a TLS proxy on loopback:
 * a `fetch` and a WebSocket that connect from a chosen local address (127.0.0.2,
 * 127.0.0.3, ...: Linux routes all of 127.0.0.0/8 to lo, so each looks like another
 * client IP to the proxy) and trust only the test's self-signed certificate.
 *
 * `boundFetch` speaks node:https (Node's global fetch can neither bind a local address nor
 * take a CA without undici's private dispatcher API), sends `Accept-Encoding: gzip` like a
 * browser, unzips what comes back zipped, and records each response's URL, status and
 * `Content-Encoding`, and whether its body has ended.
 */
import { Agent, request } from 'node:https';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import WS from 'ws';
import type { FetchLike, WebSocketConstructor } from '@tidings/client';

export interface FetchRecord {
  method: string;
  url: string;
  status: number;
  contentType: string | undefined;
  contentEncoding: string | undefined;
  /** Set once the response body ended (or was cut). */
  ended: boolean;
}

export interface BoundFetch {
  fetch: FetchLike;
  responses: FetchRecord[];
  close(): void;
}

export function boundFetch(localAddress: string, ca: string): BoundFetch {
  const agent = new Agent({ keepAlive: true, ca, localAddress });
  const responses: FetchRecord[] = [];
  const fetch: FetchLike = (input, init = {}) =>
    new Promise((resolve, reject) => {
      const method = init.method ?? 'GET';
      const headers: Record<string, string | number> = { 'accept-encoding': 'gzip', ...init.headers };
      if (init.body !== undefined) headers['content-length'] = Buffer.byteLength(init.body);
      const req = request(input, { method, headers, agent, ...(init.signal ? { signal: init.signal } : {}) }, (res) => {
        const record: FetchRecord = {
          method,
          url: input,
          status: res.statusCode ?? 0,
          contentType: res.headers['content-type'],
          contentEncoding: res.headers['content-encoding'],
          ended: false,
        };
        responses.push(record);
        res.once('close', () => (record.ended = true));
        const stream = record.contentEncoding === 'gzip' ? res.pipe(createGunzip()) : res;
        const body = Readable.toWeb(stream) as unknown as ReadableStream<Uint8Array>;
        const text = () => new Response(body).text();
        resolve({
          ok: record.status >= 200 && record.status < 300,
          status: record.status,
          body,
          text,
          json: async () => JSON.parse(await text()) as unknown,
          headers: {
            get(name: string) {
              const v = res.headers[name.toLowerCase()];
              return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
            },
          },
        });
      });
      req.once('error', reject);
      req.end(init.body);
    });
  return { fetch, responses, close: () => agent.destroy() };
}

/** A WebSocket constructor (for `websocketTransport`) over `ws`, from `localAddress`, trusting `ca` only. */
export function boundWebSocket(localAddress: string, ca: string): WebSocketConstructor {
  class BoundWebSocket extends WS {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, { ca, localAddress });
    }
  }
  return BoundWebSocket as unknown as WebSocketConstructor;
}
