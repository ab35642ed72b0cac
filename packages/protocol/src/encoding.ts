/**
 * Encodings of protocol v1 frames on a WebSocket. JSON text is the default (and the only
 * encoding of the SSE and long-polling transports); a client that offers
 * `WS_SUBPROTOCOL_MSGPACK` gets the same frame objects as MessagePack in binary messages.
 * See docs/protocol.md, "Encodings".
 */

/**
 * The WebSocket subprotocol of protocol v1 in MessagePack. A client offers it before
 * `WS_SUBPROTOCOL` (`['tidings.v1.msgpack', 'tidings.v1']`) and reads the one the server
 * selected: a server without MessagePack selects `tidings.v1`, and the connection is JSON.
 */
export const WS_SUBPROTOCOL_MSGPACK = 'tidings.v1.msgpack';

/**
 * The key of binary data's JSON form: `{"$binary": "<base64>"}` (an object with this one
 * key) stands for the bytes in JSON frames, and is what a MessagePack `bin` value becomes
 * for JSON clients (and back: MessagePack clients receive it as `bin`).
 */
export const BINARY_KEY = '$binary';
