/**
 * Server-to-client WebSocket text frames built by us, so a publication shared by
 * many subscribers is framed once and the same bytes go to every socket in a
 * single write (the idea engine.io uses for pre-encoded packets). Only used
 * without permessage-deflate; `ws` frames everything else.
 */
import type { WebSocket } from 'ws';

/** Frames of shared payloads, built by the first socket that sends them. */
const framed = new WeakMap<Buffer, Buffer>();

/** Length of a server frame header (no mask) for a payload of `length` bytes. */
function headerLength(length: number): number {
  return length < 126 ? 2 : length < 65536 ? 4 : 10;
}

function writeHeader(frame: Buffer, length: number): number {
  frame[0] = 0x81; // FIN + text
  if (length < 126) {
    frame[1] = length;
    return 2;
  }
  if (length < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
    return 4;
  }
  frame[1] = 127;
  frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
  frame.writeUInt32BE(length >>> 0, 6);
  return 10;
}

/** One text frame holding `parts` joined with "\n"; `bytes` is the sum of their lengths. */
export function textFrame(parts: readonly Buffer[], bytes: number): Buffer {
  const length = bytes + parts.length - 1;
  const frame = Buffer.allocUnsafe(headerLength(length) + length);
  let at = writeHeader(frame, length);
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) frame[at++] = 0x0a;
    at += parts[i]!.copy(frame, at);
  }
  return frame;
}

/** The frame of a payload shared by many sockets, built once. */
export function sharedTextFrame(payload: Buffer): Buffer {
  let frame = framed.get(payload);
  if (!frame) {
    frame = textFrame([payload], payload.length);
    framed.set(payload, frame);
  }
  return frame;
}

/** The parts of `ws` a pre-built frame goes through. Not public API of `ws`; checked at use. */
interface WsInternals {
  _sender?: { _state?: number; sendFrame?: (list: Buffer[], cb?: () => void) => void };
  _extensions?: Record<string, unknown>;
}

/**
 * Writes a pre-built frame through the socket's `ws` sender, keeping its ordering.
 * Returns false (the caller falls back to `ws.send`) when compression is on, the
 * sender is busy with queued work, or this `ws` lacks the expected internals.
 */
export function writeFrame(ws: WebSocket, frame: Buffer): boolean {
  const internals = ws as unknown as WsInternals;
  const sender = internals._sender;
  if (!sender || typeof sender.sendFrame !== 'function' || sender._state !== 0) return false;
  if (internals._extensions && Object.keys(internals._extensions).length > 0) return false;
  sender.sendFrame([frame]);
  return true;
}
