/**
 * The WebSocket transport (`ws`). Only this folder imports `ws`.
 *
 * The upgrade is ours: path, origin and (when the client sends one in
 * `Sec-WebSocket-Protocol`) the token are checked before the upgrade is
 * accepted, so a rejected client costs no session.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { WS_BEARER_PREFIX, WS_SUBPROTOCOL } from '@tidings/protocol';
import type { ClientIpResolver } from '../auth/client-ip.js';
import type { OriginCheck } from '../auth/origin.js';
import type { ConnectionClaims, TokenVerifier } from '../auth/token-verifier.js';
import type { TidingsConfig } from '../config/schema.js';
import { toErrorBody } from '../errors.js';
import { safePath, type Logger } from '../log.js';
import type { Transport, TransportRequestInfo } from './transport.js';
import type { OutFrame } from '../hub/out-frame.js';
import { joinedPayload, joinedTextFrame, sharedTextFrame, writeFrame } from './ws-frames.js';

const SEND_OPTIONS = { binary: false } as const;

export class WebSocketTransport implements Transport {
  readonly kind = 'websocket' as const;

  /** Frames are built here unless permessage-deflate was negotiated (then `ws` compresses and frames). */
  private readonly preframe: boolean;

  constructor(private readonly ws: WebSocket) {
    this.preframe = ws.extensions === '';
  }

  write(frames: readonly OutFrame[], bytes: number): void {
    if (this.ws.readyState !== 1) return;
    if (this.preframe) {
      // One frame is most often a publication shared by every subscriber: framed once, written as is.
      const wire = frames.length === 1 ? sharedTextFrame(frames[0]!) : joinedTextFrame(frames, bytes);
      if (writeFrame(this.ws, wire)) return;
    }
    this.ws.send(joinedPayload(frames), SEND_OPTIONS);
  }

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
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
  handleBadMessage(problem: string): void;
  handleTransportClosed(code: number, reason: string): void;
}

export interface WebSocketAcceptorDeps {
  config: TidingsConfig;
  log: Logger;
  verifier: TokenVerifier;
  originAllowed: OriginCheck;
  clientIp: ClientIpResolver;
  /** Checks node-wide admission limits for a new connection from `ip`; returns the rejection, if any. */
  admit(ip: string): Rejection | undefined;
  /** False while the node shuts down: upgrades get 503. */
  accepting: () => boolean;
  createSession(transport: Transport, request: TransportRequestInfo, claims: ConnectionClaims | undefined): WebSocketSessionSink;
  onProtocolError(): void;
  /** A handshake token was refused. */
  onAuthFailure(ip: string, reason: string): void;
}

/** Why an upgrade is refused: HTTP status and the error body. */
export interface Rejection {
  status: number;
  code: string;
  message: string;
  temporary?: boolean;
}

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
      perMessageDeflate: ws.compression,
      // Select our subprotocol; never echo the bearer entry (it carries the token).
      handleProtocols: (protocols) => (protocols.has(WS_SUBPROTOCOL) ? WS_SUBPROTOCOL : false),
    });
  }

  /** True when the request was for our path (and is now handled, accepted or rejected). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const path = safePath(req.url);
    if (path !== this.deps.config.websocket.path) return false;
    socket.on('error', () => socket.destroy());
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
    const rejection = this.deps.admit(ip);
    if (rejection) {
      refuse(socket, rejection);
      return true;
    }
    const offered = offeredProtocols(req);
    const bearer = offered.find((p) => p.startsWith(WS_BEARER_PREFIX));
    if (bearer === undefined) {
      this.accept(req, socket, head, ip, undefined);
      return true;
    }
    if (!offered.includes(WS_SUBPROTOCOL)) {
      rejectUpgrade(socket, 400, 'Bad Request', {
        code: 'bad_request',
        message: `offer "${WS_SUBPROTOCOL}" beside the bearer entry in Sec-WebSocket-Protocol`,
      });
      return true;
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
    return true;
  }

  private accept(req: IncomingMessage, socket: Duplex, head: Buffer, ip: string, claims: ConnectionClaims | undefined): void {
    if (socket.destroyed) return;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const transport = new WebSocketTransport(ws);
      const request: TransportRequestInfo = {
        remoteAddress: ip,
        headers: req.headers,
        path: safePath(req.url),
      };
      const session = this.deps.createSession(transport, request, claims);
      ws.on('message', (data, isBinary) => {
        if (isBinary) session.handleBadMessage('binary messages are not part of protocol v1');
        else session.handleMessage(data.toString(), (data as Buffer).length);
      });
      ws.on('error', (err: Error & { code?: string }) => {
        // ws closes the socket itself after a protocol error (1009 too big, 1007 bad UTF-8, ...).
        this.deps.onProtocolError();
        this.deps.log.debug({ problem: err.code ?? err.message }, 'websocket error');
      });
      ws.on('close', (code, reason) => session.handleTransportClosed(code, reason.toString()));
    });
  }

  close(): void {
    this.wss.close();
  }
}
