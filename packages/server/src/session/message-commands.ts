/**
 * Commands of the chat primitives (docs/messaging.md): edits, deletes and annotations of a
 * channel's messages. Like commands.ts, a handler replies itself or throws a TidingsError that
 * the session turns into an error reply.
 */
import { ErrorCode, type AnnotateCommand, type MessageDeleteCommand, type MessageEditCommand } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import type { Session } from './session.js';

function notYet(): never {
  throw new TidingsError(ErrorCode.NotAvailable, 'message operations are not available on this server yet');
}

export const MESSAGE_COMMAND_HANDLERS = {
  message_edit: async (_session: Session, _cmd: MessageEditCommand) => notYet(),
  message_delete: async (_session: Session, _cmd: MessageDeleteCommand) => notYet(),
  annotate: async (_session: Session, _cmd: AnnotateCommand) => notYet(),
};
