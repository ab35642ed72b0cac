/**
 * The HTTP long-polling transport, for networks that buffer streaming responses. Each poll
 * acknowledges the last frame it received; the server keeps every frame until then, so a
 * response lost in flight is delivered again by the next poll.
 */
import { startTimer } from '../timers.js';
import type { TransportFactory } from './types.js';
import { HttpClose, authHeaders, closeFor, failWith, globalFetch, httpBaseOf, openSession, postSender, type HttpTransportOptions } from './http.js';

export interface PollingTransportOptions extends HttpTransportOptions {
  /** Polls that fail in a row (network errors) before the transport gives up. Default 3. */
  retries?: number;
  /** Wait before retrying a failed poll, ms. Default 250. */
  retryDelay?: number;
}

interface PollBody {
  from: number;
  frames: unknown[];
  close?: { code: number; reason: string };
}

/**
 * The long-polling transport.
 *
 * @example
 * ```ts
 * new Tidings(url, { transports: ['websocket', pollingTransport({ retries: 5 })] });
 * ```
 */
export function pollingTransport(options: PollingTransportOptions = {}): TransportFactory {
  return {
    name: 'polling',
    open(url, handlers, context) {
      const base = options.base ?? httpBaseOf(url);
      const fetchImpl = options.fetch ?? globalFetch();
      const credentials = options.withCredentials ?? false;
      const controller = new AbortController();
      let closed = false;
      let session: string | undefined;
      let ack = 0;
      const finish = (code: number, reason: string) => {
        if (closed) return;
        closed = true;
        sender.stop();
        controller.abort();
        handlers.onClose(code, reason);
      };
      const sender = postSender(fetchImpl!, () => `${base}/poll/${session}?ack=${ack}`, context, credentials, handlers, finish);
      const loop = async () => {
        let failures = 0;
        while (!closed) {
          let body: PollBody;
          try {
            const res = await fetchImpl!(`${base}/poll/${session}?ack=${ack}`, {
              headers: authHeaders(context.token()),
              signal: controller.signal,
              credentials: credentials ? 'include' : 'same-origin',
            });
            if (res.status === 429) {
              await new Promise<void>((r) => startTimer(r, options.retryDelay ?? 250));
              continue;
            }
            if (!res.ok) throw await closeFor(res);
            body = (await res.json()) as PollBody;
          } catch (err) {
            if (closed) return;
            if (err instanceof HttpClose) {
              finish(err.code, err.reason);
              return;
            }
            // A poll lost in flight: ask again with the same ack; the server still has the frames.
            if (++failures > (options.retries ?? 3)) {
              finish(1006, 'polls keep failing');
              return;
            }
            await new Promise<void>((r) => startTimer(r, options.retryDelay ?? 250));
            continue;
          }
          failures = 0;
          if (closed) return;
          if (body.frames.length > 0) {
            // Frames before `ack + 1` were delivered already (a duplicate answer): skip them.
            const skip = Math.max(0, ack + 1 - body.from);
            const fresh = body.frames.slice(skip);
            ack = Math.max(ack, body.from + body.frames.length - 1);
            if (fresh.length > 0) handlers.onMessage(fresh.map((f) => JSON.stringify(f)).join('\n'));
          }
          if (body.close) {
            finish(body.close.code, body.close.reason);
            return;
          }
        }
      };
      if (!fetchImpl) {
        queueMicrotask(() => finish(1006, 'no fetch available for the polling transport'));
      } else {
        openSession(fetchImpl, base, 'polling', context.token(), credentials, controller.signal).then(
          (opened) => {
            if (closed) return;
            session = opened.session;
            handlers.onOpen();
            void loop();
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
          controller.abort();
          if (session && fetchImpl) {
            fetchImpl(`${base}/poll/${session}`, { method: 'DELETE', headers: authHeaders(context.token()), keepalive: true }).catch(() => {});
          }
        },
      };
    },
  };
}
