/**
 * A Session is one client connection as the protocol sees it: its identity, its
 * subscriptions, its outgoing queue and the dispatch of its commands. It knows
 * nothing of WebSocket: a Transport feeds it messages and writes what it flushes.
 *
 * Commands of one connection run one after another, in arrival order, so a
 * client may pipeline `connect`, `subscribe` and `publish` in one message.
 */
import { randomUUID } from 'node:crypto';
import {
  CloseCode,
  CloseReason,
  ErrorCode,
  closeCodeIsTerminal,
  closeCodeReconnects,
  decodeClientMessage,
  validateClientFrame,
  encodeError,
  encodeFrame,
  encodeResult,
  type ClientFrame,
  type ClientInfo,
  type Command,
  type Decoded,
  type ErrorBody,
  type PresenceStatus,
} from '@tidings/protocol';
import type { Principal } from '../auth/channel-policy.js';
import { StrikeCounter } from '../auth/rate-limit.js';
import { TokenBucket } from '../token-bucket.js';
import type { ConnectionClaims } from '../auth/token-verifier.js';
import { TidingsError, toErrorBody } from '../errors.js';
import { HookDisconnect, type ConnectionContext } from '../hooks.js';
import type { Flushable } from '../wire/flusher.js';
import type { HubSession } from '../hub/hub.js';
import { OutFrame } from '../wire/out-frame.js';
import type { Transport, TransportRequestInfo } from '../transport/transport.js';
import { HookTimers } from './hook-timers.js';
import { livenessWheel, type LivenessKind, type LivenessOwner, type LivenessWheel } from './liveness.js';
import { expiryWheel, type ExpiryOwner } from './expiry-wheel.js';
import type { SessionServices } from './services.js';
import { connectionClosed, subscriptionCreated, subscriptionRemoved, type SubscriptionEndReason } from './session-webhooks.js';
import type { Subscription, SubscriptionOwner } from './subscription.js';

export type SessionState = 'connecting' | 'connected' | 'closed';

/** Runs one command of a session (replies, or throws a TidingsError that becomes the error reply). */
export type CommandHandler<C extends Command = Command> = (session: Session, cmd: C) => Promise<void>;

/**
 * What a session does with each command type. The session does not import it: the
 * composition root passes the table in (session/commands.ts), so commands may know
 * the session without the session knowing them.
 */
export type CommandTable = { readonly [T in Command['type']]: CommandHandler<Extract<Command, { type: T }>> };

const PING = OutFrame.fromText(encodeFrame({ type: 'ping' }));

export class Session implements HubSession, Flushable, SubscriptionOwner, LivenessOwner, ExpiryOwner {
  readonly id = randomUUID();
  readonly connectedAt = Date.now();
  state: SessionState = 'connecting';
  user = '';
  info: Record<string, unknown> | undefined;
  roles: readonly string[] = [];
  /** Token expiry, ms since the epoch. */
  expiresAt: number | undefined;
  clientName: string | undefined;
  clientVersion: string | undefined;
  /** What a connect hook sends in the connect reply (`data`). */
  connectData: unknown;
  readonly subs = new Map<string, Subscription>();
  /** This connection's status (`status` command); the user's status aggregates it. */
  status: PresenceStatus = 'online';

  private readonly queue: OutFrame[] = [];
  private queuedBytes = 0;
  /** Hot-path settings, read once (client.maxQueueBytes, the node's flusher). */
  private readonly maxQueueBytes: number;
  /** Frames go as MessagePack: their size is OutFrame.msgpack's (encoded once, shared), not the JSON length. */
  private readonly msgpack: boolean;
  private readonly flusher: SessionServices['flusher'];
  private scheduled = false;
  private chain: Promise<void> = Promise.resolve();
  /** A fatal frame arrived: earlier commands finish and get their replies, then the connection closes. */
  private doomed = false;
  /** Commands per second (limits.commandRate); undefined when unlimited. */
  private readonly commandBucket: TokenBucket | undefined;
  /** `rate_limited` answers in the last 10 s; past limits.rateLimitStrikes the connection is closed. Made at the first. */
  private strikes: StrikeCounter | undefined;
  /** The node's shared timer for the connect timeout, pings and pongs (session/liveness.ts): no timer per connection. */
  private readonly liveness: LivenessWheel;
  /** The deadline this session waits for in the wheel (0: none). */
  livenessDue = 0;
  private awaitingPong = false;
  /** Token expiry waits in the node's one expiry heap (session/expiry-wheel.ts), not in a timer of its own. */
  expiryDue = 0;
  expiryIndex = -1;
  /** Expiries set by hooks: the server-side refresh of the connection and of subscriptions (session/hook-timers.ts). */
  readonly hookTimers = new HookTimers(this);

  constructor(
    readonly services: SessionServices,
    /** The command table (session/commands.ts), injected. */
    private readonly commands: CommandTable,
    readonly transport: Transport,
    readonly request: TransportRequestInfo,
    /** Claims verified from the handshake token, before the upgrade was accepted. */
    readonly handshakeClaims?: ConnectionClaims,
  ) {
    this.liveness = livenessWheel(services, (kind: LivenessKind) => {
      const c = services.config.client;
      return kind === 'connect' ? c.connectTimeout : kind === 'ping' ? c.pingInterval : c.pongTimeout;
    });
    this.liveness.arm(this, 'connect');
    this.maxQueueBytes = services.config.client.maxQueueBytes;
    this.msgpack = transport.encoding === 'msgpack';
    this.flusher = services.flusher;
    const { commandRate } = services.config.limits;
    if (commandRate > 0) this.commandBucket = new TokenBucket(commandRate, commandRate * 2);
  }

  /** True once the session ended (checked after every await). */
  get closed(): boolean {
    return this.state === 'closed';
  }

  get principal(): Principal {
    return { user: this.user, roles: this.roles };
  }

  /** How this connection appears to others (publisher info, presence). */
  get clientInfo(): ClientInfo {
    return this.info ? { user: this.user, client: this.id, info: this.info } : { user: this.user, client: this.id };
  }

  get context(): ConnectionContext {
    const ctx: ConnectionContext = {
      client: this.id,
      user: this.user,
      roles: this.roles,
      transport: this.transport.kind,
      remoteAddress: this.request.remoteAddress,
      headers: this.request.headers,
    };
    if (this.info) ctx.info = this.info;
    if (this.clientName) ctx.name = this.clientName;
    if (this.clientVersion) ctx.version = this.clientVersion;
    return ctx;
  }

  // ------------------------------------------------------------ input

  /** One message from the transport: one or more frames (`bytes`: its size on the wire). */
  handleMessage(text: string, bytes = text.length): void {
    if (this.state === 'closed' || this.doomed) return;
    this.take(decodeClientMessage(text), bytes);
  }

  /** One message whose frames the transport decoded (MessagePack), in the JSON form. */
  handleValues(values: readonly unknown[], bytes: number): void {
    if (this.state === 'closed' || this.doomed) return;
    this.take(values.map(validateClientFrame), bytes);
  }

  private take(frames: readonly Decoded<ClientFrame>[], bytes: number): void {
    this.services.metrics.bytesIn(bytes);
    this.markAlive();
    for (const decoded of frames) {
      if (!decoded.ok) {
        this.services.counters.badRequests++;
        if (decoded.fatal || decoded.id === undefined) {
          this.services.log.debug({ client: this.id, problem: decoded.error.message }, 'bad frame');
          this.doomed = true;
          this.chain = this.chain.then(() => this.disconnect(CloseCode.BadRequest));
          return;
        }
        // Through the chain too, so replies keep command order.
        const { id, error } = decoded;
        this.chain = this.chain.then(() => this.replyError(id, error));
        continue;
      }
      const frame = decoded.frame;
      if (frame.type === 'pong') continue;
      if (this.commandBucket && !this.commandBucket.take()) {
        this.chain = this.chain.then(() => this.rateLimited(frame.id, 'command_rate', 'too many commands (limits.commandRate)'));
        continue;
      }
      this.chain = this.chain.then(() => this.execute(frame));
    }
  }

  /** A message the transport could not accept (binary frames in v1, bad UTF-8). */
  handleBadMessage(problem: string): void {
    this.services.counters.badRequests++;
    this.services.log.debug({ client: this.id, problem }, 'bad message');
    this.disconnect(CloseCode.BadRequest);
  }

  private async execute(cmd: Command): Promise<void> {
    if (this.state === 'closed') return;
    if (this.state === 'connecting' && cmd.type !== 'connect') {
      this.services.counters.badRequests++;
      this.replyError(cmd.id, { code: ErrorCode.NotConnected, message: 'send connect first' });
      this.disconnect(CloseCode.BadRequest);
      return;
    }
    this.services.metrics.commandReceived(cmd.type);
    try {
      await this.commands[cmd.type](this, cmd as never);
    } catch (err) {
      if (this.closed) return;
      if (err instanceof HookDisconnect) return this.disconnect(err.code, { reason: err.reason });
      if (!(err instanceof TidingsError)) this.services.log.error({ err, client: this.id, command: cmd.type }, 'command failed');
      this.replyError(cmd.id, toErrorBody(err));
    }
  }

  /**
   * Answers a command over a rate limit with a temporary `rate_limited` error;
   * sustained abuse (limits.rateLimitStrikes within 10 s) closes with 4008.
   */
  rateLimited(id: number, limit: string, message: string): void {
    if (this.state === 'closed') return;
    this.services.limitHit(limit, { user: this.user, client: this.id, ip: this.request.remoteAddress });
    this.replyError(id, { code: ErrorCode.RateLimited, message, temporary: true });
    this.strikes ??= new StrikeCounter(this.services.config.limits.rateLimitStrikes, 10_000);
    if (this.strikes.strike()) this.disconnect(CloseCode.RateLimit);
  }

  // ------------------------------------------------------------ output

  reply(id: number, result: unknown): void {
    this.push(OutFrame.fromText(encodeResult(id, result)));
  }

  replyError(id: number, error: ErrorBody): void {
    this.services.metrics.error(error.code);
    this.push(OutFrame.fromText(encodeError(id, error)));
  }

  /**
   * Queues an encoded frame; the queue is written as one message at the end of the turn.
   * The bound counts what this turn queued here; `flush` adds what the socket still holds.
   */
  push(frame: OutFrame): void {
    if (this.state === 'closed') return;
    this.queue.push(frame);
    this.queuedBytes += this.msgpack ? frame.msgpack.length : frame.length;
    if (this.queuedBytes > this.maxQueueBytes) {
      this.slow();
      return;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      this.flusher.schedule(this);
    }
  }

  /** Writes everything queued as one transport message, or cuts off a consumer that fell too far behind. */
  flush(): void {
    this.scheduled = false;
    const queue = this.queue;
    if (queue.length === 0) return;
    if (this.queuedBytes + this.transport.bufferedBytes > this.maxQueueBytes) {
      this.slow();
      return;
    }
    const bytes = this.queuedBytes;
    this.services.metrics.bytesOut(this.msgpack ? bytes : bytes + queue.length - 1);
    this.transport.write(queue, bytes);
    queue.length = 0;
    this.queuedBytes = 0;
  }

  overflow(): void {
    this.slow();
  }

  // ------------------------------------------------------------ liveness and expiry

  /** Called once `connect` succeeded: the connect timeout gives way to pings. */
  startPinging(): void {
    this.liveness.arm(this, 'ping');
  }

  /** The wheel's deadline came: no connect in time, time to ping, or no frame since the ping. */
  livenessExpired(): void {
    if (this.state === 'connecting') return this.disconnect(CloseCode.ConnectTimeout);
    if (this.state !== 'connected') return;
    if (this.awaitingPong) return this.disconnect(CloseCode.Stale);
    this.awaitingPong = true;
    this.push(PING);
    this.liveness.arm(this, 'pong');
  }

  /** Any frame from the client proves it is alive. */
  private markAlive(): void {
    if (!this.awaitingPong) return;
    this.awaitingPong = false;
    this.liveness.arm(this, 'ping');
  }

  /** (Re)arms the disconnect at token expiry (plus the clock tolerance). */
  scheduleExpiry(): void {
    expiryWheel(this.services).cancel(this);
    if (this.expiresAt === undefined || this.state === 'closed') return;
    if (this.hookTimers.refreshesConnection) return this.hookTimers.scheduleRefresh();
    expiryWheel(this.services).set(this, this.expiresAt + this.services.config.auth.clockTolerance);
  }

  expiryCame(): void {
    this.disconnect(CloseCode.TokenExpired);
  }

  // ------------------------------------------------------------ ending

  /**
   * Tells the client why (a `disconnect` push), flushes, closes the transport and
   * releases everything the session held.
   */
  disconnect(code: number, options: { reason?: string; delay?: number } = {}): void {
    if (this.state === 'closed') return;
    const reason = closeReason(options.reason ?? CloseReason[code] ?? 'disconnect');
    const push: Record<string, unknown> = { type: 'disconnect', code, reason, reconnect: closeCodeReconnects(code) };
    // Every terminal code (4500-4999, named or chosen by the backend) says so.
    if (closeCodeIsTerminal(code)) push.terminal = true;
    if (options.delay !== undefined) push.delay = options.delay;
    this.push(OutFrame.fromText(JSON.stringify(push)));
    this.flush();
    this.transport.close(code, reason);
    this.cleanup(code, reason);
  }

  /** The transport is gone (client closed, network died). */
  handleTransportClosed(code: number, reason: string): void {
    this.cleanup(code, reason);
  }

  /** A slow consumer: drop its queue now and cut it off; it recovers on reconnect. */
  private slow(): void {
    if (this.state === 'closed') return;
    this.services.counters.slowDisconnects++;
    this.services.log.info({ client: this.id, user: this.user }, 'slow consumer disconnected');
    this.queue.length = 0;
    this.queuedBytes = 0;
    const transport = this.transport;
    transport.close(CloseCode.Slow, CloseReason[CloseCode.Slow]!);
    setTimeout(() => transport.terminate(), this.services.config.client.closeTimeout).unref();
    this.cleanup(CloseCode.Slow, CloseReason[CloseCode.Slow]!);
  }

  private cleanup(code: number, reason: string): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    this.state = 'closed';
    this.liveness.disarm(this);
    expiryWheel(this.services).cancel(this);
    this.hookTimers.close();
    this.queue.length = 0;
    this.queuedBytes = 0;
    for (const sub of this.subs.values()) this.detach(sub, 'disconnect');
    this.subs.clear();
    const { hub, hooks, counters, log, presenceFeature, metrics, audit } = this.services;
    presenceFeature.connectionClosed(this);
    hub.removeSession(this);
    metrics.disconnect(code);
    if (!wasConnected) return;
    connectionClosed(this, code, reason);
    counters.disconnectsTotal++;
    audit.emit({ type: 'disconnect', client: this.id, user: this.user, code, reason });
    log.debug({ client: this.id, user: this.user, code }, 'disconnected');
    const ctx = { ...this.context, code, reason };
    for (const hook of hooks.disconnect) {
      Promise.resolve()
        .then(() => hook(ctx))
        .catch((err) => log.error({ err, client: this.id }, 'onDisconnect hook failed'));
    }
  }

  /** A subscription went live: the `subscription.created` webhook. */
  subscribed(sub: Subscription): void {
    subscriptionCreated(this, sub);
  }

  /** Removes a subscription from the hub, presence and typing; a live one is announced removed (`reason`). */
  detach(sub: Subscription, reason: SubscriptionEndReason = 'server'): void {
    if (sub.live && this.subs.get(sub.channel) === sub) subscriptionRemoved(this, sub, reason);
    this.hookTimers.cancelSubscription(sub);
    this.services.hub.unsubscribe(sub);
    if (this.subs.get(sub.channel) === sub) this.subs.delete(sub.channel);
    this.services.presenceFeature.leaveChannel(this, sub);
  }

  /** Ends a subscription the server decided to end (a hook's expiry), if still current, with an `unsubscribe` push. */
  endSubscription(sub: object, channel: string, code: number, reason: string): void {
    const current = this.subs.get(channel);
    if (!current || current !== sub) return;
    this.detach(current);
    this.push(OutFrame.fromText(encodeFrame({ type: 'unsubscribe', channel, code, reason })));
  }
}

/** A WebSocket close reason holds at most 123 bytes of UTF-8. */
function closeReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let cut = reason.slice(0, 123);
  while (Buffer.byteLength(cut) > 123) cut = cut.slice(0, -1);
  return cut;
}
