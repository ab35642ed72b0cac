/**
 * @tidings/protocol — protocol v1 of Tidings, shared by server and clients.
 *
 * @example
 * ```ts
 * import { encodeFrame, decodeServerMessage, WS_SUBPROTOCOL } from '@tidings/protocol';
 * const ws = new WebSocket(url, [WS_SUBPROTOCOL]);
 * ws.onopen = () => ws.send(encodeFrame({ id: 1, type: 'connect', token }));
 * ws.onmessage = (ev) => decodeServerMessage(ev.data).forEach(handle);
 * ```
 */
export * from './codes.js';
export * from './frames.js';
export * from './channel.js';
export * from './codec.js';
export * from './encoding.js';
export * from './message-fold.js';
