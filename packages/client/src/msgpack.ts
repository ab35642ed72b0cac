/**
 * `@tidings/client/msgpack`: MessagePack frames on WebSocket, opt-in so that the default
 * bundle does not carry a MessagePack library.
 *
 * @example
 * ```ts
 * import { Tidings } from '@tidings/client';
 * import { msgpack } from '@tidings/client/msgpack';
 * const client = new Tidings(url, { getToken, encoding: msgpack });
 * await client.publish('files:inbox', { name: 'a.png', bytes: new Uint8Array(buffer) });
 * ```
 *
 * The client offers `tidings.v1.msgpack` before `tidings.v1`; a server without MessagePack
 * selects `tidings.v1` and the connection stays JSON. Binary data (`Uint8Array`, anywhere in
 * published data) goes as MessagePack `bin` and is received as `Uint8Array` on MessagePack
 * connections; on JSON ones (SSE, long-polling, an older server) it travels in its JSON form
 * `{"$binary": "<base64>"}` (docs/protocol.md, "Encodings").
 */
import type { BINARY_KEY as ProtocolBinaryKey, WS_SUBPROTOCOL_MSGPACK } from '@tidings/protocol';
import { Packr, Unpackr } from 'msgpackr';
import type { WireCodec } from './transports/websocket.js';

// Restated (checked by the compiler) rather than imported: the protocol's index would bring its codec tables.
const SUBPROTOCOL: typeof WS_SUBPROTOCOL_MSGPACK = 'tidings.v1.msgpack';
const BINARY_KEY: typeof ProtocolBinaryKey = '$binary';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  return bytes;
}

/** Binary data's JSON form back to bytes, in place (commands' JSON text holds it: see `replacer`). */
function withBytes(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = withBytes(v[i]);
    return v;
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1 && keys[0] === BINARY_KEY && typeof o[BINARY_KEY] === 'string') return fromBase64(o[BINARY_KEY]);
  for (const key of keys) o[key] = withBytes(o[key]);
  return o;
}

/** The MessagePack encoding, for the `encoding` option. */
export const msgpack: WireCodec = {
  subprotocol: SUBPROTOCOL,
  encode(text) {
    const parts = text.split('\n').filter((line) => line.length > 0).map((line) => {
      const frame = JSON.parse(line) as unknown;
      return packr.pack(line.includes(`"${BINARY_KEY}"`) ? withBytes(frame) : frame);
    });
    if (parts.length === 1) return parts[0]!;
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  },
  decode: (data) => unpackr.unpackMultiple(data) as object[],
  // The holder's own value: a Node Buffer's toJSON has already turned `value` into an object.
  replacer(this: Record<string, unknown>, key: string, value: unknown) {
    const raw = this[key];
    return raw instanceof Uint8Array ? { [BINARY_KEY]: toBase64(raw) } : value;
  },
};
