/**
 * A minimal protocol v1 client over `ws` for server tests: numbered commands,
 * reply promises, a record of every push, and the close code.
 */
import WebSocket from 'ws';
import { decodeServerMessage, WS_BEARER_PREFIX, WS_SUBPROTOCOL, type Push, type Reply, type ServerFrame } from '@tidings/protocol';

export interface CloseInfo {
  code: number;
  reason: string;
}

export class TestClient {
  readonly pushes: Push[] = [];
  /** Raw WebSocket messages as received (to check coalescing). */
  readonly messages: string[] = [];
  readonly closed: Promise<CloseInfo>;
  private nextId = 1;
  private readonly pending = new Map<number, (reply: Reply) => void>();
  private waiters: { pred: (f: Push) => boolean; resolve: (f: Push) => void }[] = [];
  /** Answer pings automatically (default true). */
  autoPong = true;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('message', (data) => {
      const text = data.toString();
      this.messages.push(text);
      for (const frame of decodeServerMessage(text)) {
        if (typeof frame === 'string') throw new Error(`bad server frame: ${frame}`);
        this.onFrame(frame);
      }
    });
  }

  /** Opens a connection; `token` goes in the handshake as a bearer subprotocol entry. */
  static open(url: string, options: { token?: string; protocols?: string[]; headers?: Record<string, string> } = {}): Promise<TestClient> {
    const protocols = options.protocols ?? (options.token ? [WS_SUBPROTOCOL, WS_BEARER_PREFIX + options.token] : [WS_SUBPROTOCOL]);
    const ws = new WebSocket(url, protocols, { headers: options.headers ?? {} });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new TestClient(ws)));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => reject(Object.assign(new Error(`upgrade rejected: ${res.statusCode}`), { status: res.statusCode, body })));
      });
      ws.once('error', reject);
    });
  }

  /** Opens and connects in one go. */
  static async connect(url: string, token: string, extra: Record<string, unknown> = {}): Promise<{ client: TestClient; result: Record<string, any> }> {
    const client = await TestClient.open(url);
    const reply = await client.call('connect', { token, ...extra });
    if ('error' in reply) throw new Error(`connect failed: ${reply.error.code} ${reply.error.message}`);
    return { client, result: reply.result as Record<string, any> };
  }

  private onFrame(frame: ServerFrame): void {
    if ('id' in frame && typeof frame.id === 'number') {
      const resolve = this.pending.get(frame.id);
      this.pending.delete(frame.id);
      resolve?.(frame as Reply);
      return;
    }
    const push = frame as Push;
    if (push.type === 'ping' && this.autoPong) this.send('{"type":"pong"}');
    this.pushes.push(push);
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(push)) return true;
      w.resolve(push);
      return false;
    });
  }

  send(text: string): void {
    this.ws.send(text);
  }

  /** Sends a command and resolves with its reply. */
  call(type: string, params: Record<string, unknown> = {}): Promise<Reply> {
    const id = this.nextId++;
    const p = new Promise<Reply>((resolve) => this.pending.set(id, resolve));
    this.send(JSON.stringify({ id, type, ...params }));
    return p;
  }

  /** Like `call`, but throws on an error reply. */
  async ok(type: string, params: Record<string, unknown> = {}): Promise<any> {
    const reply = await this.call(type, params);
    if ('error' in reply) throw new Error(`${type} failed: ${reply.error.code}: ${reply.error.message}`);
    return reply.result;
  }

  /** Resolves with the first push (already received or future) matching `pred`. */
  waitForPush<T extends Push = Push>(pred: (p: Push) => boolean, timeoutMs = 3000): Promise<T> {
    const seen = this.pushes.find(pred);
    if (seen) return Promise.resolve(seen as T);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('push not received in time')), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f as T);
        },
      });
    });
  }

  publications(channel?: string): Extract<Push, { type: 'publication' }>[] {
    return this.pushes.filter((p): p is Extract<Push, { type: 'publication' }> => p.type === 'publication' && (channel === undefined || p.channel === channel));
  }

  close(): void {
    this.ws.close();
  }
}
