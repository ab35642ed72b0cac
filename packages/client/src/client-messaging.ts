/**
 * The client's read-receipt commands (docs/messaging.md), for any channel, subscribed or not:
 * the base of `Tidings` (client.ts), which sends them. A subscription has the same for its
 * channel, with the message operations (subscription-messages.ts).
 */
import type { ReadReceiptsResult, ReadResult, UnreadResult } from '@tidings/protocol';
import { Emitter } from './emitter.js';
import type { CommandBody } from './outbox.js';
import type { ClientEvents } from './types.js';

/** @internal The read-receipt commands of `Tidings`. */
export abstract class MessagingClient extends Emitter<ClientEvents> {
  /** @internal Sends a command (queued while disconnected); `resend`: again after a lost connection. */
  protected abstract _call(body: CommandBody, resend?: boolean): Promise<unknown>;

  /**
   * Marks `channel` read up to `offset` for this user (receipts only move forward), on every
   * device of the user: each gets a `read` event. Resolves with the user's read offset now.
   *
   * @example
   * ```ts
   * client.on('read', ({ channel, user, offset }) => user === client.user && clearBadge(channel, offset));
   * await client.markRead('chat:lobby', 42);
   * ```
   */
  markRead(channel: string, offset: number): Promise<ReadResult> {
    return this._call({ type: 'read', channel, offset }, true) as Promise<ReadResult>;
  }

  /** A channel's read receipts (seen-by, namespaces with `messaging.seenBy`), highest offset first. */
  readReceipts(channel: string): Promise<ReadReceiptsResult> {
    return this._call({ type: 'read_receipts', channel }) as Promise<ReadReceiptsResult>;
  }

  /**
   * This user's unread messages in 1..100 channels (subscribed or not): messages by other users
   * after the user's read offset.
   *
   * @example
   * ```ts
   * const { channels } = await client.unread(['chat:a', 'chat:b']);
   * setBadge('chat:a', channels['chat:a']!.unread);
   * ```
   */
  unread(channels: readonly string[]): Promise<UnreadResult> {
    return this._call({ type: 'unread', channels: [...channels] }) as Promise<UnreadResult>;
  }
}
