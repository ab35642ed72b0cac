/**
 * Fuzzing token extraction with fast-check (fixed seeds; test-support/fuzz.ts scales and counts
 * the runs for `npm run soak:fuzz`) against a real node on 127.0.0.1: random
 * `Sec-WebSocket-Protocol` offers (tidings.v1, tidings.v1.msgpack, `tidings.bearer.<jwt>` with a
 * valid, expired or garbage token, look-alikes, duplicates), a token in the query string (never
 * read) and random `Authorization` headers on the HTTP transports' `open`. Each answer is the one
 * docs/protocol.md's handshake table gives, with its X-Tidings-Error code, and a connection
 * authenticates exactly when a valid token was offered where the server takes it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { startTestNode, TEST_SECRET, type TestNode } from '../test-support/test-node.js';
import { RawWs } from '../test-support/raw-ws.js';
import { fuzzAsync } from '../test-support/fuzz.js';

let t: TestNode;
const tokens: Record<'valid' | 'expired', string> = { valid: '', expired: '' };

beforeAll(async () => {
  // No per-IP rate or count limits: every run opens a connection from 127.0.0.1.
  t = await startTestNode({ limits: { connectionRatePerIp: 0, connectionsPerIp: 0 } });
  tokens.valid = await t.token('alice');
  const now = Math.floor(Date.now() / 1000);
  tokens.expired = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(now - 7200).setExpirationTime(now - 3600).sign(new TextEncoder().encode(TEST_SECRET));
});
afterAll(async () => {
  await t.close();
});

type Kind = 'valid' | 'expired' | 'garbage';
type Entry = { kind: 'v1' } | { kind: 'msgpack' } | { kind: 'bearer'; token: Kind; garbage: string } | { kind: 'junk'; text: string };

const garbage = fc.stringMatching(/^[A-Za-z0-9._-]{0,40}$/);
const entry: fc.Arbitrary<Entry> = fc.oneof(
  fc.constant({ kind: 'v1' as const }),
  fc.constant({ kind: 'msgpack' as const }),
  fc.record({ kind: fc.constant('bearer' as const), token: fc.constantFrom<Kind>('valid', 'expired', 'garbage'), garbage }),
  fc.record({ kind: fc.constant('junk' as const), text: fc.constantFrom('tidings.v2', 'chat', 'TIDINGS.V1', 'tidings.bearer', 'TIDINGS.BEARER.x', 'tidings.v1x', 'v1') }),
);

function entryText(e: Entry): string {
  switch (e.kind) {
    case 'v1':
      return 'tidings.v1';
    case 'msgpack':
      return 'tidings.v1.msgpack';
    case 'junk':
      return e.text;
    default:
      return `tidings.bearer.${e.token === 'garbage' ? e.garbage : tokens[e.token]}`;
  }
}

/** What docs/protocol.md says the handshake answers, and who the connection is then. */
function expected(entries: Entry[]): { status: number; code?: string; protocol?: string; user?: string } {
  const texts = entries.map(entryText);
  const bearer = entries.find((e): e is Extract<Entry, { kind: 'bearer' }> => e.kind === 'bearer');
  const v1 = texts.includes('tidings.v1');
  const msgpack = texts.includes('tidings.v1.msgpack');
  if (bearer) {
    if (!v1 && !msgpack) return { status: 400, code: 'bad_request' };
    if (bearer.token === 'expired') return { status: 401, code: 'token_expired' };
    // A garbage token can only be valid by accident (it is never a signed JWT).
    if (bearer.token === 'garbage') return { status: 401, code: 'unauthorized' };
  }
  // The header is then `ws`'s to parse: a value offered twice makes it invalid (400, no X-Tidings-Error).
  if (new Set(texts).size !== texts.length) return { status: 400 };
  const protocol = msgpack ? 'tidings.v1.msgpack' : v1 ? 'tidings.v1' : undefined;
  return { status: 101, ...(protocol ? { protocol } : {}), ...(bearer ? { user: 'alice' } : {}) };
}

describe('token extraction under fast-check', () => {
  it('Sec-WebSocket-Protocol offers (and a token in the query) get the documented answer; only a handshake bearer authenticates', async () => {
    const offer = fc.record({ entries: fc.array(entry, { minLength: 1, maxLength: 5 }), sep: fc.constantFrom(',', ', ', ' ,  '), queryToken: fc.boolean() });
    const n = await fuzzAsync(
      'handshake: subprotocol bearer and query',
      fc.asyncProperty(offer, async ({ entries, sep, queryToken }) => {
        const url = queryToken ? `${t.wsUrl}?token=${tokens.valid}&access_token=${tokens.valid}` : t.wsUrl;
        const r = await RawWs.handshake(url, { protocolHeader: entries.map(entryText).join(sep) });
        const want = expected(entries);
        try {
          expect(r.status).toBe(want.status);
          expect(r.headers['x-tidings-error']).toBe(want.code);
          if (want.code) expect(JSON.parse(r.body).error.code).toBe(want.code);
          // The bearer entry (it carries the token) is never echoed.
          expect(r.headers['sec-websocket-protocol']).toBe(want.protocol);
          if (!r.ws) return true;
          // connect without a token: the handshake's claims, or unauthorized (the query's token is never read).
          const id = r.ws.command({ type: 'connect' });
          const reply = await r.ws.reply(id);
          if (want.user) expect(reply.result.user).toBe(want.user);
          else expect(reply.error.code).toBe('unauthorized');
          return true;
        } finally {
          r.ws?.destroy();
        }
      }),
      0x70c1,
      250,
      0.02,
    );
    expect(n).toBeGreaterThanOrEqual(250);
  });

  it('Authorization headers on the HTTP transports\' open: a Bearer token is used, anything else is no token', async () => {
    const header = fc.record({
      scheme: fc.constantFrom('Bearer', 'bearer', 'BEARER', 'Basic', 'Token', ''),
      space: fc.constantFrom(' ', '  ', '\t'),
      token: fc.constantFrom<Kind>('valid', 'expired', 'garbage'),
      garbage: garbage.filter((g) => g.length > 0),
      trailing: fc.constantFrom('', ' ', ' extra'),
    });
    await fuzzAsync(
      'handshake: Authorization on open',
      fc.asyncProperty(header, async (h) => {
        const tokenText = h.token === 'garbage' ? h.garbage : tokens[h.token];
        const value = `${h.scheme}${h.space}${tokenText}${h.trailing}`;
        const res = await fetch(`${t.apiUrl.replace('/api/v1', '')}/connection/open`, {
          method: 'POST',
          headers: { authorization: value, 'content-type': 'application/json' },
          body: JSON.stringify({ transport: 'polling' }),
        });
        await res.arrayBuffer();
        // The token is taken only from "Bearer <one token>" (any case, surrounding blanks ignored).
        const used = /^bearer$/i.test(h.scheme) && h.trailing !== ' extra';
        const want = !used || h.token === 'valid' ? 200 : 401;
        expect(res.status).toBe(want);
        if (want === 401) expect(res.headers.get('x-tidings-error')).toBe(h.token === 'expired' ? 'token_expired' : 'unauthorized');
        return true;
      }),
      0x70c2,
      150,
      0.02,
    );
  });
});
