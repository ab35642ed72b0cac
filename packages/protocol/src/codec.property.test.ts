/**
 * Property-style tests of the codec without extra dependencies: a seeded PRNG drives
 * a few thousand random inputs per property, so any failure reproduces from its seed.
 */
import { describe, expect, it } from 'vitest';
import { clientFrames, serverFrames } from '../test/golden.js';
import { ErrorCode } from './codes.js';
import {
  COMMAND_TYPES,
  MAX_COMMAND_ID,
  decodeClientMessage,
  decodeServerMessage,
  encodeFrame,
  encodeFrames,
  encodePublication,
  validateClientFrame,
  type Decoded,
} from './codec.js';
import type { ClientFrame, ClientInfo, Command, Publication } from './frames.js';
import { prng } from '../test/prng.js';

// ---------------------------------------------------------------- PRNG and generators

type Rng = () => number;


const int = (r: Rng, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const chance = (r: Rng, p: number): boolean => r() < p;

/** Characters that stress JSON escaping and frame splitting. */
const NASTY = ['\n', '\r', '\t', '"', '\\', '\u0000', '\u001f', '\u2028', '\u2029', 'é', '日', '🎉', '\ud800', '\udfff', '{', '}', ':', ','];

function randomString(r: Rng, maxLen: number): string {
  const len = int(r, 0, maxLen);
  let s = '';
  for (let i = 0; i < len; i++) {
    const k = r();
    if (k < 0.6) s += String.fromCharCode(int(r, 0x20, 0x7e));
    else if (k < 0.85) s += pick(r, NASTY);
    else s += String.fromCharCode(int(r, 0, 0xffff));
  }
  return s;
}

/** A random JSON value that survives JSON.stringify/parse unchanged (no -0, NaN, undefined, __proto__). */
function randomJson(r: Rng, depth = 0): unknown {
  const k = r();
  if (depth > 3 || k < 0.5) {
    return pick(r, [
      () => null,
      () => chance(r, 0.5),
      () => int(r, -1e6, 1e6) || 0,
      () => (r() - 0.5) * 1e9 || 0,
      () => pick(r, [Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 1e300, 5e-324]),
      () => randomString(r, 12),
    ])();
  }
  if (k < 0.75) return Array.from({ length: int(r, 0, 4) }, () => randomJson(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = int(r, 0, 4); i > 0; i--) {
    const key = randomString(r, 6);
    if (key === '__proto__') continue;
    o[key] = randomJson(r, depth + 1);
  }
  return o;
}

function randomPosition(r: Rng): { epoch: string; offset: number } {
  return { epoch: randomString(r, 10), offset: chance(r, 0.2) ? pick(r, [0, Number.MAX_SAFE_INTEGER]) : int(r, 0, 1e9) };
}

/** A string of length 0..max, often exactly max, to hit the boundary. */
function boundedString(r: Rng, max: number): string {
  if (chance(r, 0.1)) return 'm'.repeat(max);
  return randomString(r, Math.min(max, 40));
}

/** A user id as the codec sees it: any non-empty string (the server checks the charset). */
function randomUserId(r: Rng): string {
  return randomString(r, 20) || pick(r, ['a', 'bob', 'auth0|123', 'carol@example.com']);
}

/** A list of 1..1000 user ids, sometimes exactly 1000 to hit the boundary. */
function randomUsers(r: Rng): string[] {
  const n = chance(r, 0.05) ? 1000 : int(r, 1, 6);
  return Array.from({ length: n }, () => randomUserId(r));
}

/** A message's offset (replyTo, ref): 1..2^53-1, sometimes a boundary. */
function randomOffset(r: Rng): number {
  return chance(r, 0.1) ? pick(r, [1, Number.MAX_SAFE_INTEGER]) : int(r, 1, 1e9);
}

/** An event name as EVENT_NAME_PATTERN allows: 1..64 of letters, digits, _ . : - */
function randomEventName(r: Rng): string {
  const chars = 'abcXYZ019_.:-';
  return Array.from({ length: chance(r, 0.1) ? 64 : int(r, 1, 12) }, () => pick(r, [...chars])).join('');
}

/** An annotation kind as ANNOTATION_KIND_PATTERN allows: 1..32 of lowercase letters, digits, _ . - */
function randomAnnotationKind(r: Rng): string {
  const chars = 'abcz09_.-';
  return Array.from({ length: chance(r, 0.1) ? 32 : int(r, 1, 10) }, () => pick(r, [...chars])).join('');
}

/** An annotation name as ANNOTATION_NAME_PATTERN allows: 1..64 code units, no whitespace or control characters. */
function randomAnnotationName(r: Rng): string {
  const parts = ['👍', '🎉', 'x', 'flag', '+1', 'é', '日', '"', '\\', '{'];
  let s = pick(r, parts);
  while (chance(r, 0.3) && s.length < 60) s += pick(r, parts);
  return s;
}

function randomId(r: Rng): number {
  return chance(r, 0.1) ? pick(r, [1, MAX_COMMAND_ID]) : int(r, 1, MAX_COMMAND_ID);
}

/** A random command that follows the field rules of protocol v1. */
function randomCommand(r: Rng): Command {
  const id = randomId(r);
  const channel = randomString(r, 30); // the codec only checks that channel is a string
  const opt = <T>(make: () => T): T | undefined => (chance(r, 0.5) ? make() : undefined);
  const clean = <T extends object>(o: T): T => JSON.parse(JSON.stringify(o)) as T; // drop undefined fields
  switch (int(r, 0, 25)) {
    case 0: {
      const subs = opt(() => Object.fromEntries(Array.from({ length: int(r, 0, 3) }, () => [`s:${randomString(r, 8)}`, randomPosition(r)])));
      return clean({ id, type: 'connect', token: opt(() => boundedString(r, 16384)), name: opt(() => boundedString(r, 64)), version: opt(() => boundedString(r, 64)), subs });
    }
    case 1:
      return { id, type: 'refresh', token: boundedString(r, 16384) };
    case 2:
      return clean({ id, type: 'subscribe', channel, token: opt(() => boundedString(r, 16384)), recover: opt(() => randomPosition(r)) });
    case 3:
      return { id, type: 'unsubscribe', channel };
    case 4:
      return clean({
        id,
        type: 'publish',
        channel,
        data: randomJson(r),
        idempotencyKey: opt(() => 'k' + boundedString(r, 127)),
        event: opt(() => randomEventName(r)),
        replyTo: opt(() => randomOffset(r)),
      });
    case 5:
      return clean({
        id,
        type: 'history',
        channel,
        limit: opt(() => (chance(r, 0.2) ? pick(r, [0, Number.MAX_SAFE_INTEGER]) : int(r, 0, 1000))),
        since: opt(() => randomPosition(r)),
        reverse: opt(() => chance(r, 0.5)),
      });
    case 6:
      return { id, type: 'presence', channel };
    case 7:
      return { id, type: 'presence_stats', channel };
    case 8:
      return { id, type: 'typing', channel, typing: chance(r, 0.5) };
    case 9:
      return { id, type: 'status', status: pick(r, ['online', 'away'] as const) };
    case 10:
      return { id, type: 'presence_state', channel, state: chance(r, 0.2) ? null : randomJson(r) };
    case 11:
      return { id, type: 'follow', users: randomUsers(r) };
    case 12:
      return { id, type: 'unfollow', users: randomUsers(r) };
    case 13:
      return clean({ id, type: 'rpc', method: boundedString(r, 256), data: opt(() => randomJson(r)) });
    case 14:
      return clean({ id, type: 'notifications', limit: opt(() => int(r, 0, 100)), cursor: opt(() => 'c' + boundedString(r, 127)), unread: opt(() => chance(r, 0.5)) });
    case 15:
      return { id, type: 'notification_count' };
    case 16:
      return chance(r, 0.5) ? { id, type: 'notification_read', all: true } : { id, type: 'notification_read', ids: randomUsers(r).slice(0, 100) };
    case 17:
      return { id, type: 'notification_delete', ids: randomUsers(r).slice(0, 100) };
    case 18:
      return clean({ id, type: 'activity', scope: 's' + boundedString(r, 127), limit: opt(() => int(r, 1, 100)), cursor: opt(() => 'c' + boundedString(r, 127)) });
    case 19:
      return clean({ id, type: 'progress', jobId: opt(() => 'j' + boundedString(r, 127)) });
    case 20:
      return { id, type: 'message_edit', channel, ref: randomOffset(r), data: randomJson(r) };
    case 21:
      return { id, type: 'message_delete', channel, ref: randomOffset(r) };
    case 22:
      return clean({ id, type: 'annotate', channel, ref: randomOffset(r), kind: opt(() => randomAnnotationKind(r)), name: randomAnnotationName(r), remove: opt(() => chance(r, 0.5)) });
    case 23:
      return { id, type: 'read', channel, offset: chance(r, 0.2) ? pick(r, [0, Number.MAX_SAFE_INTEGER]) : int(r, 0, 1e9) };
    case 24:
      return { id, type: 'read_receipts', channel };
    default:
      return { id, type: 'unread', channels: Array.from({ length: chance(r, 0.05) ? 100 : int(r, 1, 5) }, () => randomUserId(r)) };
  }
}

/** Random JSON text biased toward frame-like objects, so validation paths are reached. */
function randomFrameishJson(r: Rng): string {
  const value = (): unknown =>
    pick(r, [
      () => randomJson(r),
      () => pick(r, [0, -1, 1, 1.5, -0.5, MAX_COMMAND_ID, MAX_COMMAND_ID + 1, 1e300, Number.MAX_SAFE_INTEGER + 2]),
      () => pick(r, ['', 'x', '1', 'true', 'pong', 'connect']),
      () => ({ epoch: pick(r, ['e', 1, null]), offset: pick(r, [0, -1, 1.5, '2', null, 1e300]) }),
      () => ({ 'a:b': { epoch: pick(r, ['e', 3]), offset: pick(r, [0, -1, 'x']) } }),
      () => [],
      () => null,
      () => pick(r, ['online', 'away', 'offline', 'Online']),
      () => Array.from({ length: int(r, 0, 4) }, () => pick(r, ['alice', '', 1, null, ['x'], {}])),
      () => Array.from({ length: pick(r, [1000, 1001]) }, (_, i) => `u${i}`),
    ])();
  if (chance(r, 0.15)) return JSON.stringify(randomJson(r));
  const fields = ['id', 'type', 'channel', 'token', 'name', 'version', 'subs', 'recover', 'data', 'idempotencyKey', 'limit', 'since', 'reverse', 'method', 'typing', 'status', 'state', 'users', 'replyTo', 'ref', 'kind', 'remove', 'offset', 'channels', '__proto__', 'constructor'];
  const types = ['connect', 'refresh', 'subscribe', 'unsubscribe', 'publish', 'history', 'presence', 'presence_stats', 'typing', 'status', 'presence_state', 'follow', 'unfollow', 'rpc', 'message_edit', 'message_delete', 'annotate', 'read', 'read_receipts', 'unread', 'pong', 'ping', 'toString', '__proto__', 'hasOwnProperty', ''];
  const parts: string[] = [];
  if (chance(r, 0.85)) parts.push(`"id":${JSON.stringify(chance(r, 0.7) ? randomId(r) : value())}`);
  if (chance(r, 0.9)) parts.push(`"type":${JSON.stringify(chance(r, 0.8) ? pick(r, types) : value())}`);
  for (let i = int(r, 0, 5); i > 0; i--) parts.push(`${JSON.stringify(pick(r, fields))}:${JSON.stringify(value()) ?? 'null'}`);
  return `{${parts.join(',')}}`;
}

/** Corrupts a valid text: flips, inserts, deletes or duplicates characters. */
function mutate(r: Rng, text: string): string {
  let s = text;
  for (let n = int(r, 1, 4); n > 0; n--) {
    const at = int(r, 0, s.length);
    const ch = pick(r, ['{', '}', '"', ',', ':', '\n', '\\', '0', '-', '.', 'e', ' ', '[', ']', 'x', '\u0000']);
    switch (int(r, 0, 3)) {
      case 0: s = s.slice(0, at) + ch + s.slice(at + 1); break;
      case 1: s = s.slice(0, at) + ch + s.slice(at); break;
      case 2: s = s.slice(0, at) + s.slice(at + 1); break;
      default: s = s.slice(0, at) + s.slice(at, at + 8) + s.slice(at);
    }
  }
  return s;
}

// ---------------------------------------------------------------- invariants

const ERROR_CODES = new Set<string>(Object.values(ErrorCode));

/** Every result is a well-formed Decoded, and a message always yields at least one. */
function checkDecoded(text: string, results: Decoded<ClientFrame>[]): void {
  expect(Array.isArray(results), text).toBe(true);
  expect(results.length, text).toBeGreaterThan(0);
  const lines = text.split('\n').filter((l) => l.trim().length > 0).length;
  expect(results.length, text).toBe(Math.max(lines, 1));
  for (const d of results) {
    if (d.ok) {
      expect(typeof d.frame, text).toBe('object');
      if (d.frame.type !== 'pong') {
        expect(Number.isInteger(d.frame.id) && d.frame.id >= 1 && d.frame.id <= MAX_COMMAND_ID, text).toBe(true);
      }
      continue;
    }
    expect(typeof d.fatal, text).toBe('boolean');
    expect(ERROR_CODES.has(d.error.code), text).toBe(true);
    expect(typeof d.error.message, text).toBe('string');
    expect(d.error.message.length, text).toBeGreaterThan(0);
    if (d.fatal) expect('id' in d, text).toBe(false);
    else expect(Number.isInteger(d.id) && d.id! >= 1 && d.id! <= MAX_COMMAND_ID, text).toBe(true);
  }
}

// ---------------------------------------------------------------- properties

describe('decodeClientMessage never throws', () => {
  it('on random strings (any UTF-16 code unit, JSON punctuation and newlines)', () => {
    const r = prng(1);
    for (let i = 0; i < 3000; i++) {
      const text = chance(r, 0.5) ? randomString(r, 60) : Array.from({ length: int(r, 1, 30) }, () => pick(r, ['{', '}', '[', ']', '"', ':', ',', '\n', ' ', '1', '-', 'e', 'true', 'null', '"id"', '"type"'])).join('');
      let results: Decoded<ClientFrame>[] = [];
      expect(() => (results = decodeClientMessage(text)), JSON.stringify(text)).not.toThrow();
      checkDecoded(text, results);
    }
  });

  it('on random bytes decoded as UTF-8 (as a server receives them)', () => {
    const r = prng(2);
    const decoder = new TextDecoder();
    for (let i = 0; i < 3000; i++) {
      const bytes = Uint8Array.from({ length: int(r, 0, 64) }, () => int(r, 0, 255));
      const text = decoder.decode(bytes);
      let results: Decoded<ClientFrame>[] = [];
      expect(() => (results = decodeClientMessage(text)), JSON.stringify(text)).not.toThrow();
      checkDecoded(text, results);
    }
  });

  it('on random JSON values and frame-like objects, one or several per message', () => {
    const r = prng(3);
    for (let i = 0; i < 4000; i++) {
      const text = Array.from({ length: int(r, 1, 3) }, () => randomFrameishJson(r)).join('\n');
      let results: Decoded<ClientFrame>[] = [];
      expect(() => (results = decodeClientMessage(text)), text).not.toThrow();
      checkDecoded(text, results);
    }
  });

  it('on mutated golden frames', () => {
    const r = prng(4);
    const texts = clientFrames.map((f) => f.text).filter((t) => t.length < 2000);
    for (let i = 0; i < 4000; i++) {
      const text = mutate(r, pick(r, texts));
      let results: Decoded<ClientFrame>[] = [];
      expect(() => (results = decodeClientMessage(text)), text).not.toThrow();
      checkDecoded(text, results);
    }
  });

  it('validateClientFrame on random JS values, including ones JSON cannot express', () => {
    const r = prng(5);
    const odd = [undefined, NaN, Infinity, -Infinity, -0, 10n, Symbol('s'), () => 1, new Date(0), new Map(), Object.create(null) as object];
    for (let i = 0; i < 3000; i++) {
      const v = chance(r, 0.3)
        ? pick(r, odd)
        : {
            id: chance(r, 0.5) ? randomId(r) : pick(r, odd),
            type: pick(r, ['connect', 'history', 'subscribe', 'typing', 'status', 'presence_state', 'follow', 'unfollow', 'pong', pick(r, odd)]),
            channel: chance(r, 0.3) ? 'a:b' : pick(r, odd),
            limit: pick(r, odd),
            recover: { epoch: 'e', offset: pick(r, odd) },
            subs: { 'a:b': pick(r, odd) },
            typing: pick(r, odd),
            status: pick(r, odd),
            state: pick(r, odd),
            users: chance(r, 0.5) ? pick(r, odd) : ['a', pick(r, odd)],
          };
      let d: Decoded<ClientFrame> | undefined;
      expect(() => (d = validateClientFrame(v))).not.toThrow();
      expect(d).toBeDefined();
      if (d && !d.ok) expect(ERROR_CODES.has(d.error.code)).toBe(true);
    }
  });
});

describe('random valid commands', () => {
  it('always decode ok, to the same frame', () => {
    const r = prng(6);
    for (let i = 0; i < 4000; i++) {
      const cmd = randomCommand(r);
      const text = encodeFrame(cmd);
      expect(text.includes('\n'), text).toBe(false);
      expect(decodeClientMessage(text), text).toEqual([{ ok: true, frame: cmd }]);
    }
  });

  it('decode ok and in order when batched in one message with pongs', () => {
    const r = prng(7);
    for (let i = 0; i < 500; i++) {
      const frames: ClientFrame[] = Array.from({ length: int(r, 1, 8) }, () => (chance(r, 0.15) ? { type: 'pong' as const } : randomCommand(r)));
      const text = encodeFrames(frames);
      expect(decodeClientMessage(text)).toEqual(frames.map((frame) => ({ ok: true, frame })));
    }
  });

  it('breaking one field rule of a valid command makes exactly that command fail, non-fatally, with its id', () => {
    const r = prng(8);
    // null: the command has no field to break (its only rules are id and type).
    const breakers: Record<string, ((c: Record<string, unknown>) => string) | null> = {
      connect: (c) => ((c.token = 7), 'connect.token: expected string, got number'),
      refresh: (c) => (delete c.token, 'refresh.token: required'),
      subscribe: (c) => ((c.recover = { epoch: 'e', offset: -1 }), 'subscribe.recover.offset: expected non-negative integer, got number'),
      unsubscribe: (c) => ((c.channel = null), 'unsubscribe.channel: expected string, got null'),
      publish: (c) => (delete c.data, 'publish.data: required'),
      history: (c) => ((c.channel = 'a:b'), (c.limit = -1), 'history.limit: must be >= 0'),
      presence: (c) => ((c.channel = []), 'presence.channel: expected string, got array'),
      presence_stats: (c) => (delete c.channel, 'presence_stats.channel: required'),
      typing: (c) => ((c.typing = pick(r, ['true', 'false', 'yes'])), 'typing.typing: expected boolean, got string'),
      status: (c) => ((c.status = pick(r, ['offline', 'Online', 'AWAY', '', 'busy'])), 'status.status: expected one of "online", "away"'),
      presence_state: (c) => (delete c.state, 'presence_state.state: required'),
      follow: (c) => {
        // An empty id (or a non-string) at a random position; every entry before it is valid.
        const users = c.users as unknown[];
        const at = int(r, 0, Math.min(users.length, 999));
        users.splice(at, chance(r, 0.5) ? 0 : 1, pick(r, ['', 0, null, ['x']]));
        if (users.length > 1000) users.pop();
        return `follow.users[${at}]: expected non-empty string`;
      },
      unfollow: (c) => {
        const users = c.users as unknown[];
        while (users.length <= 1000) users.push(randomUserId(r));
        return 'unfollow.users: more than 1000 entries';
      },
      rpc: (c) => ((c.method = 'x'.repeat(257)), 'rpc.method: longer than 256 characters'),
      notifications: (c) => ((c.limit = 101), 'notifications.limit: must be <= 100'),
      notification_count: null,
      notification_read: (c) => ((c.ids = []), delete c.all, 'notification_read.ids: expected at least 1 entry'),
      notification_delete: (c) => (delete c.ids, 'notification_delete.ids: required'),
      activity: (c) => ((c.scope = ''), 'activity.scope: shorter than 1 characters'),
      progress: (c) => ((c.jobId = 5), 'progress.jobId: expected string, got number'),
      message_edit: (c) => ((c.ref = 0), 'message_edit.ref: must be >= 1'),
      message_delete: (c) => ((c.ref = pick(r, ['1', null, 1.5])), `message_delete.ref: expected integer, got ${c.ref === null ? 'null' : typeof c.ref}`),
      annotate: (c) => ((c.name = pick(r, ['', 'a b', 'tab\t', 'x'.repeat(65)])), 'annotate.name: expected 1..64 characters, no whitespace or control characters'),
      read: (c) => (delete c.offset, 'read.offset: required'),
      read_receipts: (c) => ((c.channel = 7), 'read_receipts.channel: expected string, got number'),
      unread: (c) => ((c.channels = Array.from({ length: 101 }, (_, i) => `c:${i}`)), 'unread.channels: more than 100 entries'),
    };
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const good = randomCommand(r);
      const bad = JSON.parse(JSON.stringify(randomCommand(r))) as Record<string, unknown> & Command;
      const breaker = breakers[bad.type];
      if (breaker === null) continue;
      seen.add(bad.type);
      const message = breaker!(bad);
      const results = decodeClientMessage(encodeFrames([good, bad as Command, good]));
      expect(results).toEqual([
        { ok: true, frame: good },
        { ok: false, fatal: false, id: bad.id, error: { code: 'bad_request', message } },
        { ok: true, frame: good },
      ]);
    }
    expect(Object.keys(breakers).sort()).toEqual([...COMMAND_TYPES].sort());
    expect([...seen].sort()).toEqual(COMMAND_TYPES.filter((t) => breakers[t] !== null).sort());
  });

  it('cover every command type', () => {
    const r = prng(11);
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) seen.add(randomCommand(r).type);
    expect([...seen].sort()).toEqual([...COMMAND_TYPES].sort());
  });
});

describe('new field rules against a reference model', () => {
  /** What the protocol promises for a user list, written independently of the codec. */
  function usersError(path: string, users: unknown): string | null {
    if (!Array.isArray(users)) return `${path}: expected array of strings, got ${users === null ? 'null' : typeof users}`;
    if (users.length > 1000) return `${path}: more than 1000 entries`;
    if (users.length === 0) return `${path}: expected at least 1 entry`;
    const bad = users.findIndex((u) => typeof u !== 'string' || u === '');
    return bad < 0 ? null : `${path}[${bad}]: expected non-empty string`;
  }

  function randomUsersValue(r: Rng): unknown {
    const entry = () => (chance(r, 0.9) ? randomUserId(r) : pick(r, ['', 0, 1, null, true, [], ['a'], {}, { user: 'a' }]));
    return pick(r, [
      () => Array.from({ length: int(r, 0, 8) }, entry),
      () => Array.from({ length: pick(r, [999, 1000, 1001, 1002]) }, () => (chance(r, 0.999) ? randomUserId(r) : '')),
      () => pick(r, [null, 'alice', '', 0, true, {}, { 0: 'a', length: 1 }]),
    ])();
  }

  it('follow and unfollow accept at most 1000 non-empty strings and name the first entry at fault', () => {
    const r = prng(12);
    for (let i = 0; i < 3000; i++) {
      const type = pick(r, ['follow', 'unfollow'] as const);
      const users = randomUsersValue(r);
      const cmd = { id: randomId(r), type, users };
      const expected = usersError(`${type}.users`, users);
      const [d] = decodeClientMessage(JSON.stringify(cmd));
      if (expected === null) expect(d).toEqual({ ok: true, frame: cmd });
      else expect(d).toEqual({ ok: false, fatal: false, id: cmd.id, error: { code: 'bad_request', message: expected } });
    }
  });

  it('status accepts exactly "online" and "away"; typing needs a boolean; presence_state any present state', () => {
    const r = prng(13);
    const values: unknown[] = ['online', 'away', 'offline', 'Online', 'away ', '', 0, 1, true, false, null, [], {}, ['online']];
    const name = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
    for (let i = 0; i < 2000; i++) {
      const v = chance(r, 0.7) ? pick(r, values) : randomJson(r);
      const id = randomId(r);
      const check = (cmd: Record<string, unknown>, message: string | null) => {
        const [d] = decodeClientMessage(JSON.stringify(cmd));
        if (message === null) expect(d).toEqual({ ok: true, frame: cmd });
        else expect(d).toEqual({ ok: false, fatal: false, id, error: { code: 'bad_request', message } });
      };
      check(
        { id, type: 'status', status: v },
        typeof v !== 'string'
          ? `status.status: expected string, got ${name(v)}`
          : v === 'online' || v === 'away'
            ? null
            : 'status.status: expected one of "online", "away"',
      );
      check({ id, type: 'typing', channel: 'a:b', typing: v }, typeof v === 'boolean' ? null : `typing.typing: expected boolean, got ${name(v)}`);
      check({ id, type: 'presence_state', channel: 'a:b', state: v }, null);
    }
  });
});

describe('server side round trips', () => {
  function randomInfo(r: Rng): ClientInfo {
    const info: ClientInfo = { user: randomString(r, 10), client: randomString(r, 10) };
    if (chance(r, 0.5)) info.info = { name: randomString(r, 10), extra: randomJson(r) };
    return info;
  }

  /**
   * Sets some of the message fields, in encodePublication's own field order (offset, event, replyTo, op,
   * data, info, version, deleted, annotations), so that encodeFrame writes the same text.
   */
  function addMessageFields(r: Rng, pub: Publication): void {
    const { offset, data, info } = pub;
    for (const k of Object.keys(pub)) delete (pub as Record<string, unknown>)[k];
    if (offset !== undefined) pub.offset = offset;
    if (chance(r, 0.2)) pub.event = randomEventName(r);
    if (chance(r, 0.2)) pub.replyTo = randomOffset(r);
    else if (chance(r, 0.3)) {
      const ref = randomOffset(r);
      pub.op = pick(r, [
        { type: 'edit', ref },
        { type: 'delete', ref },
        { type: 'annotate', ref, kind: randomAnnotationKind(r), name: randomAnnotationName(r) },
        { type: 'unannotate', ref, kind: randomAnnotationKind(r), name: randomAnnotationName(r) },
      ] as const);
    }
    pub.data = data;
    if (info !== undefined) pub.info = info;
    if (pub.op === undefined && chance(r, 0.3)) {
      pub.version = randomOffset(r);
      if (chance(r, 0.3)) pub.deleted = true;
      else if (chance(r, 0.5)) pub.annotations = { [randomAnnotationKind(r)]: { [randomAnnotationName(r)]: { count: 1, users: [randomUserId(r)] } } };
    }
  }

  it('encodePublication equals encodeFrame and decodes back, whatever the data', () => {
    const r = prng(9);
    for (let i = 0; i < 3000; i++) {
      const pub: Publication = chance(r, 0.5) ? { offset: int(r, 0, Number.MAX_SAFE_INTEGER), data: randomJson(r) } : { data: randomJson(r) };
      if (chance(r, 0.5)) pub.info = randomInfo(r);
      addMessageFields(r, pub);
      const channel = randomString(r, 20);
      const text = encodePublication(channel, pub);
      expect(text).toBe(encodeFrame({ type: 'publication', channel, ...pub }));
      expect(text.includes('\n')).toBe(false);
      expect(decodeServerMessage(`${text}\n${text}`)).toEqual([JSON.parse(text), JSON.parse(text)]);
    }
  });

  it('decodeServerMessage never throws on mutated golden frames', () => {
    const r = prng(10);
    const texts = serverFrames.map((f) => f.text);
    for (let i = 0; i < 3000; i++) {
      const text = mutate(r, pick(r, texts));
      let out: unknown[] = [];
      expect(() => (out = decodeServerMessage(text)), text).not.toThrow();
      for (const x of out) expect(typeof x === 'string' || (typeof x === 'object' && x !== null)).toBe(true);
    }
  });
});
