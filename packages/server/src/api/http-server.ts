/**
 * Tidings on a `node:http` server: the one it starts (`listen`) or the app's own (`attach`).
 */
import { createServer, ServerResponse, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';

export interface HttpHandlers {
  /** True when the request was Tidings' (and is being answered). */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean;
  /** True when the upgrade was Tidings' (and is being handled). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Answers an upgrade that nobody on the server takes (404 with a hint). */
  refuseUpgrade(req: IncomingMessage, socket: Duplex): void;
  /** Answers a request that nobody on the server takes (404, with CORS headers for an allowed origin). */
  notFound(req: IncomingMessage, res: ServerResponse): void;
  /** While shutting down, answered requests close their connection. */
  closing(): boolean;
}

/**
 * Routes Tidings' paths to Tidings and everything else to the server's own
 * request listeners (taken over from the server, as Socket.IO does).
 */
export function attachHandlers(server: Server, handlers: HttpHandlers): void {
  const previous = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (handlers.closing()) res.setHeader('connection', 'close');
    if (handlers.handleRequest(req, res)) return;
    if (previous.length === 0) handlers.notFound(req, res);
    for (const listener of previous) listener.call(server, req, res);
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (handlers.handleUpgrade(req, socket, head)) return;
    // Another upgrade listener (an app's own WebSocket endpoints) may want it; if none does,
    // answer it rather than leave the socket hanging.
    if (server.listenerCount('upgrade') === 1) handlers.refuseUpgrade(req, socket);
  });
}

/**
 * Sockets with a response in progress (a request read, its response not yet finished or
 * closed), with how many: a client error on such a socket must not write a response of its
 * own into the middle of that one.
 */
const responding = new WeakMap<Duplex, number>();

/**
 * The server's responses (http.createServer's public `ServerResponse` option): each one
 * counts its socket as responding from its request until it finishes or closes.
 */
class TrackedResponse extends ServerResponse {
  constructor(req: IncomingMessage, ...rest: unknown[]) {
    // Node passes options (highWaterMark, ...) after the request: handed on as they are.
    super(...([req, ...rest] as [IncomingMessage]));
    const socket = req.socket;
    responding.set(socket, (responding.get(socket) ?? 0) + 1);
    let done = false;
    const finished = (): void => {
      if (done) return;
      done = true;
      const left = (responding.get(socket) ?? 1) - 1;
      if (left > 0) responding.set(socket, left);
      else responding.delete(socket);
    };
    this.once('finish', finished);
    this.once('close', finished);
  }
}

/**
 * A server whose peers must finish their request headers (a WebSocket handshake
 * too) within `handshakeTimeoutMs`: slowloris connections get 408 and are closed.
 */
export function createGuardedServer(handshakeTimeoutMs: number, onHandshakeTimeout: (ip: string) => void): Server {
  const server = createServer({ ServerResponse: TrackedResponse, connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(handshakeTimeoutMs / 2))) });
  server.headersTimeout = handshakeTimeoutMs;
  server.requestTimeout = Math.max(handshakeTimeoutMs, 30_000);
  server.keepAliveTimeout = 5000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex & { remoteAddress?: string }) => {
    // Taking this event over from Node means answering the socket ourselves.
    const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (timedOut) onHandshakeTimeout(socket.remoteAddress ?? '');
    // A response already in progress on the socket: ours would land inside it, so the socket just goes.
    if (socket.writable && !responding.has(socket)) {
      const response = timedOut ? 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n' : 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';
      socket.end(response, () => socket.destroy());
    } else {
      socket.destroy();
    }
  });
  return server;
}

/** Stops accepting, lets in-flight requests finish, and cuts everything off after `timeoutMs`. */
export function closeHttpServer(server: Server, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const force = setTimeout(() => server.closeAllConnections(), timeoutMs);
    force.unref();
    // Keep-alive connections that finish their last request after close() began go idle later.
    const sweep = setInterval(() => server.closeIdleConnections(), 100);
    sweep.unref();
    server.close(() => {
      clearTimeout(force);
      clearInterval(sweep);
      resolve();
    });
    server.closeIdleConnections();
  });
}
