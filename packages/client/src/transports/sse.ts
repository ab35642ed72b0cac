/**
 * The Server-Sent Events transport: frames from the server arrive as SSE events (named
 * after the push type, `reply` for replies, each with an `id:`), frames to the server go
 * as POSTs. Browsers use EventSource, which resumes a broken stream with `Last-Event-ID`
 * by itself (the server's preamble gives it an id before any event, so even a stream cut
 * before its first event resumes); elsewhere (Node 20 has no EventSource) a fetch-based
 * reader does the same.
 */
import { createParser } from 'eventsource-parser';
import { startTimer } from '../timers.js';
import { PUSH_TYPES } from '../wire.js';
import type { TransportFactory } from './types.js';
import { HttpClose, authHeaders, closeFor, failWith, globalFetch, httpBaseOf, openSession, postSender, type FetchLike, type HttpTransportOptions } from './http.js';

/**
 * Event names the server uses with an EventSource (which asks for names by frame type only): every
 * push type, `reply` (and the default `message`); `close` is the transport's own. The fetch-based
 * reader takes every event, so a publication's own event name (its SSE `event:`) reaches it too.
 */
const EVENTS = ['reply', 'message', ...PUSH_TYPES];

interface EventSourceLike {
  readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  addEventListener(type: string, listener: (ev: { data: string }) => void): void;
  close(): void;
}
type EventSourceConstructor = new (url: string, init?: { withCredentials?: boolean }) => EventSourceLike;

export interface SseTransportOptions extends HttpTransportOptions {
  /** EventSource implementation; default the global one, else a fetch-based reader. Pass `null` to force the reader. */
  EventSource?: EventSourceConstructor | null;
  /** Attempts of the fetch-based reader to resume a broken stream before giving up. Default 3. */
  resumeAttempts?: number;
}

interface StreamHandlers {
  onOpen(): void;
  onEvent(name: string, data: string): void;
  onEnd(code: number, reason: string): void;
}

/**
 * Reads an event stream with fetch, resuming a broken one with `Last-Event-ID` like
 * EventSource does. The stream's text goes through `eventsource-parser` (every line ending
 * SSE allows, comments, `retry:`); each response gets a decoder and parser of its own, so a
 * BOM at its start is dropped and nothing of a cut response (half an event, half a UTF-8
 * character) is carried into the next one.
 *
 * The resume point is the `id:` of the last *whole* event received: an event cut before
 * its end is not delivered, and the server sends it again. Before any event, it is `0`:
 * the first stream of a session starts after sequence 0 (docs/protocol.md section 16), so
 * a stream cut before its first event resumes on the same session too.
 */
function readWithFetch(fetchImpl: FetchLike, url: string, credentials: boolean, attempts: number, handlers: StreamHandlers): () => void {
  const controller = new AbortController();
  let lastEventId = '0';
  let retry = 1000;
  let opened = false;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const parser = createParser({
    onEvent(ev) {
      if (stopped) return;
      if (ev.id !== undefined) lastEventId = ev.id;
      handlers.onEvent(ev.event ?? 'message', ev.data);
    },
    onRetry(ms) {
      retry = ms;
    },
  });

  const run = async (attempt: number): Promise<void> => {
    try {
      const res = await fetchImpl(url, {
        // The first request opens the stream with the ticket; every later one resumes it.
        headers: { accept: 'text/event-stream', ...(opened ? { 'last-event-id': lastEventId } : {}) },
        signal: controller.signal,
        credentials: credentials ? 'include' : 'same-origin',
      });
      if (!res.ok) throw await closeFor(res, true);
      if (!res.body || typeof res.body.getReader !== 'function') throw new HttpClose(1006, 'this runtime cannot stream a response body');
      if (!opened) {
        opened = true;
        handlers.onOpen();
      }
      attempt = 0;
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      parser.reset();
      let last = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (stopped) break;
        if (done) {
          // A CR the stream ends with is a whole line ending (no LF can follow it now); the
          // parser waits to see whether one does, so complete it as CRLF, the same line end.
          if (last.endsWith('\r')) parser.feed('\n');
          break;
        }
        const text = decoder.decode(value, { stream: true });
        if (text) parser.feed((last = text));
      }
    } catch (err) {
      if (stopped) return;
      if (err instanceof HttpClose) {
        handlers.onEnd(err.code, err.reason);
        return;
      }
    }
    if (stopped) return;
    // The stream broke: resume after the last whole event, as EventSource would.
    if (!opened || attempt >= attempts) {
      handlers.onEnd(1006, opened ? 'event stream lost' : 'event stream did not open');
      return;
    }
    // `retry` comes from the server: clamped, as a delay past 2^31 − 1 ms would fire at once.
    timer = startTimer(() => void run(attempt + 1), retry);
  };
  void run(0);
  return () => {
    stopped = true;
    clearTimeout(timer);
    controller.abort();
  };
}

/**
 * The SSE transport.
 *
 * @example
 * ```ts
 * new Tidings(url, { transports: [sseTransport({ base: 'https://rt.example.com/connection' })] });
 * ```
 */
export function sseTransport(options: SseTransportOptions = {}): TransportFactory {
  return {
    name: 'sse',
    open(url, handlers, context) {
      const base = options.base ?? httpBaseOf(url);
      const fetchImpl = options.fetch ?? globalFetch();
      const credentials = options.withCredentials ?? false;
      const controller = new AbortController();
      let closed = false;
      let session: string | undefined;
      let stopStream: (() => void) | undefined;
      const finish = (code: number, reason: string) => {
        if (closed) return;
        closed = true;
        sender.stop();
        stopStream?.();
        handlers.onClose(code, reason);
      };
      const sender = postSender(fetchImpl!, () => `${base}/sse/${session}`, context, credentials, handlers, finish);
      const onEvent = (name: string, data: string) => {
        if (closed) return;
        // A publication named `close` (`event:` is its event name) is a frame like any other.
        if (name === 'close' && !data.startsWith('{"type":')) {
          let info: { code?: number; reason?: string } = {};
          try {
            info = JSON.parse(data) as typeof info;
          } catch {
            // A malformed close still ends the stream.
          }
          finish(info.code ?? 1006, info.reason ?? 'closed');
          return;
        }
        handlers.onMessage(data);
      };
      const ES = options.EventSource === undefined ? (globalThis as { EventSource?: EventSourceConstructor }).EventSource : options.EventSource ?? undefined;
      if (!fetchImpl || (!ES && typeof TextDecoder !== 'function')) {
        // React Native, for one, has neither EventSource nor a streaming fetch: fail at once so the next transport is tried.
        queueMicrotask(() => finish(1006, 'this runtime cannot read an event stream'));
      } else {
        openSession(fetchImpl, base, 'sse', context.token(), credentials, controller.signal, !!ES).then(
          (opened) => {
            if (closed) return;
            session = opened.session;
            const streamUrl = `${base}/sse?ticket=${encodeURIComponent(opened.ticket ?? '')}`;
            if (ES) {
              const es = new ES(streamUrl, { withCredentials: credentials });
              stopStream = () => es.close();
              let opened = false;
              es.onopen = () => {
                if (!opened) {
                  opened = true;
                  handlers.onOpen();
                }
              };
              // EventSource reconnects by itself; it gives up (CLOSED) only when the server refuses.
              es.onerror = () => {
                if (es.readyState === 2) finish(1006, 'event stream closed');
              };
              for (const name of [...EVENTS, 'close']) es.addEventListener(name, (ev) => onEvent(name, ev.data));
            } else {
              stopStream = readWithFetch(fetchImpl, streamUrl, credentials, options.resumeAttempts ?? 3, {
                onOpen: () => handlers.onOpen(),
                onEvent,
                onEnd: finish,
              });
            }
          },
          failWith(finish, 'open failed'),
        );
      }
      return {
        send: (text) => {
          if (!closed && session) sender.send(text);
        },
        close: () => {
          if (closed) return;
          closed = true;
          sender.stop();
          stopStream?.();
          controller.abort();
          if (session && fetchImpl) {
            fetchImpl(`${base}/sse/${session}`, { method: 'DELETE', headers: authHeaders(context.token()), keepalive: true }).catch(() => {});
          }
        },
      };
    },
  };
}
