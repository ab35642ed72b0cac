/**
 * Commands on their way out: ids, batching, replies, timeouts and the offline queue.
 *
 * - A command sent while the connection is up goes into the current batch: every frame
 *   sent during one turn (microtask) travels in one message, up to `maxMessageBytes`.
 * - A command made while the client is connecting waits in the offline queue (bounded by
 *   `queueMax`, each waiting at most `queueTimeout`) and goes out in order once connected.
 *   Overflow and timeout reject; nothing is dropped silently.
 * - When the connection is lost, commands marked `resend` (publishes, which carry an
 *   idempotency key) go back to the front of the queue in their original order; the others
 *   reject with `connection_lost`. The queue stays within `queueMax` even then: the newest
 *   commands that no longer fit reject with `queue_full`.
 */
import type { Command, ErrorBody } from '@tidings/protocol';
import { ClientErrorCode, TidingsError } from './errors.js';
import { utf8Length } from './ids.js';
import { startTimer } from './timers.js';
import { MAX_COMMAND_ID } from './wire.js';
import type { WireCodec } from './transports/websocket.js';

/** A command without its id: the outbox numbers it. */
export type CommandBody = Command extends infer C ? (C extends Command ? Omit<C, 'id'> : never) : never;

/**
 * Receives a command's outcome. It runs synchronously while the reply is read, before any
 * frame that follows the reply in the same message: the client relies on that ordering
 * (a subscribe reply must be applied before the publications after it).
 */
export type Done = (error: TidingsError | null, result?: unknown) => void;

interface Entry {
  body: CommandBody;
  done: Done;
  resend: boolean;
  timeout: number;
  id?: number;
  /** Encoded size, once sent. */
  bytes?: number;
  timer?: ReturnType<typeof setTimeout>;
}

export interface OutboxOptions {
  timeout: number;
  queueMax: number;
  queueTimeout: number;
  maxMessageBytes: number;
}

export class Outbox {
  readonly #options: OutboxOptions;
  #send: ((text: string) => void) | null = null;
  /** Open: commands go straight out. Closed (connecting): they wait in `#waiting`. */
  #open = false;
  #nextId = 1;
  readonly #pending = new Map<number, Entry>();
  #waiting: Entry[] = [];
  #batch: string[] = [];
  #batchBytes = 0;
  #flushScheduled = false;
  /** How commands' data is written as JSON (the encoding's: binary data's JSON form). */
  _replacer: WireCodec['replacer'];

  constructor(options: OutboxOptions) {
    this.#options = options;
  }

  /** Commands waiting for a connection. */
  get queuedCount(): number {
    return this.#waiting.length;
  }

  /** A transport is up: `sendNow` works, queued commands still wait for `open()`. */
  attach(send: (text: string) => void): void {
    this.#send = send;
  }

  /** The connection is established: send everything queued, in order, and send directly from now on. */
  open(): void {
    this.#open = true;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const entry of waiting) {
      clearTimeout(entry.timer);
      this.#transmit(entry);
    }
  }

  /**
   * The connection is gone. Pending commands marked `resend` return to the front of the
   * queue (in the order they were sent); the others reject with `error`.
   */
  connectionLost(error: TidingsError, dropLargest = false): void {
    this.#open = false;
    this.#send = null;
    this.#batch = [];
    this.#batchBytes = 0;
    const requeue: Entry[] = [];
    const sent = [...this.#pending.values()].sort((a, b) => a.id! - b.id!);
    if (dropLargest && sent.length > 0) {
      // The server closed with 1009 (message too big): the biggest command in flight caused it.
      const largest = sent.reduce((a, b) => ((b.bytes ?? 0) > (a.bytes ?? 0) ? b : a));
      sent.splice(sent.indexOf(largest), 1);
      clearTimeout(largest.timer);
      largest.done(tooBig(largest.bytes ?? 0, 'close 1009'));
    }
    for (const entry of sent) {
      clearTimeout(entry.timer);
      delete entry.id;
      if (entry.resend) requeue.push(entry);
      else entry.done(error);
    }
    this.#pending.clear();
    for (const entry of requeue) this.#armQueueTimer(entry);
    this.#waiting = [...requeue, ...this.#waiting];
    // Bounded, and never dropped silently: what does not fit is refused, newest first. (A
    // refused publish that was in flight may have been published: its ack was lost.)
    for (const entry of this.#waiting.splice(this.#options.queueMax)) {
      clearTimeout(entry.timer);
      entry.done(this.#queueFull());
    }
  }

  /**
   * The server refused a message as too big without running it (HTTP 413): its commands
   * reject with `payload_too_large` and are not sent again.
   */
  refuse(text: string): void {
    for (const line of text.split('\n')) {
      let id: unknown;
      try {
        id = (JSON.parse(line) as { id?: unknown }).id;
      } catch {
        continue;
      }
      const entry = this.#pending.get(id as number);
      if (!entry) continue;
      this.#pending.delete(id as number);
      clearTimeout(entry.timer);
      entry.done(tooBig(utf8Length(line), 'HTTP 413'));
    }
  }

  /** Rejects everything, sent or queued (the client stopped). */
  rejectAll(error: TidingsError): void {
    this.connectionLost(error);
    for (const entry of this.#waiting) {
      clearTimeout(entry.timer);
      entry.done(error);
    }
    this.#waiting = [];
  }

  /**
   * Sends a command when open, or queues it. Resolves with the reply's result and rejects
   * with a `TidingsError` for an error reply, a timeout, a full queue or a lost connection.
   */
  call(body: CommandBody, options: { resend?: boolean; timeout?: number } = {}): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const done: Done = (error, result) => (error ? reject(error) : resolve(result));
      const entry: Entry = { body, done, resend: options.resend ?? false, timeout: options.timeout ?? this.#options.timeout };
      if (this.#open) {
        this.#transmit(entry);
        return;
      }
      // Refuse at once what could never be sent (the id is at most 10 digits).
      const size = utf8Length(JSON.stringify({ ...body, id: MAX_COMMAND_ID } as Command, this._replacer));
      if (size > this.#options.maxMessageBytes) {
        done(this.#overLimit(size));
        return;
      }
      if (this.#waiting.length >= this.#options.queueMax) {
        done(this.#queueFull());
        return;
      }
      this.#armQueueTimer(entry);
      this.#waiting.push(entry);
    });
  }

  /**
   * Sends a command at once on the attached transport, even before `open()`: for the
   * commands the client issues while (re)establishing a connection.
   */
  sendNow(body: CommandBody, done: Done = () => {}, options: { timeout?: number } = {}): void {
    if (!this.#send) {
      done(new TidingsError(ClientErrorCode.ConnectionLost, 'not connected', { temporary: true }));
      return;
    }
    this.#transmit({ body, done, resend: false, timeout: options.timeout ?? this.#options.timeout });
  }

  /** Sends a frame that has no id and expects no reply (`pong`). */
  sendRaw(text: string): void {
    this.#enqueueText(text, utf8Length(text));
  }

  /** Settles the command a reply answers. Returns false for an unknown id. */
  handleReply(reply: { id: number; result?: unknown; error?: ErrorBody }): boolean {
    const entry = this.#pending.get(reply.id);
    if (!entry) return false;
    this.#pending.delete(reply.id);
    clearTimeout(entry.timer);
    if (reply.error) entry.done(TidingsError.fromReply(reply.error));
    else entry.done(null, reply.result ?? {});
    return true;
  }

  /** A command of `bytes` bytes that could never be sent: over `maxMessageBytes`. */
  #overLimit(bytes: number): TidingsError {
    return new TidingsError('payload_too_large', `command is ${bytes} bytes, over the ${this.#options.maxMessageBytes}-byte message limit`, { temporary: false });
  }

  #queueFull(): TidingsError {
    return new TidingsError(ClientErrorCode.QueueFull, `offline queue is full (${this.#options.queueMax} commands)`, { temporary: true });
  }

  #armQueueTimer(entry: Entry): void {
    entry.timer = startTimer(() => {
      const i = this.#waiting.indexOf(entry);
      if (i === -1) return;
      this.#waiting.splice(i, 1);
      entry.done(new TidingsError(ClientErrorCode.QueueTimeout, `no connection within ${this.#options.queueTimeout} ms`, { temporary: true }));
    }, this.#options.queueTimeout);
  }

  #transmit(entry: Entry): void {
    const id = this.#allocateId();
    const text = JSON.stringify({ ...entry.body, id } as Command, this._replacer);
    const bytes = utf8Length(text);
    if (bytes > this.#options.maxMessageBytes) {
      entry.done(this.#overLimit(bytes));
      return;
    }
    entry.id = id;
    entry.bytes = bytes;
    this.#pending.set(id, entry);
    entry.timer = startTimer(() => {
      if (this.#pending.get(id) !== entry) return;
      this.#pending.delete(id);
      entry.done(new TidingsError(ClientErrorCode.Timeout, `no reply to ${entry.body.type} within ${entry.timeout} ms`, { temporary: true }));
    }, entry.timeout);
    this.#enqueueText(text, bytes);
  }

  #allocateId(): number {
    let id = this.#nextId;
    while (this.#pending.has(id)) id = id >= MAX_COMMAND_ID ? 1 : id + 1;
    this.#nextId = id >= MAX_COMMAND_ID ? 1 : id + 1;
    return id;
  }

  #enqueueText(text: string, bytes: number): void {
    if (this.#batch.length > 0 && this.#batchBytes + 1 + bytes > this.#options.maxMessageBytes) this.#flush();
    this.#batch.push(text);
    this.#batchBytes += bytes + (this.#batch.length > 1 ? 1 : 0);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => {
        this.#flushScheduled = false;
        this.#flush();
      });
    }
  }

  #flush(): void {
    if (this.#batch.length === 0) return;
    const text = this.#batch.join('\n');
    this.#batch = [];
    this.#batchBytes = 0;
    this.#send?.(text);
  }
}

function tooBig(bytes: number, how: string): TidingsError {
  return new TidingsError('payload_too_large', `the server refused a ${bytes}-byte message as too big (${how})`, { temporary: false });
}
