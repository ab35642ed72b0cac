/**
 * Pieces shared by the SSE and long-polling transports: the HTTP base URL, opening a
 * session, and an ordered sender (one POST at a time, so the server reads commands in the
 * order they were made).
 */

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

/** Maps a refused HTTP request to a close code the client acts on. */
export async function closeFor(res: { status: number; json(): Promise<unknown> }): Promise<HttpClose> {
  let code = 'http_error';
  let message = `HTTP ${res.status}`;
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    if (body.error?.code) code = body.error.code;
    if (body.error?.message) message = body.error.message;
  } catch {
    // Not JSON: keep the status.
  }
  if (res.status === 401) return new HttpClose(code === 'token_expired' ? 4003 : 4500, message);
  if (res.status === 403) return new HttpClose(4502, message);
  if (res.status === 429) return new HttpClose(4007, message);
  return new HttpClose(1006, message);
}

export interface OpenedSession {
  session: string;
  ticket?: string;
}

/** `POST <base>/open`. */
export async function openSession(fetchImpl: FetchLike, base: string, transport: 'sse' | 'polling', token: string | undefined, credentials: boolean, signal: AbortSignal): Promise<OpenedSession> {
  const res = await fetchImpl(`${base}/open`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain', ...authHeaders(token) },
    body: JSON.stringify({ transport }),
    signal,
    credentials: credentials ? 'include' : 'same-origin',
  });
  if (!res.ok) throw await closeFor(res);
  return (await res.json()) as OpenedSession;
}

/**
 * Sends client messages with one POST at a time: messages made while a POST is out are
 * joined into the next one. A failed POST ends the transport through `fail`.
 */
export class OrderedSender {
  #pending: string[] = [];
  #busy = false;
  #stopped = false;

  constructor(
    private readonly post: (text: string) => Promise<void>,
    private readonly fail: (err: unknown) => void,
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
      const text = this.#pending.join('\n');
      this.#pending = [];
      try {
        await this.post(text);
      } catch (err) {
        if (!this.#stopped) this.fail(err);
        break;
      }
    }
    this.#busy = false;
  }
}
