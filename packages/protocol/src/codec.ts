/**
 * The v1 codec: JSON frames, newline-delimited within one transport message.
 *
 * `encode*` turn frames into text; `decode*` split a message into frames and
 * validate every one with a precise message naming the field at fault.
 *
 * @example
 * ```ts
 * const text = encodeFrames([{ id: 1, type: 'connect', token }]);
 * for (const d of decodeClientMessage(text)) {
 *   if (d.ok) handle(d.frame); else if (d.fatal) close(); else reply(d.id, d.error);
 * }
 * ```
 */
import { ErrorCode, type ErrorCode as ErrorCodeT } from './codes.js';
import type {
  ClientFrame,
  Command,
  CommandType,
  ErrorBody,
  Publication,
  PublicationPush,
  PushType,
  Reply,
  ServerFrame,
} from './frames.js';
import { COMMAND_FIELDS, fieldError, isPlainObject, typeName } from './command-fields.js';
import { MAX_JSON_DEPTH, jsonDeeperThan, tooDeepMessage } from './json-depth.js';

export { MAX_JSON_DEPTH, jsonDeeperThan, tooDeepMessage } from './json-depth.js';
export { COMMAND_TYPES } from './command-fields.js';

/** Frames in one message are separated by this character. */
export const FRAME_SEPARATOR = '\n';

/** Largest command id a client may use (fits an unsigned 32-bit integer). */
export const MAX_COMMAND_ID = 0xffffffff;

// ---------------------------------------------------------------- encoding

/** Encodes one frame of either direction. */
export function encodeFrame(frame: ClientFrame | ServerFrame): string {
  return JSON.stringify(frame);
}

/** Encodes several frames into one message. */
export function encodeFrames(frames: readonly (ClientFrame | ServerFrame)[]): string {
  return frames.map((f) => JSON.stringify(f)).join(FRAME_SEPARATOR);
}

/** Joins frames that are already encoded into one message. */
export function joinEncoded(encoded: readonly string[]): string {
  return encoded.join(FRAME_SEPARATOR);
}

/**
 * Encodes a publication push, so a server encodes a publication once and writes
 * the bytes to every subscriber. For a publication `{offset?, data, info?}` whose
 * data is a JSON value, the output equals `encodeFrame({type:'publication', channel, ...pub})`;
 * data that JSON cannot represent (undefined, a function) is sent as `null`.
 * `encodedData`, when given, is `pub.data` already encoded as JSON (a server that
 * encoded it once when it was published): it is written as is, `pub.data` is not read.
 */
export function encodePublication(channel: string, pub: Publication, encodedData?: string): string {
  let s = '{"type":"publication","channel":' + JSON.stringify(channel);
  if (pub.offset !== undefined) s += ',"offset":' + pub.offset;
  if (pub.event !== undefined) s += ',"event":' + JSON.stringify(pub.event);
  if (pub.replyTo !== undefined) s += ',"replyTo":' + pub.replyTo;
  if (pub.op !== undefined) s += ',"op":' + JSON.stringify(pub.op);
  s += ',"data":' + (encodedData ?? JSON.stringify(pub.data) ?? 'null');
  if (pub.info !== undefined) s += ',"info":' + JSON.stringify(pub.info);
  if (pub.version !== undefined) s += ',"version":' + pub.version;
  if (pub.deleted !== undefined) s += ',"deleted":true';
  if (pub.annotations !== undefined) s += ',"annotations":' + JSON.stringify(pub.annotations);
  return s + '}';
}

/** Encodes a successful reply; a result JSON cannot represent (undefined) is sent as `null`. */
export function encodeResult(id: number, result: unknown): string {
  return '{"id":' + id + ',"result":' + (JSON.stringify(result) ?? 'null') + '}';
}

/** Encodes an error reply. */
export function encodeError(id: number, error: ErrorBody): string {
  return '{"id":' + id + ',"error":' + JSON.stringify(error) + '}';
}

// ---------------------------------------------------------------- decoding

/** A frame that decoded and validated. */
export interface DecodedOk<F> {
  ok: true;
  frame: F;
}

/**
 * A frame that failed. `fatal` failures (not JSON, no usable id) cannot be answered
 * with a reply: the server closes with `CloseCode.BadRequest`. Others carry the
 * `id` to answer with `error`.
 */
export interface DecodedError {
  ok: false;
  fatal: boolean;
  id?: number;
  error: { code: ErrorCodeT; message: string };
}

export type Decoded<F> = DecodedOk<F> | DecodedError;

function fail(fatal: boolean, code: ErrorCodeT, message: string, id?: number): DecodedError {
  return id === undefined ? { ok: false, fatal, error: { code, message } } : { ok: false, fatal, id, error: { code, message } };
}

/** Validates one parsed client frame. */
export function validateClientFrame(value: unknown): Decoded<ClientFrame> {
  if (!isPlainObject(value)) return fail(true, ErrorCode.BadRequest, `frame: expected object, got ${typeName(value)}`);
  const id = value.id;
  if (id === undefined) {
    if (value.type === 'pong') return { ok: true, frame: { type: 'pong' } };
    return fail(true, ErrorCode.BadRequest, 'frame: "id" is required on every command');
  }
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > MAX_COMMAND_ID) {
    return fail(true, ErrorCode.BadRequest, `id: expected integer 1..${MAX_COMMAND_ID}`);
  }
  const type = value.type;
  if (typeof type !== 'string') return fail(false, ErrorCode.BadRequest, `type: expected string, got ${typeName(type)}`, id);
  const fields = Object.prototype.hasOwnProperty.call(COMMAND_FIELDS, type) ? COMMAND_FIELDS[type as CommandType] : undefined;
  if (!fields) {
    const shown = type.length > 64 ? `${type.slice(0, 64)}…` : type;
    return fail(false, ErrorCode.UnknownCommand, `unknown command type "${shown}"`, id);
  }
  for (const [name, spec] of Object.entries(fields)) {
    const v = value[name];
    if (v === undefined) {
      if (spec.required) return fail(false, ErrorCode.BadRequest, `${type}.${name}: required`, id);
      continue;
    }
    const err = fieldError(`${type}.${name}`, v, spec);
    if (err) return fail(false, ErrorCode.BadRequest, err, id);
  }
  // Every field is held to MAX_JSON_DEPTH: the free-form ones, and those that stay in the frame
  // unchecked (a field this version does not know, extra keys in a position), so nothing that
  // walks the frame later (encoding, a log line, a hook) meets a bomb. One walk of the frame;
  // the field at fault is looked for only when it is too deep.
  if (jsonDeeperThan(value, MAX_JSON_DEPTH + 1)) {
    let name = '';
    for (const key in value) {
      if (jsonDeeperThan(value[key], MAX_JSON_DEPTH)) {
        name = key;
        break;
      }
    }
    return fail(false, ErrorCode.BadRequest, tooDeepMessage(`${type}.${name}`), id);
  }
  return { ok: true, frame: value as unknown as Command };
}

/**
 * Splits a message from a client into frames and validates each.
 * Empty lines are skipped; a message with no frame at all is a fatal error.
 */
export function decodeClientMessage(text: string): Decoded<ClientFrame>[] {
  const out: Decoded<ClientFrame>[] = [];
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf(FRAME_SEPARATOR, start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (line.trim().length === 0) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      out.push(fail(true, ErrorCode.BadRequest, 'frame: malformed JSON'));
      continue;
    }
    out.push(validateClientFrame(parsed));
  }
  if (out.length === 0) out.push(fail(true, ErrorCode.BadRequest, 'message holds no frame'));
  return out;
}

// A record, so that a push type added to `Push` cannot be forgotten here.
const PUSH_TYPE_KEYS: Record<PushType, 0> = { publication: 0, join: 0, leave: 0, typing: 0, presence: 0, status: 0, subscribe: 0, unsubscribe: 0, disconnect: 0, ping: 0, notification: 0, notification_update: 0, progress: 0, broadcast: 0, read: 0 };
/**
 * Every push type of protocol v1. A client that listens by name needs all of them: the SSE
 * transport names each event after its push type, and an EventSource only delivers the
 * names it listens to.
 */
export const PUSH_TYPES = Object.keys(PUSH_TYPE_KEYS) as readonly PushType[];
const PUSH_TYPE_SET = new Set<string>(PUSH_TYPES);
/** Pushes addressed to the connection's user as a whole, not to one of its channels. */
const USER_PUSH_TYPES = new Set(['ping', 'disconnect', 'notification', 'notification_update', 'progress', 'broadcast']);

/** Validates one parsed server frame (for clients). Unknown push types are errors the client may ignore. */
export function validateServerFrame(value: unknown): ServerFrame | string {
  if (!isPlainObject(value)) return `frame: expected object, got ${typeName(value)}`;
  if (value.id !== undefined) {
    if (typeof value.id !== 'number' || !Number.isInteger(value.id) || value.id < 1) return 'id: expected positive integer';
    if (isPlainObject(value.error)) {
      const e = value.error;
      if (typeof e.code !== 'string' || typeof e.message !== 'string') return 'error: expected {code, message}';
      return value as unknown as Reply;
    }
    if (!('result' in value)) return 'reply: expected "result" or "error"';
    return value as unknown as Reply;
  }
  if (typeof value.type !== 'string') return 'push: expected string "type"';
  if (!PUSH_TYPE_SET.has(value.type)) return `push: unknown type "${value.type}"`;
  if (value.type === 'status') {
    if (typeof value.user !== 'string' || typeof value.status !== 'string') return 'status: expected string "user" and "status"';
    return value as unknown as ServerFrame;
  }
  if (value.type === 'notification') {
    if (!isPlainObject(value.notification) || typeof value.notification.id !== 'string') return 'notification.notification: expected object with string "id"';
    if (typeof value.unread !== 'number') return 'notification.unread: expected number';
  }
  if (value.type === 'notification_update') {
    if (value.change !== 'read' && value.change !== 'deleted') return 'notification_update.change: expected "read" or "deleted"';
    if (typeof value.unread !== 'number') return 'notification_update.unread: expected number';
  }
  if (value.type === 'progress' && (!isPlainObject(value.job) || typeof value.job.jobId !== 'string')) return 'progress.job: expected object with string "jobId"';
  if (value.type === 'broadcast' && typeof value.event !== 'string') return 'broadcast.event: expected string';
  if (value.type === 'read' && (typeof value.user !== 'string' || typeof value.offset !== 'number')) return 'read: expected string "user" and number "offset"';
  if (!USER_PUSH_TYPES.has(value.type) && typeof value.channel !== 'string') {
    return `${value.type}.channel: expected string`;
  }
  if (value.type === 'publication' && value.offset !== undefined && !Number.isSafeInteger(value.offset)) {
    return 'publication.offset: expected integer';
  }
  if ((value.type === 'disconnect' || value.type === 'unsubscribe') && typeof value.code !== 'number') {
    return `${value.type}.code: expected number`;
  }
  return value as unknown as ServerFrame;
}

/** Splits a message from the server into frames; each is a frame or an error string. */
export function decodeServerMessage(text: string): (ServerFrame | string)[] {
  const out: (ServerFrame | string)[] = [];
  for (const line of text.split(FRAME_SEPARATOR)) {
    if (line.trim().length === 0) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      out.push('frame: malformed JSON');
      continue;
    }
    out.push(validateServerFrame(parsed));
  }
  return out;
}

/** Narrowing helper for pushes. */
export function isPublicationPush(frame: ServerFrame): frame is PublicationPush {
  return (frame as PublicationPush).type === 'publication';
}
