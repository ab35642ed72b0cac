/**
 * Read receipts (docs/messaging.md): a user's "read up to offset" per channel, kept in the
 * ReadReceiptsStore with the channel's epoch, synced to the user's every connection, readable by
 * the channel's subscribers where the namespace allows it (seen-by), and the unread counts a
 * user's receipts give.
 *
 * The rules here are the namespace's (`messaging.readReceipts`, `messaging.seenBy`) and the
 * stream's (offsets clamped to its top, epochs); who may read or mark a channel is the caller's
 * business (session/receipt-commands.ts checks that the user may subscribe; the server API is trusted).
 *
 * A receipt that moved is pushed as a `read` control event on the user's personal channel (device
 * sync, whether or not a connection subscribes to the channel) and, with seen-by, on the channel
 * itself, to every subscriber but the user's own connections (they have it from the first).
 */
import { ErrorCode, personalChannel, type Publication, type ReadReceiptsResult, type ReadResult, type StreamPosition, type UnreadCount, type UnreadResult } from '@tidings/protocol';
import type { ResolvedChannel } from '../auth/channel-policy.js';
import type { ControlEvent } from '../engine/broker.js';
import { TidingsError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ReadReceiptsStore } from '../store/read-receipts-store.js';
import { isMessageTag, parseMessageTag, type MessageFields } from './message-tags.js';

/** What the receipts read of a channel's stream (`cluster/channels.ts`): its position, and pages of it. */
export interface ReceiptStreams {
  position(channel: string): Promise<StreamPosition>;
  history(channel: string, query: { since?: StreamPosition; limit: number }): Promise<{ position: StreamPosition; publications: Publication[] }>;
}

/** At most this many receipts are listed for a channel (the highest). */
export const MAX_RECEIPTS = 1000;

export interface ReadReceiptsDeps {
  store: ReadReceiptsStore;
  /** A channel name as the channel policy resolves it (`invalid_channel`, `unknown_namespace`). */
  resolve(channel: string): ResolvedChannel;
  /** The channels' streams (position, history), through `cluster/channels.ts`. */
  streams: ReceiptStreams;
  /** Control publications go through `cluster/channels.ts`. */
  control: { publishControl(channel: string, event: ControlEvent): Promise<void> };
  /** Publications read per history call while counting (`history.maxLimit`). */
  pageSize: number;
  log: Logger;
  now?: () => number;
}

/** What a publication is, whether its fields are still a tag in `event` (from the engine) or already the wire's fields. */
function fieldsOf(pub: Publication): MessageFields {
  if (isMessageTag(pub.event)) return parseMessageTag(pub.event) ?? {};
  return pub.op !== undefined ? { op: pub.op } : {};
}

export class ReadReceiptsFeature {
  private readonly now: () => number;

  constructor(private readonly deps: ReadReceiptsDeps) {
    this.now = deps.now ?? Date.now;
  }

  // ------------------------------------------------ by channel name: the server API and the library

  /**
   * Marks `channel` read up to `offset` for `user`, as the user's `read` command does (for a backend
   * that knows what the user read). Resolves with the user's read offset now.
   *
   * @example
   * ```ts
   * await tidings.readReceipts.markRead('alice', 'chat:team', 42); // { offset: 42 }
   * ```
   */
  markRead(user: string, channel: string, offset: number): Promise<ReadResult> {
    return this.mark(user, this.deps.resolve(channel), offset);
  }

  /** The channel's read receipts (current epoch, highest first); needs `messaging.readReceipts` (not `seenBy`: the caller is trusted). */
  receiptsOf(channel: string): Promise<ReadReceiptsResult> {
    return this.receipts(this.deps.resolve(channel));
  }

  /** `user`'s unread counts in `channels`, as the user's `unread` command gives them. */
  unreadOf(user: string, channels: string[]): Promise<UnreadResult> {
    const targets = new Map(channels.map((c) => this.deps.resolve(c)).map((t) => [t.channel, t]));
    return this.unread(user, [...targets.values()]);
  }

  // ------------------------------------------------ resolved channels: the rules

  /** Throws `not_available` unless the channel's namespace keeps read receipts. */
  static requireOn(target: ResolvedChannel): void {
    if (!target.ns.messaging?.readReceipts) throw new TidingsError(ErrorCode.NotAvailable, `read receipts are off in the namespace of "${target.channel}" (messaging.readReceipts)`);
  }

  /** Throws `not_available` unless the channel's namespace shows receipts to its subscribers. */
  static requireSeenBy(target: ResolvedChannel): void {
    ReadReceiptsFeature.requireOn(target);
    if (!target.ns.messaging?.seenBy) throw new TidingsError(ErrorCode.NotAvailable, `seen-by is off in the namespace of "${target.channel}" (messaging.seenBy)`);
  }

  /**
   * Marks `target` read up to `offset` for `user` (clamped to the channel's top; receipts only move
   * forward). Resolves with the user's read offset now, once it is durable and pushed.
   */
  async mark(user: string, target: ResolvedChannel, offset: number): Promise<ReadResult> {
    ReadReceiptsFeature.requireOn(target);
    if (user === '') throw new TidingsError(ErrorCode.PermissionDenied, 'anonymous connections have no read receipts');
    if (!Number.isSafeInteger(offset) || offset < 0) throw new TidingsError(ErrorCode.BadRequest, 'offset: expected an integer >= 0');
    const { channel } = target;
    const position = await this.deps.streams.position(channel);
    const clamped = Math.min(offset, position.offset);
    if (clamped === 0) {
      // Nothing to mark: the receipt of this epoch as it stands.
      const [receipt] = await this.deps.store.get(user, [channel]);
      return { offset: receipt !== undefined && receipt.epoch === position.epoch ? receipt.offset : 0 };
    }
    const outcome = await this.deps.store.mark(user, channel, position.epoch, clamped, this.now());
    if (outcome.moved) await this.push(target, user, outcome.offset, outcome.at);
    return { offset: outcome.offset };
  }

  /** The channel's receipts of its current epoch, highest offset first (at most `MAX_RECEIPTS`). */
  async receipts(target: ResolvedChannel): Promise<ReadReceiptsResult> {
    ReadReceiptsFeature.requireOn(target);
    const position = await this.deps.streams.position(target.channel);
    const rows = await this.deps.store.list(target.channel, position.epoch, MAX_RECEIPTS);
    return { receipts: rows.map((r) => ({ user: r.user, offset: r.offset, at: r.at })) };
  }

  /** `user`'s unread messages in each channel (publications without an operation, by other users, not deleted, after the user's read offset). */
  async unread(user: string, targets: ResolvedChannel[]): Promise<UnreadResult> {
    if (user === '') throw new TidingsError(ErrorCode.PermissionDenied, 'anonymous connections have no read receipts');
    for (const target of targets) ReadReceiptsFeature.requireOn(target);
    const stored = await this.deps.store.get(
      user,
      targets.map((t) => t.channel),
    );
    const receipts = new Map(stored.map((r) => [r.channel, r]));
    const counts = await Promise.all(
      targets.map(async (target): Promise<[string, UnreadCount]> => {
        const position = await this.deps.streams.position(target.channel);
        const receipt = receipts.get(target.channel);
        const read = receipt !== undefined && receipt.epoch === position.epoch ? Math.min(receipt.offset, position.offset) : 0;
        return [target.channel, await this.count(user, target.channel, position.epoch, read, position.offset)];
      }),
    );
    return { channels: Object.fromEntries(counts) };
  }

  /** Counts the messages after `read` up to `top` that history still holds, page by page. */
  private async count(user: string, channel: string, epoch: string, read: number, top: number): Promise<UnreadCount> {
    const result: UnreadCount = { unread: 0, read, offset: top };
    if (top <= read) return result;
    const messages = new Map<number, boolean>();
    const deleted = new Set<number>();
    let after = read;
    let first = true;
    while (after < top) {
      const page = await this.deps.streams.history(channel, { since: { epoch, offset: after }, limit: Math.min(this.deps.pageSize, top - after) });
      if (page.position.epoch !== epoch) {
        // A new epoch since the position was read: what this count knew is gone.
        result.more = true;
        break;
      }
      const pubs = page.publications;
      if (pubs.length === 0) {
        if (first) result.more = true; // everything after `read` left history
        break;
      }
      if (first && (pubs[0]!.offset ?? after + 1) > read + 1) result.more = true;
      first = false;
      for (const pub of pubs) {
        const fields = fieldsOf(pub);
        if (fields.op !== undefined) {
          if (fields.op.type === 'delete') deleted.add(fields.op.ref);
        } else if (pub.offset !== undefined && pub.offset <= top) {
          messages.set(pub.offset, pub.info?.user !== user && pub.deleted !== true);
        }
      }
      const last = pubs[pubs.length - 1]!.offset;
      if (last === undefined || last <= after) break;
      after = last;
    }
    for (const [offset, counts] of messages) if (counts && !deleted.has(offset)) result.unread++;
    return result;
  }

  private async push(target: ResolvedChannel, user: string, offset: number, at: number): Promise<void> {
    const event: ControlEvent = { type: 'read', channel: target.channel, user, offset, at };
    const sends = [this.deps.control.publishControl(personalChannel(user), event)];
    if (target.ns.messaging?.seenBy) sends.push(this.deps.control.publishControl(target.channel, { ...event, exceptUser: user }));
    // The receipt is durable already: a push that fails is logged, the mark still holds (devices read it on the next `unread`).
    for (const result of await Promise.allSettled(sends)) {
      if (result.status === 'rejected') this.deps.log.warn({ err: result.reason, channel: target.channel, user }, 'read receipt: the push failed');
    }
  }
}
