/**
 * The HTTP transports: Server-Sent Events and long-polling, for networks where WebSocket
 * is blocked. Both carry the same frames as WebSocket into the same Session.
 *
 * Routes, under `http.path` (default `/connection`):
 * - `POST /open` `{transport: "sse"|"polling", token?}` (or `Authorization: Bearer`) opens a
 *   session: `{session, ticket?}`. The token is verified here, as in a WebSocket handshake.
 * - `GET /sse?ticket=…` opens the event stream (EventSource cannot send headers, and tokens
 *   must not sit in URLs, so a ticket stands in: valid `http.ticketTtl` to open the stream,
 *   then only to resume that session's stream with `Last-Event-ID`).
 * - `POST /sse/:session`, `POST /poll/:session`: client frames (NDJSON), answered on the stream or poll.
 * - `GET /poll/:session?ack=N`: a long poll.
 * - `DELETE /sse/:session`, `DELETE /poll/:session`: the client ends the session.
 * A session opened with a token only accepts requests bearing a token of the same user.
 * A session's POSTs, polls and DELETE may reach any node: they are forwarded to the node that
 * holds the session (http-forwarding.ts); its event stream is relayed from there (sse-relay.ts).
 * CORS: allowed origins (`allowedOrigins`) get preflight answers; see wire/cors.ts for credentials.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode } from '@tidings/protocol';
import type { ClientIpResolver } from '../auth/client-ip.js';
import type { Admission } from '../auth/limits.js';
import type { OriginCheck } from '../auth/origin.js';
import type { ConnectionClaims, TokenVerifier } from '../auth/token-verifier.js';
import type { TidingsConfig } from '../config/schema.js';
import { TidingsError, toErrorBody } from '../errors.js';
import { safePath, type Logger } from '../log.js';
import { answerPreflight, createCorsPolicy, type CorsPolicy } from '../wire/cors.js';
import { readBody } from '../wire/http-body.js';
import { sendJson, sendError as sendErrorResponse } from '../wire/http-responses.js';
import { forward, FORWARD_TYPE, mintSessionKey, ownerOf, parseForwarded, type ForwardedAnswer, type ForwardedRequest, type SessionForwarding } from './http-forwarding.js';
import { HttpSessionTransport, responsePoll, type HttpSessionSink, type PollWaiter } from './http-session.js';
import { parseStreamRequest, RemoteStreams, StreamRelays, type StreamChunk, type StreamOpened, type StreamRequest } from './sse-relay.js';
import { SseTickets } from './sse-tickets.js';
import type { Transport, TransportRequestInfo } from './transport.js';

export interface HttpTransportDeps {
  config: TidingsConfig;
  log: Logger;
  verifier: () => TokenVerifier;
  originAllowed: OriginCheck;
  clientIp: ClientIpResolver;
  /** A rejection, or a slot among the IP's open connections, released when the session ends. */
  admit(ip: string): Promise<Admission>;
  accepting: () => boolean;
  createSession(transport: Transport, request: TransportRequestInfo, claims: ConnectionClaims | undefined): HttpSessionSink;
  onBadRequest(): void;
  onAuthFailure(ip: string, transport: 'sse' | 'polling', reason: string): void;
  /** The node bus, for the requests of sessions held by other nodes; without it, such a session is unknown here. */
  forwarding?: SessionForwarding;
}

const ALLOWED_BODY_TYPES = /^(text\/plain|application\/x-ndjson|application\/json)\s*(;|$)/i;


/** An error answer of the HTTP transports: the code also in `X-Tidings-Error`; a stream already started is cut instead. */
function sendError(res: ServerResponse, code: string, message: string, headers: Record<string, string>, temporary?: boolean): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendErrorResponse(res, code, message, { headers: { ...headers, 'x-tidings-error': code }, temporary: temporary === true });
}

/** The `ack` query parameter (0 when absent). */
function ackOf(req: IncomingMessage): number {
  const ack = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('ack') ?? '0');
  if (!Number.isSafeInteger(ack) || ack < 0) throw new TidingsError(ErrorCode.BadRequest, 'ack: expected a non-negative integer');
  return ack;
}

function bearerOf(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(h.trim());
  return m?.[1];
}

export class HttpTransportAcceptor {
  readonly #sessions = new Map<string, HttpSessionTransport>();
  readonly #tickets: SseTickets;
  /** Streams of this node's sessions whose clients are on other nodes. */
  readonly #remote: RemoteStreams;
  /** Streams of other nodes' sessions whose clients are here. */
  readonly #relays: StreamRelays | undefined;

  readonly #cors: CorsPolicy;

  constructor(private readonly deps: HttpTransportDeps) {
    this.#cors = createCorsPolicy(deps.config.allowedOrigins);
    this.#tickets = new SseTickets((ip, reason) => deps.onAuthFailure(ip, 'sse', reason));
    const { pollTimeout } = deps.config.http;
    const forwarding = deps.forwarding;
    this.#remote = new RemoteStreams(pollTimeout, pollTimeout + (forwarding?.timeoutMs ?? 0));
    if (forwarding) {
      const onUnknownTicket = (ip: string) => deps.onAuthFailure(ip, 'sse', 'unknown or expired ticket');
      this.#relays = new StreamRelays({ forwarding, pollTimeoutMs: pollTimeout, highWaterBytes: deps.config.client.maxQueueBytes, onUnknownTicket });
    }
  }

  /** Open HTTP sessions (for tests and stats). */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** True when the request is for an HTTP transport path (and is being answered). */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    const cfg = this.deps.config.http;
    if (!cfg.enabled) return false;
    const path = safePath(req.url);
    if (!path.startsWith(cfg.path + '/')) return false;
    const rest = path.slice(cfg.path.length);
    const route = /^\/(open|sse|poll)(?:\/((?:[A-Za-z0-9_-]{1,96}\.)?[A-Za-z0-9_-]{1,64}))?$/.exec(rest);
    if (!route) return false;
    const [, kind, key] = route as unknown as [string, 'open' | 'sse' | 'poll', string | undefined];
    const origin = typeof req.headers.origin === 'string' ? req.headers.origin : undefined;
    if (!this.deps.originAllowed(origin, req.headers.host)) {
      sendError(res, ErrorCode.Forbidden, 'origin not allowed', {});
      return true;
    }
    const cors = this.#cors(origin, req.headers.host);
    const methods = kind === 'open' ? 'POST, OPTIONS' : key ? 'GET, POST, DELETE, OPTIONS' : 'GET, OPTIONS';
    if (req.method === 'OPTIONS') {
      answerPreflight(res, cors, methods);
      return true;
    }
    res.on('error', () => {});
    this.#route(req, res, kind, key, cors).catch((err: unknown) => {
      const body = toErrorBody(err);
      if (body.code === ErrorCode.Internal) this.deps.log.error({ err, path }, 'http transport request failed');
      // Counted with the WebSocket layer's protocol errors (stats and the bad_request metric).
      if (body.code === ErrorCode.BadRequest || body.code === ErrorCode.UnsupportedMediaType || body.code === ErrorCode.PayloadTooLarge) this.deps.onBadRequest();
      sendError(res, body.code, body.message, cors, body.temporary);
    });
    return true;
  }

  async #route(req: IncomingMessage, res: ServerResponse, kind: 'open' | 'sse' | 'poll', key: string | undefined, cors: Record<string, string>): Promise<void> {
    const method = req.method ?? 'GET';
    if (kind === 'open') {
      if (key !== undefined || method !== 'POST') throw new TidingsError(ErrorCode.MethodNotAllowed, 'use POST to open a session');
      return this.#open(req, res, cors);
    }
    if (kind === 'sse' && key === undefined) {
      if (method !== 'GET') throw new TidingsError(ErrorCode.MethodNotAllowed, 'use GET to open the event stream');
      return this.#stream(req, res, cors);
    }
    if (key === undefined) throw new TidingsError(ErrorCode.NotFound, 'no session in the path');
    const owner = ownerOf(key);
    const forwarding = this.deps.forwarding;
    if (owner !== undefined && forwarding !== undefined && owner !== forwarding.nodeId) return this.#forward(req, res, kind, key, owner, forwarding, cors);
    const transport = this.#session(kind, key);
    await this.#checkUser(bearerOf(req), this.deps.clientIp(req), transport);
    const ack = ackOf(req);
    if (method === 'DELETE') {
      transport.clientClosed();
      res.writeHead(204, cors).end();
      return;
    }
    if (method === 'POST') {
      const text = await this.#readFrames(req);
      this.#accept(transport, ack);
      res.writeHead(204, cors).end();
      this.#handle(transport, text);
      return;
    }
    if (method === 'GET' && kind === 'poll') return this.#poll(transport, responsePoll(res, cors), ack);
    throw new TidingsError(ErrorCode.MethodNotAllowed, `${method} is not supported here`);
  }

  /** A request for a session of another node: checked here, answered there. */
  async #forward(req: IncomingMessage, res: ServerResponse, kind: 'sse' | 'poll', key: string, owner: string, forwarding: SessionForwarding, cors: Record<string, string>): Promise<void> {
    const method = req.method ?? 'GET';
    const ack = ackOf(req);
    let op: ForwardedRequest['op'];
    let body: string | undefined;
    if (method === 'DELETE') op = 'close';
    else if (method === 'POST') {
      op = 'commands';
      body = await this.#readFrames(req);
    } else if (method === 'GET' && kind === 'poll') op = 'poll';
    else throw new TidingsError(ErrorCode.MethodNotAllowed, `${method} is not supported here`);
    const message: ForwardedRequest = { type: FORWARD_TYPE, op, transport: kind === 'sse' ? 'sse' : 'polling', session: key, ack, ip: this.deps.clientIp(req) };
    if (body !== undefined) message.body = body;
    const token = bearerOf(req);
    if (token !== undefined) message.token = token;
    const timeout = forwarding.timeoutMs + (op === 'poll' ? this.deps.config.http.pollTimeout : 0);
    const answer = await forward(forwarding, owner, message, timeout);
    if ('destroy' in answer) res.destroy();
    else if ('end' in answer) res.end();
    else if (answer.status === 204) res.writeHead(204, cors).end();
    else responsePoll(res, cors).answer(answer.body ?? '');
  }

  /** Answers a session request another node forwarded over the bus (as `#route` answers its own). */
  async answerForwarded(message: unknown): Promise<ForwardedAnswer | StreamOpened | StreamChunk> {
    const stream = parseStreamRequest(message);
    const m = stream ? undefined : parseForwarded(message);
    try {
      if (stream) return await this.#answerStream(stream);
      if (!m) throw new TidingsError(ErrorCode.BadRequest, 'not a session request');
      const transport = this.#session(m.transport === 'sse' ? 'sse' : 'poll', m.session);
      await this.#checkUser(m.token, m.ip, transport);
      if (m.op === 'close') {
        transport.clientClosed();
        return { status: 204 };
      }
      if (m.op === 'commands') {
        this.#accept(transport, m.ack);
        this.#handle(transport, m.body ?? '');
        return { status: 204 };
      }
      let answered!: (answer: ForwardedAnswer) => void;
      const answer = new Promise<ForwardedAnswer>((resolve) => (answered = resolve));
      const waiter: PollWaiter = {
        answer: (body) => answered({ status: 200, body }),
        end: () => answered({ end: true }),
        destroy: () => answered({ destroy: true }),
        onGone: () => {},
      };
      this.#poll(transport, waiter, m.ack);
      return await answer;
    } catch (err) {
      const body = toErrorBody(err);
      if (body.code === ErrorCode.Internal) this.deps.log.error({ err }, 'forwarded http transport request failed');
      return { error: body };
    }
  }

  /** The open session `key` of the route's transport, or `404 not_found`. */
  #session(kind: 'sse' | 'poll', key: string): HttpSessionTransport {
    const transport = this.#sessions.get(key);
    const expected = kind === 'sse' ? 'sse' : 'polling';
    if (!transport || transport.ended || transport.kind !== expected) throw new TidingsError(ErrorCode.NotFound, 'unknown or expired session');
    return transport;
  }

  #poll(transport: HttpSessionTransport, waiter: PollWaiter, ack: number): void {
    if (!transport.attachPoll(waiter, ack)) throw new TidingsError(ErrorCode.RateLimited, 'too many polls', { temporary: true });
  }

  async #open(req: IncomingMessage, res: ServerResponse, cors: Record<string, string>): Promise<void> {
    if (!this.deps.accepting()) throw new TidingsError(ErrorCode.Unavailable, 'server is shutting down', { temporary: true });
    const ip = this.deps.clientIp(req);
    const type = req.headers['content-type'];
    let body: { transport?: unknown; token?: unknown; sseEvents?: unknown } = {};
    const text = await readBody(req, 32 * 1024);
    if (text.trim() !== '') {
      if (!/^(application\/json|text\/plain)\s*(;|$)/i.test(type ?? '')) throw new TidingsError(ErrorCode.UnsupportedMediaType, 'Content-Type must be application/json or text/plain');
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        throw new TidingsError(ErrorCode.BadRequest, 'body is not valid JSON');
      }
      if (typeof body !== 'object' || body === null) throw new TidingsError(ErrorCode.BadRequest, 'body: expected an object');
    }
    const kind = body.transport;
    if (kind !== 'sse' && kind !== 'polling') throw new TidingsError(ErrorCode.BadRequest, 'transport: expected "sse" or "polling"');
    if (body.token !== undefined && typeof body.token !== 'string') throw new TidingsError(ErrorCode.BadRequest, 'token: expected string');
    if (body.sseEvents !== undefined && body.sseEvents !== 'types' && body.sseEvents !== 'names') throw new TidingsError(ErrorCode.BadRequest, 'sseEvents: expected "names" or "types"');
    const token = (body.token as string | undefined) ?? bearerOf(req);
    const admission = await this.deps.admit(ip);
    if (admission.rejection) {
      const { code, message, temporary } = admission.rejection;
      throw new TidingsError(code, message, temporary ? { temporary: true } : {});
    }
    let claims: ConnectionClaims | undefined;
    if (token !== undefined) {
      try {
        claims = await this.deps.verifier().verifyConnection(token);
      } catch (err) {
        admission.release();
        const e = toErrorBody(err);
        this.deps.onAuthFailure(ip, kind, e.message);
        throw new TidingsError(e.code, e.message, e.temporary ? { temporary: true } : {});
      }
    }
    const cfg = this.deps.config.http;
    const transport = new HttpSessionTransport(
      mintSessionKey(this.deps.forwarding?.nodeId),
      kind,
      {
        sessionTimeout: cfg.sessionTimeout,
        pollTimeout: cfg.pollTimeout,
        heartbeat: cfg.heartbeat,
        retry: cfg.retry,
        replayBytes: cfg.replayBytes,
        maxPollsPerSecond: cfg.maxPollsPerSecond,
      },
      (t) => {
        admission.release();
        this.#forget(t);
      },
    );
    transport.boundUser = claims?.user;
    if (body.sseEvents === 'types') transport.typeNamedEvents = true;
    if (token !== undefined) transport.verifiedToken = token;
    const request: TransportRequestInfo = { remoteAddress: ip, headers: req.headers, path: safePath(req.url) };
    transport.sink = this.deps.createSession(transport, request, claims);
    this.#sessions.set(transport.key, transport);
    const out: Record<string, unknown> = { session: transport.key, transport: kind };
    if (kind === 'sse') out.ticket = this.#tickets.issue(transport, this.deps.forwarding?.nodeId, cfg.ticketTtl, ip, String(req.headers['user-agent'] ?? ''));
    sendJson(res, 200, out, cors);
  }

  /** The event stream: served here for a ticket of this node, relayed from its node for another's (sse-relay.ts). */
  async #stream(req: IncomingMessage, res: ServerResponse, cors: Record<string, string>): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const value = url.searchParams.get('ticket') ?? '';
    const ip = this.deps.clientIp(req);
    const userAgent = String(req.headers['user-agent'] ?? '');
    const raw = req.headers['last-event-id'];
    const header = (Array.isArray(raw) ? raw.join(',') : raw) ?? url.searchParams.get('lastEventId') ?? undefined;
    const owner = /^[A-Za-z0-9_-]{1,96}\.[A-Za-z0-9_-]{1,64}$/.test(value) ? ownerOf(value) : undefined;
    if (owner !== undefined && this.#relays && owner !== this.deps.forwarding?.nodeId) {
      const open: StreamRequest = { type: FORWARD_TYPE, op: 'stream', ticket: value, ip, userAgent };
      if (header !== undefined) open.lastEventId = header;
      return this.#relays.relay(res, cors, owner, open);
    }
    const pass = this.#tickets.check(value, ip, userAgent, header);
    pass.transport.attachStream(res, pass.lastEventId, cors);
  }

  /** A stream message of a node relaying one of this node's session streams (sse-relay.ts). */
  async #answerStream(m: StreamRequest): Promise<StreamOpened | StreamChunk> {
    if (m.op !== 'stream') return this.#remote.answer(m);
    const pass = this.#tickets.check(m.ticket, m.ip, m.userAgent, m.lastEventId);
    const remote = this.#remote.create();
    pass.transport.attachStream(remote, pass.lastEventId, {});
    if (remote.status === 0) {
      remote.release();
      throw new TidingsError(ErrorCode.Unauthorized, 'unknown or expired ticket');
    }
    return { stream: remote.id, status: remote.status, headers: remote.headers, ...remote.take() };
  }

  /** The client frames of a command POST (Content-Type and size checked). */
  async #readFrames(req: IncomingMessage): Promise<string> {
    const type = req.headers['content-type'];
    if (!ALLOWED_BODY_TYPES.test(type ?? '')) throw new TidingsError(ErrorCode.UnsupportedMediaType, 'Content-Type must be text/plain, application/x-ndjson or application/json');
    return readBody(req, this.deps.config.websocket.maxPayload);
  }

  /** Before a command POST is answered: the session is still open, and the client has the frames up to `ack`. */
  #accept(transport: HttpSessionTransport, ack: number): void {
    if (transport.ended) throw new TidingsError(ErrorCode.NotFound, 'unknown or expired session');
    transport.acknowledge(ack);
  }

  #handle(transport: HttpSessionTransport, text: string): void {
    if (text.trim() === '') transport.sink.handleBadMessage('a message must hold at least one frame');
    else transport.sink.handleMessage(text, Buffer.byteLength(text));
  }

  /** A session of an authenticated user accepts only requests bearing a token of that user. */
  async #checkUser(token: string | undefined, ip: string, transport: HttpSessionTransport): Promise<void> {
    const user = transport.sink.user() || transport.boundUser;
    if (!user) return;
    if (token === undefined) throw new TidingsError(ErrorCode.Unauthorized, 'this session needs the Authorization header of its user');
    if (token === transport.verifiedToken) return;
    let sub: string;
    try {
      sub = (await this.deps.verifier().verifyConnection(token)).user;
    } catch (err) {
      const e = toErrorBody(err);
      this.deps.onAuthFailure(ip, transport.kind, e.message);
      throw new TidingsError(e.code, e.message, e.temporary ? { temporary: true } : {});
    }
    if (sub !== user) {
      this.deps.onAuthFailure(ip, transport.kind, 'session of another user');
      throw new TidingsError(ErrorCode.Forbidden, 'this session belongs to another user');
    }
    transport.verifiedToken = token;
  }

  #forget(transport: HttpSessionTransport): void {
    this.#sessions.delete(transport.key);
    this.#tickets.forget(transport);
  }

  /** Ends every HTTP session (shutdown). */
  close(): void {
    for (const t of [...this.#sessions.values()]) t.terminate();
    this.#tickets.clear();
    this.#remote.close();
    this.#relays?.close();
  }
}
