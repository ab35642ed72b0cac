/**
 * Commands of the chat primitives (docs/messaging.md): edits, deletes and annotations of a
 * channel's messages. Like commands.ts, a handler replies itself or throws a TidingsError that
 * the session turns into an error reply.
 *
 * Each operation is published like a publication of the caller's (the namespace's rate limit,
 * the publisher's info), as the operation on the message at `ref` (features/messages.ts for the
 * rules): edits and deletes by the message's author or a moderator role of the namespace;
 * annotations by anyone who may subscribe to the channel.
 */
import {
  ErrorCode,
  type AnnotateCommand,
  type MessageDeleteCommand,
  type MessageEditCommand,
  type MessageOp,
  type PublishResult,
} from '@tidings/protocol';
import type { ResolvedChannel } from '../auth/channel-policy.js';
import { TidingsError } from '../errors.js';
import { annotationOp, findMessage, mayChange, requireMessaging } from '../features/messages.js';
import type { PublishRequest } from './services.js';
import type { Session } from './session.js';
import { clientPublication } from './session-webhooks.js';

function anonymous(what: string): TidingsError {
  return new TidingsError(ErrorCode.PermissionDenied, `anonymous connections cannot ${what}`);
}

/** Publishes the operation as the session's publication, under the namespace's rate limit; replies. */
async function publishOp(session: Session, id: number, target: ResolvedChannel, data: unknown, op: MessageOp): Promise<void> {
  const { services } = session;
  if (!(await services.publishAllowed(target, session.user))) {
    const rl = target.ns.rateLimit!;
    session.rateLimited(id, 'publish_rate', `more than ${rl.messages} publications per ${rl.intervalMs} ms in namespace "${target.parsed.namespace}"`);
    return;
  }
  const request: PublishRequest = { source: 'client', info: session.clientInfo, op };
  const outcome = await services.publish(target, data, request);
  const result: PublishResult = outcome.position ? { offset: outcome.position.offset, epoch: outcome.position.epoch } : {};
  session.reply(id, result);
  clientPublication(session, target, data, outcome);
}

/** The checks of an edit and a delete: edits on, the target a message, the caller its author or a moderator. */
async function changeable(session: Session, channel: string, ref: number, what: string): Promise<ResolvedChannel> {
  const target = session.services.policy.resolve(channel);
  const messaging = requireMessaging(target, 'edits');
  if (session.user === '') throw anonymous(`${what} messages`);
  const message = await findMessage(session.services.streams, target.channel, ref);
  if (!mayChange(messaging, message, session.user, session.roles)) {
    const roles = messaging.moderators.length > 0 ? ` or hold one of the roles: ${messaging.moderators.join(', ')}` : '';
    throw new TidingsError(ErrorCode.PermissionDenied, `only the message's author may ${what} it${roles}`);
  }
  return target;
}

const messageEdit = async (session: Session, cmd: MessageEditCommand): Promise<void> => {
  const target = await changeable(session, cmd.channel, cmd.ref, 'edit');
  let data = cmd.data;
  // The new content passes the publish hooks as a new publication's would (moderation, enrichment).
  for (const hook of session.services.hooks.publish) {
    const override = await hook({ ...session.context, channel: target.channel, data });
    if (override && 'data' in override) data = override.data;
  }
  await publishOp(session, cmd.id, target, data, { type: 'edit', ref: cmd.ref });
};

const messageDelete = async (session: Session, cmd: MessageDeleteCommand): Promise<void> => {
  const target = await changeable(session, cmd.channel, cmd.ref, 'delete');
  await publishOp(session, cmd.id, target, null, { type: 'delete', ref: cmd.ref });
};

const annotate = async (session: Session, cmd: AnnotateCommand): Promise<void> => {
  const { policy } = session.services;
  const target = policy.resolve(cmd.channel);
  requireMessaging(target, 'annotations');
  if (session.user === '') throw anonymous('annotate messages');
  // A subscriber may annotate; otherwise the caller must be one who may subscribe (no publish right needed).
  if (session.subs.get(target.channel)?.live !== true) await policy.authorizeSubscribe(session.principal, target);
  const op = annotationOp(cmd.ref, cmd.name, cmd.kind, cmd.remove === true);
  await findMessage(session.services.streams, target.channel, cmd.ref);
  await publishOp(session, cmd.id, target, null, op);
};

export const MESSAGE_COMMAND_HANDLERS = {
  message_edit: messageEdit,
  message_delete: messageDelete,
  annotate,
};
