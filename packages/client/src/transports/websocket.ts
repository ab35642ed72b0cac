/** The WebSocket transport, over the browser's, React Native's or the `ws` package's WebSocket. */
import { WS_SUBPROTOCOL } from '@tidings/protocol';
import type { TransportFactory } from './types.js';

/** The part of the WebSocket API the SDK uses: the browser's, React Native's and `ws` all fit. */
export interface WebSocketLike {
  readonly readyState: number;
  /** The subprotocol the server selected. */
  readonly protocol?: string;
  binaryType?: string;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/**
 * An encoding of frames other than JSON, negotiated per WebSocket connection by its
 * subprotocol: `msgpack` from `@tidings/client/msgpack`, passed as the `encoding` option.
 * The rest of the client keeps working in JSON text; the codec converts at the socket.
 */
export interface WireCodec {
  /** The subprotocol offered before `tidings.v1`; when the server selects it, frames go through this codec. */
  readonly subprotocol: string;
  /** A message of newline-separated JSON frames, to send as one binary message. */
  encode(text: string): Uint8Array;
  /** A received binary message: its frames. */
  decode(data: Uint8Array): object[];
  /** `JSON.stringify` replacer for commands, on any transport (binary data's JSON form). */
  replacer?(key: string, value: unknown): unknown;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** The runtime's own WebSocket (browsers, React Native, Node 22+), if any. */
export function globalWebSocket(): WebSocketConstructor | undefined {
  return (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
}

const textDecoder: { decode(data: ArrayBuffer | ArrayBufferView): string } | undefined =
  typeof TextDecoder === 'function' ? new TextDecoder() : undefined;

function toText(data: unknown): string {
  if (typeof data === 'string') return data;
  // `ws` with the plain `message` API hands over Buffers; binary frames are not part of v1.
  if (textDecoder && (data instanceof ArrayBuffer || ArrayBuffer.isView(data))) return textDecoder.decode(data as ArrayBuffer);
  return String(data);
}

/**
 * The WebSocket transport, over any WebSocket implementation.
 *
 * @example
 * ```ts
 * import WebSocket from 'ws';
 * new Tidings(url, { transports: [websocketTransport(WebSocket as unknown as WebSocketConstructor), 'sse'] });
 * ```
 */
export function websocketTransport(WebSocketImpl: WebSocketConstructor, codec?: WireCodec): TransportFactory {
  return {
    name: 'websocket',
    open(url, handlers) {
      const ws = new WebSocketImpl(url, codec ? [codec.subprotocol, WS_SUBPROTOCOL] : [WS_SUBPROTOCOL]);
      if (codec) ws.binaryType = 'arraybuffer';
      // The codec for what the client sends, once the server selected its subprotocol (it sends binary messages only then).
      let binary: WireCodec | undefined;
      let closed = false;
      const finish = (code: number, reason: string) => {
        if (closed) return;
        closed = true;
        ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
        handlers.onClose(code, reason);
      };
      ws.onopen = () => {
        if (ws.protocol === codec?.subprotocol) binary = codec;
        handlers.onOpen();
      };
      ws.onmessage = (ev) => {
        if (!closed) handlers.onMessage(codec && typeof ev.data !== 'string' ? codec.decode(new Uint8Array(ev.data as ArrayBuffer)) : toText(ev.data));
      };
      // No endpoint at the URL (4404, see types.ts): `ws` names the status of a refused handshake
      // ("Unexpected server response: 404"); browsers cannot tell it from a network error.
      let missing = false;
      ws.onclose = (ev) => finish(missing ? 4404 : ev.code || 1006, missing ? 'HTTP 404' : ev.reason || '');
      // An error is always followed by a close; the close carries the code.
      ws.onerror = (ev) => void (missing = / 404$/.test((ev as { message: string }).message));
      return {
        send: (text) => {
          if (!closed && ws.readyState === 1) ws.send(binary ? binary.encode(text) : text);
        },
        close: (code = 1000, reason = '') => {
          if (closed) return;
          closed = true;
          ws.onopen = ws.onmessage = ws.onclose = null;
          ws.onerror = () => {};
          const terminate = (ws as { terminate?: () => void }).terminate;
          try {
            // `ws` can drop a socket at once; a browser WebSocket does the close handshake.
            if (code !== 1000 && typeof terminate === 'function') terminate.call(ws);
            else ws.close(code, reason);
          } catch {
            // Closing a socket that never opened throws in some runtimes; it is gone either way.
          }
        },
      };
    },
  };
}
