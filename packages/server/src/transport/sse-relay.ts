/**
 * The SSE event stream of a session held by another node. A ticket names the node holding its
 * session (sse-tickets.ts), so a node that gets `GET <path>/sse?ticket=…` for another node's
 * ticket relays the stream from there over the node bus (messages of type `http.session`, like
 * the forwarded requests of http-forwarding.ts):
 *
 * - **Open** (`op: 'stream'`): the relaying node sends the ticket, the raw `Last-Event-ID`, and
 *   the client's IP and User-Agent. The owner checks them as it checks a stream request of its
 *   own, then attaches a `RemoteStream` to the session where an HTTP response would go. The
 *   session writes to it exactly the bytes it writes to a direct stream (the preamble with its
 *   `id:`, each event with its sequence number, heartbeats, the `close` event), so event ids,
 *   resuming with `Last-Event-ID`, one stream per session (a new stream ends the one before) and
 *   the end of the session are those of a direct stream. The answer carries the status, the
 *   headers and the first bytes; the relaying node adds its CORS headers and writes them.
 * - **Pull** (`op: 'pull'`): then, one at a time, the relaying node asks for the bytes written
 *   since the last answer. The owner answers at once when there are some (those of one tick go
 *   together), else when some come, else after `http.pollTimeout` with none; an answer may end
 *   the stream (`end`, after its bytes) or cut it (`destroy`). The next pull goes once the answer
 *   is written and the response holds less than `client.maxQueueBytes` unsent (it waits up to
 *   `http.pollTimeout` for that, then cuts the stream): bytes of a slow client wait on the
 *   owner, where they count toward the session's `client.maxQueueBytes` as a direct stream's do.
 * - **Release** (`op: 'release'`): the client closed the stream (or the relaying node closes).
 *   The owner answers a held pull and detaches the stream, so the session's idle timer runs as
 *   after a closed direct stream. A remote stream not pulled for `http.pollTimeout +
 *   cluster.requestTimeout` is released too (its relaying node is gone).
 * - An owner that is gone, or that does not answer a pull within `http.pollTimeout +
 *   cluster.requestTimeout`, cuts the relayed stream, as its crash would cut a direct one; the
 *   client's resume then gets 401 "unknown or expired ticket" and it opens a new session.
 */
import type { ServerResponse } from 'node:http';
import { ErrorCode } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import { FORWARD_TYPE, type SessionForwarding } from './http-forwarding.js';
import { randomKey } from './http-frames.js';
import type { EventStream } from './http-session.js';

/** A relayed stream's message to the node holding the session. */
export type StreamRequest =
  | { type: typeof FORWARD_TYPE; [key: string]: unknown; op: 'stream'; ticket: string; lastEventId?: string; ip: string; userAgent: string }
  | { type: typeof FORWARD_TYPE; [key: string]: unknown; op: 'pull' | 'release'; stream: string };

/** The answer to a pull (and, with the stream's id, status and headers, to the open). */
export interface StreamChunk {
  /** The bytes written since the last answer (UTF-8 text: whole SSE lines). */
  chunk: string;
  /** The stream ended after `chunk`. */
  end?: true;
  /** The stream was cut (the session was terminated). */
  destroy?: true;
}

export interface StreamOpened extends StreamChunk {
  stream: string;
  status: number;
  headers: Record<string, string>;
}

/** Reads a stream message off the bus; undefined when it is not one. */
export function parseStreamRequest(message: unknown): StreamRequest | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const m = message as Record<string, unknown>;
  if (m.type !== FORWARD_TYPE) return undefined;
  if (m.op === 'pull' || m.op === 'release') return typeof m.stream === 'string' ? (m as StreamRequest) : undefined;
  const ok =
    m.op === 'stream' &&
    typeof m.ticket === 'string' &&
    typeof m.ip === 'string' &&
    typeof m.userAgent === 'string' &&
    (m.lastEventId === undefined || typeof m.lastEventId === 'string');
  return ok ? (m as StreamRequest) : undefined;
}

// ------------------------------------------------------------ the node holding the session

/**
 * A session's event stream whose client is on another node: what the session writes waits
 * here until that node pulls it. It stands where the stream's HTTP response would.
 */
export class RemoteStream implements EventStream {
  readonly id = randomKey();
  /** 0 until the session writes the head. */
  status = 0;
  headers: Record<string, string> = {};
  #chunks: string[] = [];
  #bytes = 0;
  #ended = false;
  #closed = false;
  #onClose: Array<() => void> = [];
  #pull: { answer: (chunk: StreamChunk) => void; timer: NodeJS.Timeout } | undefined;
  #flush: NodeJS.Immediate | undefined;
  #lost: NodeJS.Timeout | undefined;

  constructor(
    /** How long a pull is held without bytes (`http.pollTimeout`). */
    private readonly holdMs: number,
    /** Released when not pulled for this long (its relay is gone). */
    private readonly lostMs: number,
    private readonly onClosed: (stream: RemoteStream) => void,
  ) {
    this.#armLost();
  }

  writeHead(status: number, headers: Record<string, string>): this {
    this.status = status;
    this.headers = { ...headers };
    return this;
  }

  write(chunk: string | Uint8Array): boolean {
    if (this.#ended || this.#closed) return false;
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString();
    this.#chunks.push(text);
    this.#bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    this.#schedule();
    return true;
  }

  end(chunk?: string): this {
    if (this.#ended || this.#closed) return this;
    if (chunk !== undefined) this.write(chunk);
    this.#ended = true;
    this.#schedule();
    return this;
  }

  /** Cuts the stream: a held pull (or the next) learns it; nothing more is sent. */
  destroy(): this {
    if (this.#closed) return this;
    this.#answer({ chunk: '', destroy: true });
    this.#close();
    return this;
  }

  on(_event: 'close', listener: () => void): this {
    this.#onClose.push(listener);
    return this;
  }

  /** Bytes written and not yet pulled. */
  get writableLength(): number {
    return this.#bytes;
  }

  get writableEnded(): boolean {
    return this.#ended;
  }

  /** Takes the bytes written so far; a stream that ended is done once they are taken. */
  take(): StreamChunk {
    const out: StreamChunk = { chunk: this.#chunks.join('') };
    this.#chunks = [];
    this.#bytes = 0;
    if (this.#ended) {
      out.end = true;
      this.#close();
    }
    return out;
  }

  /** The relaying node asks for the next bytes: answered at once, when some come, or after `holdMs` without. */
  pull(): Promise<StreamChunk> {
    this.#answer({ chunk: '' }); // one pull at a time: an earlier one still held gets nothing
    clearTimeout(this.#lost);
    return new Promise<StreamChunk>((resolve) => {
      const timer = setTimeout(() => this.#answer(this.take()), this.holdMs);
      this.#pull = { answer: resolve, timer };
      if (this.#bytes > 0 || this.#ended) this.#schedule();
    });
  }

  /** The client is gone (it closed the stream, or its node stopped pulling): the session lets go of the stream. */
  release(): void {
    if (this.#closed) return;
    this.#answer({ chunk: '', end: true });
    this.#close();
  }

  /** Answers a held pull on the next turn, so that what one tick writes goes in one answer. */
  #schedule(): void {
    if (!this.#pull || this.#flush) return;
    this.#flush = setImmediate(() => {
      this.#flush = undefined;
      if (this.#pull) this.#answer(this.take());
    });
  }

  #answer(chunk: StreamChunk): void {
    const pull = this.#pull;
    if (!pull) return;
    this.#pull = undefined;
    clearTimeout(pull.timer);
    pull.answer(chunk);
    if (!this.#closed) this.#armLost();
  }

  #armLost(): void {
    clearTimeout(this.#lost);
    this.#lost = setTimeout(() => this.release(), this.lostMs);
    this.#lost.unref();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#lost);
    if (this.#flush) clearImmediate(this.#flush);
    this.#chunks = [];
    this.#bytes = 0;
    this.onClosed(this);
    for (const fn of this.#onClose.splice(0)) fn();
  }
}

/** The remote streams of this node's sessions, by id. A session has at most one open; ended ones go once pulled. */
export class RemoteStreams {
  readonly #streams = new Map<string, RemoteStream>();

  constructor(
    private readonly holdMs: number,
    private readonly lostMs: number,
  ) {}

  get size(): number {
    return this.#streams.size;
  }

  create(): RemoteStream {
    const stream = new RemoteStream(this.holdMs, this.lostMs, (s) => this.#streams.delete(s.id));
    this.#streams.set(stream.id, stream);
    return stream;
  }

  /** Answers a pull or a release of the relaying node. */
  answer(m: Extract<StreamRequest, { op: 'pull' | 'release' }>): Promise<StreamChunk> | StreamChunk {
    const stream = this.#streams.get(m.stream);
    if (m.op === 'release') {
      stream?.release();
      return { chunk: '', end: true };
    }
    if (!stream) throw new TidingsError(ErrorCode.NotFound, 'unknown or ended stream');
    return stream.pull();
  }

  close(): void {
    for (const stream of [...this.#streams.values()]) stream.destroy();
  }
}

// ------------------------------------------------------------ the node the client reached

export interface StreamRelayOptions {
  forwarding: SessionForwarding;
  /** `http.pollTimeout`: how long the owner holds a pull, and the longest wait for the response to drain. */
  pollTimeoutMs: number;
  /** `client.maxQueueBytes`: unsent bytes of the response above which the next pull waits. */
  highWaterBytes: number;
  /** The owner is gone when the stream is opened (the client is told its ticket is unknown, as after a lost session). */
  onUnknownTicket(ip: string): void;
}

/** The streams this node relays from the nodes holding their sessions. */
export class StreamRelays {
  readonly #active = new Set<ServerResponse>();

  constructor(private readonly options: StreamRelayOptions) {}

  /** Streams being relayed now. */
  get size(): number {
    return this.#active.size;
  }

  /**
   * Opens the stream on `owner` (throwing its refusal as a TidingsError, 401 when it is gone),
   * then writes it to `res` until it ends, the client goes, or the owner does.
   */
  async relay(res: ServerResponse, cors: Record<string, string>, owner: string, open: Extract<StreamRequest, { op: 'stream' }>): Promise<void> {
    const { forwarding } = this.options;
    let opened: StreamOpened;
    try {
      opened = (await forwarding.request(owner, open, forwarding.timeoutMs)) as StreamOpened;
    } catch {
      // The node holding the session is gone (or never was): the session is lost.
      this.options.onUnknownTicket(open.ip);
      throw new TidingsError(ErrorCode.Unauthorized, 'unknown or expired ticket');
    }
    if ('error' in opened) {
      const { code, message, temporary } = (opened as unknown as { error: { code: string; message: string; temporary?: boolean } }).error;
      throw new TidingsError(code, message, temporary === true ? { temporary: true } : {});
    }
    if (res.destroyed) {
      void this.#release(owner, opened.stream);
      return;
    }
    const pullTimeout = this.options.pollTimeoutMs + forwarding.timeoutMs;
    let ownerDone = false;
    this.#active.add(res);
    res.on('close', () => {
      this.#active.delete(res);
      if (!ownerDone) void this.#release(owner, opened.stream);
    });
    res.writeHead(opened.status, { ...cors, ...opened.headers });
    /** Writes an answer; false once the stream is over. */
    const write = (answer: StreamChunk): boolean => {
      if (res.destroyed) return false;
      if (answer.chunk) res.write(answer.chunk);
      if (answer.destroy || answer.end) {
        ownerDone = true;
        if (answer.destroy) res.destroy();
        else res.end();
        return false;
      }
      return true;
    };
    if (!write(opened)) return;
    const pull = { type: FORWARD_TYPE, op: 'pull', stream: opened.stream } as const;
    for (;;) {
      if (res.writableLength >= this.options.highWaterBytes && !(await drained(res, this.options.pollTimeoutMs))) {
        res.destroy(); // a client that does not read: its relay is released, the owner keeps the frames for a resume
        return;
      }
      if (res.destroyed) return;
      let answer: StreamChunk;
      try {
        const value = (await forwarding.request(owner, pull, pullTimeout)) as StreamChunk | { error: unknown };
        // The owner no longer has the stream (released, or it ended meanwhile): cut it, the client resumes.
        answer = 'error' in value ? { chunk: '', destroy: true } : value;
      } catch {
        answer = { chunk: '', destroy: true }; // the owner is gone
      }
      if (!write(answer)) return;
    }
  }

  /** Cuts every relayed stream (the node closes); their owners let go of them. */
  close(): void {
    for (const res of [...this.#active]) res.destroy();
  }

  async #release(owner: string, stream: string): Promise<void> {
    try {
      await this.options.forwarding.request(owner, { type: FORWARD_TYPE, op: 'release', stream }, this.options.forwarding.timeoutMs);
    } catch {
      // The owner is gone, or releases the stream itself once it is not pulled.
    }
  }
}

/** Resolves true once `res` has drained, false when it closed or `timeoutMs` passed first. */
function drained(res: ServerResponse, timeoutMs: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const done = (value: boolean) => {
      clearTimeout(timer);
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(value);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}
