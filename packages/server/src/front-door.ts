/**
 * Everything that comes into a node: HTTP requests and WebSocket upgrades, routed to the
 * HTTP transports (SSE, long-polling), the dashboard, the Prometheus endpoint and the server
 * API, in that order; every new connection, on any transport, becomes a Session. It also owns
 * the servers the node started (`listen`) and the first steps of a graceful shutdown.
 *
 * node.ts builds it with the parts it needs; nothing else imports it.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { CloseCode, ErrorCode } from '@tidings/protocol';
import { Dashboard } from './api/dashboard.js';
import { attachHandlers, closeHttpServer, createGuardedServer } from './api/http-server.js';
import { createLandingPage, type LandingOptions } from './api/landing.js';
import { ServerApi, type ApiParts } from './api/server-api.js';
import type { ClientIpResolver } from './auth/client-ip.js';
import type { NodeLimits } from './auth/limits.js';
import { createOriginCheck } from './auth/origin.js';
import type { ConnectionClaims, TokenVerifier } from './auth/token-verifier.js';
import type { TidingsConfig } from './config/schema.js';
import type { Logger } from './log.js';
import type { AuditSink } from './ops/audit.js';
import type { NodeMetrics } from './ops/metrics.js';
import type { SessionServices } from './session/services.js';
import { Session, type CommandTable } from './session/session.js';
import type { SessionForwarding } from './transport/http-forwarding.js';
import { HttpTransportAcceptor } from './transport/http-transports.js';
import type { Transport, TransportRequestInfo } from './transport/transport.js';
import { WebSocketAcceptor } from './transport/websocket.js';
import { VERSION } from './version.js';
import { createCorsPolicy, type CorsPolicy } from './wire/cors.js';
import { sendError } from './wire/http-responses.js';

export interface ListenOptions {
  /** Answers the requests that are not Tidings' (an app's own routes); default: JSON `not_found`. */
  onRequest?: (req: IncomingMessage, res: ServerResponse) => void;
  /** Serve the landing page at `GET /` for HTML clients (api/landing.ts); `tidings dev` does. */
  landing?: LandingOptions;
}

export interface FrontDoorDeps {
  config: TidingsConfig;
  log: Logger;
  verifier: TokenVerifier;
  clientIp: ClientIpResolver;
  limits: NodeLimits;
  services: SessionServices;
  /** What each session does with each command (session/commands.ts). */
  commands: CommandTable;
  audit: AuditSink;
  metrics: NodeMetrics;
  /** What the server API acts through. */
  api: ApiParts;
  limitHit(limit: string, details: { ip?: string }): void;
  /** The node bus for HTTP-session requests that reach this node for a session of another. */
  forwarding?: SessionForwarding;
}

export class FrontDoor {
  readonly dashboard: Dashboard;
  readonly api: ServerApi;
  /** True once shutdown began: new connections are refused, answered requests close their connection. */
  closing = false;
  private readonly websocket: WebSocketAcceptor;
  private readonly http: HttpTransportAcceptor;
  private readonly ownServers: Server[] = [];
  /** Every open connection, including those that have not sent `connect` yet (the hub holds only connected ones). */
  private readonly connections = new Set<Session>();
  /** CORS of the generic 404, so a cross-origin page's client can tell a wrong path from an outage. */
  private readonly cors: CorsPolicy;

  constructor(private readonly deps: FrontDoorDeps) {
    const { config, log, clientIp, audit, metrics, limitHit } = deps;
    const originAllowed = createOriginCheck(config.allowedOrigins);
    this.cors = createCorsPolicy(config.allowedOrigins);
    const badRequest = () => {
      deps.services.counters.badRequests++;
      metrics.error('bad_request');
    };
    const shared = {
      config,
      log,
      originAllowed,
      clientIp,
      admit: (ip: string) => deps.limits.admit(ip, this.connections.size),
      accepting: () => !this.closing,
      createSession: (transport: Transport, request: TransportRequestInfo, claims: ConnectionClaims | undefined) => this.openSession(transport, request, claims),
    };
    this.websocket = new WebSocketAcceptor({
      ...shared,
      verifier: deps.verifier,
      onProtocolError: badRequest,
      onAuthFailure: (ip, reason) => audit.emit({ type: 'auth_failure', ip, transport: 'websocket', reason }),
      onLimit: (limit, ip) => limitHit(limit, { ip }),
    });
    this.http = new HttpTransportAcceptor({
      ...shared,
      verifier: () => deps.verifier,
      onBadRequest: badRequest,
      onAuthFailure: (ip, transport, reason) => audit.emit({ type: 'auth_failure', ip, transport, reason }),
      ...(deps.forwarding ? { forwarding: deps.forwarding } : {}),
    });
    this.dashboard = new Dashboard({ config, log, clientIp, audit, limits: deps.limits.shared });
    this.api = new ServerApi(deps.api, log, { metrics, audit, originAllowed, sessionKey: (req) => this.dashboard.apiKeyOf(req) });
  }

  /** A new connection on any transport becomes a Session. */
  private openSession(transport: Transport, request: TransportRequestInfo, claims: ConnectionClaims | undefined) {
    const session = new Session(this.deps.services, this.deps.commands, transport, request, claims);
    this.connections.add(session);
    return new SessionSink(session, this.connections);
  }

  /** Answers a request for the HTTP transports, the dashboard, metrics or the server API (426 on the WebSocket path); false when the path is not Tidings'. */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    return this.websocket.handlePlainRequest(req, res) || this.http.handleRequest(req, res) || this.dashboard.handle(req, res) || this.api.handleMetrics(req, res) || this.api.handle(req, res);
  }

  /** Answers an HTTP-session request another node forwarded over the bus (transport/http-forwarding.ts). */
  answerForwarded(message: unknown): Promise<unknown> {
    return this.http.answerForwarded(message);
  }

  /** Takes a WebSocket upgrade for Tidings' path; false when the path is not Tidings'. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    return this.websocket.handleUpgrade(req, socket, head);
  }

  /** Routes Tidings' paths on `server` here and leaves the rest to the server's own handlers. */
  attach(server: Server): void {
    attachHandlers(server, {
      handleRequest: (req, res) => this.handleRequest(req, res),
      handleUpgrade: (req, socket, head) => this.handleUpgrade(req, socket, head),
      refuseUpgrade: (req, socket) => this.websocket.refuseUnknownPath(req, socket),
      notFound: (req, res) => this.notFound(req, res),
      closing: () => this.closing,
    });
  }

  /**
   * A path nobody takes: 404, with CORS headers for an allowed origin, so the browser client's
   * endpoint probe (a plain GET of its WebSocket URL) sees the status from another origin.
   */
  notFound(req: IncomingMessage, res: ServerResponse): void {
    sendError(res, ErrorCode.NotFound, 'not found', { headers: this.cors(req.headers.origin, req.headers.host) });
  }

  /** Starts a server of this node's own (closed by `close`); resolves with the bound address. */
  async listen(port: number, host: string, options: ListenOptions = {}): Promise<AddressInfo> {
    const server = createGuardedServer(this.deps.config.limits.handshakeTimeout, (ip) => this.deps.limitHit('handshake_timeout', { ip }));
    const { onRequest } = options;
    const landing = options.landing && createLandingPage(this.deps.config, options.landing);
    if (landing) {
      server.on('request', (req: IncomingMessage, res: ServerResponse) => {
        if (landing(req, res)) return;
        if (onRequest) onRequest(req, res);
        else this.notFound(req, res);
      });
    } else if (onRequest) server.on('request', onRequest);
    this.attach(server);
    this.ownServers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    this.deps.log.info({ host: address.address, port: address.port, version: VERSION }, 'tidings listening');
    return address;
  }

  /**
   * The front half of a graceful shutdown: refuse new connections, tell every client to
   * reconnect (after `shutdown.reconnectDelay`, jittered per client to spread the reconnect
   * storm), let in-flight requests finish and close the servers this node started, cutting
   * off peers that do not complete the close handshake after `shutdown.timeout`.
   */
  async close(): Promise<void> {
    this.closing = true;
    const { reconnectDelay: delay, timeout } = this.deps.config.shutdown;
    const sessions = [...this.connections];
    for (const session of sessions) {
      session.disconnect(CloseCode.Shutdown, { delay: Math.round(delay / 2 + Math.random() * delay) });
    }
    const cutoff = setTimeout(() => sessions.forEach((s) => s.transport.terminate()), timeout);
    cutoff.unref();
    await Promise.all(this.ownServers.map((server) => closeHttpServer(server, timeout)));
    clearTimeout(cutoff);
    this.websocket.close();
    this.http.close();
  }
}

/**
 * What a transport holds of its session: one small object per connection rather than a closure
 * per method (issue 18: idle memory per connection). The connection leaves `connections` when its
 * transport closes.
 */
class SessionSink {
  constructor(
    private readonly session: Session,
    private readonly connections: Set<Session>,
  ) {}

  handleMessage(text: string, bytes?: number): void {
    this.session.handleMessage(text, bytes);
  }

  handleValues(values: unknown[], bytes: number): void {
    this.session.handleValues(values, bytes);
  }

  handleBadMessage(problem: string): void {
    this.session.handleBadMessage(problem);
  }

  handleTransportClosed(code: number, reason: string): void {
    this.connections.delete(this.session);
    this.session.handleTransportClosed(code, reason);
  }

  user(): string {
    return this.session.user;
  }

  connected(): boolean {
    return this.session.state === 'connected';
  }

  overflow(): void {
    this.session.overflow();
  }
}
