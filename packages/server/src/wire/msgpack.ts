/**
 * MessagePack on WebSocket connections that negotiated `tidings.v1.msgpack` (msgpackr; why
 * msgpackr is in bench/RESULTS.md). The server works in JSON throughout; this is the one place
 * that maps between the two, binary data included:
 * - in: a client's MessagePack message (one or more values back to back) becomes frame objects
 *   in the JSON form, where a `bin` value is `{"$binary": "<base64>"}`;
 * - out: a frame's JSON becomes MessagePack, `{"$binary": …}` becoming `bin` again (OutFrame
 *   caches it, so a publication is encoded once for every MessagePack subscriber).
 */
import { BINARY_KEY, MAX_JSON_DEPTH } from '@tidings/protocol';
import { Packr, Unpackr } from 'msgpackr';

// Plain MessagePack both ways: no records extension, maps as objects.
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** Frames encoded to MessagePack so far in this process (tests read it: one per publication, not per subscriber). */
export const msgpackCounters = { encodes: 0 };

/** A message that is not well-formed MessagePack of JSON values and binary data. */
export class MalformedMessagePack extends Error {}

function isPlainObject(v: object): v is Record<string, unknown> {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * A decoded value in the JSON form: `bin` as `{"$binary": base64}`. Throws
 * MalformedMessagePack for what JSON has no form for (extension types, undefined, big
 * integers, NaN and ±Infinity). Past MAX_JSON_DEPTH it stops converting: the frame check refuses it as too deep.
 */
function toJsonForm(v: unknown, depth: number): unknown {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      // A MessagePack float may be NaN or ±Infinity, which JSON has no form for (JSON.stringify would make them null).
      if (!Number.isFinite(v)) throw new MalformedMessagePack(`${v} has no JSON form`);
      return v;
    case 'object':
      break;
    default:
      throw new MalformedMessagePack(`a ${typeof v} value has no JSON form`);
  }
  if (v === null || depth > MAX_JSON_DEPTH + 1) return v;
  if (v instanceof Uint8Array) return { [BINARY_KEY]: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = toJsonForm(v[i], depth + 1);
    return v;
  }
  if (!isPlainObject(v)) throw new MalformedMessagePack('an extension type has no JSON form');
  for (const key of Object.keys(v)) v[key] = toJsonForm(v[key], depth + 1);
  return v;
}

/** Decodes a client's binary message into its frames, in the JSON form. Throws MalformedMessagePack. */
export function decodeMsgpackMessage(data: Buffer): unknown[] {
  let values: unknown[];
  try {
    values = unpackr.unpackMultiple(data) as unknown[];
  } catch (err) {
    throw new MalformedMessagePack((err as Error).message);
  }
  return values.map((v) => toJsonForm(v, 0));
}

/** `{"$binary": base64}` objects (exactly that one key, a string) back to bytes, in place. */
function fromJsonForm(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = fromJsonForm(v[i]);
    return v;
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1 && keys[0] === BINARY_KEY && typeof o[BINARY_KEY] === 'string') return Buffer.from(o[BINARY_KEY], 'base64');
  for (const key of keys) o[key] = fromJsonForm(o[key]);
  return o;
}

/** One frame's JSON text as MessagePack, binary data as `bin`. */
export function encodeMsgpackFrame(json: string): Buffer {
  msgpackCounters.encodes++;
  const value = JSON.parse(json) as unknown;
  // Only a frame that names the key can hold binary data: the rest are encoded as parsed.
  return packr.pack(json.includes(`"${BINARY_KEY}"`) ? fromJsonForm(value) : value);
}
