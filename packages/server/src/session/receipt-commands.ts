/**
 * Commands of read receipts (docs/messaging.md): mark a channel read, read its receipts
 * (seen-by), count a user's unread messages. Like commands.ts, a handler replies itself or
 * throws a TidingsError that the session turns into an error reply.
 */
import { ErrorCode, type ReadCommand, type ReadReceiptsCommand, type UnreadCommand } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import type { Session } from './session.js';

function notYet(): never {
  throw new TidingsError(ErrorCode.NotAvailable, 'read receipts are not available on this server yet');
}

export const RECEIPT_COMMAND_HANDLERS = {
  read: async (_session: Session, _cmd: ReadCommand) => notYet(),
  read_receipts: async (_session: Session, _cmd: ReadReceiptsCommand) => notYet(),
  unread: async (_session: Session, _cmd: UnreadCommand) => notYet(),
};
