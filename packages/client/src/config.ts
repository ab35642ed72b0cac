/**
 * The client's options with their defaults applied, and the transports they name.
 */
import { pollingTransport } from './transports/polling.js';
import { sseTransport } from './transports/sse.js';
import type { TransportFactory } from './transports/types.js';
import { globalWebSocket, websocketTransport, type WebSocketConstructor } from './transports/websocket.js';
import type { TidingsOptions } from './types.js';

/** @internal Every option the client reads, defaulted. */
export interface ClientConfig {
  minReconnectDelay: number;
  maxReconnectDelay: number;
  timeout: number;
  pingSlack: number;
  typing: { throttle: number; idle: number; timeout: number };
  awayWhenHidden: boolean;
  reconnectOnOnline: boolean;
  transportTimeout: number;
  blockedTransportRetry: number;
  upgradeProbeDelay: number | false;
  maxMessageBytes: number;
  activityNamespace: string;
}

let defaultWebSocket: WebSocketConstructor | undefined;

/** @internal Sets the WebSocket used when neither the options nor the runtime provide one (the Node entry sets `ws`). */
export function setDefaultWebSocket(impl: WebSocketConstructor): void {
  defaultWebSocket = impl;
}

/** @internal The options with their defaults; throws a `TypeError` for a contradiction. */
export function resolveConfig(options: TidingsOptions): ClientConfig {
  const typing = options.typing ?? {};
  const config: ClientConfig = {
    minReconnectDelay: options.minReconnectDelay ?? 500,
    maxReconnectDelay: options.maxReconnectDelay ?? 20_000,
    timeout: options.timeout ?? 10_000,
    pingSlack: options.pingSlack ?? 5_000,
    typing: { throttle: typing.throttle ?? 1_000, idle: typing.idle ?? 3_000, timeout: typing.timeout ?? 6_000 },
    awayWhenHidden: options.awayWhenHidden ?? false,
    reconnectOnOnline: options.reconnectOnOnline ?? true,
    transportTimeout: options.transportTimeout ?? 5_000,
    blockedTransportRetry: options.blockedTransportRetry ?? 60_000,
    upgradeProbeDelay: options.upgradeProbeDelay === false ? false : options.upgradeProbeDelay ?? options.blockedTransportRetry ?? 60_000,
    maxMessageBytes: options.maxMessageBytes ?? 65_536,
    activityNamespace: options.activityNamespace ?? 'activity',
  };
  if (config.minReconnectDelay > config.maxReconnectDelay) {
    throw new TypeError('minReconnectDelay must not exceed maxReconnectDelay');
  }
  return config;
}

/** @internal The transports to try, in order (WebSocket is left out when there is no implementation). */
export function transportFactories(options: TidingsOptions): TransportFactory[] {
  const ws = options.websocket ?? globalWebSocket() ?? defaultWebSocket;
  const http = options.httpUrl !== undefined ? { base: options.httpUrl } : {};
  const wanted = options.transport ? [options.transport] : options.transports ?? ['websocket', 'sse', 'polling'];
  const factories: TransportFactory[] = [];
  for (const t of wanted) {
    if (typeof t !== 'string') factories.push(t);
    else if (t === 'websocket') {
      if (ws) factories.push(websocketTransport(ws, options.encoding));
    } else if (t === 'sse') factories.push(sseTransport(http));
    else if (t === 'polling') factories.push(pollingTransport(http));
    else throw new TypeError(`unknown transport ${JSON.stringify(t)}: use "websocket", "sse", "polling" or a TransportFactory`);
  }
  return factories;
}

