/**
 * A protocol client speaking MessagePack (`tidings.v1.msgpack`) for tests: `ws` + msgpackr,
 * every received binary message decoded, every command packed. It counts the bytes of the
 * messages it receives, as they came off the socket.
 */
import { Packr, Unpackr } from 'msgpackr';
import WebSocket from 'ws';
import { WS_SUBPROTOCOL, WS_SUBPROTOCOL_MSGPACK } from '@tidings/protocol';

export const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

type Frame = Record<string, any>;

export class MsgpackClient {
  readonly pushes: Frame[] = [];
  readonly textMessages: string[] = [];
  /** Bytes of every message received (binary and text), payloads only. */
  bytesIn = 0;
  /** Binary messages received (one may hold several frames). */
  binaryMessages = 0;
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly pending = new Map<number, (f: Frame) => void>();
  private nextId = 1;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('message', (data, isBinary) => {
      this.bytesIn += (data as Buffer).length;
      if (!isBinary) {
        this.textMessages.push(data.toString());
        return;
      }
      this.binaryMessages++;
      for (const frame of unpackr.unpackMultiple(data as Buffer) as Frame[]) {
        if (typeof frame.id === 'number') {
          this.pending.get(frame.id)?.(frame);
          this.pending.delete(frame.id);
        } else if (frame.type === 'ping') this.ws.send(packr.pack({ type: 'pong' }));
        else this.pushes.push(frame);
      }
    });
  }

  /** Connects to `wsUrl` and sends `connect` with `token`. */
  static async connect(wsUrl: string, token: string, protocols = [WS_SUBPROTOCOL_MSGPACK, WS_SUBPROTOCOL]): Promise<MsgpackClient> {
    const ws = new WebSocket(wsUrl, protocols);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const client = new MsgpackClient(ws);
    await client.ok('connect', { token });
    return client;
  }

  call(type: string, params: Frame = {}): Promise<Frame> {
    const id = this.nextId++;
    const reply = new Promise<Frame>((resolve) => this.pending.set(id, resolve));
    this.ws.send(packr.pack({ id, type, ...params }));
    return reply;
  }

  async ok(type: string, params: Frame = {}): Promise<any> {
    const reply = await this.call(type, params);
    if (reply.error) throw new Error(`${type} failed: ${reply.error.code}: ${reply.error.message}`);
    return reply.result;
  }

  publications(channel: string): Frame[] {
    return this.pushes.filter((p) => p.type === 'publication' && p.channel === channel);
  }

  /** The channel's publications once there are `count` (or after about 3 s, however many came). */
  async waitFor(count: number, channel: string): Promise<Frame[]> {
    for (let i = 0; i < 300 && this.publications(channel).length < count; i++) await new Promise((r) => setTimeout(r, 10));
    return this.publications(channel);
  }

  close(): void {
    this.ws.close();
  }
}
