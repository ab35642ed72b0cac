/**
 * The protocol values the client restates in src/wire.ts (so that the browser bundle does not
 * carry the protocol codec's command tables) are the protocol's own.
 */
import { MAX_COMMAND_ID as PROTOCOL_MAX_COMMAND_ID, PUSH_TYPES as PROTOCOL_PUSH_TYPES, decodeServerMessage } from '@tidings/protocol';
import { expect, test } from 'vitest';
import { MAX_COMMAND_ID, PUSH_TYPES, decodeFrames } from '../src/wire.js';

test('MAX_COMMAND_ID and PUSH_TYPES equal the protocol codec values', () => {
  expect(MAX_COMMAND_ID).toBe(PROTOCOL_MAX_COMMAND_ID);
  expect([...PUSH_TYPES].sort()).toEqual([...PROTOCOL_PUSH_TYPES].sort());
});

test('decodeFrames splits a message into frames as the protocol does, and names what is not a frame', () => {
  const text = ['{"id":1,"result":{}}', '', '{"type":"ping"}', 'not json', '42', '{"type":"publication","channel":"c","data":1}'].join('\n');
  expect(decodeFrames(text)).toEqual([{ id: 1, result: {} }, { type: 'ping' }, 'not JSON: not json', 'not an object: 42', { type: 'publication', channel: 'c', data: 1 }]);
  // The frames the protocol accepts come out the same.
  const valid = decodeServerMessage(text).filter((f) => typeof f !== 'string');
  expect(decodeFrames(text).filter((f) => typeof f !== 'string')).toEqual(valid);
});
