/**
 * A TCP fault proxy for tests (issue 20, section 4): listens on 127.0.0.1, port 0, and forwards
 * each accepted connection to a target, with faults a real network has, for every connection
 * (`setMode`) or one (`connection.setMode`):
 *
 * - `latencyMs`: each chunk is held this long, each way (order kept);
 * - `bytesPerSecond`: each direction is paced to this rate; the proxy reads no faster than it
 *   writes (a small queue), so the sender meets TCP backpressure as behind a slow link;
 * - `blackhole`: the bytes are read and dropped, nothing is forwarded, and neither a FIN nor an
 *   RST reaches the other side when one side closes (a partition). A connection that lost bytes
 *   cannot carry a byte stream again: it stays blackholed until the proxy closes. New connections
 *   in this mode are accepted and never connected to the target.
 * - `reset`: new connections are reset at once; `reset()` resets open ones (both sides get an
 *   RST: `socket.resetAndDestroy()`).
 *
 * `heal()` goes back to plain forwarding for new connections and the open ones not blackholed.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface FaultMode {
  /** Added delay of each chunk, each way, in ms. */
  latencyMs?: number;
  /** Each direction paced to this many bytes per second. */
  bytesPerSecond?: number;
  /** Read and drop everything; closes are not passed on. */
  blackhole?: boolean;
  /** New connections are reset at once (applied globally, open ones are reset too). */
  reset?: boolean;
}

/** Queued bytes per direction before the proxy stops reading (backpressure to the sender). */
const HIGH_WATER = 16 * 1024;

/** One direction of a connection: reads `from`, writes `to`, with the connection's mode. */
class Lane {
  readonly #queue: Array<{ chunk: Buffer; due: number }> = [];
  #queued = 0;
  #lastDue = 0;
  /** When the paced link is free again (ms, Date.now() clock). */
  #linkFree = 0;
  #timer: NodeJS.Timeout | undefined;
  #waitingDrain = false;
  #ended = false;
  /** Bytes written to `to`. */
  forwarded = 0;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly mode: () => FaultMode,
  ) {
    from.on('data', (chunk: Buffer) => this.#take(chunk));
    from.on('end', () => {
      this.#ended = true;
      this.#pump();
    });
  }

  #take(chunk: Buffer): void {
    const mode = this.mode();
    if (mode.blackhole) return;
    const due = Math.max(Date.now() + (mode.latencyMs ?? 0), this.#lastDue);
    this.#lastDue = due;
    this.#queue.push({ chunk, due });
    this.#queued += chunk.length;
    if (this.#queued > HIGH_WATER) this.from.pause();
    this.#pump();
  }

  /** Drops what is queued (the connection went into a blackhole). */
  drop(): void {
    this.#queue.length = 0;
    this.#queued = 0;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.from.resume();
  }

  #pump(): void {
    if (this.#timer || this.#waitingDrain || this.to.destroyed) return;
    const mode = this.mode();
    if (mode.blackhole) return;
    while (this.#queue.length > 0) {
      const head = this.#queue[0]!;
      const now = Date.now();
      const wait = Math.max(head.due, mode.bytesPerSecond ? this.#linkFree : 0) - now;
      if (wait > 0) {
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.#pump();
        }, wait);
        return;
      }
      let piece = head.chunk;
      if (mode.bytesPerSecond) {
        // At most 50 ms of the link at a time, so a big chunk is paced too.
        const slice = Math.max(1, Math.floor(mode.bytesPerSecond / 20));
        if (piece.length > slice) {
          head.chunk = piece.subarray(slice);
          piece = piece.subarray(0, slice);
        } else this.#queue.shift();
        this.#linkFree = Math.max(now, this.#linkFree) + (piece.length / mode.bytesPerSecond) * 1000;
      } else this.#queue.shift();
      this.#queued -= piece.length;
      this.forwarded += piece.length;
      if (this.#queued <= HIGH_WATER) this.from.resume();
      if (!this.to.write(piece)) {
        this.#waitingDrain = true;
        this.to.once('drain', () => {
          this.#waitingDrain = false;
          this.#pump();
        });
        return;
      }
    }
    if (this.#ended && !this.to.destroyed) this.to.end();
  }
}

/** One accepted connection and its way to the target. */
export class FaultConnection {
  #mode: FaultMode;
  #blackholed = false;
  readonly #lanes: Lane[] = [];
  readonly upstream: Socket | undefined;

  constructor(
    readonly client: Socket,
    target: { host: string; port: number },
    mode: FaultMode,
    private readonly onGone: (c: FaultConnection) => void,
  ) {
    this.#mode = { ...mode };
    client.on('error', () => {});
    if (mode.reset) {
      client.resetAndDestroy();
      onGone(this);
      return;
    }
    if (mode.blackhole) {
      // Accepted, never connected: everything read is dropped.
      this.#blackholed = true;
      client.on('data', () => {});
      client.on('close', () => onGone(this));
      return;
    }
    const upstream = connect(target.port, target.host);
    this.upstream = upstream;
    upstream.on('error', () => {});
    this.#lanes.push(new Lane(client, upstream, () => this.#mode), new Lane(upstream, client, () => this.#mode));
    const closed = (other: Socket) => () => {
      // A partition passes no close on; otherwise the other side is closed as well.
      if (!this.#blackholed && !other.destroyed) other.destroy();
      if (client.destroyed && upstream.destroyed) onGone(this);
    };
    client.on('close', closed(upstream));
    upstream.on('close', closed(client));
  }

  get blackholed(): boolean {
    return this.#blackholed;
  }

  /** Bytes forwarded to the target and back to the client so far. */
  get forwarded(): { toTarget: number; toClient: number } {
    return { toTarget: this.#lanes[0]?.forwarded ?? 0, toClient: this.#lanes[1]?.forwarded ?? 0 };
  }

  /** Changes this connection's faults; `reset` resets it, `blackhole` is for good. */
  setMode(mode: FaultMode): void {
    if (mode.reset) {
      this.reset();
      return;
    }
    if (this.#blackholed) return;
    this.#mode = { ...mode };
    if (mode.blackhole) {
      this.#blackholed = true;
      for (const lane of this.#lanes) lane.drop();
    }
  }

  /** RST both ways. */
  reset(): void {
    if (!this.client.destroyed) this.client.resetAndDestroy();
    if (this.upstream && !this.upstream.destroyed) this.upstream.resetAndDestroy();
    this.onGone(this);
  }

  /** Destroys both sockets (the proxy closes). */
  destroy(): void {
    this.client.destroy();
    this.upstream?.destroy();
  }
}

export interface FaultProxyOptions {
  /** Target port on `host`. */
  port: number;
  /** Target host, default 127.0.0.1. */
  host?: string;
  /** Faults from the start; default none. */
  mode?: FaultMode;
}

export class FaultProxy {
  #mode: FaultMode;
  readonly #open = new Set<FaultConnection>();
  #accepted = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    mode: FaultMode,
  ) {
    this.#mode = mode;
  }

  /** Starts a proxy on 127.0.0.1, port 0, to `options.host:options.port`. */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const target = { host: options.host ?? '127.0.0.1', port: options.port };
    let proxy: FaultProxy | undefined;
    const server = createServer((socket) => {
      const p = proxy!;
      p.#accepted++;
      const c = new FaultConnection(socket, target, p.#mode, (gone) => p.#open.delete(gone));
      if (!socket.destroyed) p.#open.add(c);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new FaultProxy(server, (server.address() as AddressInfo).port, { ...(options.mode ?? {}) });
    return proxy;
  }

  /** `url` (ws://, http://, redis://) with its port replaced by the proxy's. */
  url(url: string): string {
    return url.replace(/:\d+(\/|$)/, `:${this.port}$1`);
  }

  /** Connections accepted so far. */
  get accepted(): number {
    return this.#accepted;
  }

  /** The open connections (to change one's faults). */
  connections(): FaultConnection[] {
    return [...this.#open];
  }

  /** Faults for new connections and every open one. */
  setMode(mode: FaultMode): void {
    this.#mode = { ...mode, reset: mode.reset };
    for (const c of [...this.#open]) c.setMode(mode);
  }

  /** Every connection, open and new, into a blackhole. */
  blackhole(): void {
    this.setMode({ blackhole: true });
  }

  /** RST every open connection; returns how many. New ones pass as the mode says. */
  reset(): number {
    const open = [...this.#open];
    for (const c of open) c.reset();
    return open.length;
  }

  /** Plain forwarding again, for new connections and the open ones not blackholed. */
  heal(): void {
    this.setMode({});
  }

  async close(): Promise<void> {
    for (const c of this.#open) c.destroy();
    this.#open.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
