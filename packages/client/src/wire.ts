/**
 * Frames on the wire, as the client reads and writes them.
 *
 * The protocol's values the client needs from `@tidings/protocol`'s codec are restated here
 * and held equal to it by the compiler (`typeof MAX_COMMAND_ID`, `Record<PushType, 0>`) and
 * by `test/wire.test.ts`. Importing them from the codec would put its command validation
 * tables in the browser bundle: they are built with `Object.keys` when the module loads, so a
 * bundler cannot drop them although the client never validates a command.
 */
import type { MAX_COMMAND_ID as ProtocolMaxCommandId, PushType, ServerFrame } from '@tidings/protocol';

/** The largest command id (ids wrap around to 1 after it). */
export const MAX_COMMAND_ID: typeof ProtocolMaxCommandId = 0xffffffff;

// A record, so that a push type added to the protocol cannot be forgotten here.
const PUSH_TYPE_KEYS: Record<PushType, 0> = { publication: 0, join: 0, leave: 0, typing: 0, presence: 0, status: 0, subscribe: 0, unsubscribe: 0, disconnect: 0, ping: 0, notification: 0, notification_update: 0, progress: 0, broadcast: 0, read: 0 };

/** Every push type of the protocol: the event names an SSE stream uses. */
export const PUSH_TYPES = Object.keys(PUSH_TYPE_KEYS) as PushType[];

/**
 * Splits a message from the server into frames (one JSON value per line), for the
 * connection and the upgrade probe alike. A line that is not a JSON object is kept as a
 * string saying why; the objects are taken as the server's frames.
 */
export function decodeFrames(text: string | object[]): Array<ServerFrame | string> {
  // Frames a codec decoded (a MessagePack message) are taken as they are.
  if (typeof text !== 'string') return text as ServerFrame[];
  const frames: Array<ServerFrame | string> = [];
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    let frame: unknown;
    try {
      frame = JSON.parse(line);
    } catch {
      frames.push(`not JSON: ${line.slice(0, 200)}`);
      continue;
    }
    frames.push(typeof frame === 'object' && frame !== null ? (frame as ServerFrame) : `not an object: ${line.slice(0, 200)}`);
  }
  return frames;
}
