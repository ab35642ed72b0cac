/**
 * Commands of presence, typing and user status: a channel's presence and its counts, this
 * connection's presence state and status, typing indicators, following users' global status.
 * Like commands.ts, a handler replies itself or throws a TidingsError that the session turns into
 * an error reply.
 */
import {
  ErrorCode,
  type FollowCommand,
  type PresenceCommand,
  type PresenceStateCommand,
  type PresenceStatsCommand,
  type StatusCommand,
  type TypingCommand,
  type UnfollowCommand,
} from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import type { CommandHandler, Session } from './session.js';
import type { Subscription } from './subscription.js';

type Handler<C extends PresenceCommand | PresenceStatsCommand | PresenceStateCommand | StatusCommand | TypingCommand | FollowCommand | UnfollowCommand> = CommandHandler<C>;

/** The connection's subscription to the channel (history, presence and typing need one). */
export function requireSubscription(session: Session, channel: string, what: string): Subscription {
  const target = session.services.policy.resolve(channel);
  const sub = session.subs.get(target.channel);
  if (!sub) throw new TidingsError(ErrorCode.PermissionDenied, `${what} needs a subscription to the channel`);
  return sub;
}

function requirePresence(session: Session, channel: string): Subscription {
  const sub = requireSubscription(session, channel, 'presence');
  if (!sub.target.ns.presence) throw new TidingsError(ErrorCode.NotAvailable, 'presence is off in this namespace');
  return sub;
}

const presence: Handler<PresenceCommand> = async (session, cmd) => {
  const { channel } = requirePresence(session, cmd.channel);
  const { clients, users } = await session.services.presence.of(channel);
  session.reply(cmd.id, { clients, users });
};

const presenceStats: Handler<PresenceStatsCommand> = async (session, cmd) => {
  const { channel } = requirePresence(session, cmd.channel);
  session.reply(cmd.id, await session.services.presence.stats(channel));
};

const presenceState: Handler<PresenceStateCommand> = async (session, cmd) => {
  const sub = requirePresence(session, cmd.channel);
  await session.services.presenceFeature.setState(session, sub, cmd.state);
  session.reply(cmd.id, {});
};

const status: Handler<StatusCommand> = async (session, cmd) => {
  await session.services.presenceFeature.setStatus(session, cmd.status);
  session.reply(cmd.id, {});
};

const typing: Handler<TypingCommand> = async (session, cmd) => {
  const sub = requireSubscription(session, cmd.channel, 'typing');
  if (!sub.target.ns.typing) throw new TidingsError(ErrorCode.NotAvailable, 'typing is off in this namespace');
  if (session.user === '') throw new TidingsError(ErrorCode.PermissionDenied, 'anonymous connections cannot send typing indicators');
  await session.services.presenceFeature.typing(session, sub, cmd.typing);
  session.reply(cmd.id, {});
};

const follow: Handler<FollowCommand> = async (session, cmd) => {
  const { follows, statuses } = await session.services.presenceFeature.follow(session, cmd.users);
  session.reply(cmd.id, { statuses });
  for (const f of follows) f.goLive();
};

const unfollow: Handler<UnfollowCommand> = async (session, cmd) => {
  session.services.presenceFeature.unfollow(session, cmd.users);
  session.reply(cmd.id, {});
};

export const PRESENCE_COMMAND_HANDLERS = {
  presence,
  presence_stats: presenceStats,
  presence_state: presenceState,
  status,
  typing,
  follow,
  unfollow,
};
