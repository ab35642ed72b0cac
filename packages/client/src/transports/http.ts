/**
 * Pieces shared by the SSE and long-polling transports: the HTTP base URL, opening a
 * session, and an ordered sender (one POST at a time, so the server reads commands in the
 * order they were made).
 */
import { utf8Length } from '../ids.js';
import type { TransportContext, TransportHandlers } from './types.js';

/** Minimal `fetch` signature the transports use (the runtime's global fetch fits). */
export type FetchLike = (input: string, init?: {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  credentials?: 'omit' | 'same-origin' | 'include';
  keepalive?: boolean;
}) => Promise<{ ok: boolean; status: number; json(): Promise<unknown>; text(): Promise<string>; body?: ReadableStream<Uint8Array> | null; headers?: { get(name: string): string | null } }>;

export interface HttpTransportOptions {
  /** Base URL of the HTTP transports (`http(s)://host/connection`). Default: derived from the WebSocket URL. */
  base?: string;
  /** fetch implementation. Default: the global one. */
  fetch?: FetchLike;
  /** Send cookies with cross-origin requests (`credentials: 'include'`). Default false. */
  withCredentials?: boolean;
}

/** `ws://host/connection/websocket` → `http://host/connection`. */
export function httpBaseOf(url: string): string {
  const [withoutQuery] = url.split(/[?#]/);
  return withoutQuery!.replace(/^ws(s?):/i, 'http$1:').replace(/\/websocket\/?$/, '').replace(/\/$/, '');
}

export function globalFetch(): FetchLike | undefined {
  const f = (globalThis as { fetch?: FetchLike }).fetch;
  return f ? (input, init) => f(input, init) : undefined;
}

export function authHeaders(token: string | undefined): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** The error a failed HTTP request turns into: a close code for the transport. */
export class HttpClose extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/**
 * Maps a refused HTTP request to a close code the client acts on (docs/protocol.md, "HTTP
 * errors"). `ticket`: the request was the event stream's, whose ticket dies with its session,
 * so a 401 there means the session is gone (server restarted, session timed out), not a bad token.
 */
export async function closeFor(res: { status: number; json(): Promise<unknown> }, ticket = false): Promise<HttpClose> {
  let code = 'http_error';
  let message = `HTTP ${res.status}`;
  let temporary = false;
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string; temporary?: boolean } };
    if (body.error?.code) code = body.error.code;
    if (body.error?.message) message = body.error.message;
    temporary = body.error?.temporary === true;
  } catch {
    // Not JSON: keep the status.
  }
  if (res.status === 401 && code === 'token_expired') return new HttpClose(4003, message);
  // A 401 marked temporary (a key set could not be fetched) is retried like a lost connection.
  if (res.status === 401 && !ticket && !temporary) return new HttpClose(4500, message);
  if (res.status === 403) return new HttpClose(4502, message);
  if (res.status === 429) return new HttpClose(4007, message);
  // Too big for the server, as WebSocket's 1009: the sender splits or refuses it.
  if (res.status === 413) return new HttpClose(1009, message);
  // No endpoint at the URL (4404, see types.ts).
  if (res.status === 404) return new HttpClose(4404, message);
  return new HttpClose(1006, message);
}

export interface OpenedSession {
  session: string;
  ticket?: string;
}

/** `POST <base>/open`. */
export async function openSession(fetchImpl: FetchLike, base: string, transport: 'sse' | 'polling', token: string | undefined, credentials: boolean, signal: AbortSignal, typeNamedEvents = false): Promise<OpenedSession> {
  const res = await fetchImpl(`${base}/open`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain', ...authHeaders(token) },
    // An EventSource hears only the event names it listens to: it asks for events named by frame type only.
    body: JSON.stringify(typeNamedEvents ? { transport, sseEvents: 'types' } : { transport }),
    signal,
    credentials: credentials ? 'include' : 'same-origin',
  });
  if (!res.ok) throw await closeFor(res);
  return (await res.json()) as OpenedSession;
}

/** Ends the transport for a failed request: with the `HttpClose`'s code, or 1006 and `what`. */
export function failWith(finish: (code: number, reason: string) => void, what: string): (err: unknown) => void {
  return (err) => finish(err instanceof HttpClose ? err.code : 1006, err instanceof Error ? err.message : what);
}

/**
 * The ordered sender of an HTTP transport: POSTs each body to `url()` (read at send time)
 * with the current token; a failed POST ends the transport through `finish`.
 */
export function postSender(fetchImpl: FetchLike, url: () => string, context: TransportContext, credentials: boolean, handlers: TransportHandlers, finish: (code: number, reason: string) => void): OrderedSender {
  return new OrderedSender(
    async (text) => {
      const res = await fetchImpl(url(), {
        method: 'POST',
        headers: { 'content-type': 'text/plain', ...authHeaders(context.token()) },
        body: text,
        credentials: credentials ? 'include' : 'same-origin',
      });
      if (!res.ok) throw await closeFor(res);
    },
    failWith(finish, 'send failed'),
    context.maxMessageBytes,
    (text) => handlers.onRefused?.(text),
  );
}

/**
 * Sends client messages with one POST at a time: messages made while a POST is out are
 * joined into the next one, up to `limit` bytes (the largest message the client knows the
 * server takes). A body the server refuses as too big (413) is sent again frame by frame, in
 * bodies smaller than the refused one; a single frame it refuses goes to `refused` and is not
 * sent again, as WebSocket's 1009 would have it. Any other failed POST ends the transport
 * through `fail`.
 */
export class OrderedSender {
  #pending: string[] = [];
  #busy = false;
  #stopped = false;

  constructor(
    private readonly post: (text: string) => Promise<void>,
    private readonly fail: (err: unknown) => void,
    private limit: number,
    private readonly refused: (text: string) => void,
  ) {}

  send(text: string): void {
    if (this.#stopped) return;
    this.#pending.push(text);
    if (!this.#busy) void this.#drain();
  }

  stop(): void {
    this.#stopped = true;
    this.#pending = [];
  }

  async #drain(): Promise<void> {
    this.#busy = true;
    while (this.#pending.length > 0 && !this.#stopped) {
      const pending = this.#pending;
      let n = 1;
      for (let bytes = utf8Length(pending[0]!); n < pending.length && (bytes += 1 + utf8Length(pending[n]!)) <= this.limit; ) n++;
      const text = pending.splice(0, n).join('\n');
      try {
        await this.post(text);
      } catch (err) {
        if (this.#stopped) break;
        if (err instanceof HttpClose && err.code === 1009) {
          // The server takes less than the client was told: stay below what it refused from now on.
          this.limit = Math.min(this.limit, utf8Length(text) - 1);
          const frames = text.split('\n');
          if (frames.length > 1) this.#pending.unshift(...frames);
          else this.refused(text);
          continue;
        }
        this.fail(err);
        break;
      }
    }
    this.#busy = false;
  }
}
