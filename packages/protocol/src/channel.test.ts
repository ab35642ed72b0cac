import { describe, expect, it } from 'vitest';
import {
  CHANNEL_MAX_LENGTH,
  NAMESPACE_MAX_LENGTH,
  PERSONAL_NAMESPACE,
  USER_ID_MAX_LENGTH,
  channelError,
  isValidChannel,
  isValidUserId,
  parseChannel,
  personalChannel,
} from './channel.js';
import { prng } from '../test/prng.js';

const CHARSET = 'channel holds a character outside A-Z a-z 0-9 _ - . @ + = / | ~ : # ,';
const SHAPE = 'channel must be "namespace:name"';
const NAMESPACE = 'namespace may hold only A-Z, a-z, 0-9, "_" and "-" (1-64 characters)';
const EMPTY_REST = 'channel name after the namespace must not be empty';
const EMPTY_USER = 'user-limited channel lists an empty user id';
const TWO_HASHES = 'channel may hold at most one "#"';
const STRAY_COMMA = '"," is only allowed in the user list after "#"';
const NOT_STRING = 'channel must be a string';

it('limits', () => {
  expect(CHANNEL_MAX_LENGTH).toBe(255);
  expect(NAMESPACE_MAX_LENGTH).toBe(64);
  expect(USER_ID_MAX_LENGTH).toBe(200);
  expect(PERSONAL_NAMESPACE).toBe('user');
});

describe('valid channel names', () => {
  const valid = [
    'chat:lobby',
    'task:123',
    'dm:#alice,bob',
    'dm:#alice',
    'user:#alice@example.com',
    'user:#auth0|abc123',
    'user:#google-oauth2|1234567890',
    'org:acme/repo.x',
    'math:a+b',
    'kv:key=value',
    'home:~alice',
    'ns:a:b:c',
    'ns::',
    'ns:-',
    'game:room-1#alice,bob',
    'A_b-9:X_y-0',
    `${'n'.repeat(64)}:x`,
    `ns:${'x'.repeat(CHANNEL_MAX_LENGTH - 3)}`,
    `dm:#${'a'.repeat(100)},${'b'.repeat(100)}`,
  ];

  it.each(valid)('%s', (name) => {
    expect(channelError(name)).toBeNull();
    expect(isValidChannel(name)).toBe(true);
  });

  it('the 255-character example is exactly 255 characters', () => {
    expect(valid.filter((v) => v.length === CHANNEL_MAX_LENGTH)).toHaveLength(1);
  });
});

describe('invalid channel names', () => {
  const invalid: [string, unknown, string][] = [
    ['empty', '', 'channel must not be empty'],
    ['no colon', 'lobby', SHAPE],
    ['leading colon', ':lobby', SHAPE],
    ['only a colon', ':', SHAPE],
    ['empty rest', 'chat:', EMPTY_REST],
    ['256 characters', `ns:${'x'.repeat(CHANNEL_MAX_LENGTH - 2)}`, 'channel is longer than 255 characters'],
    ['256 characters with bad characters too (length is checked first)', ' '.repeat(256), 'channel is longer than 255 characters'],
    ['space', 'chat:lo bby', CHARSET],
    ['wildcard *', 'chat:*', CHARSET],
    ['wildcard ?', 'chat:lob?y', CHARSET],
    ['wildcard >', 'chat:>', CHARSET],
    ['NUL', 'chat:lo\0bby', CHARSET],
    ['newline', 'chat:lo\nbby', CHARSET],
    ['trailing newline', 'chat:lobby\n', CHARSET],
    ['tab', 'chat:\tlobby', CHARSET],
    ['DEL', 'chat:lobby\x7f', CHARSET],
    ['unicode letter', 'chat:café', CHARSET],
    ['non-latin script', 'chat:лобби', CHARSET],
    ['emoji', 'chat:🎉', CHARSET],
    ['quote', 'chat:"x"', CHARSET],
    ['backslash', 'chat:a\\b', CHARSET],
    ['percent', 'chat:100%', CHARSET],
    ['two #', 'dm:#alice#bob', TWO_HASHES],
    ['two # apart', 'ns:x#a,b#c', TWO_HASHES],
    ['empty user in list', 'dm:#a,,b', EMPTY_USER],
    ['trailing comma', 'dm:#alice,', EMPTY_USER],
    ['leading comma', 'dm:#,alice', EMPTY_USER],
    ['bare #', 'dm:#', EMPTY_USER],
    ['comma without #', 'dm:alice,bob', STRAY_COMMA],
    ['namespace with .', 'ch.at:lobby', NAMESPACE],
    ['namespace with space', 'ch at:lobby', NAMESPACE],
    ['namespace with #', 'user#:x', NAMESPACE],
    ['namespace with unicode', 'çhat:lobby', NAMESPACE],
    ['namespace of 65 characters', `${'n'.repeat(65)}:x`, NAMESPACE],
    ['number', 42, NOT_STRING],
    ['null', null, NOT_STRING],
    ['undefined', undefined, NOT_STRING],
    ['array', ['chat:lobby'], NOT_STRING],
    ['String object', new String('chat:lobby'), NOT_STRING],
  ];

  it.each(invalid)('%s', (_label, name, message) => {
    expect(channelError(name)).toBe(message);
    expect(isValidChannel(name)).toBe(false);
  });

  // KNOWN ISSUE (reported): only the text after "#" is checked for commas, so a comma before "#"
  // is accepted although "," is documented (and reported) as allowed only in the user list.
  it('comma before #: "dm:a,b#c" and "ns:,#a" are rejected', () => {
    expect(channelError('dm:a,b#c')).toBe(STRAY_COMMA);
    expect(channelError('ns:,#a')).toBe(STRAY_COMMA);
  });
});

describe('parseChannel', () => {
  it('splits namespace and rest at the first colon', () => {
    expect(parseChannel('chat:lobby')).toStrictEqual({ namespace: 'chat', rest: 'lobby' });
    expect(parseChannel('ns:a:b:c')).toStrictEqual({ namespace: 'ns', rest: 'a:b:c' });
    expect(parseChannel('org:acme/repo.x')).toStrictEqual({ namespace: 'org', rest: 'acme/repo.x' });
  });

  it('has no users key on a channel without #', () => {
    expect('users' in parseChannel('task:123')).toBe(false);
  });

  it('lists the users of a user-limited channel', () => {
    expect(parseChannel('dm:#alice,bob')).toStrictEqual({ namespace: 'dm', rest: '#alice,bob', users: ['alice', 'bob'] });
    expect(parseChannel('game:room-1#alice,bob')).toStrictEqual({
      namespace: 'game',
      rest: 'room-1#alice,bob',
      users: ['alice', 'bob'],
    });
    expect(parseChannel('user:#alice@example.com')).toStrictEqual({
      namespace: 'user',
      rest: '#alice@example.com',
      users: ['alice@example.com'],
    });
    expect(parseChannel('user:#auth0|abc123').users).toEqual(['auth0|abc123']);
    expect(parseChannel('ns:#a:b,c:d').users).toEqual(['a:b', 'c:d']);
  });
});

describe('isValidUserId', () => {
  const good = [
    'alice',
    'a',
    'alice@example.com',
    'first.last+tag@sub.example.co.uk',
    'auth0|123',
    'google-oauth2|109876543210',
    '3f2b8e4c-9a1d-4c7e-8f2a-1b2c3d4e5f60',
    'A_b-c.d@e+f=g/h|i~j:k',
    'x'.repeat(USER_ID_MAX_LENGTH),
  ];
  it.each(good)('accepts %s', (id) => {
    expect(isValidUserId(id)).toBe(true);
  });

  const bad: [string, unknown][] = [
    ['empty', ''],
    ['#', '#'],
    [',', ','],
    ['# inside', 'a#b'],
    [', inside', 'alice,bob'],
    ['space', 'alice smith'],
    ['leading space', ' alice'],
    ['newline', 'alice\n'],
    ['NUL', 'a\0'],
    ['unicode', 'zoë'],
    ['wildcard', 'a*'],
    ['201 characters', 'x'.repeat(USER_ID_MAX_LENGTH + 1)],
    ['number', 123],
    ['null', null],
    ['undefined', undefined],
  ];
  it.each(bad)('rejects %s', (_label, id) => {
    expect(isValidUserId(id)).toBe(false);
  });
});

describe('personalChannel', () => {
  it("personalChannel('alice') is user:#alice and valid", () => {
    expect(personalChannel('alice')).toBe('user:#alice');
    expect(isValidChannel(personalChannel('alice'))).toBe(true);
  });

  it.each(['alice', 'alice@example.com', 'auth0|abc123', '3f2b8e4c-9a1d-4c7e-8f2a-1b2c3d4e5f60', 'x'.repeat(USER_ID_MAX_LENGTH)])(
    'the personal channel of valid user id %s is valid and limited to that user',
    (id) => {
      const ch = personalChannel(id);
      expect(channelError(ch)).toBeNull();
      expect(parseChannel(ch)).toStrictEqual({ namespace: PERSONAL_NAMESPACE, rest: `#${id}`, users: [id] });
    },
  );
});

describe('properties', () => {
  const ALPHABET = 'abcXYZ019_-.@+=/|~:#,:#, *?>\n\t\0é🎉';
  const NS_CHARS = 'abcXYZ019_-';
  const REST_CHARS = 'abcXYZ019_-.@+=/|~:#,';

  it('channelError never throws; valid names split back into themselves', () => {
    const rnd = prng(0xc4a77e1);
    const chars = [...ALPHABET];
    let validCount = 0;
    for (let i = 0; i < 5000; i++) {
      // Mostly "namespace:rest" built from legal characters, sprinkled with illegal ones.
      const part = (alphabet: string, n: number) => {
        let p = '';
        for (let j = 0; j < n; j++) p += rnd() < 0.05 ? chars[Math.floor(rnd() * chars.length)]! : alphabet[Math.floor(rnd() * alphabet.length)]!;
        return p;
      };
      const s = rnd() < 0.2 ? part(ALPHABET, Math.floor(rnd() * 20)) : `${part(NS_CHARS, Math.floor(rnd() * 6))}:${part(REST_CHARS, Math.floor(rnd() * 14))}`;
      const err = channelError(s);
      expect(err === null || typeof err === 'string').toBe(true);
      expect(isValidChannel(s)).toBe(err === null);
      if (err !== null) continue;
      validCount++;
      const p = parseChannel(s);
      expect(`${p.namespace}:${p.rest}`).toBe(s);
      expect(p.namespace).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
      if (p.users) {
        expect(s.split('#')).toHaveLength(2);
        for (const u of p.users) {
          expect(u.length).toBeGreaterThan(0);
          expect(u).toMatch(/^[A-Za-z0-9_\-.@+=/|~:]+$/);
        }
      } else {
        expect(p.rest).not.toMatch(/[#,]/);
      }
    }
    expect(validCount).toBeGreaterThan(500);
  });

  it('a random valid user id always makes a valid personal channel', () => {
    const rnd = prng(0x5eed);
    const idChars = [...'abcdefghijklmnopqrstuvwxyzABCXYZ0123456789_-.@+=/|~:'];
    for (let i = 0; i < 2000; i++) {
      const len = 1 + Math.floor(rnd() * USER_ID_MAX_LENGTH);
      let id = '';
      for (let j = 0; j < len; j++) id += idChars[Math.floor(rnd() * idChars.length)]!;
      expect(isValidUserId(id)).toBe(true);
      expect(channelError(personalChannel(id))).toBeNull();
      expect(parseChannel(personalChannel(id)).users).toEqual([id]);
    }
  });
});
