/**
 * Server-to-client WebSocket frames built by us: a frame shared by many
 * subscribers gets its header written once in the headroom before its payload
 * (see OutFrame), and the same bytes go to every socket in a single write, the
 * idea engine.io uses for pre-encoded packets. Text frames carry JSON; binary
 * frames carry a frame's MessagePack (`tidings.v1.msgpack`), framed once per
 * publication as well. Only used without permessage-deflate; `ws` frames everything else.
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { OutFrame } from '../wire/out-frame.js';

/** Length of a server frame header (no mask) for a payload of `length` bytes. */
function headerLength(length: number): number {
  return length < 126 ? 2 : length < 65536 ? 4 : 10;
}

/** First header byte: FIN + text, FIN + binary. */
const TEXT = 0x81;
const BINARY = 0x82;

/** Writes a FIN + `first` (TEXT or BINARY) frame header for `length` payload bytes at the start of `target`. */
function writeHeader(target: Buffer, length: number, first = TEXT): number {
  target[0] = first;
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

/** `payload` as one binary frame (a new buffer: header, then a copy of the payload). */
export function binaryFrame(payload: Buffer): Buffer {
  const length = payload.length;
  const target = Buffer.allocUnsafe(headerLength(length) + length);
  payload.copy(target, writeHeader(target, length, BINARY));
  return target;
}

/** The MessagePack of one frame shared by many sockets, as a binary frame: built once (OutFrame caches it). */
export function sharedBinaryFrame(frame: OutFrame): Buffer {
  return frame.msgpackFramed(binaryFrame);
}

/** One binary frame holding the MessagePack values of `frames` back to back (several frames in one message). */
export function joinedBinaryFrame(frames: readonly OutFrame[]): Buffer {
  let length = 0;
  for (const f of frames) length += f.msgpack.length;
  const target = Buffer.allocUnsafe(headerLength(length) + length);
  let at = writeHeader(target, length, BINARY);
  for (const f of frames) at += f.msgpack.copy(target, at);
  return target;
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

/** `WebSocket.OPEN`: frames are written only while the connection is open (not once ws has started closing). */
const OPEN = 1;

/**
 * Writes a pre-built frame straight to the connection's own socket (the raw `Duplex` the
 * upgrade handed to `WebSocketServer.handleUpgrade`), between the frames `ws` writes.
 * Returns false (the caller falls back to `ws.send`) when the connection is not open
 * (ws has started closing: nothing may follow its close frame), the socket no longer
 * takes writes, or permessage-deflate was negotiated.
 *
 * Public means only: without permessage-deflate (and we never send Blobs), ws 8's Sender
 * writes each frame (data, ping, pong, close) to the socket synchronously within the call,
 * with no queue of its own, so a whole frame written here between two ws calls stays whole
 * and in order. What is written here waits in the socket's write buffer (`writableLength`)
 * beside what ws wrote, and the transport's `bufferedBytes` counts it toward
 * `client.maxQueueBytes` as it does ws's frames. The path is only
 * used once `FramePath.check` (see ws-frame-check.ts) has proven on a loopback socket pair,
 * once per process, that frames written here interleave with `ws.send`, pings and close
 * intact and in order; until then, and for good when the check fails, every message goes
 * through `ws.send`. `ws` stays pinned to the tested minor (`~8.23.0` in
 * packages/server/package.json) because the path relies on that behaviour of ws 8's Sender
 * (how it writes, not a private field), which a new minor could change; the self-test would
 * then turn the path off rather than break frames.
 */
export function writeFrame(ws: WebSocket, socket: Duplex, frame: Buffer): boolean {
  if (ws.readyState !== OPEN || !socket.writable || ws.extensions !== '') return false;
  socket.write(frame);
  return true;
}

/** Whether `writeFrame` may be used: decided once per process by the self-test. */
export interface FramePathSwitch {
  readonly usable: boolean;
  /** Frames written through the path (counted by the transports). */
  written: number;
}
