/**
 * Commands of read receipts (docs/messaging.md): mark a channel read, read its receipts
 * (seen-by), count a user's unread messages. Like commands.ts, a handler replies itself or
 * throws a TidingsError that the session turns into an error reply.
 *
 * Each needs what subscribing to the channel needs (channel rules and the app's onSubscribe
 * hooks), unless the connection subscribes to it already; anonymous connections have no receipts.
 */
import { ErrorCode, type ReadCommand, type ReadReceiptsCommand, type UnreadCommand } from '@tidings/protocol';
import type { ResolvedChannel } from '../auth/channel-policy.js';
import { TidingsError } from '../errors.js';
import { ReadReceiptsFeature } from '../features/read-receipts.js';
import type { Session } from './session.js';

function feature(session: Session): ReadReceiptsFeature {
  const f = session.services.readReceipts;
  if (!f) throw new TidingsError(ErrorCode.NotAvailable, 'read receipts are not available on this server');
  if (session.user === '') throw new TidingsError(ErrorCode.PermissionDenied, 'anonymous connections have no read receipts');
  return f;
}

/** The channel, once the user may subscribe to it (as a `subscribe` would check) and its namespace keeps receipts. */
async function readable(session: Session, channel: string): Promise<ResolvedChannel> {
  const { policy, hooks } = session.services;
  const target = policy.resolve(channel, session.principal);
  ReadReceiptsFeature.requireOn(target);
  if (!session.subs.has(target.channel)) {
    await policy.authorizeSubscribe(session.principal, target);
    for (const hook of hooks.subscribe) await hook({ ...session.context, channel: target.channel });
  }
  return target;
}

const read = async (session: Session, cmd: ReadCommand) => {
  const f = feature(session);
  const target = await readable(session, cmd.channel);
  session.reply(cmd.id, await f.mark(session.user, target, cmd.offset));
};

const readReceipts = async (session: Session, cmd: ReadReceiptsCommand) => {
  const f = feature(session);
  const target = await readable(session, cmd.channel);
  ReadReceiptsFeature.requireSeenBy(target);
  session.reply(cmd.id, await f.receipts(target));
};

const unread = async (session: Session, cmd: UnreadCommand) => {
  const f = feature(session);
  const targets: ResolvedChannel[] = [];
  const seen = new Set<string>();
  for (const channel of cmd.channels) {
    const target = await readable(session, channel);
    if (!seen.has(target.channel)) targets.push(target);
    seen.add(target.channel);
  }
  session.reply(cmd.id, await f.unread(session.user, targets));
};

export const RECEIPT_COMMAND_HANDLERS = {
  read,
  read_receipts: readReceipts,
  unread,
};
