/**
 * Server-to-client WebSocket text frames built by us: a frame shared by many
 * subscribers gets its header written once in the headroom before its payload
 * (see OutFrame), and the same bytes go to every socket in a single write, the
 * idea engine.io uses for pre-encoded packets. Only used without
 * permessage-deflate; `ws` frames everything else.
 */
import type { WebSocket } from 'ws';
import type { OutFrame } from '../wire/out-frame.js';

/** Length of a server frame header (no mask) for a payload of `length` bytes. */
function headerLength(length: number): number {
  return length < 126 ? 2 : length < 65536 ? 4 : 10;
}

/** Writes a FIN + text frame header for `length` payload bytes at the start of `target`. */
function writeHeader(target: Buffer, length: number): number {
  target[0] = 0x81;
  if (length < 126) {
    target[1] = length;
    return 2;
  }
  if (length < 65536) {
    target[1] = 126;
    target.writeUInt16BE(length, 2);
    return 4;
  }
  target[1] = 127;
  target.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
  target.writeUInt32BE(length >>> 0, 6);
  return 10;
}

/** The wire form of one frame shared by many sockets: built once, in place. */
export function sharedTextFrame(frame: OutFrame): Buffer {
  const length = frame.length;
  return frame.wrap(headerLength(length), (target) => writeHeader(target, length));
}

/** The texts of `frames` joined with "\n" (one native encode beats a copy call per frame). */
function joinedText(frames: readonly OutFrame[]): string {
  let text = frames[0]!.text;
  for (let i = 1; i < frames.length; i++) text += '\n' + frames[i]!.text;
  return text;
}

/** One text frame holding the payloads of `frames` joined with "\n"; `bytes` is the sum of their lengths. */
export function joinedTextFrame(frames: readonly OutFrame[], bytes: number): Buffer {
  const length = bytes + frames.length - 1;
  const target = Buffer.allocUnsafe(headerLength(length) + length);
  target.write(joinedText(frames), writeHeader(target, length));
  return target;
}

/** The payloads of `frames` joined with "\n", for `ws.send`. */
export function joinedPayload(frames: readonly OutFrame[]): Buffer | string {
  return frames.length === 1 ? frames[0]!.payload : joinedText(frames);
}

/** The parts of `ws` a pre-built frame goes through. Not public API of `ws`; checked at use. */
interface WsInternals {
  _sender?: { _state?: number; sendFrame?: (list: Buffer[], cb?: () => void) => void };
}

/**
 * Writes a pre-built frame through the socket's `ws` sender, keeping its ordering.
 * Returns false (the caller falls back to `ws.send`) when the sender is busy with
 * queued work or this `ws` lacks the expected internals.
 *
 * This is the one place that uses `ws` internals (`_sender`, its `_state` and
 * `sendFrame`), which is why `ws` is pinned to the tested minor (`~8.23.0` in
 * packages/server/package.json). It is only used once `FramePath.check` (see
 * ws-frame-check.ts) has proven on a loopback socket pair, once per process, that
 * frames written here interleave with `ws.send` intact and in order; until then, and
 * for good when the check fails, every message goes through `ws.send`.
 */
export function writeFrame(ws: WebSocket, frame: Buffer): boolean {
  const sender = (ws as unknown as WsInternals)._sender;
  if (!sender || typeof sender.sendFrame !== 'function' || sender._state !== 0) return false;
  sender.sendFrame([frame]);
  return true;
}

/** Whether `writeFrame` may be used: decided once per process by the self-test. */
export interface FramePathSwitch {
  readonly usable: boolean;
  /** Frames written through the path (counted by the transports). */
  written: number;
}
