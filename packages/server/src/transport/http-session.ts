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
 *   reconnects with `Last-Event-ID` resumes without loss. Each stream's preamble carries
 *   the id it starts after (0 on the first), so `Last-Event-ID: 0` resumes a stream cut
 *   before its first event. Frames made while no stream is open wait for the next one.
 *
 * Without a stream or poll for `http.sessionTimeout`, the session ends (code 1006).
 */
import type { ServerResponse } from 'node:http';
import { CloseCode } from '@tidings/protocol';
import type { OutFrame } from '../wire/out-frame.js';
import { encodeEvent, encodeTypedEvent, eventScratch, HeldFrames, idLineLength, writeIdLine } from './http-frames.js';
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

/**
 * Where an SSE session writes its events: the stream's own HTTP response (a ServerResponse is
 * one), or a stream whose client is on another node (sse-relay.ts's RemoteStream).
 */
export interface EventStream {
  writeHead(status: number, headers: Record<string, string>): unknown;
  write(chunk: string | Uint8Array): unknown;
  end(chunk?: string): unknown;
  destroy(): unknown;
  on(event: 'close', listener: () => void): unknown;
  readonly writableLength: number;
  readonly writableEnded: boolean;
}

/**
 * Where the answer to a waiting poll goes: the poll's own HTTP response (`responsePoll`), or
 * a poll another node forwarded (http-forwarding.ts), answered over the node bus.
 */
export interface PollWaiter {
  /** Answers with the JSON body of a poll response. */
  answer(body: string): void;
  /** Ends without a body (the session ended while the poll waited). */
  end(): void;
  /** Drops the request (the session was terminated). */
  destroy(): void;
  /** Calls `fn` once the requester is gone (answered or went away); a forwarded poll never calls it. */
  onGone(fn: () => void): void;
}

/** A poll answered on its own HTTP response, with `headers` (CORS) on the answer. */
export function responsePoll(res: ServerResponse, headers: Record<string, string>): PollWaiter {
  return {
    answer(body) {
      if (!res.headersSent) {
        res.writeHead(200, { ...headers, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
      }
      res.end(body);
    },
    end: () => {
      if (!res.writableEnded) res.end();
    },
    destroy: () => res.destroy(),
    onGone: (fn) => res.on('close', fn),
  };
}

export class HttpSessionTransport implements Transport {
  sink!: HttpSessionSink;
  /** Sub of the token the session was opened with, when one was given. */
  boundUser: string | undefined;
  /** The last bearer token checked for this session: the next request with it skips verification. */
  verifiedToken: string | undefined;

  /** Sequence number of the newest frame (the last one held, when any is). */
  #seq = 0;
  /** Frames not yet acknowledged (polling), or the replay window plus unwritten frames (SSE). */
  #held = new HeldFrames();
  /** SSE: highest sequence written to a stream. Frames `#written + 1 … #seq` are unwritten. */
  #written = 0;
  #stream: EventStream | null = null;
  #heartbeat: NodeJS.Timeout | undefined;
  #poll: { waiter: PollWaiter; timer: NodeJS.Timeout } | null = null;
  #pollWindow = { start: 0, count: 0 };
  /** Highest sequence a poll acknowledged: a poll acknowledging more is not counted toward `maxPollsPerSecond`. */
  #polledUpTo = 0;
  /** Set when the server side closed: delivered to the client after the last frames. */
  #closing: { code: number; reason: string } | null = null;
  #ended = false;
  #idleTimer: NodeJS.Timeout | undefined;
  /** The stream names events by frame type only (`sseEvents: "types"` at open): a named publication's event is `publication`. */
  typeNamedEvents = false;

  constructor(
    /** Unguessable id used in the session's URLs (http-forwarding.ts mints it). Not the connection id (which is public). */
    readonly key: string,
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
    const held = this.#held;
    for (let i = 0; i < frames.length; i++) held.push(frames[i]!.text, frames[i]!.length);
    this.#seq += frames.length;
    if (this.#stream) this.#writeStream(frames);
    else if (this.#poll) this.#answerPoll();
  }

  get bufferedBytes(): number {
    const held = this.#held;
    if (this.kind === 'polling') return held.bytes;
    let unwritten = 0;
    const sizes = held.sizes;
    for (let i = sizes.length - 1, n = Math.min(this.#seq - this.#written, held.count); n > 0; i--, n--) unwritten += sizes[i]!;
    return unwritten + (this.#stream?.writableLength ?? 0);
  }

  /** Sequence number of the oldest frame held; `#seq + 1` when none is. */
  get #oldest(): number {
    return this.#seq + 1 - this.#held.count;
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
    this.#poll?.waiter.destroy();
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
    // SSE keeps unwritten frames whatever the client claims.
    const upTo = this.kind === 'sse' ? Math.min(seq, this.#written) : seq;
    for (let n = Math.min(upTo - this.#oldest + 1, this.#held.count); n > 0; n--) this.#held.dropOldest();
  }

  // ------------------------------------------------------------ SSE

  /**
   * Attaches an event stream, replacing an earlier one. With `lastEventId`, resumes after it;
   * returns false (and ends the session) when that point already left the replay window.
   */
  attachStream(res: EventStream, lastEventId: number | undefined, headers: Record<string, string>): boolean {
    if (this.#ended) return false;
    const oldest = this.#oldest;
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
    if (lastEventId !== undefined) {
      this.acknowledge(lastEventId);
      this.#written = lastEventId;
    } else {
      this.#written = this.#oldest - 1;
    }
    // `id:` without data (nothing is dispatched): where the stream starts, 0 on a first open, so
    // an EventSource cut off before the first event still resumes with a Last-Event-ID.
    res.write(`retry: ${this.options.retry}\nid: ${this.#written}\n: ${' '.repeat(16)}\n\n`);
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

  /**
   * Writes the unwritten frames (`#written + 1 … #seq`, found by index: the replay window
   * before them is not walked) and the close event when closing, as one chunk. Each event
   * is the frame's shared `event:`/`data:` bytes after this session's `id:` line, so the
   * frame is neither rebuilt as a string nor encoded again per session. `fresh`, from
   * `write`, are the newest frames as OutFrames: when they are all the unwritten ones (the
   * usual case), their events come from the OutFrame, built once for every session the
   * frame goes to. Otherwise (a stream attached or resumed) they are encoded from the
   * held texts.
   */
  #writeStream(fresh?: readonly OutFrame[]): void {
    const res = this.#stream!;
    const from = this.#written + 1;
    const count = this.#seq - this.#written;
    const events = eventScratch;
    events.length = 0;
    let size = 0;
    if (fresh !== undefined && fresh.length === count) {
      for (let i = 0; i < count; i++) events.push((this.typeNamedEvents ? encodeTypedEvent(fresh[i]!.text) : null) ?? fresh[i]!.sseEvent(encodeEvent));
    } else {
      const texts = this.#held.texts;
      for (let i = texts.length - count; i < texts.length; i++) events.push((this.typeNamedEvents ? encodeTypedEvent(texts[i]!) : null) ?? encodeEvent(texts[i]!));
    }
    for (let i = 0; i < count; i++) size += idLineLength(from + i) + events[i]!.length;
    const close = this.#closing ? `event: close\ndata: ${JSON.stringify(this.#closing)}\n\n` : '';
    if (close) size += Buffer.byteLength(close);
    if (size > 0) {
      const out = Buffer.allocUnsafe(size);
      let at = 0;
      for (let i = 0; i < count; i++) {
        at = writeIdLine(out, at, from + i);
        out.set(events[i]!, at);
        at += events[i]!.length;
      }
      if (close) out.write(close, at);
      res.write(out);
    }
    events.length = 0;
    this.#written = this.#seq;
    // Keep at most `replayBytes` of written frames for a resume (and at least the last one).
    const held = this.#held;
    while (held.count > 1 && held.bytes > this.options.replayBytes) held.dropOldest();
  }

  #stopHeartbeat(): void {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  // ------------------------------------------------------------ polling

  /**
   * A poll: acknowledges `ack`, then answers with every later frame, or waits. A new poll
   * answers a waiting one (empty) first. Returns false when polls come too fast: more than
   * `maxPollsPerSecond` in a second that neither acknowledge a frame no earlier poll did nor
   * collect the close. A client keeping up with a busy session polls again as soon as each
   * answer comes, with a higher ack: those polls are bounded by the frames written, and
   * refusing them would hold the client back a second at a time, long enough for a close
   * (disconnect) to wait unseen and its reconnect to fall behind the history it recovers from.
   */
  attachPoll(waiter: PollWaiter, ack: number): boolean {
    const progress = ack > this.#polledUpTo && ack <= this.#seq;
    if (!progress && !this.#closing) {
      const now = Date.now();
      if (now - this.#pollWindow.start >= 1000) this.#pollWindow = { start: now, count: 0 };
      if (++this.#pollWindow.count > this.options.maxPollsPerSecond) return false;
    }
    if (progress) this.#polledUpTo = ack;
    this.acknowledge(ack);
    if (this.#poll) this.#respondPoll(this.#poll, false);
    clearTimeout(this.#idleTimer);
    const timer = setTimeout(() => {
      if (this.#poll?.waiter === waiter) this.#answerPoll();
    }, this.options.pollTimeout);
    const poll = { waiter, timer };
    this.#poll = poll;
    waiter.onGone(() => {
      clearTimeout(timer);
      if (this.#poll !== poll) return;
      this.#poll = null;
      if (!this.#ended) this.#armIdle();
    });
    if (this.#held.count > 0 || this.#closing) {
      this.#answerPoll();
      if (this.#closing) this.#end();
    }
    return true;
  }

  #answerPoll(): void {
    const poll = this.#poll!;
    this.#respondPoll(poll, true);
  }

  /** Answers `poll` with every held frame (and the close, if any), or with none. */
  #respondPoll(poll: { waiter: PollWaiter; timer: NodeJS.Timeout }, withFrames: boolean): void {
    clearTimeout(poll.timer);
    if (this.#poll === poll) this.#poll = null;
    const from = withFrames ? this.#oldest : this.#seq + 1;
    let body = `{"from":${from},"frames":[${withFrames ? this.#held.joined() : ''}]`;
    if (this.#closing && withFrames) body += `,"close":${JSON.stringify(this.#closing)}`;
    body += '}';
    poll.waiter.answer(body);
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
      this.#poll.waiter.end();
      this.#poll = null;
    }
    this.#held = new HeldFrames();
    const { code, reason } = this.#closing ?? { code: 1006, reason: 'terminated' };
    this.onEnd(this);
    this.sink.handleTransportClosed(code, reason);
  }
}
