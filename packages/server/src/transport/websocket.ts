/**
 * The WebSocket transport (`ws`). Only this folder imports `ws`.
 *
 * The upgrade is ours: path, origin and (when the client sends one in
 * `Sec-WebSocket-Protocol`) the token are checked before the upgrade is
 * accepted, so a rejected client costs no session. An admitted connection holds a
 * slot among its IP's open connections until its socket closes, and until its
 * `connect` is accepted it is held to the pre-connect budget (ws-guard.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { WS_BEARER_PREFIX, WS_SUBPROTOCOL, WS_SUBPROTOCOL_MSGPACK } from '@tidings/protocol';
import type { ClientIpResolver } from '../auth/client-ip.js';
import type { Admission } from '../auth/limits.js';
import type { OriginCheck } from '../auth/origin.js';
import type { ConnectionClaims, TokenVerifier } from '../auth/token-verifier.js';
import type { TidingsConfig } from '../config/schema.js';
import { toErrorBody } from '../errors.js';
import { safePath, type Logger } from '../log.js';
import type { Transport, TransportRequestInfo } from './transport.js';
import type { Rejection } from '../wire/http-responses.js';
import type { OutFrame } from '../wire/out-frame.js';
import { decodeMsgpackMessage } from '../wire/msgpack.js';
import { framePath } from './ws-frame-check.js';
import { joinedBinaryFrame, joinedPayload, joinedTextFrame, sharedBinaryFrame, sharedTextFrame, writeFrame, type FramePathSwitch } from './ws-frames.js';
import { PreConnectGuard } from './ws-guard.js';

const SEND_OPTIONS = { binary: false } as const;
const BINARY_OPTIONS = { binary: true } as const;

export class WebSocketTransport implements Transport {
  readonly kind = 'websocket' as const;

  /** Frames are built here unless permessage-deflate was negotiated (then `ws` compresses and frames). */
  private readonly preframe: boolean;
  /** The client negotiated `tidings.v1.msgpack`: frames go as MessagePack in binary messages. */
  readonly msgpack: boolean;
  readonly encoding: 'json' | 'msgpack';
  /** Detaches the pre-connect guard (set by the acceptor; called once, when `connect` is accepted). */
  releaseGuard: (() => void) | undefined;

  /**
   * `socket`: the raw socket the upgrade handed to ws (pre-built frames are written to it);
   * `path`: whether they may be (the process-wide self-test's verdict).
   */
  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Duplex,
    private readonly path: FramePathSwitch = framePath,
  ) {
    this.preframe = ws.extensions === '';
    this.msgpack = ws.protocol === WS_SUBPROTOCOL_MSGPACK;
    this.encoding = this.msgpack ? 'msgpack' : 'json';
  }

  connectAccepted(): void {
    const release = this.releaseGuard;
    this.releaseGuard = undefined;
    release?.();
  }

  write(frames: readonly OutFrame[], bytes: number): void {
    if (this.ws.readyState !== 1) return;
    if (this.msgpack) {
      // Each frame's MessagePack is built once and shared (OutFrame.msgpack); several go back to back in one message.
      // Framed as the JSON path is: a publication's binary frame once, the same bytes to every socket.
      if (this.preframe && this.path.usable && writeFrame(this.ws, this.socket, frames.length === 1 ? sharedBinaryFrame(frames[0]!) : joinedBinaryFrame(frames))) {
        this.path.written++;
        return;
      }
      this.ws.send(frames.length === 1 ? frames[0]!.msgpack : Buffer.concat(frames.map((f) => f.msgpack)), BINARY_OPTIONS);
      return;
    }
    if (this.preframe && this.path.usable) {
      // One frame is most often a publication shared by every subscriber: framed once, written as is.
      const wire = frames.length === 1 ? sharedTextFrame(frames[0]!) : joinedTextFrame(frames, bytes);
      if (writeFrame(this.ws, this.socket, wire)) {
        this.path.written++;
        return;
      }
    }
    this.ws.send(joinedPayload(frames), SEND_OPTIONS);
  }

  /**
   * Bytes written and not yet sent: what ws holds (`bufferedAmount`) and what the socket holds
   * (`writableLength`, public: every frame written to it, ws's and the pre-built ones), the
   * larger of the two, so pre-built frames count toward `client.maxQueueBytes` as ws's do.
   */
  get bufferedBytes(): number {
    return Math.max(this.ws.bufferedAmount, this.socket.writableLength);
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState === 0 || this.ws.readyState === 1) this.ws.close(code, reason);
  }

  terminate(): void {
    this.ws.terminate();
  }
}

/** What the acceptor hands a new connection to. */
export interface WebSocketSessionSink {
  handleMessage(text: string, bytes?: number): void;
  /** Frames already decoded (a MessagePack message), in the JSON form, to validate and run. */
  handleValues(values: unknown[], bytes: number): void;
  handleBadMessage(problem: string): void;
  handleTransportClosed(code: number, reason: string): void;
  /** True once the session's `connect` has been accepted (the pre-connect budget no longer applies). */
  connected(): boolean;
  /** The peer holds more than `client.maxQueueBytes` unread: cut it off as a slow consumer (4006, counted). */
  overflow(): void;
}

export interface WebSocketAcceptorDeps {
  config: TidingsConfig;
  log: Logger;
  verifier: TokenVerifier;
  originAllowed: OriginCheck;
  clientIp: ClientIpResolver;
  /** Checks admission limits for a new connection from `ip`: a rejection, or a slot to release at close. Never rejects. */
  admit(ip: string): Promise<Admission>;
  /** False while the node shuts down: upgrades get 503. */
  accepting: () => boolean;
  createSession(transport: Transport, request: TransportRequestInfo, claims: ConnectionClaims | undefined): WebSocketSessionSink;
  onProtocolError(): void;
  /** A handshake token was refused. */
  onAuthFailure(ip: string, reason: string): void;
  /** A connection was closed by a limit (`limit_hits_total{limit}`). */
  onLimit(limit: string, ip: string): void;
}

const ignoreError = (): void => {};
function destroyOnError(this: Duplex): void {
  this.destroy();
}
/** ws reads the upgrade's first bytes from the socket itself (accept() puts them back): nothing to hand it. */
const NO_HEAD = Buffer.alloc(0);

/** Close code of a connection that exceeded its pre-connect budget or `websocket.maxFragments`. */
const POLICY_VIOLATION = 1008;
/** What `ws` reports when a message exceeds `maxFragments` or `maxBufferedChunks` (public options; documented error code). */
const WS_TOO_MANY_PARTS = 'WS_ERR_TOO_MANY_BUFFERED_PARTS';

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 429: 'Too Many Requests', 503: 'Service Unavailable' };

function refuse(socket: Duplex, r: Rejection): void {
  const body: { code: string; message: string; temporary?: boolean } = { code: r.code, message: r.message };
  if (r.temporary) body.temporary = true;
  rejectUpgrade(socket, r.status, STATUS_TEXT[r.status] ?? 'Error', body);
}

function rejectUpgrade(socket: Duplex, status: number, text: string, body: { code: string; message: string; temporary?: boolean }): void {
  if (socket.destroyed) return;
  const json = JSON.stringify({ error: body });
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `X-Tidings-Error: ${body.code}\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`,
  );
}

/** Splits `Sec-WebSocket-Protocol` into entries. */
function offeredProtocols(req: IncomingMessage): string[] {
  const header = req.headers['sec-websocket-protocol'];
  if (typeof header !== 'string') return [];
  return header.split(',').map((p) => p.trim()).filter((p) => p.length > 0);
}

export class WebSocketAcceptor {
  private readonly wss: WebSocketServer;

  constructor(private readonly deps: WebSocketAcceptorDeps) {
    const ws = deps.config.websocket;
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: ws.maxPayload,
      // Public ws options: frames per message, on every connection.
      maxFragments: ws.maxFragments,
      // ...and socket reads held for an unfinished frame (a peer trickling bytes one TCP read at a time).
      maxBufferedChunks: ws.maxBufferedChunks,
      perMessageDeflate: ws.compression,
      // Pongs are sent by accept() below, so that a peer flooding pings without reading is a slow consumer.
      autoPong: false,
      // Select our subprotocol, MessagePack when offered; never echo the bearer entry (it carries the token).
      handleProtocols: (protocols) =>
        protocols.has(WS_SUBPROTOCOL_MSGPACK) ? WS_SUBPROTOCOL_MSGPACK : protocols.has(WS_SUBPROTOCOL) ? WS_SUBPROTOCOL : false,
    });
  }

  /** True when the request was for our path (and is now handled, accepted or rejected). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const path = safePath(req.url);
    if (path !== this.deps.config.websocket.path) return false;
    // A shared function, not a closure: one made here would keep this scope (the request) alive as long as the socket.
    socket.on('error', destroyOnError);
    if (!this.deps.accepting()) {
      rejectUpgrade(socket, 503, 'Service Unavailable', { code: 'unavailable', message: 'server is shutting down', temporary: true });
      return true;
    }
    const origin = typeof req.headers.origin === 'string' ? req.headers.origin : undefined;
    if (!this.deps.originAllowed(origin, req.headers.host)) {
      this.deps.log.info({ path, origin }, 'websocket origin rejected');
      rejectUpgrade(socket, 403, 'Forbidden', { code: 'forbidden', message: 'origin not allowed' });
      return true;
    }
    const ip = this.deps.clientIp(req);
    // Admission asks the shared limits (bounded in time by NodeLimits). Meanwhile the socket is
    // not read (nothing listens to 'data' until ws takes it), so what the client sends waits in
    // the socket's bounded buffer and the kernel's, then reaches the pre-connect guard.
    this.deps.admit(ip).then((admission) => {
      if (admission.rejection) {
        refuse(socket, admission.rejection);
        return;
      }
      // The IP's slot is held until the socket closes, whatever happens before or after the
      // upgrade; a socket that went away while admission was pending gives it back now.
      if (socket.destroyed) {
        admission.release();
        return;
      }
      // 'close' comes once and release is idempotent: `on`, not `once` (no wrapper and bound function per connection).
      socket.on('close', admission.release);
      if (!this.deps.accepting()) {
        rejectUpgrade(socket, 503, 'Service Unavailable', { code: 'unavailable', message: 'server is shutting down', temporary: true });
        return;
      }
      this.admitted(req, socket, head, ip, path);
    }).catch((err: Error) => {
      // Not expected (admission never rejects): the socket goes, the process stays.
      this.deps.log.warn({ path, err: err.message }, 'websocket upgrade failed');
      socket.destroy();
    });
    return true;
  }

  /** The rest of the handshake once the connection holds its IP slot: subprotocols, then the token. */
  private admitted(req: IncomingMessage, socket: Duplex, head: Buffer, ip: string, path: string): void {
    const offered = offeredProtocols(req);
    const bearer = offered.find((p) => p.startsWith(WS_BEARER_PREFIX));
    if (bearer === undefined) {
      this.accept(req, socket, head, ip, undefined);
      return;
    }
    if (!offered.includes(WS_SUBPROTOCOL) && !offered.includes(WS_SUBPROTOCOL_MSGPACK)) {
      rejectUpgrade(socket, 400, 'Bad Request', {
        code: 'bad_request',
        message: `offer "${WS_SUBPROTOCOL}" beside the bearer entry in Sec-WebSocket-Protocol`,
      });
      return;
    }
    this.deps.verifier.verifyConnection(bearer.slice(WS_BEARER_PREFIX.length)).then(
      (claims) => this.accept(req, socket, head, ip, claims),
      (err) => {
        const body = toErrorBody(err);
        this.deps.log.info({ path, code: body.code }, 'websocket handshake token rejected');
        this.deps.onAuthFailure(ip, body.message);
        const unavailable = body.temporary && body.code !== 'token_expired';
        rejectUpgrade(socket, unavailable ? 503 : 401, unavailable ? 'Service Unavailable' : 'Unauthorized', body);
      },
    );
  }

  /**
   * A plain HTTP request (no upgrade) on our path: 426 Upgrade Required, so that a client
   * probing the URL (the browser SDK, whose failed handshakes hide their status) tells "the
   * endpoint is here" from a wrong URL, which answers 404. False for any other path.
   */
  handlePlainRequest(req: IncomingMessage, res: ServerResponse): boolean {
    if (safePath(req.url) !== this.deps.config.websocket.path) return false;
    const json = JSON.stringify({ error: { code: 'bad_request', message: 'this is the WebSocket endpoint: connect with a WebSocket upgrade' } });
    res.writeHead(426, { connection: 'Upgrade', upgrade: 'websocket', 'content-type': 'application/json', 'x-tidings-error': 'bad_request', 'content-length': Buffer.byteLength(json) });
    res.end(req.method === 'HEAD' ? undefined : json);
    return true;
  }

  /**
   * An upgrade that no one on this server takes (not our path, and no other `upgrade`
   * listener): 404 naming our path, and one log line, instead of a socket left hanging.
   */
  refuseUnknownPath(req: IncomingMessage, socket: Duplex): void {
    const path = safePath(req.url).slice(0, 200);
    const endpoint = this.deps.config.websocket.path;
    this.deps.log.info({ path, endpoint }, 'websocket upgrade on an unknown path');
    socket.on('error', () => socket.destroy());
    rejectUpgrade(socket, 404, 'Not Found', { code: 'not_found', message: `no WebSocket endpoint at ${path}; the Tidings endpoint is ${endpoint}` });
  }

  private accept(req: IncomingMessage, socket: Duplex, head: Buffer, ip: string, claims: ConnectionClaims | undefined): void {
    if (socket.destroyed) return;
    void framePath.check(this.deps.log);
    // The bytes that came with the upgrade request go back into the socket, so that they
    // reach the guard and ws through 'data' like everything after them.
    if (head.length > 0) socket.unshift(head);
    const request: TransportRequestInfo = { remoteAddress: ip, headers: req.headers, path: safePath(req.url) };
    // The connection's handlers are made in open(), out of this scope: they keep neither the
    // request (IncomingMessage, raw headers) nor the handshake's other leftovers alive.
    this.wss.handleUpgrade(req, socket, NO_HEAD, (ws) => this.open(ws, socket, ip, request, claims));
  }

  /** A connection past its handshake: its session, the pre-connect guard and the socket's handlers. */
  private open(ws: WebSocket, socket: Duplex, ip: string, request: TransportRequestInfo, claims: ConnectionClaims | undefined): void {
    const transport = new WebSocketTransport(ws, socket);
    const session = this.deps.createSession(transport, request, claims);
    this.guard(ws, socket, ip, session, transport);
    ws.on('message', (data, isBinary) => {
      if (!isBinary) session.handleMessage(data.toString(), (data as Buffer).length);
      else if (!transport.msgpack) session.handleBadMessage('binary messages need the tidings.v1.msgpack subprotocol');
      else this.binaryMessage(session, data as Buffer);
    });
    ws.on('ping', (data: Buffer) => {
      // A peer that pings and reads nothing makes its pongs pile up here: past client.maxQueueBytes
      // it is a slow consumer like any other (ws alone would cut it off with 1006, uncounted).
      if (ws.readyState !== 1) return;
      if (transport.bufferedBytes > this.deps.config.client.maxQueueBytes) session.overflow();
      else ws.pong(data, false, ignoreError);
    });
    ws.on('error', (err: Error & { code?: string }) => {
      // ws closes the socket itself after a protocol error (1009 too big, 1007 bad UTF-8, 1008 too many fragments, ...).
      this.deps.onProtocolError();
      // ws reports both limits with one code; the message tells them apart.
      if (err.code === WS_TOO_MANY_PARTS) this.deps.onLimit(err.message.includes('chunks') ? 'websocket_buffered_chunks' : 'websocket_fragments', ip);
      this.deps.log.debug({ problem: err.code ?? err.message }, 'websocket error');
    });
    ws.on('close', (code, reason) => session.handleTransportClosed(code, reason.toString()));
  }

  /** A MessagePack connection's binary message; malformed MessagePack closes it as a bad frame does (4501). */
  private binaryMessage(session: WebSocketSessionSink, data: Buffer): void {
    let values: unknown[];
    try {
      values = decodeMsgpackMessage(data);
    } catch (err) {
      // MalformedMessagePack, or anything else the decoder threw: the connection goes, never the process.
      session.handleBadMessage(`malformed MessagePack: ${(err as Error).message}`);
      return;
    }
    session.handleValues(values, data.length);
  }

  /**
   * Holds the connection to the pre-connect budget until its `connect` is accepted: the
   * guard reads the raw socket's 'data' ahead of ws and detaches when `connect` is accepted
   * (the transport's connectAccepted: an idle connection keeps none of it), or at close.
   * Over budget, the connection is closed with 1008 and stops being read, so nothing more
   * reaches ws or the session.
   */
  private guard(ws: WebSocket, socket: Duplex, ip: string, session: WebSocketSessionSink, transport: WebSocketTransport): void {
    const { preConnectBytes, preConnectFrames } = this.deps.config.websocket;
    if (preConnectBytes === 0 && preConnectFrames === 0) return;
    const guard = new PreConnectGuard({ maxBytes: preConnectBytes, maxFrames: preConnectFrames });
    let linger: NodeJS.Timeout | undefined;
    const onData = (chunk: Buffer): void => {
      if (session.connected()) {
        socket.off('data', onData);
        return;
      }
      const violation = guard.take(chunk);
      if (!violation) return;
      socket.off('data', onData);
      this.deps.onLimit(violation.limit, ip);
      this.deps.log.debug({ ip, limit: violation.limit, ...guard.counted }, 'websocket closed before connect');
      ws.pause();
      ws.close(POLICY_VIOLATION, violation.reason);
      // Not read any more, so its close reply is not awaited: cut off after client.closeTimeout.
      linger = setTimeout(() => ws.terminate(), this.deps.config.client.closeTimeout);
      linger.unref();
      session.handleTransportClosed(POLICY_VIOLATION, violation.reason);
    };
    const onClose = (): void => {
      socket.off('data', onData);
      clearTimeout(linger);
    };
    socket.prependListener('data', onData);
    ws.once('close', onClose);
    transport.releaseGuard = () => {
      socket.off('data', onData);
      ws.off('close', onClose);
    };
  }

  close(): void {
    this.wss.close();
  }
}
