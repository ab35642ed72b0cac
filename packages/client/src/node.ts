/**
 * Node entry of @tidings/client (picked by the `node` export condition): Node 20 has no
 * global WebSocket, so this entry makes the `ws` package the default when the runtime has
 * none (Node 22+ has its own, which is then used).
 */
import WebSocket from 'ws';
import { setDefaultWebSocket } from './config.js';
import type { WebSocketConstructor } from './transports/websocket.js';

setDefaultWebSocket(WebSocket as unknown as WebSocketConstructor);

export * from './index.js';
