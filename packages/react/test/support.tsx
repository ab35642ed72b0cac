/**
 * Helpers for the React hook tests: a real Tidings node per test, clients over a recording
 * WebSocket (counts what the client sends, can hold back chosen commands and lose chosen
 * incoming frames), and a wrapper with the provider.
 */
import type { ReactNode } from 'react';
import WS from 'ws';
import { Tidings, type TidingsOptions, type WebSocketConstructor } from '@tidings/client';
import { TidingsProvider } from '@tidings/react';
import { startTestNode, type TestNode } from '../../server/src/test-support/test-node.js';

export { startTestNode, type TestNode };

export type Frame = Record<string, unknown> & { type?: string; channel?: string; id?: number };

/** What a recording socket lets a test see and steer. */
export interface Wire {
  /** Every frame the client sent, decoded, in order. */
  sent: Frame[];
  /** Outgoing frames for which this returns true wait in `held` instead of being sent. */
  hold: ((frame: Frame) => boolean) | null;
  /** Incoming frames for which this returns true are dropped. */
  drop: ((frame: Frame) => boolean) | null;
  /** Sends the held frames now. */
  flush(): void;
  readonly held: Frame[];
  /** Sent frames of `type` (and `channel`, when given). */
  count(type: string, channel?: string): number;
}

/**
 * A WebSocket for the client (the `ws` package underneath) that records what the client
 * sends. A subclass of `ws` would also do for counting; a wrapper can also delay and drop.
 */
export function recordingWebSocket(): { WebSocket: WebSocketConstructor; wire: Wire } {
  const held: Array<{ socket: WS; text: string; frame: Frame }> = [];
  const wire: Wire = {
    sent: [],
    hold: null,
    drop: null,
    get held() {
      return held.map((h) => h.frame);
    },
    flush() {
      for (const h of held.splice(0)) {
        wire.sent.push(h.frame);
        if (h.socket.readyState === WS.OPEN) h.socket.send(h.text);
      }
    },
    count: (type, channel) => wire.sent.filter((f) => f.type === type && (channel === undefined || f.channel === channel)).length,
  };
  class RecordingSocket {
    readonly #ws: WS;
    onopen: ((ev: unknown) => void) | null = null;
    onmessage: ((ev: { data: unknown }) => void) | null = null;
    onclose: ((ev: { code: number; reason: string }) => void) | null = null;
    onerror: ((ev: unknown) => void) | null = null;
    constructor(url: string, protocols?: string | string[]) {
      this.#ws = new WS(url, protocols);
      this.#ws.on('open', () => this.onopen?.({}));
      this.#ws.on('message', (data: Buffer) => {
        const lines = data
          .toString()
          .split('\n')
          .filter((line) => line && !wire.drop?.(JSON.parse(line) as Frame));
        if (lines.length > 0) this.onmessage?.({ data: lines.join('\n') });
      });
      this.#ws.on('close', (code: number, reason: Buffer) => this.onclose?.({ code, reason: reason.toString() }));
      this.#ws.on('error', () => this.onerror?.({}));
    }
    get readyState(): number {
      return this.#ws.readyState;
    }
    send(text: string): void {
      const pass: string[] = [];
      for (const line of text.split('\n')) {
        if (!line) continue;
        const frame = JSON.parse(line) as Frame;
        if (wire.hold?.(frame)) held.push({ socket: this.#ws, text: line, frame });
        else {
          wire.sent.push(frame);
          pass.push(line);
        }
      }
      if (pass.length > 0) this.#ws.send(pass.join('\n'));
    }
    close(code?: number, reason?: string): void {
      this.#ws.close(code, reason);
    }
    terminate(): void {
      this.#ws.terminate();
    }
  }
  return { WebSocket: RecordingSocket as unknown as WebSocketConstructor, wire };
}

/** Short timers: reconnects in tens of milliseconds, replies within 3 s. */
export const FAST: TidingsOptions = { minReconnectDelay: 20, maxReconnectDelay: 200, timeout: 3_000 };

/** Makes clients for one test and disconnects them all afterwards. */
export class Clients {
  readonly #all: Tidings[] = [];
  constructor(readonly server: () => TestNode) {}

  /** A client for `user` over a recording socket, not connected yet. */
  async make(user: string, options: TidingsOptions = {}): Promise<{ client: Tidings; wire: Wire }> {
    const { WebSocket, wire } = recordingWebSocket();
    const token = await this.server().token(user, { info: { name: user.toUpperCase() } });
    const client = new Tidings(this.server().wsUrl, { ...FAST, token, websocket: WebSocket, ...options });
    this.#all.push(client);
    return { client, wire };
  }

  /** A connected client for `user`. */
  async connected(user: string, options: TidingsOptions = {}): Promise<{ client: Tidings; wire: Wire }> {
    const made = await this.make(user, options);
    await made.client.connect();
    return made;
  }

  closeAll(): void {
    for (const client of this.#all.splice(0)) client.disconnect();
  }
}

/**
 * A `wrapper` for render/renderHook: the provider. For StrictMode pass `reactStrictMode: true`
 * to render/renderHook instead of wrapping here: React 19 double-invokes effects only for a
 * StrictMode at the root, not for one inside a component such as this wrapper.
 */
export function providerWrapper(client: Tidings, options: { releaseDelay?: number } = {}): (props: { children: ReactNode }) => ReactNode {
  return function Wrapper({ children }) {
    return (
      <TidingsProvider client={client} {...(options.releaseDelay !== undefined ? { releaseDelay: options.releaseDelay } : {})}>
        {children}
      </TidingsProvider>
    );
  };
}

/** Subscribed connections the server counts for a channel. */
export async function serverSubscribers(server: TestNode, channel: string): Promise<number> {
  const res = await server.api('GET', `/channels/${encodeURIComponent(channel)}`);
  if (res.status !== 200) throw new Error(`GET /channels/${channel}: ${res.status} ${JSON.stringify(res.body)}`);
  return (res.body as { data: { subscribers: number } }).data.subscribers;
}

/** Publishes through the server API; returns the offset. */
export async function apiPublish(server: TestNode, channel: string, data: unknown): Promise<number | undefined> {
  const res = await server.api('POST', '/publish', { channel, data });
  if (res.status !== 200) throw new Error(`POST /publish: ${res.status} ${JSON.stringify(res.body)}`);
  return (res.body as { data: { offset?: number } }).data.offset;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Bounded waits for `waitFor`. */
export const WAIT = { timeout: 5_000, interval: 10 };
