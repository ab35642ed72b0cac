/**
 * The transport behind one SSE or long-polling session. Every frame the session writes
 * gets a sequence number and stays buffered until the client has it:
 *
 * - **Polling**: a poll acknowledges the last sequence it received (`ack`) and gets every
 *   frame after it, or waits up to `pollTimeout` for one. Frames stay until acknowledged,
 *   so a response lost in flight is sent again by the next poll. Unacknowledged bytes count
 *   toward `client.maxQueueBytes`, like a WebSocket's unsent bytes.
 * - **SSE**: frames are written to the open stream as events whose `id:` is the sequence.
 *   Written frames are kept in a replay window (`http.replayBytes`), so an EventSource that
 *   reconnects with `Last-Event-ID` resumes without loss. Frames made while no stream is
 *   open wait for the next one.
 *
 * Without a stream or poll for `http.sessionTimeout`, the session ends (code 1006).
 */
import type { ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { CloseCode } from '@tidings/protocol';
import type { OutFrame } from '../hub/out-frame.js';
import type { Transport } from './transport.js';

export interface HttpSessionSink {
  handleMessage(text: string, bytes?: number): void;
  handleBadMessage(problem: string): void;
  handleTransportClosed(code: number, reason: string): void;
  /** The session's user once connected ('' before, or when anonymous). */
  user(): string;
}

export interface HttpSessionOptions {
  sessionTimeout: number;
  pollTimeout: number;
  heartbeat: number;
  retry: number;
  replayBytes: number;
  maxPollsPerSecond: number;
}

interface Buffered {
  seq: number;
  text: string;
  bytes: number;
}

/** 128 random bits, URL-safe. */
export function randomKey(): string {
  return randomBytes(16).toString('base64url');
}

/** The SSE event name of a frame: its push `type`, or `reply` for replies. */
export function eventName(text: string): string {
  if (!text.startsWith('{"type":"')) return 'reply';
  const end = text.indexOf('"', 9);
  return end > 9 ? text.slice(9, end) : 'message';
}

export class HttpSessionTransport implements Transport {
  /** Unguessable id used in the session's URLs. Not the connection id (which is public). */
  readonly key = randomKey();
  sink!: HttpSessionSink;
  /** Sub of the token the session was opened with, when one was given. */
  boundUser: string | undefined;
  /** The last bearer token checked for this session: the next request with it skips verification. */
  verifiedToken: string | undefined;

  #seq = 0;
  /** Frames not yet acknowledged (polling), or the replay window plus unwritten frames (SSE). */
  #buffer: Buffered[] = [];
  #bufferBytes = 0;
  /** SSE: highest sequence written to a stream. */
  #written = 0;
  #stream: ServerResponse | null = null;
  #heartbeat: NodeJS.Timeout | undefined;
  #poll: { res: ServerResponse; timer: NodeJS.Timeout } | null = null;
  #pollWindow = { start: 0, count: 0 };
  /** Set when the server side closed: delivered to the client after the last frames. */
  #closing: { code: number; reason: string } | null = null;
  #ended = false;
  #idleTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly kind: 'sse' | 'polling',
    private readonly options: HttpSessionOptions,
    private readonly onEnd: (t: HttpSessionTransport) => void,
  ) {
    this.#armIdle();
  }

  get ended(): boolean {
    return this.#ended;
  }

  write(frames: readonly OutFrame[]): void {
    if (this.#ended || this.#closing) return;
    for (const f of frames) {
      this.#buffer.push({ seq: ++this.#seq, text: f.text, bytes: f.length });
      this.#bufferBytes += f.length;
    }
    if (this.#stream) this.#writeStream();
    else if (this.#poll) this.#answerPoll();
  }

  get bufferedBytes(): number {
    if (this.kind === 'polling') return this.#bufferBytes;
    let unwritten = 0;
    for (let i = this.#buffer.length - 1; i >= 0 && this.#buffer[i]!.seq > this.#written; i--) unwritten += this.#buffer[i]!.bytes;
    return unwritten + (this.#stream?.writableLength ?? 0);
  }

  close(code: number, reason: string): void {
    if (this.#ended || this.#closing) return;
    this.#closing = { code, reason };
    if (this.#stream) {
      this.#writeStream();
      this.#end();
    } else if (this.#poll) {
      this.#answerPoll();
      this.#end();
    }
    // Otherwise the next poll or stream gets the last frames and the close, until the idle timeout.
  }

  terminate(): void {
    if (this.#ended) return;
    this.#stream?.destroy();
    this.#poll?.res.destroy();
    this.#end();
  }

  /** The client ended the session itself. */
  clientClosed(): void {
    if (this.#ended) return;
    this.#closing ??= { code: CloseCode.Normal, reason: 'client closed' };
    this.#end();
  }

  /** Drops frames up to `seq` (the client has them). */
  acknowledge(seq: number): void {
    if (!(seq > 0)) return;
    while (this.#buffer.length > 0 && this.#buffer[0]!.seq <= seq) {
      // SSE keeps unwritten frames whatever the client claims.
      if (this.kind === 'sse' && this.#buffer[0]!.seq > this.#written) break;
      this.#bufferBytes -= this.#buffer.shift()!.bytes;
    }
  }

  // ------------------------------------------------------------ SSE

  /**
   * Attaches an event stream, replacing an earlier one. With `lastEventId`, resumes after it;
   * returns false (and ends the session) when that point already left the replay window.
   */
  attachStream(res: ServerResponse, lastEventId: number | undefined, headers: Record<string, string>): boolean {
    if (this.#ended) return false;
    const oldest = this.#buffer[0]?.seq ?? this.#seq + 1;
    if (lastEventId !== undefined && (lastEventId > this.#seq || lastEventId < oldest - 1)) {
      res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' });
      res.end(`event: close\ndata: ${JSON.stringify({ code: CloseCode.ForceReconnect, reason: 'cannot resume' })}\n\n`);
      this.terminate();
      return false;
    }
    if (this.#stream) this.#stream.end();
    this.#stopHeartbeat();
    clearTimeout(this.#idleTimer);
    this.#stream = res;
    res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store, no-transform',
      'x-accel-buffering': 'no',
    });
    res.write(`retry: ${this.options.retry}\n: ${' '.repeat(16)}\n\n`);
    if (lastEventId !== undefined) {
      this.acknowledge(lastEventId);
      this.#written = lastEventId;
    } else {
      this.#written = (this.#buffer[0]?.seq ?? this.#seq + 1) - 1;
    }
    res.on('close', () => {
      if (this.#stream !== res) return;
      this.#stream = null;
      this.#stopHeartbeat();
      if (!this.#ended) this.#armIdle();
    });
    this.#heartbeat = setInterval(() => res.write(': hb\n\n'), this.options.heartbeat);
    this.#heartbeat.unref();
    this.#writeStream();
    if (this.#closing) this.#end();
    return true;
  }

  #writeStream(): void {
    const res = this.#stream!;
    let out = '';
    for (const f of this.#buffer) {
      if (f.seq <= this.#written) continue;
      out += `id: ${f.seq}\nevent: ${eventName(f.text)}\ndata: ${f.text}\n\n`;
      this.#written = f.seq;
    }
    if (this.#closing) out += `event: close\ndata: ${JSON.stringify(this.#closing)}\n\n`;
    if (out) res.write(out);
    // Keep at most `replayBytes` of written frames for a resume.
    while (this.#buffer.length > 1 && this.#buffer[0]!.seq <= this.#written && this.#bufferBytes > this.options.replayBytes) {
      this.#bufferBytes -= this.#buffer.shift()!.bytes;
    }
  }

  #stopHeartbeat(): void {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  // ------------------------------------------------------------ polling

  /**
   * A poll: acknowledges `ack`, then answers with every later frame, or waits. A new poll
   * answers a waiting one (empty) first. Returns false when polls come too fast.
   */
  attachPoll(res: ServerResponse, ack: number, headers: Record<string, string>): boolean {
    const now = Date.now();
    if (now - this.#pollWindow.start >= 1000) this.#pollWindow = { start: now, count: 0 };
    if (++this.#pollWindow.count > this.options.maxPollsPerSecond) return false;
    this.acknowledge(ack);
    if (this.#poll) this.#respondPoll(this.#poll, []);
    clearTimeout(this.#idleTimer);
    const timer = setTimeout(() => {
      if (this.#poll?.res === res) this.#answerPoll();
    }, this.options.pollTimeout);
    const poll = { res, timer, headers };
    this.#poll = poll;
    res.on('close', () => {
      clearTimeout(timer);
      if (this.#poll !== poll) return;
      this.#poll = null;
      if (!this.#ended) this.#armIdle();
    });
    if (this.#buffer.length > 0 || this.#closing) {
      this.#answerPoll();
      if (this.#closing) this.#end();
    }
    return true;
  }

  #answerPoll(): void {
    const poll = this.#poll!;
    this.#respondPoll(poll, this.#buffer);
  }

  #respondPoll(poll: { res: ServerResponse; timer: NodeJS.Timeout; headers?: Record<string, string> }, frames: readonly Buffered[]): void {
    clearTimeout(poll.timer);
    if (this.#poll === poll) this.#poll = null;
    const from = frames[0]?.seq ?? this.#seq + 1;
    let body = `{"from":${from},"frames":[${frames.map((f) => f.text).join(',')}]`;
    if (this.#closing && frames === this.#buffer) body += `,"close":${JSON.stringify(this.#closing)}`;
    body += '}';
    if (!poll.res.headersSent) {
      poll.res.writeHead(200, { ...(poll.headers ?? {}), 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
    }
    poll.res.end(body);
    if (!this.#ended) this.#armIdle();
  }

  // ------------------------------------------------------------ lifetime

  #armIdle(): void {
    clearTimeout(this.#idleTimer);
    if (this.#poll || this.#stream) return;
    this.#idleTimer = setTimeout(() => {
      if (!this.#poll && !this.#stream) this.#timeout();
    }, this.options.sessionTimeout);
    this.#idleTimer.unref();
  }

  #timeout(): void {
    if (this.#ended) return;
    this.#closing ??= { code: 1006, reason: 'session timeout' };
    this.#end();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#idleTimer);
    this.#stopHeartbeat();
    if (this.#stream && !this.#stream.writableEnded) this.#stream.end();
    this.#stream = null;
    if (this.#poll) {
      clearTimeout(this.#poll.timer);
      if (!this.#poll.res.writableEnded) this.#poll.res.end();
      this.#poll = null;
    }
    this.#buffer = [];
    this.#bufferBytes = 0;
    const { code, reason } = this.#closing ?? { code: 1006, reason: 'terminated' };
    this.onEnd(this);
    this.sink.handleTransportClosed(code, reason);
  }
}
