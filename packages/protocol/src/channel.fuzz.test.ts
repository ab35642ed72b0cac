/**
 * Fuzzing the channel-name parser with fast-check (fixed seeds; test/fuzz.ts scales and counts
 * the runs for `npm run soak:fuzz`): channelError against a reference model written from the
 * rules in channel.ts's header (not from its regular expressions), parseChannel round trips,
 * user ids and personal channels, and no throw on any value at all.
 */
import { describe, it } from 'vitest';
import fc from 'fast-check';
import { CHANNEL_MAX_LENGTH, channelError, isValidChannel, isValidUserId, parseChannel, personalChannel, USER_ID_MAX_LENGTH } from './channel.js';
import { fuzz } from '../test/fuzz.js';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const NS_CHARS = new Set([...ALNUM, '_', '-']);
const ID_CHARS = new Set([...NS_CHARS, '.', '@', '+', '=', '/', '|', '~', ':']);
const REST_CHARS = new Set([...ID_CHARS, '#', ',']);

/** The rules, one by one: valid or not. */
function modelValid(name: string): boolean {
  if (name.length === 0 || name.length > CHANNEL_MAX_LENGTH) return false;
  const colon = name.indexOf(':');
  if (colon < 1 || colon > 64) return false;
  const ns = name.slice(0, colon);
  const rest = name.slice(colon + 1);
  if (![...ns].every((c) => NS_CHARS.has(c))) return false;
  if (rest.length === 0 || ![...rest].every((c) => REST_CHARS.has(c))) return false;
  const hashes = [...rest].filter((c) => c === '#').length;
  if (hashes > 1) return false;
  if (hashes === 0) return !rest.includes(',');
  const [before, users] = rest.split('#') as [string, string];
  return !before.includes(',') && users.split(',').every((u) => u.length > 0);
}

// Names built mostly from the characters that matter, so valid and nearly valid names are common.
const piece = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...'abcXYZ019_-.@+=/|~'.split('')) },
  { weight: 3, arbitrary: fc.constantFrom(':', '#', ',') },
  { weight: 1, arbitrary: fc.constantFrom(' ', '*', '?', '>', '\u0000', '\n', 'é', '\u{1F600}', '%', '"', '\\', '\ud800') },
);
const channelish = fc.oneof(
  { weight: 8, arbitrary: fc.array(piece, { maxLength: 40 }).map((xs) => xs.join('')) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 260 })).map(([n, m]) => `${'n'.repeat(n)}:${'r'.repeat(m)}`) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
);

describe('channel names under fast-check', () => {
  it('channelError agrees with a model of the rules, and gives a reason whenever it refuses', () => {
    fuzz(
      'channel: model',
      fc.property(channelish, (name) => {
        const err = channelError(name);
        return (err === null) === modelValid(name) && (err === null || err.length > 0) && isValidChannel(name) === (err === null);
      }),
      0xc4a7,
      12000,
    );
  });

  it('parseChannel splits every valid name so that it joins back, users included', () => {
    fuzz(
      'channel: parse round trip',
      fc.property(channelish.filter(isValidChannel), (name) => {
        const p = parseChannel(name);
        if (`${p.namespace}:${p.rest}` !== name) return false;
        if (!name.slice(name.indexOf(':') + 1).includes('#')) return p.users === undefined;
        return p.users !== undefined && p.users.join(',') === p.rest.slice(p.rest.indexOf('#') + 1) && p.users.every((u) => u.length > 0);
      }),
      0xc4a8,
      4000,
    );
  });

  it('a valid user id always makes a valid personal channel limited to that user', () => {
    const id = fc.oneof(fc.array(piece, { minLength: 1, maxLength: 30 }).map((xs) => xs.join('')), fc.string({ maxLength: 210 }), fc.constant('u'.repeat(USER_ID_MAX_LENGTH)), fc.constant('u'.repeat(USER_ID_MAX_LENGTH + 1)));
    fuzz(
      'channel: user ids and personal channels',
      fc.property(id, (uid) => {
        const valid = isValidUserId(uid);
        const model = uid.length > 0 && uid.length <= USER_ID_MAX_LENGTH && [...uid].every((c) => ID_CHARS.has(c));
        if (valid !== model) return false;
        if (!valid) return true;
        const ch = personalChannel(uid);
        const p = parseChannel(ch);
        return isValidChannel(ch) && p.namespace === 'user' && p.users?.length === 1 && p.users[0] === uid;
      }),
      0xc4a9,
      4000,
    );
  });

  it('never throws on any value, and refuses every non-string', () => {
    fuzz(
      'channel: any value',
      fc.property(fc.anything(), (v) => {
        const err = channelError(v);
        return typeof v === 'string' ? true : err === 'channel must be a string' && !isValidUserId(v);
      }),
      0xc4aa,
      3000,
    );
  });
});
