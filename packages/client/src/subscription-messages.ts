/**
 * A subscription's chat commands (docs/messaging.md): editing, deleting and annotating the
 * channel's messages, and this user's read receipt in it. Between the stream bookkeeping
 * (subscription-stream.ts) and `Subscription` (subscription.ts), which sends the commands.
 *
 * Each operation is published by the server as a publication of its own (with `op`), which
 * every subscriber receives live and which history and recovery fold into the message:
 * `MessageLog` (messages.ts) keeps a folded list. The commands are queued while disconnected;
 * one in flight when the connection drops rejects with `connection_lost` (not sent twice,
 * as an operation would then be published twice), except `markRead`, which is idempotent.
 */
import type { PublishResult, ReadReceiptsResult, ReadResult, UnreadCount, UnreadResult } from '@tidings/protocol';
import type { CommandBody } from './outbox.js';
import { StreamSubscription } from './subscription-stream.js';
import type { AnnotateOptions } from './types.js';

/** @internal The chat commands of a `Subscription`. */
export abstract class MessagingSubscription<T> extends StreamSubscription<T> {
  /** @internal Sends a command (queued while disconnected); `resend`: again after a lost connection. */
  protected abstract _call(body: CommandBody, resend?: boolean): Promise<unknown>;

  /**
   * Replaces the content of the message at offset `ref` (its author, or a moderator role of the
   * namespace; the namespace needs `messaging.edits`). Resolves with the edit's own offset.
   *
   * @example
   * ```ts
   * await sub.edit(message.offset, { text: 'fixed typo' });
   * ```
   */
  edit(ref: number, data: T): Promise<PublishResult> {
    return this._call({ type: 'message_edit', channel: this.channel, ref, data }) as Promise<PublishResult>;
  }

  /**
   * Deletes the message at offset `ref`: its content becomes `null` and its annotations go
   * (its author, or a moderator role; `messaging.edits`). Final: later edits change nothing.
   *
   * @example
   * ```ts
   * await sub.delete(message.offset);
   * ```
   */
  delete(ref: number): Promise<PublishResult> {
    return this._call({ type: 'message_delete', channel: this.channel, ref }) as Promise<PublishResult>;
  }

  /**
   * Adds this user's annotation `name` (of `options.kind`, default `reaction`) to the message at
   * offset `ref`, or takes it back with `options.remove`. Each user counts once per name.
   * Needs `messaging.annotations` and the right to subscribe (not to publish).
   *
   * @example
   * ```ts
   * await sub.annotate(message.offset, 'spam', { kind: 'flag' });
   * ```
   */
  annotate(ref: number, name: string, options: AnnotateOptions = {}): Promise<PublishResult> {
    const body: CommandBody = { type: 'annotate', channel: this.channel, ref, name };
    if (options.kind !== undefined) body.kind = options.kind;
    if (options.remove) body.remove = true;
    return this._call(body) as Promise<PublishResult>;
  }

  /** Adds this user's reaction `emoji` to the message at offset `ref`: `annotate(ref, emoji)`. */
  react(ref: number, emoji: string): Promise<PublishResult> {
    return this.annotate(ref, emoji);
  }

  /** Takes this user's reaction `emoji` back: `annotate(ref, emoji, { remove: true })`. */
  unreact(ref: number, emoji: string): Promise<PublishResult> {
    return this.annotate(ref, emoji, { remove: true });
  }

  /**
   * Marks the channel read up to `offset` for this user (receipts only move forward), on every
   * device of the user: each gets a `read` event. Resolves with the user's read offset now.
   *
   * @example
   * ```ts
   * const last = log.messages.at(-1);
   * if (last) await sub.markRead(last.offset);
   * ```
   */
  markRead(offset: number): Promise<ReadResult> {
    return this._call({ type: 'read', channel: this.channel, offset }, true) as Promise<ReadResult>;
  }

  /** The channel's read receipts (seen-by: `messaging.seenBy`), highest offset first. */
  readReceipts(): Promise<ReadReceiptsResult> {
    return this._call({ type: 'read_receipts', channel: this.channel }) as Promise<ReadReceiptsResult>;
  }

  /** This user's unread messages in the channel. */
  async unread(): Promise<UnreadCount> {
    const result = (await this._call({ type: 'unread', channels: [this.channel] })) as UnreadResult;
    return result.channels[this.channel]!;
  }
}
