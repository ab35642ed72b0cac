/**
 * One webhook attempt over HTTP: a POST on the endpoint's keep-alive agent, bounded by its
 * timeout (connect, headers and body together), abortable (the dispatcher aborts what is still
 * in flight when the node closes). Never rejects: the outcome says what happened.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export interface PostOutcome {
  /** The response's status, when one came. */
  status?: number;
  /** `Retry-After` of the response, in ms, when it had a valid one. */
  retryAfterMs?: number;
  /** What went wrong, in words, when no status came (`timeout after 5000 ms`, `ECONNREFUSED`). */
  error?: string;
}

export interface Poster {
  post(body: string, headers: Record<string, string>, signal: AbortSignal): Promise<PostOutcome>;
  close(): void;
}

/** Most bytes of a response body read (the rest is discarded; the status is what counts). */
const MAX_RESPONSE_BYTES = 64 * 1024;

/** `Retry-After`: seconds, or an HTTP date; in ms from `now`. */
export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // An HTTP date names its day and month (Date.parse alone would take "-5" as a year).
  if (!/[A-Za-z]{3}/.test(trimmed)) return undefined;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function createPoster(url: string, timeoutMs: number, concurrency: number): Poster {
  const target = new URL(url);
  const https = target.protocol === 'https:';
  const agent = https ? new HttpsAgent({ keepAlive: true, maxSockets: concurrency }) : new HttpAgent({ keepAlive: true, maxSockets: concurrency });
  const request = https ? httpsRequest : httpRequest;
  return {
    post(body, headers, signal) {
      return new Promise<PostOutcome>((resolve) => {
        let done = false;
        const finish = (outcome: PostOutcome) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          resolve(outcome);
        };
        const req = request(target, { method: 'POST', agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res: IncomingMessage) => {
          let read = 0;
          res.on('data', (chunk: Buffer) => {
            read += chunk.length;
            // A huge answer is not read to its end: the connection goes, the status stands.
            if (read > MAX_RESPONSE_BYTES) res.destroy();
          });
          const status = res.statusCode ?? 0;
          const answer = () => {
            const after = retryAfterMs(res.headers['retry-after'], Date.now());
            finish({ status, ...(after !== undefined ? { retryAfterMs: after } : {}) });
          };
          res.on('end', answer);
          res.on('close', answer);
          res.on('error', answer);
        });
        const fail = (error: string) => {
          finish({ error });
          req.destroy();
        };
        const timer = setTimeout(() => fail(`timeout after ${timeoutMs} ms`), timeoutMs);
        const onAbort = () => fail('aborted: the node shut down');
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort);
        req.on('error', (err: NodeJS.ErrnoException) => finish({ error: err.code ?? err.message }));
        req.end(body);
      });
    },
    close() {
      agent.destroy();
    },
  };
}
