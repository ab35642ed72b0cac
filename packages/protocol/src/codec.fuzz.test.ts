/**
 * Fuzzing the client-message decoder with fast-check (fixed seeds; test/fuzz.ts scales and
 * counts the runs for `npm run soak:fuzz`). codec.property.test.ts already throws hand-made
 * random strings and frame-like objects at it; this adds what a shrinking generator does
 * better: a reference model of the fatal / non-fatal decision for arbitrary objects, nesting
 * far past MAX_JSON_DEPTH, any code point (lone surrogates too), and batches that must decode
 * as their lines do one by one.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ErrorCode } from './codes.js';
import { COMMAND_TYPES, MAX_COMMAND_ID, decodeClientMessage, type Decoded } from './codec.js';
import type { ClientFrame } from './frames.js';
import { MAX_JSON_DEPTH } from './json-depth.js';
import { fuzz } from '../test/fuzz.js';

const ERROR_CODES = new Set<string>(Object.values(ErrorCode));

/** The decoder's answer is well formed: one result per non-blank line, documented codes, ids where answerable. */
function wellFormed(text: string, results: Decoded<ClientFrame>[]): boolean {
  const lines = text.split('\n').filter((l) => l.trim().length > 0).length;
  if (results.length !== Math.max(lines, 1)) return false;
  return results.every((d) =>
    d.ok
      ? d.frame.type === 'pong' || (Number.isInteger(d.frame.id) && d.frame.id >= 1 && d.frame.id <= MAX_COMMAND_ID)
      : ERROR_CODES.has(d.error.code) && d.error.message.length > 0 && (d.fatal ? !('id' in d) : Number.isInteger(d.id)),
  );
}

/** Never throws, always well formed. */
function decodes(text: string): boolean {
  return wellFormed(text, decodeClientMessage(text));
}

const validId = fc.integer({ min: 1, max: MAX_COMMAND_ID });
const anyId = fc.oneof(validId, fc.constantFrom(0, -1, 1.5, MAX_COMMAND_ID + 1, 1e300, '1', null, true, [], {}));
const anyType = fc.oneof(fc.constantFrom(...COMMAND_TYPES, 'pong', 'ping', '__proto__', 'toString', 'constructor', ''), fc.string(), fc.jsonValue());
const FIELDS = ['channel', 'token', 'data', 'limit', 'since', 'recover', 'users', 'status', 'typing', 'state', 'method', 'ids', 'all', 'scope', 'jobId', 'subs', 'name', 'version', 'event', 'idempotencyKey', '__proto__', 'constructor'];
const frameish = fc.record(
  { id: anyId, type: anyType, fields: fc.dictionary(fc.constantFrom(...FIELDS), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }) },
  { requiredKeys: ['fields'] },
);

describe('decodeClientMessage under fast-check', () => {
  it('never throws on any string of any code points (lone surrogates, NUL, U+2028), with newlines mixed in', () => {
    const text = fc.array(fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.constantFrom('\n', '{', '}', '"id":1', '"type":"connect"', ',', '[', ']')), { maxLength: 12 }).map((xs) => xs.join(''));
    fuzz('codec: any string', fc.property(text, decodes), 0x7d1a, 6000);
  });

  it('decides fatal / non-fatal / unknown_command for arbitrary objects as the protocol says', () => {
    fuzz(
      'codec: frame-like objects against a model',
      fc.property(frameish, ({ id, type, fields }) => {
        const value: Record<string, unknown> = JSON.parse(JSON.stringify(fields));
        if (id !== undefined) value.id = id;
        if (type !== undefined) value.type = type;
        const text = JSON.stringify(value);
        const [d] = decodeClientMessage(text);
        if (!wellFormed(text, [d!])) return false;
        const goodId = typeof value.id === 'number' && Number.isInteger(value.id) && value.id >= 1 && value.id <= MAX_COMMAND_ID;
        if (value.id === undefined) return value.type === 'pong' ? d!.ok && d!.frame.type === 'pong' : !d!.ok && d!.fatal;
        if (!goodId) return !d!.ok && d!.fatal && d!.error.code === ErrorCode.BadRequest;
        if (typeof value.type !== 'string') return !d!.ok && !d!.fatal && d!.id === value.id && d!.error.code === ErrorCode.BadRequest;
        if (!(COMMAND_TYPES as readonly string[]).includes(value.type)) return !d!.ok && !d!.fatal && d!.id === value.id && d!.error.code === ErrorCode.UnknownCommand;
        return d!.ok || (!d!.fatal && d!.id === value.id && d!.error.code === ErrorCode.BadRequest);
      }),
      0x5eed,
      6000,
    );
  });

  it('any JSON value that is not an object is fatal; the decoder survives nesting thousands of levels deep', () => {
    const nested = fc.tuple(fc.integer({ min: 0, max: 4000 }), fc.boolean()).map(([n, arrays]) => (arrays ? '['.repeat(n) + '1' + ']'.repeat(n) : '{"a":'.repeat(n) + '1' + '}'.repeat(n)));
    fuzz(
      'codec: non-object JSON and deep nesting',
      fc.property(fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v)), nested), (text) => {
        const results = decodeClientMessage(text);
        if (!wellFormed(text, results)) return false;
        const parsed: unknown = JSON.parse(text);
        const isObject = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
        return isObject || (!results[0]!.ok && results[0]!.fatal);
      }),
      0xdee9,
      3000,
    );
  });

  it('publish.data nested n levels is accepted up to MAX_JSON_DEPTH and refused with bad_request beyond, whatever n', () => {
    fuzz(
      'codec: depth limit model',
      fc.property(fc.integer({ min: 0, max: 3000 }), validId, fc.boolean(), (n, id, arrays) => {
        const data = arrays ? '['.repeat(n) + 'null' + ']'.repeat(n) : '{"k":'.repeat(n) + 'null' + '}'.repeat(n);
        const [d] = decodeClientMessage(`{"id":${id},"type":"publish","channel":"a:b","data":${data}}`);
        if (n <= MAX_JSON_DEPTH) return d!.ok;
        return !d!.ok && !d!.fatal && d!.id === id && d!.error.code === ErrorCode.BadRequest && d!.error.message === `publish.data: nested deeper than ${MAX_JSON_DEPTH} levels`;
      }),
      0xd3e9,
      3000,
    );
  });

  it('a batch decodes exactly as its lines do one by one, in order', () => {
    const line = fc.oneof(
      frameish.map(({ id, type, fields }) => JSON.stringify({ ...fields, id, type })),
      fc.string({ unit: 'binary', maxLength: 30 }).map((s) => s.replace(/\n/g, '')),
      fc.constant('{"type":"pong"}'),
      fc.constant('   '),
    );
    fuzz(
      'codec: batches equal their lines',
      fc.property(fc.array(line, { minLength: 1, maxLength: 8 }), (lines) => {
        const text = lines.join('\n');
        const batch = decodeClientMessage(text);
        const single = lines.filter((l) => l.trim().length > 0).flatMap((l) => decodeClientMessage(l));
        expect(batch).toEqual(single.length === 0 ? decodeClientMessage('') : single);
        return wellFormed(text, batch);
      }),
      0xba7c,
      3000,
    );
  });
});
