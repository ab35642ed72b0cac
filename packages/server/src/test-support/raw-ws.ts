/**
 * A raw WebSocket client for conformance tests: it writes RFC 6455 frames byte by byte
 * (any opcode, reserved bits, lengths, masks, fragments, invalid UTF-8), so tests can send
 * what a well-behaved library never would, and it reads the server's frames as they come
 * (pongs, close frames with their exact code and reason, text messages split into Tidings
 * frames). permessage-deflate is negotiated on request; compressed server messages are
 * inflated here, and `deflate()` builds a compressed payload to send with RSV1.
 */
import { randomBytes, createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { Unpackr } from 'msgpackr';

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const OP = { cont: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

export interface RawFrame {
  fin: boolean;
  /** RSV1..3 as bits 4, 2, 1 (RSV1 = 4). */
  rsv: number;
  opcode: number;
  payload: Buffer;
}

export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  fin?: boolean;
  /** RSV1 = 4, RSV2 = 2, RSV3 = 1. */
  rsv?: number;
  /** Send unmasked (clients must mask: a protocol error). */
  unmasked?: boolean;
  /** Announce this length instead of the payload's (64-bit field when it needs one). */
  announcedLength?: bigint;
}

export interface CloseInfo {
  /** The server's close code; 1005 when its close frame had none, 1006 when there was no close frame. */
  code: number;
  reason: string;
  /** The raw close payload (for exactness checks). */
  payload: Buffer;
}

export interface RawWsOptions {
  protocols?: string[];
  /** Offer permessage-deflate (with server_no_context_takeover, so each message inflates on its own). */
  deflate?: boolean;
  headers?: Record<string, string>;
}

/** Builds one client frame (masked unless told otherwise). */
export function encodeFrame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : (spec.payload ?? Buffer.alloc(0));
  const fin = spec.fin ?? true;
  const length = spec.announcedLength ?? BigInt(payload.length);
  const head: number[] = [(fin ? 0x80 : 0) | ((spec.rsv ?? 0) << 4) | spec.opcode];
  const maskBit = spec.unmasked ? 0 : 0x80;
  let ext = Buffer.alloc(0);
  if (length < 126n) head.push(maskBit | Number(length));
  else if (length < 65536n) {
    head.push(maskBit | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(Number(length));
  } else {
    head.push(maskBit | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(length);
  }
  if (spec.unmasked) return Buffer.concat([Buffer.from(head), ext, payload]);
  const mask = randomBytes(4);
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i]! ^ mask[i & 3]!;
  return Buffer.concat([Buffer.from(head), ext, mask, masked]);
}

/** A close payload: code (16-bit) and reason. */
export function closePayload(code: number, reason: string | Buffer = ''): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return Buffer.concat([b, typeof reason === 'string' ? Buffer.from(reason) : reason]);
}

/** A permessage-deflate payload (RFC 7692: raw deflate without the final 00 00 ff ff). */
export function deflate(data: Buffer | string): Buffer {
  const out = deflateRawSync(typeof data === 'string' ? Buffer.from(data) : data, { finishFlush: 2 /* Z_SYNC_FLUSH */ });
  return out.subarray(0, out.length - 4);
}

export interface Handshake {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The connection, when the server answered 101. */
  ws?: RawWs;
}

export class RawWs {
  /** Frames received and not yet taken (data frames of a message are joined into one). */
  private readonly queue: RawFrame[] = [];
  private waiters: Array<() => void> = [];
  private buffer = Buffer.alloc(0);
  private partial: RawFrame | undefined;
  private closeInfo: CloseInfo | undefined;
  private ended = false;
  /** Tidings frames from text messages not yet taken. */
  private readonly lines: Array<Record<string, any>> = [];
  private nextId = 100;
  readonly closed: Promise<CloseInfo>;
  private resolveClosed!: (c: CloseInfo) => void;

  private constructor(
    private readonly socket: Socket,
    readonly headers: Record<string, string>,
    readonly inflate: boolean,
    rest: Buffer,
  ) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const gone = () => {
      this.ended = true;
      this.resolveClosed(this.closeInfo ?? { code: 1006, reason: '', payload: Buffer.alloc(0) });
      this.wake();
    };
    socket.on('close', gone);
    socket.on('error', () => socket.destroy());
    if (rest.length > 0) this.onData(rest);
  }

  /** Opens a connection to `url` (ws://127.0.0.1:port/path) and completes the handshake; rejects when refused. */
  static async open(url: string, opts: RawWsOptions = {}): Promise<RawWs> {
    const r = await RawWs.handshake(url, opts);
    if (!r.ws) throw new Error(`handshake refused: ${r.status} ${r.body}`);
    return r.ws;
  }

  /**
   * Sends the upgrade request and reads the answer: the status, headers and (for a refusal)
   * the body, plus the connection when the server switched protocols. `protocols: []` offers
   * no Sec-WebSocket-Protocol header; `protocolHeader` sends that exact header value.
   */
  static handshake(url: string, opts: RawWsOptions & { protocolHeader?: string } = {}): Promise<Handshake> {
    const u = new URL(url);
    const key = randomBytes(16).toString('base64');
    return new Promise((resolve, reject) => {
      const socket = connect(Number(u.port), u.hostname);
      socket.setNoDelay(true);
      let got = Buffer.alloc(0);
      let head: { status: number; headers: Record<string, string>; bodyAt: number } | undefined;
      const finishRefusal = () => {
        socket.destroy();
        resolve({ status: head!.status, headers: head!.headers, body: got.subarray(head!.bodyAt).toString() });
      };
      const onData = (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        if (head) return;
        const end = got.indexOf('\r\n\r\n');
        if (end < 0) return;
        const [statusLine, ...lines] = got.subarray(0, end).toString('latin1').split('\r\n');
        const headers: Record<string, string> = {};
        for (const l of lines) {
          const i = l.indexOf(':');
          headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
        }
        head = { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine!)?.[1] ?? 0), headers, bodyAt: end + 4 };
        if (head.status !== 101) {
          // The refusal's body: up to Content-Length, or until the server closes.
          const length = Number(headers['content-length'] ?? NaN);
          if (Number.isFinite(length) && got.length - head.bodyAt >= length) finishRefusal();
          else socket.on('end', finishRefusal);
          return;
        }
        socket.off('data', onData);
        socket.off('error', reject);
        const accept = createHash('sha1').update(key + GUID).digest('base64');
        if (headers['sec-websocket-accept'] !== accept) {
          socket.destroy();
          reject(new Error('bad Sec-WebSocket-Accept'));
          return;
        }
        const inflate = (headers['sec-websocket-extensions'] ?? '').includes('permessage-deflate');
        resolve({ status: 101, headers, body: '', ws: new RawWs(socket, headers, inflate, got.subarray(end + 4)) });
      };
      socket.on('data', onData);
      socket.on('error', reject);
      const extra = Object.entries(opts.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      const protocols = opts.protocolHeader ?? (opts.protocols ?? ['tidings.v1']).join(', ');
      socket.write(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
          (protocols !== '' ? `Sec-WebSocket-Protocol: ${protocols}\r\n` : '') +
          (opts.deflate ? 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; server_no_context_takeover\r\n' : '') +
          `${extra}\r\n`,
      );
    });
  }

  /** Writes one frame (or several, in one TCP write). */
  send(...specs: FrameSpec[]): void {
    this.sendRaw(Buffer.concat(specs.map(encodeFrame)));
  }

  sendRaw(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  text(s: string | Buffer): void {
    this.send({ opcode: OP.text, payload: s });
  }

  /** Sends a Tidings command (one text message) with a fresh id; returns the id. */
  command(cmd: Record<string, unknown>): number {
    const id = this.nextId++;
    this.text(JSON.stringify({ id, ...cmd }));
    return id;
  }

  /** The next frame that is not a text or binary message with Tidings frames, e.g. a pong. */
  async nextControl(timeoutMs = 3000): Promise<RawFrame> {
    return this.waitFor(() => {
      const i = this.queue.findIndex((f) => f.opcode >= 8);
      return i < 0 ? undefined : this.queue.splice(i, 1)[0];
    }, timeoutMs, 'control frame');
  }

  /** The next message (text or binary), raw. */
  async nextMessage(timeoutMs = 3000): Promise<RawFrame> {
    return this.waitFor(() => {
      const i = this.queue.findIndex((f) => f.opcode === OP.text || f.opcode === OP.binary);
      return i < 0 ? undefined : this.queue.splice(i, 1)[0];
    }, timeoutMs, 'message');
  }

  /** The first Tidings frame (from text messages, or binary ones on MessagePack) for which `match` holds; others stay for later calls. */
  async frame(match: (f: Record<string, any>) => boolean, timeoutMs = 3000): Promise<Record<string, any>> {
    return this.waitFor(() => {
      for (;;) {
        const at = this.lines.findIndex(match);
        if (at >= 0) return this.lines.splice(at, 1)[0];
        // Text messages hold JSON lines; binary ones (tidings.v1.msgpack) MessagePack values back to back.
        const i = this.queue.findIndex((f) => f.opcode === OP.text || f.opcode === OP.binary);
        if (i < 0) return undefined;
        const [msg] = this.queue.splice(i, 1);
        const found =
          msg!.opcode === OP.binary
            ? (unpackr.unpackMultiple(msg!.payload) as Array<Record<string, any>>)
            : msg!.payload.toString().split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, any>);
        this.lines.push(...found);
      }
    }, timeoutMs, 'Tidings frame');
  }

  /** The reply to command `id`. */
  reply(id: number, timeoutMs = 3000): Promise<Record<string, any>> {
    return this.frame((f) => f.id === id, timeoutMs);
  }

  /** Sends `connect` with `token` and waits for its reply (result expected). */
  async connect(token: string): Promise<Record<string, any>> {
    const id = this.command({ type: 'connect', token });
    const r = await this.reply(id);
    if (!r.result) throw new Error(`connect failed: ${JSON.stringify(r)}`);
    return r;
  }

  /** Resolves with the server's close (after answering it with a close frame), or 1006 if the socket just ended. */
  async closedWithin(timeoutMs = 5000): Promise<CloseInfo> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no close within ${timeoutMs} ms`)), timeoutMs)));
    try {
      return await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** True once the server closed (a close frame or the socket ending). */
  get isClosed(): boolean {
    return this.closeInfo !== undefined || this.ended;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private async waitFor<T>(take: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = take();
      if (got !== undefined) return got;
      if (this.ended || this.closeInfo) throw new Error(`connection closed while waiting for a ${what} (close ${this.closeInfo?.code ?? 1006})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, left);
        function done() {
          clearTimeout(t);
          resolve();
        }
        this.waiters.push(done);
      });
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const f = this.parseOne();
      if (!f) break;
      this.onFrame(f);
    }
    this.wake();
  }

  private parseOne(): RawFrame | undefined {
    const b = this.buffer;
    if (b.length < 2) return undefined;
    let len = b[1]! & 0x7f;
    let at = 2;
    if (len === 126) {
      if (b.length < 4) return undefined;
      len = b.readUInt16BE(2);
      at = 4;
    } else if (len === 127) {
      if (b.length < 10) return undefined;
      len = Number(b.readBigUInt64BE(2));
      at = 10;
    }
    const masked = (b[1]! & 0x80) !== 0;
    const maskAt = at;
    if (masked) at += 4;
    if (b.length < at + len) return undefined;
    let payload = Buffer.from(b.subarray(at, at + len));
    if (masked) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ b[maskAt + (i & 3)]!;
    this.buffer = b.subarray(at + len);
    return { fin: (b[0]! & 0x80) !== 0, rsv: (b[0]! >> 4) & 7, opcode: b[0]! & 0x0f, payload };
  }

  private onFrame(f: RawFrame): void {
    if (f.opcode === OP.close) {
      const code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
      this.closeInfo ??= { code, reason: f.payload.subarray(2).toString(), payload: f.payload };
      // Answer the close (echoing its code) and end our side, as RFC 6455 §5.5.1 asks.
      if (!this.socket.destroyed) this.socket.end(encodeFrame({ opcode: OP.close, payload: f.payload.subarray(0, 2) }));
      this.resolveClosed(this.closeInfo);
      return;
    }
    if (f.opcode >= 8) {
      this.queue.push(f);
      return;
    }
    // Data frames: join fragments into one message.
    if (f.opcode !== OP.cont) this.partial = { ...f, payload: f.payload };
    else if (this.partial) this.partial.payload = Buffer.concat([this.partial.payload, f.payload]);
    if (!f.fin || !this.partial) return;
    const msg = this.partial;
    this.partial = undefined;
    if ((msg.rsv & 4) !== 0 && this.inflate) msg.payload = inflateRawSync(Buffer.concat([msg.payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: 2 });
    this.queue.push({ ...msg, fin: true });
  }
}
