/**
 * How the client reaches the server. A transport carries protocol text messages (one or
 * more newline-separated frames each) both ways; everything else (connect, commands,
 * recovery) is the client's and the same on every transport.
 *
 * WebSocket, Server-Sent Events and HTTP long-polling are built in; others plug in
 * through the same interface.
 */
export interface TransportHandlers {
  /** The transport is open: the client may send `connect`. */
  onOpen(): void;
  /** One received message (may hold several frames), or the frames a codec decoded from a binary message. */
  onMessage(text: string | object[]): void;
  /**
   * The transport closed, or failed to open (code 1006 when nothing better is known). 4404
   * (the SDK's own, never sent by a server): the server answered HTTP 404, there is no
   * endpoint at the URL; a round of transports that all failed to open, the last with
   * 4404, stops the client with a `not_found` error.
   */
  onClose(code: number, reason: string): void;
  /**
   * The server refused one message (a single frame) as too big and did not run it, while
   * the connection stays up (HTTP 413). WebSocket closes with 1009 instead.
   */
  onRefused?(text: string): void;
}

/** One open (or opening) transport connection. */
export interface ClientTransport {
  send(text: string): void;
  /** Closes the connection; `onClose` is not called afterwards. */
  close(code?: number, reason?: string): void;
}

/** What a transport may ask of the client while it runs. */
export interface TransportContext {
  /** The current connection token (HTTP transports send it with every request). */
  token(): string | undefined;
  /** The largest message the client sends (`maxMessageBytes`): HTTP transports keep each request body within it. */
  readonly maxMessageBytes: number;
}

export interface TransportFactory {
  /** Name reported in the `connected` event and `client.transport`: `websocket`, `sse`, `polling`, … */
  readonly name: string;
  /** Opens a connection to the server at `url` (the client's WebSocket URL; HTTP transports derive their base from it). */
  open(url: string, handlers: TransportHandlers, context: TransportContext): ClientTransport;
}

