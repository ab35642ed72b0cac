/**
 * `MessageLog`: a channel's newest messages with their edits, deletes and annotations folded in,
 * kept up to date from a subscription (docs/messaging.md). The fold is the protocol's own
 * (`applyMessageOp` of @tidings/protocol, the one the server folds history with).
 *
 * How it stays right, whatever the order things arrive in:
 * - The first page comes from history, folded by the server up to the stream's top `T` at the
 *   time of the read: each of its messages is "folded up to" `T`.
 * - Every later publication (live or recovered) is taken once, by offset: one at or below the
 *   highest offset taken so far is already in. A message is added; an operation is applied to
 *   the message it refers to when the log holds it and the operation is newer than what that
 *   message is folded up to (a live message: its own offset).
 * - A recovered batch comes folded up to the subscribe's offset: its messages are folded up to
 *   it, so its operations apply only to the messages held before it (the plan's "ops whose
 *   ref <= since"). Publications that arrive while the page is read wait for it.
 * - After a gap (publications missed for good) or a new epoch, the page is read again.
 */
import { applyMessageOp, type Annotations, type ClientInfo, type Publication } from '@tidings/protocol';
import { Emitter } from './emitter.js';
import { TidingsError } from './errors.js';
import type { Subscription } from './subscription.js';
import type { PublicationContext } from './types.js';

interface MessageFields {
  channel: string;
  /** The message's offset in the channel: its id. */
  offset: number;
  /** The author, when a client published it. */
  info?: ClientInfo;
  /** The message's event name, when it was published with one. */
  event?: string;
  /** The offset of the message it answers, for a reply. */
  replyTo?: number;
  /** The offset of the edit (or delete) whose content `data` is; absent until edited. */
  version?: number;
  /** Reactions and other annotations: kind → name → `{ count, users }`; absent when none. */
  annotations?: Annotations;
}

/** One message of a `MessageLog`, at its latest version: its content, or `deleted` with `data: null`. */
export type Message<T = unknown> = (MessageFields & { data: T; deleted?: undefined }) | (MessageFields & { data: null; deleted: true });

export interface MessageLogOptions {
  /** Newest messages read from history at the start and after a gap (the server caps it). Default 50. */
  limit?: number;
  /** Most messages held: beyond it the oldest go. Default 1000 (at least `limit`). */
  keep?: number;
}

export interface MessageLogEvents<T> {
  /** The messages changed: the new array (also `log.messages`). */
  change: readonly Message<T>[];
  /** Reading history failed (also `log.error`); read again on the next subscribe. */
  error: TidingsError;
}

/** A held message and the offset up to which operations are folded into it. */
interface Held {
  message: Message<unknown>;
  foldedTo: number;
}

/**
 * A channel's messages, folded: edits replace content, deletes blank it, reactions are counted
 * per name with their users. Oldest first, one entry per message offset, operations never listed.
 * Needs a namespace with history (and `messaging` on for the operations). The subscription is
 * the caller's: `close()` stops following it but does not unsubscribe.
 *
 * @example
 * ```ts
 * const sub = client.subscribe<{ text: string }>('chat:lobby');
 * const log = new MessageLog(sub, { limit: 100 });
 * log.on('change', (messages) => render(messages.map((m) => (m.deleted ? '(deleted)' : m.data.text))));
 * await sub.react(log.messages[0]!.offset, '👍');
 * ```
 */
export class MessageLog<T = unknown> extends Emitter<MessageLogEvents<T>> {
  readonly channel: string;
  readonly #sub: Subscription<T>;
  readonly #limit: number;
  readonly #keep: number;
  readonly #offs: Array<() => void>;
  /** Held messages by offset, and their order (ascending). */
  readonly #held = new Map<number, Held>();
  #order: number[] = [];
  #messages: readonly Message<T>[] = [];
  /** The highest offset taken (history page top, live or recovered); undefined before the first page. */
  #top: number | undefined;
  /** Publications that came while the page was read, with what they are folded up to. */
  #waiting: Array<[PublicationContext<T>, number]> = [];
  /** The recovered publications of the subscribe under way (its `subscribed` event follows them). */
  #recovered: PublicationContext<T>[] = [];
  #read = 0;
  #loading = true;
  #error: TidingsError | null = null;
  #closed = false;
  /** Something changed since the last `change` event. */
  #changed = false;

  constructor(subscription: Subscription<T>, options: MessageLogOptions = {}) {
    super();
    const limit = options.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1) throw new TypeError(`MessageLog: limit must be an integer ≥ 1, got ${String(limit)}`);
    this.channel = subscription.channel;
    this.#sub = subscription;
    this.#limit = limit;
    this.#keep = Math.max(limit, options.keep ?? 1000);
    this.#offs = [
      subscription.on('publication', (p) => {
        if (p.recovered) this.#recovered.push(p);
        else {
          this.#take(p, p.offset ?? 0);
          this.#emitIfChanged();
        }
      }),
      subscription.on('subscribed', (ctx) => {
        const batch = this.#recovered.splice(0);
        const foldedTo = ctx.offset ?? Math.max(0, ...batch.map((p) => p.offset ?? 0));
        for (const p of batch) this.#take(p, foldedTo);
        if (this.#top === undefined && this.#read === 0) this.#load();
        else if (this.#error) this.#load();
        this.#emitIfChanged();
      }),
      subscription.on('gap', () => this.#load()),
    ];
    if (subscription.state === 'subscribed') this.#load();
  }

  /** The subscription it follows. */
  get subscription(): Subscription<T> {
    return this.#sub;
  }

  /** The messages, oldest first, at their latest version. A new array after each change. */
  get messages(): readonly Message<T>[] {
    return this.#messages;
  }

  /** True until the first page of history is in, and while it is read again after a gap. */
  get loading(): boolean {
    return this.#loading;
  }

  /** The last failure to read history; cleared by the next successful read. */
  get error(): TidingsError | null {
    return this.#error;
  }

  /** The message at `offset`, when the log holds it. */
  message(offset: number): Message<T> | undefined {
    return this.#held.get(offset)?.message as Message<T> | undefined;
  }

  /** Stops following the subscription (which stays subscribed). */
  close(): void {
    this.#closed = true;
    this.#read++;
    for (const off of this.#offs.splice(0)) off();
  }

  /** Reads the newest page of history, folded by the server, and starts again from it. */
  #load(): void {
    if (this.#closed) return;
    const read = ++this.#read;
    this.#loading = true;
    this.#top = undefined;
    this.#sub.history({ limit: this.#limit, reverse: true }).then(
      (page) => {
        if (read !== this.#read) return;
        this.#held.clear();
        this.#order = [];
        for (const pub of [...page.publications].reverse()) {
          if (pub.op === undefined && pub.offset !== undefined) this.#hold(pub, page.offset);
        }
        this.#top = page.offset;
        this.#loading = false;
        this.#error = null;
        for (const [p, foldedTo] of this.#waiting.splice(0)) this.#take(p, foldedTo);
        this.#emitIfChanged(true);
      },
      (error: unknown) => {
        if (read !== this.#read) return;
        this.#loading = false;
        // Without a page, live publications are still shown (unfolded history is not guessed).
        this.#top = 0;
        for (const [p, foldedTo] of this.#waiting.splice(0)) this.#take(p, foldedTo);
        this.#error = error instanceof TidingsError ? error : new TidingsError('internal', `${this.channel}: ${String(error)}`, { temporary: false });
        this.emit('error', this.#error);
        this.#emitIfChanged(true);
      },
    );
  }

  /** Takes one publication (a message, or an operation) that is folded up to `foldedTo`. */
  #take(p: PublicationContext<T>, foldedTo: number): void {
    if (p.offset === undefined) return; // a channel without history: nothing to fold
    if (this.#top === undefined) {
      this.#waiting.push([p, foldedTo]);
      return;
    }
    if (p.offset <= this.#top) return; // already in: the page, or taken live or recovered
    this.#top = p.offset;
    if (p.op === undefined) {
      this.#hold(p, Math.max(foldedTo, p.offset));
      return;
    }
    const held = this.#held.get(p.op.ref);
    if (!held || p.offset <= held.foldedTo) return;
    const next = applyMessageOp(held.message as Publication, p) as Message<unknown>;
    held.foldedTo = p.offset;
    if (next === held.message) return;
    held.message = next;
    this.#changed = true;
  }

  #hold(pub: Publication | PublicationContext<T>, foldedTo: number): void {
    const offset = pub.offset!;
    const message: Record<string, unknown> = { channel: this.channel, offset, data: pub.data };
    for (const key of ['info', 'event', 'replyTo', 'version', 'deleted', 'annotations'] as const) if (pub[key] !== undefined) message[key] = pub[key];
    if (!this.#held.has(offset)) {
      const last = this.#order[this.#order.length - 1];
      if (last === undefined || offset > last) this.#order.push(offset);
      else {
        this.#order.push(offset);
        this.#order.sort((a, b) => a - b);
      }
    }
    this.#held.set(offset, { message: message as unknown as Message<unknown>, foldedTo });
    for (const old of this.#order.splice(0, Math.max(0, this.#order.length - this.#keep))) this.#held.delete(old);
    this.#changed = true;
  }

  /** Publishes the new array and the `change` event when something changed since the last one. */
  #emitIfChanged(force = false): void {
    if (!this.#changed && !force) return;
    this.#changed = false;
    this.#messages = this.#order.map((offset) => this.#held.get(offset)!.message as Message<T>);
    this.emit('change', this.#messages);
  }
}
