/**
 * One proxy hook call: a JSON POST to the backend, bounded by the endpoint's timeout per
 * attempt (connecting, sending and reading the answer), sent again after a connection error
 * only for hooks that may safely be retried, counted in metrics. The answer is
 * `{result}`, `{error: {code, message, temporary?}}` or `{disconnect: {code, reason}}`;
 * anything else (a timeout, a closed port, HTTP 5xx, a body that is not such JSON) is a
 * temporary `unavailable` error. Never rejects with anything but a TidingsError or a
 * HookDisconnect. docs/proxy.md describes the exchange.
 */
import { randomUUID } from 'node:crypto';
import { request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ErrorCode } from '@tidings/protocol';
import type { z } from 'zod';
import type { ProxyEndpointConfig, ProxyHookName } from '../config/schema-proxy.js';
import { TidingsError } from '../errors.js';
import { HookDisconnect } from '../hooks.js';
import type { Logger } from '../log.js';
import type { NodeMetrics } from '../ops/metrics.js';

export type ProxyOutcome = 'ok' | 'rejected' | 'disconnect' | 'timeout' | 'unreachable' | 'http_error' | 'bad_response';

/** Client request headers always forwarded (when present), besides an endpoint's `forwardHeaders`. */
export const DEFAULT_FORWARDED_HEADERS: readonly string[] = ['cookie', 'authorization'];
/** Headers the proxy sets itself (or that belong to one hop): never forwarded from the client. */
const NOT_FORWARDED = new Set(['host', 'content-length', 'content-type', 'connection', 'transfer-encoding', 'keep-alive', 'upgrade', 'te', 'trailer', 'x-request-id']);
/** Largest answer read; a larger one is a bad response. */
const MAX_ANSWER_BYTES = 1024 * 1024;
const ERROR_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

class AttemptFailure extends Error {
  constructor(
    readonly outcome: 'timeout' | 'unreachable' | 'http_error' | 'bad_response',
    message: string,
  ) {
    super(message);
  }
}

interface Answer {
  status: number;
  text: string;
}

/** One POST, settled exactly once, its socket destroyed on timeout. */
function post(url: URL, body: string, headers: OutgoingHttpHeaders, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let req: ClientRequest | undefined;
    const finish = (err: AttemptFailure | undefined, answer?: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        req?.destroy();
        reject(err);
      } else resolve(answer!);
    };
    const timer = setTimeout(() => finish(new AttemptFailure('timeout', `no answer within ${timeoutMs} ms`)), timeoutMs);
    try {
      req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { method: 'POST', headers });
    } catch (err) {
      // A header value Node refuses (a static header with a newline, say).
      return finish(new AttemptFailure('unreachable', (err as Error).message));
    }
    req.on('error', (err: NodeJS.ErrnoException) => finish(new AttemptFailure('unreachable', err.code ?? err.message)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) finish(new AttemptFailure('bad_response', `answer larger than ${MAX_ANSWER_BYTES} bytes`));
        else chunks.push(chunk);
      });
      res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', () => finish(new AttemptFailure('unreachable', 'answer cut off')));
      res.on('close', () => finish(new AttemptFailure('unreachable', 'answer cut off')));
    });
    req.end(body);
  });
}

/** The request headers: JSON, a request id, the allowed client headers, the static ones. */
function requestHeaders(endpoint: ProxyEndpointConfig, client: Readonly<Record<string, string | string[] | undefined>> | undefined, body: string): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const name of [...DEFAULT_FORWARDED_HEADERS, ...endpoint.forwardHeaders]) {
    if (NOT_FORWARDED.has(name)) continue;
    const value = client?.[name];
    if (value === undefined) continue;
    headers[name] = Array.isArray(value) ? value.join(name === 'cookie' ? '; ' : ', ') : value;
  }
  Object.assign(headers, endpoint.staticHeaders);
  headers['content-type'] = 'application/json';
  headers['content-length'] = Buffer.byteLength(body);
  headers['x-request-id'] = randomUUID();
  return headers;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads the backend's answer: the result (checked with `schema`), or a TidingsError / HookDisconnect to throw. */
function readAnswer<T>(answer: Answer, schema: z.ZodType<T>): { outcome: 'ok'; result: T } | { outcome: 'rejected' | 'disconnect'; error: Error } {
  if (answer.status < 200 || answer.status > 299) throw new AttemptFailure('http_error', `HTTP ${answer.status}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer.text);
  } catch {
    throw new AttemptFailure('bad_response', 'answer is not JSON');
  }
  if (!isObject(parsed)) throw new AttemptFailure('bad_response', 'answer is not a JSON object');
  const { disconnect, error } = parsed;
  if (isObject(disconnect)) {
    const code = disconnect.code;
    if (typeof code !== 'number' || !Number.isInteger(code) || code < 4000 || code > 4999) throw new AttemptFailure('bad_response', 'disconnect.code must be 4000-4999');
    const reason = typeof disconnect.reason === 'string' ? disconnect.reason : 'disconnected by the backend';
    return { outcome: 'disconnect', error: new HookDisconnect(code, reason) };
  }
  if (isObject(error)) {
    // Our own error codes pass through; any other code (a number, a typo) refuses with permission_denied.
    const code = typeof error.code === 'string' && ERROR_CODES.has(error.code) ? error.code : ErrorCode.PermissionDenied;
    const message = typeof error.message === 'string' && error.message !== '' ? error.message.slice(0, 500) : 'refused by the backend';
    const options = typeof error.temporary === 'boolean' ? { temporary: error.temporary } : {};
    return { outcome: 'rejected', error: new TidingsError(code, message, options) };
  }
  const checked = schema.safeParse(parsed.result ?? {});
  if (!checked.success) throw new AttemptFailure('bad_response', `result: ${checked.error.issues[0]?.message ?? 'invalid'}`);
  return { outcome: 'ok', result: checked.data };
}

export interface ProxyClientDeps {
  metrics: NodeMetrics;
  log: Logger;
}

export class ProxyClient {
  constructor(private readonly deps: ProxyClientDeps) {}

  /**
   * Calls `endpoint` for `hook` with `envelope`; resolves with the checked result. Rejects with
   * the backend's error (TidingsError), its disconnect (HookDisconnect), or `unavailable`.
   */
  async call<T>(hook: ProxyHookName, endpoint: ProxyEndpointConfig, envelope: Record<string, unknown>, clientHeaders: IncomingHttpHeaders | Readonly<Record<string, string | string[] | undefined>> | undefined, schema: z.ZodType<T>): Promise<T> {
    const started = performance.now();
    const body = JSON.stringify(envelope);
    const url = new URL(endpoint.url);
    const retries = endpoint.retries ?? 0;
    let outcome: ProxyOutcome = 'unreachable';
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          const read = readAnswer(await post(url, body, requestHeaders(endpoint, clientHeaders, body), endpoint.timeout), schema);
          outcome = read.outcome;
          if (read.outcome === 'ok') return read.result;
          throw read.error;
        } catch (err) {
          if (!(err instanceof AttemptFailure)) throw err;
          outcome = err.outcome;
          // Only a connection error, only where the hook is safe to repeat, a bounded number of times.
          if (err.outcome === 'unreachable' && attempt < retries) {
            this.deps.metrics.proxyRetry(hook);
            await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
            continue;
          }
          this.deps.log.warn({ hook, url: endpoint.url, outcome, problem: err.message, attempts: attempt + 1 }, 'proxy hook failed');
          throw new TidingsError(ErrorCode.Unavailable, `${hook} proxy: the backend is unavailable`, { temporary: true });
        }
      }
    } finally {
      this.deps.metrics.proxyRequest(hook, outcome, (performance.now() - started) / 1000);
    }
  }
}
