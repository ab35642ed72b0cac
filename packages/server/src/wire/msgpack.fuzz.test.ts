/**
 * Fuzzing the MessagePack reader of `tidings.v1.msgpack` connections with fast-check (fixed
 * seeds; test-support/fuzz.ts scales and counts the runs for `npm run soak:fuzz`): any bytes
 * decode to frames in the JSON form or throw MalformedMessagePack (which closes 4501), never
 * anything else; what decodes has a JSON form; JSON values round trip through MessagePack.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { decodeMsgpackMessage, encodeMsgpackFrame, MalformedMessagePack } from './msgpack.js';
import { fuzz } from '../test-support/fuzz.js';

const packr = new Packr({ useRecords: false });

/** A value JSON can carry as it is: finite numbers, strings, booleans, null, arrays and plain objects of them. */
function jsonForm(v: unknown): boolean {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (Array.isArray(v)) return v.every(jsonForm);
  if (typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return (proto === Object.prototype || proto === null) && Object.values(v).every(jsonForm);
}

/** Decoded values have a JSON form (so nothing is lost or changed on the way to JSON subscribers). */
function hasJsonForm(values: unknown[]): boolean {
  return values.every(jsonForm);
}

function decodeOrMalformed(bytes: Uint8Array): boolean {
  let values: unknown[];
  try {
    values = decodeMsgpackMessage(Buffer.from(bytes));
  } catch (err) {
    return err instanceof MalformedMessagePack;
  }
  return Array.isArray(values) && values.length > 0 && hasJsonForm(values);
}

// MessagePack-shaped bytes: type prefixes a generator would rarely hit at random, then anything.
const PREFIXES = [0x80, 0x81, 0x90, 0x91, 0xa1, 0xc0, 0xc1, 0xc2, 0xc4, 0xc7, 0xca, 0xcb, 0xcf, 0xd3, 0xd4, 0xd6, 0xd7, 0xd8, 0xd9, 0xdc, 0xdd, 0xde, 0xdf, 0xff];
const msgpackish = fc.array(fc.oneof(fc.constantFrom(...PREFIXES), fc.integer({ min: 0, max: 255 })), { maxLength: 64 }).map((xs) => Uint8Array.from(xs));

describe('decodeMsgpackMessage under fast-check', () => {
  it('NaN and ±Infinity are malformed: JSON has no form for them (they became null on the way to subscribers)', () => {
    for (const v of [NaN, Infinity, -Infinity, { deep: [1, NaN] }]) {
      expect(() => decodeMsgpackMessage(packr.pack({ id: 1, type: 'publish', channel: 'chat:x', data: v }))).toThrow(MalformedMessagePack);
    }
    expect(decodeMsgpackMessage(packr.pack({ id: 1, type: 'publish', channel: 'chat:x', data: [1.5, -2, 0] }))).toEqual([{ id: 1, type: 'publish', channel: 'chat:x', data: [1.5, -2, 0] }]);
  });

  it('any bytes: frames with a JSON form, or MalformedMessagePack, never another error', () => {
    fuzz('msgpack: any bytes', fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), msgpackish), decodeOrMalformed), 0x3a9c, 8000);
  });

  it('packed values of any kind (floats, big integers, dates, bytes, nesting): decoded with a JSON form or refused as malformed', () => {
    const value = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }),
      fc.double(),
      fc.constantFrom(NaN, Infinity, -Infinity, -0, 2 ** 53 + 2, 2 ** 64),
      fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
      fc.date({ noInvalidDate: true }),
      fc.uint8Array({ maxLength: 8 }),
      fc.constantFrom(undefined, null),
    );
    const frame = fc.record({ id: fc.integer({ min: 1, max: 2 ** 32 - 1 }), type: fc.constant('publish'), channel: fc.constant('chat:x'), data: fc.array(value, { maxLength: 4 }) });
    fuzz(
      'msgpack: packed values',
      fc.property(frame, (f) => {
        let bytes: Buffer;
        try {
          bytes = packr.pack(f);
        } catch {
          return true; // msgpackr cannot pack it: nothing a client could send
        }
        return decodeOrMalformed(bytes);
      }),
      0x3a9d,
      4000,
    );
  });

  it('JSON values round trip: packed by a client, decoded, encoded back for a MessagePack subscriber', () => {
    fuzz(
      'msgpack: JSON round trip',
      fc.property(fc.jsonValue({ maxDepth: 5 }), (data) => {
        const frame = { id: 7, type: 'publish', channel: 'chat:x', data };
        const [decoded] = decodeMsgpackMessage(packr.pack(frame));
        expect(decoded).toEqual(JSON.parse(JSON.stringify(frame)));
        expect(packr.unpack(encodeMsgpackFrame(JSON.stringify(decoded)))).toEqual(decoded);
        return true;
      }),
      0x3a9e,
      3000,
    );
  });
});
