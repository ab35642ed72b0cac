/**
 * Frames of protocol v1, as discriminated unions.
 *
 * - A **command** goes from client to server, carries a positive integer `id`
 *   and a `type`; the server answers it with exactly one **reply** echoing the id.
 * - A **reply** has `id` and either `result` or `error`.
 * - A **push** goes from server to client unasked; it has a `type` and no `id`.
 * - `pong` is the one client frame without an id: the answer to a `ping` push.
 *
 * One WebSocket message carries one or more frames separated by `\n`
 * (newline-delimited JSON). See docs/protocol.md.
 */
import type { Push } from './pushes.js';
import type { Reply } from './replies.js';

export * from './frame-types.js';
export * from './commands.js';
export * from './replies.js';
export * from './pushes.js';

/** Anything a server may send. */
export type ServerFrame = Reply | Push;

/** True when a server frame is a reply (it carries an `id`). */
export function isReply(frame: ServerFrame): frame is Reply {
  return typeof (frame as Reply).id === 'number';
}
