/**
 * Commands of the durable features: the user's notification inbox, activity feeds
 * and job progress. Like commands.ts, a handler replies itself or throws a
 * TidingsError that the session turns into an error reply.
 */
import {
  ErrorCode,
  type ActivityCommand,
  type NotificationCountCommand,
  type NotificationDeleteCommand,
  type NotificationReadCommand,
  type NotificationsCommand,
  type ProgressCommand,
} from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import { scopeSchema } from '../features/activity.js';
import { parseWith } from '../validate.js';
import type { Session } from './session.js';

/** The inbox belongs to a user: anonymous connections have none. */
function inboxOwner(session: Session): string {
  if (session.user === '') throw new TidingsError(ErrorCode.PermissionDenied, 'anonymous connections have no notifications');
  return session.user;
}

const notifications = async (session: Session, cmd: NotificationsCommand) => {
  const page = await session.services.notifications.list(inboxOwner(session), {
    limit: cmd.limit ?? 20,
    ...(cmd.cursor !== undefined ? { cursor: cmd.cursor } : {}),
    unread: cmd.unread === true,
  });
  session.reply(cmd.id, page);
};

const notificationCount = async (session: Session, cmd: NotificationCountCommand) => {
  session.reply(cmd.id, await session.services.notifications.counts(inboxOwner(session)));
};

const notificationRead = async (session: Session, cmd: NotificationReadCommand) => {
  const user = inboxOwner(session);
  if ((cmd.ids === undefined) === (cmd.all !== true)) throw new TidingsError(ErrorCode.BadRequest, 'notification_read: give either "ids" or "all": true');
  session.reply(cmd.id, await session.services.notifications.markRead(user, cmd.all === true ? 'all' : cmd.ids!));
};

const notificationDelete = async (session: Session, cmd: NotificationDeleteCommand) => {
  session.reply(cmd.id, await session.services.notifications.remove(inboxOwner(session), cmd.ids));
};

/** Reading a feed needs what subscribing to the scope's channel needs (rules and onSubscribe hooks). */
const activity = async (session: Session, cmd: ActivityCommand) => {
  const { activity: feed, policy, hooks } = session.services;
  const scope = parseWith(scopeSchema, cmd.scope, 'activity.scope');
  const target = policy.resolve(feed.channelOf(scope));
  if (!session.subs.has(target.channel)) {
    // The same checks as a subscribe: channel rules, then the app's onSubscribe hooks.
    await policy.authorizeSubscribe(session.principal, target, cmd.token);
    for (const hook of hooks.subscribe) await hook({ ...session.context, channel: target.channel });
  }
  const page = await feed.list(scope, { limit: cmd.limit ?? 20, ...(cmd.cursor !== undefined ? { cursor: cmd.cursor } : {}) });
  session.reply(cmd.id, page);
};

const progress = async (session: Session, cmd: ProgressCommand) => {
  if (session.user === '') throw new TidingsError(ErrorCode.PermissionDenied, 'anonymous connections have no jobs');
  session.reply(cmd.id, { jobs: await session.services.progress.jobs(session.user, cmd.jobId) });
};

export const DURABLE_COMMAND_HANDLERS = {
  notifications,
  notification_count: notificationCount,
  notification_read: notificationRead,
  notification_delete: notificationDelete,
  activity,
  progress,
};
