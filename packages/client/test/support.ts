/**
 * Helpers for client tests: a real Tidings node (restartable on the same port), an
 * instrumented WebSocket over `ws` (counts sent frames, drops chosen incoming frames, cuts
 * the TCP connection like a broken network), and bounded waits.
 */
import WS from 'ws';
import { pollingTransport, sseTransport, websocketTransport, type TransportFactory, type WebSocketConstructor } from '@tidings/client';
import { Tidings, type Subscription, type TidingsOptions } from '@tidings/client';
import { createTidings, type TidingsOptions as NodeOptions } from '../../server/src/node.js';
import { startTestNode, TEST_API_KEY, TEST_NAMESPACES, TEST_SECRET as SECRET, type TestNode } from '../../server/src/test-support/test-node.js';

export { TEST_SECRET } from '../../server/src/test-support/test-node.js';

/** Waits until `check` returns true, polling every 5 ms; fails with `message` after `timeout` ms. */
export async function until(check: () => boolean, message: string | (() => string), timeout = 5_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms: ${typeof message === 'function' ? message() : message}`);
    await sleep(5);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface RestartableNode extends TestNode {
  /** Closes the node (graceful shutdown) and starts a fresh one, with empty memory, on the same port. */
  restart(): Promise<void>;
  /** Closes the node and leaves the port free. */
  stop(): Promise<void>;
  /** Starts a fresh node on the same port after `stop()`. */
  start(): Promise<void>;
}

/**
 * A test node whose process-local state can be lost and started again on the same port,
 * as a restart of a memory-engine server would.
 */
export async function startRestartableNode(options: NodeOptions = {}): Promise<RestartableNode> {
  const first = await startTestNode(options);
  const port = first.port;
  let current = first.node;
  let running = true;
  const wrapper: RestartableNode = {
    ...first,
    get node() {
      return current;
    },
    async stop() {
      if (!running) return;
      running = false;
      await current.close();
    },
    async start() {
      // Same options as startTestNode, built fresh: a new memory engine.
      current = createTidings(nodeOptionsOf(options));
      await current.listen(port, '127.0.0.1');
      running = true;
    },
    async restart() {
      await wrapper.stop();
      await wrapper.start();
    },
    async close() {
      await wrapper.stop();
    },
  };
  return wrapper;
}

/** The options startTestNode uses, so a restarted node matches the first one. */
function nodeOptionsOf(options: NodeOptions): NodeOptions {
  return { ...testNodeDefaults, ...options };
}

// The defaults startTestNode applies, for the restarted node.
const testNodeDefaults: NodeOptions = {
  logLevel: 'silent',
  auth: { secret: SECRET },
  apiKeys: [{ id: 'admin', key: TEST_API_KEY, scopes: ['admin'] }],
  namespaces: TEST_NAMESPACES,
  presence: { leaveGrace: 150 },
  typing: { timeout: 400, throttle: 100 },
  store: { path: ':memory:' },
};

export interface Instrumented {
  WebSocket: WebSocketConstructor;
  /** Every frame the client sent, decoded. */
  sent: Array<Record<string, unknown>>;
  /** Incoming frames for which this returns true are dropped (set it at any time). */
  drop: ((frame: Record<string, unknown>) => boolean) | null;
  /** Cuts every open socket at the TCP level, as a broken network would (the client sees 1006). */
  cut(): void;
  /** Sockets opened so far. */
  opened(): number;
}

/** A WebSocket over `ws` that records what the client sends and can lose what it receives. */
export function instrumentedWebSocket(): Instrumented {
  const sockets: WS[] = [];
  const state: Instrumented = {
    WebSocket: undefined as unknown as WebSocketConstructor,
    sent: [],
    drop: null,
    cut() {
      for (const ws of sockets) if (ws.readyState === WS.OPEN || ws.readyState === WS.CONNECTING) ws.terminate();
    },
    opened: () => sockets.length,
  };
  class InstrumentedSocket {
    readonly #ws: WS;
    onopen: ((ev: unknown) => void) | null = null;
    onmessage: ((ev: { data: unknown }) => void) | null = null;
    onclose: ((ev: { code: number; reason: string }) => void) | null = null;
    onerror: ((ev: unknown) => void) | null = null;
    constructor(url: string, protocols?: string | string[]) {
      this.#ws = new WS(url, protocols);
      sockets.push(this.#ws);
      this.#ws.on('open', () => this.onopen?.({}));
      this.#ws.on('message', (data: Buffer) => {
        let lines = data.toString().split('\n');
        if (state.drop) lines = lines.filter((l) => !l || !state.drop!(JSON.parse(l) as Record<string, unknown>));
        const text = lines.filter((l) => l).join('\n');
        if (text) this.onmessage?.({ data: text });
      });
      this.#ws.on('close', (code: number, reason: Buffer) => this.onclose?.({ code, reason: reason.toString() }));
      this.#ws.on('error', () => this.onerror?.({}));
    }
    get readyState() {
      return this.#ws.readyState;
    }
    send(text: string) {
      for (const line of text.split('\n')) if (line) state.sent.push(JSON.parse(line) as Record<string, unknown>);
      this.#ws.send(text);
    }
    close(code?: number, reason?: string) {
      this.#ws.close(code, reason);
    }
    terminate() {
      this.#ws.terminate();
    }
  }
  state.WebSocket = InstrumentedSocket as unknown as WebSocketConstructor;
  return state;
}

/** Short timers for tests: reconnects within tens of milliseconds. */
export const FAST: TidingsOptions = { minReconnectDelay: 20, maxReconnectDelay: 200, timeout: 3_000 };

/** Collects a subscription's publications' data. */
export function collect<T>(sub: Subscription<T>): T[] {
  const out: T[] = [];
  sub.on('publication', (p) => out.push(p.data));
  return out;
}

/** Tracks clients made in a test, to disconnect them all afterwards. */
export class Clients {
  readonly #all: Tidings[] = [];
  make(url: string, options: TidingsOptions): Tidings {
    const client = new Tidings(url, options);
    this.#all.push(client);
    return client;
  }
  closeAll(): void {
    for (const c of this.#all.splice(0)) c.disconnect();
  }
}

/** The transports every feature test runs over. */
export const TRANSPORTS = ['websocket', 'sse', 'polling'] as const;
export type TransportName = (typeof TRANSPORTS)[number];

/**
 * A TCP proxy in front of a server port, to cut every connection through it at once, as a
 * broken network would, whatever the transport (WebSocket, an event stream, a poll in flight).
 */
export async function tcpProxy(targetPort: number): Promise<{ port: number; url(wsUrl: string): string; cut(): void; close(): Promise<void> }> {
  const { createServer, connect } = await import('node:net');
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as import('node:net').AddressInfo).port;
  const cut = () => {
    for (const s of sockets) s.resetAndDestroy?.() ?? s.destroy();
    sockets.clear();
  };
  return {
    port,
    url: (wsUrl) => wsUrl.replace(/:\d+\//, `:${port}/`),
    cut,
    async close() {
      cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A transport of any kind, instrumented: records what the client sends, loses chosen incoming frames, and cuts. */
export interface RecordingTransport {
  factory: TransportFactory;
  /** Every frame the client sent, decoded. */
  sent: Array<Record<string, unknown>>;
  /** Incoming frames for which this returns true are dropped (set it at any time). */
  drop: ((frame: Record<string, unknown>) => boolean) | null;
  /**
   * Loses the connection as the client sees it: the transport closes without a word to the
   * server and the client gets 1006. (On SSE and polling a TCP cut alone is resumed within
   * the session; this ends the session for the client.)
   */
  cut(): void;
  /** Connections opened so far. */
  opened(): number;
}

/** A transport of the given kind (websocket, sse, polling) that records every frame the client sends. */
export function recording(name: TransportName): RecordingTransport {
  const inner = name === 'websocket' ? websocketTransport(WS as unknown as WebSocketConstructor) : name === 'sse' ? sseTransport() : pollingTransport();
  const open = new Set<() => void>();
  let opened = 0;
  const state: RecordingTransport = {
    factory: undefined as unknown as TransportFactory,
    sent: [],
    drop: null,
    cut: () => [...open].forEach((cut) => cut()),
    opened: () => opened,
  };
  state.factory = {
    name: inner.name,
    open(url, handlers, context) {
      opened++;
      let live = true;
      const t = inner.open(
        url,
        {
          ...handlers,
          onMessage(text) {
            const lines = text.split('\n').filter((l) => l && !state.drop?.(JSON.parse(l) as Record<string, unknown>));
            if (live && lines.length > 0) handlers.onMessage(lines.join('\n'));
          },
          onClose(code, reason) {
            open.delete(cut);
            if (live) handlers.onClose(code, reason);
          },
        },
        context,
      );
      const cut = () => {
        open.delete(cut);
        live = false;
        // WebSocket: drop the socket (1006 on the server too). HTTP: stop using the session, as a dead network would.
        t.close(4999, 'cut');
        handlers.onClose(1006, 'cut by the test');
      };
      open.add(cut);
      return {
        send(text) {
          for (const line of text.split('\n')) if (line) state.sent.push(JSON.parse(line) as Record<string, unknown>);
          t.send(text);
        },
        close: (code, reason) => {
          open.delete(cut);
          live = false;
          t.close(code, reason);
        },
      };
    },
  };
  return state;
}
