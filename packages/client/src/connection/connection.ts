/**
 * The client's connection to the server, restored after every failure.
 *
 * - States `disconnected` → `connecting` → `connected`, each with an event.
 * - Reconnects with exponential backoff and full jitter; terminal close codes (4500–4999)
 *   stop it with a typed error.
 * - Opens the transports in rounds (`opening.ts`, `transport-rounds.ts`), upgrades in the
 *   background (`upgrade-probe.ts`), refreshes the token before it expires (`token.ts`), and
 *   closes a silent server.
 * - What the client holds over connections (subscriptions, status, follows) is restored by
 *   the client through `ConnectionHost.restore`.
 */
import {
  CloseCode,
  closeCodeReconnects,
  type ConnectResult,
  type DisconnectPush,
  type Push,
  type Reply,
  type ServerFrame,
  type StreamPosition,
} from '@tidings/protocol';
import type { ClientConfig } from '../config.js';
import type { Emitter } from '../emitter.js';
import { ClientErrorCode, TidingsError } from '../errors.js';
import type { CommandBody, Outbox } from '../outbox.js';
import { backoffDelay, startTimer } from '../timers.js';
import type { ClientTransport, TransportFactory, TransportHandlers } from '../transports/types.js';
import type { ClientEvents, ConnectionState, TidingsOptions } from '../types.js';
import { connectCommand } from './connect-command.js';
import type { ConnectionHost } from './host.js';
import { Opening, type OpeningHost } from './opening.js';
import { askToken, signedOut, tokenRefresh, type RefreshHost, type TokenRefresh } from './token.js';
import type { TransportRounds } from './transport-rounds.js';
import { UpgradeProbe, type ProbeHost } from './upgrade-probe.js';
import { settle, waitIn, type Waiter } from './waiters.js';

/**
 * @internal The connection of one client. Its public members are for the client; those named
 * `_…` are for its helpers (opening, upgrade probe, token refresh).
 */
export class Connection implements ProbeHost, RefreshHost, OpeningHost {
  readonly #rounds: TransportRounds;
  readonly #config: ClientConfig;
  readonly #url: string;
  readonly #options: TidingsOptions;
  readonly #outbox: Outbox;
  readonly #events: Emitter<ClientEvents>;
  readonly #host: ConnectionHost;
  readonly #probe: UpgradeProbe;
  readonly #refresh: TokenRefresh;
  readonly #opening: Opening;
  #state: ConnectionState = 'disconnected';
  #transport: ClientTransport | null = null;
  /** Bumped for every transport: callbacks of an older one are ignored. */
  #generation = 0;
  /** The token the next connect sends. */
  _token: string | undefined;
  #attempt = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #deadTimer: ReturnType<typeof setTimeout> | undefined;
  #deadAfter = 0;
  #disconnectHint: DisconnectPush | null = null;
  #connectError: TidingsError | null = null;
  /** The connect result and transport while connected. */
  info: (ConnectResult & { transport: string }) | null = null;
  readonly #waiters: Waiter[] = [];
  /** Bumped each time the client stops: work begun before a listener called `disconnect()` is not carried on. */
  _stops = 0;

  constructor(url: string, options: TidingsOptions, config: ClientConfig, rounds: TransportRounds, outbox: Outbox, events: Emitter<ClientEvents>, host: ConnectionHost) {
    this.#url = url;
    this.#options = options;
    this.#config = config;
    this.#rounds = rounds;
    this.#outbox = outbox;
    this.#events = events;
    this.#host = host;
    outbox._replacer = options.encoding?.replacer;
    if (options.token !== undefined) this._token = options.token;
    this.#opening = new Opening(this, url, config, rounds, outbox);
    this.#probe = new UpgradeProbe(this, rounds, config, outbox);
    this.#refresh = tokenRefresh(this, options, config, outbox, events);
  }

  get state(): ConnectionState {
    return this.#state;
  }

  get _connected(): boolean {
    return this.#state === 'connected';
  }

  /** Bumped for every transport: callbacks of an older one are ignored. */
  get _generation(): number {
    return this.#generation;
  }

  connect(): Promise<void> {
    if (this.#state === 'connected') return Promise.resolve();
    const promise = waitIn(this.#waiters);
    if (this.#state === 'disconnected') this.#enterConnecting(0, 'connect called', () => void this._open());
    return promise;
  }

  reconnectNow(): void {
    if (this.#state !== 'connecting' || this.#reconnectTimer === undefined) return;
    this.debug('reconnecting now');
    this.#attempt = 0;
    void this._open();
  }

  ready(timeout: number): Promise<void> {
    return this.#state === 'connected' ? Promise.resolve() : waitIn(this.#waiters, timeout);
  }

  disconnect(): void {
    if (this.#state === 'disconnected') return;
    this.#stop(CloseCode.Normal, 'disconnect called', null);
  }

  /** Closes the current transport ourselves and handles it as a close with `code`. */
  drop(code: number, reason: string): void {
    const transport = this.#transport;
    if (!transport) return;
    this.#transport = null;
    transport.close(code, reason);
    this._closed(code, reason);
  }

  // ------------------------------------------------------------- opening

  /** Opens the transport the round is at, after asking getToken for a token if there is none. */
  async _open(): Promise<void> {
    const generation = ++this.#generation;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    if (this._token === undefined && this.#options.getToken) {
      let token: string | null;
      try {
        token = await askToken(this.#options, this.#config.timeout);
      } catch (err) {
        if (generation !== this.#generation) return;
        this.#events.emit('error', err as TidingsError);
        if (generation === this.#generation) this.#scheduleReconnect(undefined);
        return;
      }
      if (generation !== this.#generation) return;
      if (!token) return this._signOut();
      this._token = token;
    }
    if (this.#rounds.factories.length === 0) {
      this.#stop(0, 'no transport', new TidingsError(ClientErrorCode.NoTransport, 'no transport available: pass a WebSocket implementation as `websocket`, or list transports', { temporary: false }));
      return;
    }
    this.#connectError = null;
    this.#disconnectHint = null;
    const transport = this.#opening.start(generation, this.#rounds.next());
    if (generation === this.#generation) this.#transport = transport;
    else transport.close();
  }

  /** Opens a transport to the server (the connection's own, or the upgrade probe's). */
  open(factory: TransportFactory, handlers: TransportHandlers): ClientTransport {
    return factory.open(this.#url, handlers, { token: () => this._token, maxMessageBytes: this.#config.maxMessageBytes });
  }

  /** `connect` as the next connection sends it, and the subscription positions it recovers. */
  _connectCommand(): [CommandBody, Record<string, StreamPosition>] {
    const subs = this.#host.positions();
    return [connectCommand(this._token, this.#options, subs), subs];
  }

  /** The transport opened: `connect` goes out on it. */
  _sendConnect(transportName: string): void {
    // Looked up at send time: a transport may report open before `open()` has returned it.
    this.#outbox.attach((text) => this.#transport?.send(text));
    const [body, subs] = this._connectCommand();
    this.#outbox.sendNow(body, (err, result) => {
      if (err) {
        this.#connectError = err;
        if (err.code === 'token_expired') this._token = undefined;
        // The server closes after a failed connect; a timeout or a lost reply needs our own close.
        if (err.code === ClientErrorCode.Timeout) this.drop(CloseCode.ConnectTimeout, 'connect timeout');
        return;
      }
      this.#onConnected(result as ConnectResult, subs, transportName);
    });
  }

  #onConnected(result: ConnectResult, sent: Record<string, StreamPosition>, transportName: string): void {
    this.#opening.connected();
    this.#attempt = 0;
    this.#rounds.connected(transportName);
    this.info = { ...result, transport: transportName };
    const generation = this.#generation;
    this.#setState('connected');
    // A `state` listener called disconnect(): nothing of this connection is left to set up.
    if (generation !== this.#generation) return;
    this.#deadAfter = result.ping > 0 ? (result.ping + result.pong) * 1000 + this.#config.pingSlack : 0;
    this.#resetDeadTimer();
    if (result.ttl !== undefined) this.#refresh.schedule(result.ttl);
    const sending = this.#host.restore(result, sent);
    // Queued commands go after every subscribe: a publish may need the subscription first.
    if (sending.length === 0) this.#outbox.open();
    else {
      void Promise.all(sending).then(() => {
        if (generation === this.#generation) this.#outbox.open();
      });
    }
    settle(this.#waiters);
    this.#events.emit('connected', {
      client: result.client,
      user: result.user,
      transport: transportName,
      ...(result.expires !== undefined ? { expires: result.expires } : {}),
      ...(result.data !== undefined ? { data: result.data } : {}),
    });
    if (generation === this.#generation) this.#probe.schedule(transportName);
  }

  /**
   * Switches to an accepted probe: the old connection is forgotten as a reconnect would
   * (commands in flight reject with `connection_lost`, publishes go out again with their
   * idempotency key), the old transport closes (its HTTP session is deleted), and the new one
   * is set up by the same code as any connect: every subscription recovers from its position.
   */
  _adopt(transport: ClientTransport, name: string, result: ConnectResult, sent: Record<string, StreamPosition>): number {
    this.debug(`upgrading to ${name}`);
    const old = this.#transport;
    this.#transport = null;
    this.#teardown();
    old?.close(CloseCode.Normal, 'upgraded');
    this.#rounds.upgraded(name);
    this.#transport = transport;
    this.#opening._opened = true;
    this.#outbox.attach((text) => this.#transport?.send(text));
    const generation = this.#generation;
    this.#onConnected(result, sent, name);
    return generation;
  }

  // ------------------------------------------------------------- receiving

  /** Frames received on the current transport: replies settle commands, pushes go to the client. */
  _receive(frames: Array<ServerFrame | string>): void {
    this.#resetDeadTimer();
    for (const frame of frames) {
      if (typeof frame === 'string') this.debug(`ignoring a frame that is ${frame}`);
      else if (typeof (frame as { id?: unknown }).id === 'number') this.#outbox.handleReply(frame as Reply);
      else {
        const push = frame as Push;
        if (push.type === 'ping') this.#outbox.sendRaw('{"type":"pong"}');
        else if (push.type === 'disconnect') this.#disconnectHint = push;
        else this.#host.push(push);
      }
    }
  }

  // ------------------------------------------------------------- closing

  /** The current transport closed (or failed to open): the next transport, a reconnect, or the end. */
  _closed(code: number, reason: string): void {
    const hint = this.#disconnectHint;
    if (hint) {
      code = hint.code;
      reason = hint.reason;
    }
    const connectError = this.#connectError;
    const failedToOpen = !this.#opening._opened && this.#state === 'connecting';
    // 1009: the server refused a message as too big. Resending it would loop: drop the biggest command.
    this.#teardown(undefined, code === CloseCode.MessageTooBig);
    if (!failedToOpen) this.#rounds.endRound();
    else if (this.#opening.failed(code, reason)) return;
    const reconnect = hint ? hint.reconnect : closeCodeReconnects(code);
    this.debug(`connection closed: ${code} ${reason}`, { reconnect });
    if (!reconnect) {
      // A refused token is not offered again: the next connect() asks getToken for a fresh one.
      if (this.#options.getToken && (code === CloseCode.InvalidToken || connectError?.code === 'unauthorized')) this._token = undefined;
      this.#stop(code, reason, connectError && !connectError.temporary ? new TidingsError(connectError.code, connectError.message, { temporary: false, closeCode: code }) : TidingsError.fromClose(code, reason));
      return;
    }
    if (code === CloseCode.TokenExpired) {
      this._token = undefined;
      if (!this.#options.getToken) {
        this.#stop(code, reason, new TidingsError('token_expired', 'the token expired and there is no getToken to fetch another', { temporary: false, closeCode: code }));
        return;
      }
    }
    const stops = this._stops;
    if (connectError && connectError.code !== ClientErrorCode.Timeout) this.#events.emit('error', connectError);
    if (stops === this._stops) this.#enterConnecting(code, reason, () => this.#scheduleReconnect(hint?.delay));
  }

  /**
   * State `connecting` and its event, then `next` (open, or wait to reopen) — unless a
   * listener of those events stopped the client meanwhile.
   */
  #enterConnecting(code: number, reason: string, next: () => void): void {
    const stops = this._stops;
    this.#setState('connecting');
    if (stops === this._stops) this.#events.emit('connecting', { code, reason });
    if (stops === this._stops) next();
  }

  /**
   * Forgets the current connection: timers, pending commands (rejected with `error`, or
   * `connection_lost`; publishes wait for the next connection), subscription states.
   */
  #teardown(error?: TidingsError, dropLargest = false): void {
    this.#generation++;
    this.#opening.cancel();
    clearTimeout(this.#deadTimer);
    this.#refresh.cancel();
    this.#probe.cancel();
    this.#transport = null;
    this.info = null;
    this.#disconnectHint = null;
    this.#connectError = null;
    this.#outbox.connectionLost(error ?? new TidingsError(ClientErrorCode.ConnectionLost, 'the connection closed before the reply', { temporary: true }), dropLargest);
    this.#host.lost();
  }

  #scheduleReconnect(hintDelay: number | undefined): void {
    const delay = hintDelay ?? backoffDelay(this.#attempt++, this.#config.minReconnectDelay, this.#config.maxReconnectDelay);
    this.debug(`reconnecting in ${delay} ms`);
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = startTimer(() => {
      this.#reconnectTimer = undefined;
      void this._open();
    }, delay);
  }

  #stop(code: number, reason: string, error: TidingsError | null): void {
    this._stops++;
    const transport = this.#transport;
    this.#transport = null;
    transport?.close(CloseCode.Normal, '');
    const stopped = error ?? new TidingsError(ClientErrorCode.Disconnected, 'the client is disconnected', { temporary: false });
    this.#teardown(stopped);
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    this.#rounds.endRound();
    this.#outbox.rejectAll(stopped);
    this.#host.stopped();
    this.#setState('disconnected');
    settle(this.#waiters, error ?? new TidingsError(ClientErrorCode.Disconnected, 'disconnect() was called before the connection was established', { temporary: false }));
    if (error) this.#events.emit('error', error);
    this.#events.emit('disconnected', error ? { code, reason, error } : { code, reason });
  }

  /** getToken returned no token: the client stops. */
  _signOut(): void {
    this.#stop(0, 'no token', signedOut());
  }

  /** Stops the client: no Tidings endpoint at the URL. */
  _notFound(reason: string): void {
    this.#stop(4404, reason, new TidingsError('not_found', `no Tidings endpoint at ${this.#url} (HTTP 404)`, { temporary: false, closeCode: 4404 }));
  }

  #resetDeadTimer(): void {
    if (this.#deadAfter <= 0 || this.#state !== 'connected') return;
    clearTimeout(this.#deadTimer);
    this.#deadTimer = startTimer(() => this.drop(CloseCode.Stale, 'no message from the server'), this.#deadAfter);
  }

  #setState(state: ConnectionState): void {
    const previous = this.#state;
    if (previous === state) return;
    this.#state = state;
    this.#events.emit('state', { state, previous });
  }

  debug(message: string, details?: unknown): void {
    this.#options.debug?.(message, details);
  }
}
