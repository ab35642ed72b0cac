/**
 * Opening the connection's transports: the transport the round is at, which must open within
 * `transportTimeout` and connect within `timeout`, and what a transport that failed to open
 * leads to: the next transport of the round at once, or the end of the round (the last
 * transport answered 404: the client stops; after a few WebSocket-only rounds, the URL is
 * asked, see `endpoint-probe.ts`).
 */
import { CloseCode, closeCodeReconnects, type ServerFrame } from '@tidings/protocol';
import type { ClientConfig } from '../config.js';
import type { Outbox } from '../outbox.js';
import { startTimer } from '../timers.js';
import type { ClientTransport, TransportFactory, TransportHandlers } from '../transports/types.js';
import type { ConnectionState } from '../types.js';
import { decodeFrames } from '../wire.js';
import { answers404, PROBE_AFTER } from './endpoint-probe.js';
import type { TransportRounds } from './transport-rounds.js';

/** @internal What opening a transport needs from the connection. */
export interface OpeningHost {
  /** Bumped for every transport: callbacks of an older one are ignored. */
  readonly _generation: number;
  readonly state: ConnectionState;
  /** Bumped each time the client stops. */
  readonly _stops: number;
  /** Opens a transport to the server. */
  open(factory: TransportFactory, handlers: TransportHandlers): ClientTransport;
  /** The transport opened: `connect` goes out on it. */
  _sendConnect(name: string): void;
  /** Opens the next transport (`_open()` of the connection). */
  _open(): Promise<void>;
  /** Stops the client: no Tidings endpoint at the URL. */
  _notFound(reason: string): void;
  _receive(frames: Array<ServerFrame | string>): void;
  _closed(code: number, reason: string): void;
  drop(code: number, reason: string): void;
  debug(message: string): void;
}

/** @internal How the connection opens its transports. */
export class Opening {
  readonly #host: OpeningHost;
  readonly #url: string;
  readonly #config: ClientConfig;
  readonly #rounds: TransportRounds;
  readonly #outbox: Outbox;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #transportTimer: ReturnType<typeof setTimeout> | undefined;
  /** WebSocket-only rounds that failed to open in a row since a transport last opened. */
  #wsFailures = 0;
  /** The current transport opened. */
  _opened = false;

  constructor(host: OpeningHost, url: string, config: ClientConfig, rounds: TransportRounds, outbox: Outbox) {
    this.#host = host;
    this.#url = url;
    this.#config = config;
    this.#rounds = rounds;
    this.#outbox = outbox;
  }

  /** Opens `factory` as the transport of the connection of `generation`, with its two timers. */
  start(generation: number, factory: TransportFactory): ClientTransport {
    const host = this.#host;
    this._opened = false;
    this.#connectTimer = startTimer(() => {
      if (generation === host._generation) host.drop(CloseCode.ConnectTimeout, 'connect timeout');
    }, this.#config.timeout);
    this.#transportTimer = startTimer(() => {
      if (generation === host._generation && !this._opened) host.drop(1006, `${factory.name} did not open within ${this.#config.transportTimeout} ms`);
    }, this.#config.transportTimeout);
    host.debug(`opening ${factory.name} to ${this.#url}`);
    return host.open(factory, {
      onOpen: () => {
        if (generation !== host._generation) return;
        this._opened = true;
        this.#wsFailures = 0;
        clearTimeout(this.#transportTimer);
        host._sendConnect(factory.name);
      },
      onMessage: (text) => {
        if (generation === host._generation) host._receive(decodeFrames(text));
      },
      onClose: (code, reason) => {
        if (generation === host._generation) host._closed(code, reason);
      },
      onRefused: (text) => {
        if (generation === host._generation) this.#outbox.refuse(text);
      },
    });
  }

  /** The connect reply came: the connect timeout is off. */
  connected(): void {
    clearTimeout(this.#connectTimer);
  }

  /** The transport is gone: its timers are off. */
  cancel(): void {
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#transportTimer);
  }

  /**
   * The transport closed with `code` before it opened. True when the connection has nothing
   * more to do with the close: the next transport of the round is opening, or the client
   * stopped (the last transport was answered 404: a wrong URL, not an outage).
   */
  failed(code: number, reason: string): boolean {
    const host = this.#host;
    const failed = this.#rounds.trying();
    const next = this.#rounds.openFailed(closeCodeReconnects(code));
    if (next) {
      // This transport could not reach the server: try the next one at once.
      host.debug(`${failed} failed to open (${code} ${reason}); trying ${next.name}`);
      void host._open();
      return true;
    }
    if (code === 4404) {
      host._notFound(reason);
      return true;
    }
    // A browser hides the status of a refused handshake: after a few, ask the URL itself (endpoint-probe.ts),
    // while the backoff goes on; a 404 stops the client as above, unless it connected meanwhile.
    if (failed === 'websocket' && ++this.#wsFailures >= PROBE_AFTER) {
      this.#wsFailures = 0;
      const stops = host._stops;
      void answers404(this.#url, this.#config.timeout).then((missing) => {
        if (missing && stops === host._stops && host.state === 'connecting') host._notFound('HTTP 404');
      });
    }
    return false;
  }
}
