import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TidingsError } from '../errors.js';
import { createJwtVerifier } from './jwt-verifier.js';
import { mintToken } from './token-mint.js';
import type { JwtOptions, TokenVerifier } from './token-verifier.js';

const SECRET = 'test-secret-0123456789-0123456789-0123456789';
const enc = (s: string) => new TextEncoder().encode(s);
const now = () => Math.floor(Date.now() / 1000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

function verifier(options: Partial<JwtOptions>): TokenVerifier {
  return createJwtVerifier({
    clockToleranceMs: 0,
    jwksCacheMaxAgeMs: 600_000,
    jwksCooldownMs: 30_000,
    jwksTimeoutMs: 2_000,
    ...options,
  });
}

/** Registered claims (exp, nbf, aud, iss) go straight into the payload so tests control them exactly. */
function sign(payload: Record<string, unknown>, key: CryptoKey | Uint8Array, alg = 'HS256', kid?: string): Promise<string> {
  return new SignJWT(payload).setProtectedHeader(kid === undefined ? { alg, typ: 'JWT' } : { alg, kid, typ: 'JWT' }).sign(key);
}

async function rejection(promise: Promise<unknown>): Promise<TidingsError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(TidingsError);
    return err as TidingsError;
  }
  throw new Error('expected the promise to reject');
}

async function unauthorized(promise: Promise<unknown>, message?: string): Promise<TidingsError> {
  const err = await rejection(promise);
  expect(err.code).toBe('unauthorized');
  if (message !== undefined) expect(err.message).toBe(message);
  return err;
}

type Pair = { publicKey: CryptoKey; privateKey: CryptoKey };
let rsa: Pair, ec: Pair, rsaB: Pair, rsaOther: Pair, rsaNew: Pair, ec2: Pair;
let rsaPem: string, ecPem: string;
let dir: string;
let server: Server;
let base: string;
/** What the JWKS server serves per path, and how many requests each path got. */
const served = new Map<string, JWK[]>();
const hits = new Map<string, number>();

async function jwk(pair: Pair, alg: string, kid?: string): Promise<JWK> {
  const key: JWK = { ...(await exportJWK(pair.publicKey)), alg, use: 'sig' };
  if (kid !== undefined) key.kid = kid;
  return key;
}

beforeAll(async () => {
  const opts = { extractable: true };
  [rsa, ec, rsaB, rsaOther, rsaNew, ec2] = await Promise.all([
    generateKeyPair('RS256', opts),
    generateKeyPair('ES256', opts),
    generateKeyPair('RS256', opts),
    generateKeyPair('RS256', opts),
    generateKeyPair('RS256', opts),
    generateKeyPair('ES256', opts),
  ]);
  rsaPem = await exportSPKI(rsa.publicKey);
  ecPem = await exportSPKI(ec.publicKey);
  dir = await mkdtemp(join(tmpdir(), 'tidings-jwt-'));
  server = createServer((req, res) => {
    const path = req.url ?? '';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    if (path === '/hang') return; // never answers: exercises jwksTimeoutMs
    const keys = served.get(path);
    if (keys === undefined) res.writeHead(500).end('down');
    else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

describe('shared secret', () => {
  it.each(['HS256', 'HS384', 'HS512'])('accepts %s', async (alg) => {
    const token = await sign({ sub: 'alice' }, enc(SECRET), alg);
    expect(await verifier({ secret: SECRET }).verifyConnection(token)).toEqual({ user: 'alice', roles: [], channels: [] });
  });

  it('returns every claim, exp in ms', async () => {
    const exp = now() + 60;
    const payload = { sub: 'auth0|123', info: { name: 'Alice' }, roles: ['admin'], channels: ['news:all', 'dm:#alice,bob'], exp };
    const claims = await verifier({ secret: SECRET }).verifyConnection(await sign(payload, enc(SECRET)));
    expect(claims).toEqual({ user: 'auth0|123', info: { name: 'Alice' }, roles: ['admin'], channels: payload.channels, expiresAt: exp * 1000 });
  });

  it('rejects a wrong secret', async () => {
    await unauthorized(verifier({ secret: SECRET }).verifyConnection(await sign({ sub: 'a' }, enc('other-secret'))), 'invalid signature');
  });

  it('refuses an empty secret at start', () => {
    expect(() => verifier({ secret: '' })).toThrow(/secret/);
  });
});

describe('public keys', () => {
  it('accepts RS256 and ES256 with a PEM', async () => {
    expect((await verifier({ publicKey: rsaPem }).verifyConnection(await sign({ sub: 'r' }, rsa.privateKey, 'RS256'))).user).toBe('r');
    expect((await verifier({ publicKey: ecPem }).verifyConnection(await sign({ sub: 'e' }, ec.privateKey, 'ES256'))).user).toBe('e');
  });

  it('accepts RS256 and ES256 with a jwksFile; unknown kid and unknown key are rejected', async () => {
    const file = join(dir, 'jwks.json');
    await writeFile(file, JSON.stringify({ keys: [await jwk(rsa, 'RS256', 'rsa-1'), await jwk(ec, 'ES256', 'ec-1')] }));
    const v = verifier({ jwksFile: file });
    expect((await v.verifyConnection(await sign({ sub: 'r' }, rsa.privateKey, 'RS256', 'rsa-1'))).user).toBe('r');
    expect((await v.verifyConnection(await sign({ sub: 'e' }, ec.privateKey, 'ES256', 'ec-1'))).user).toBe('e');
    await unauthorized(v.verifyConnection(await sign({ sub: 'x' }, rsaOther.privateKey, 'RS256', 'nope')), 'no key for token');
    await unauthorized(v.verifyConnection(await sign({ sub: 'x' }, rsaOther.privateKey, 'RS256', 'rsa-1')), 'invalid signature');
  });

  it('tries each matching key when the token has no kid', async () => {
    const file = join(dir, 'nokid.json');
    await writeFile(file, JSON.stringify({ keys: [await jwk(ec, 'ES256'), await jwk(ec2, 'ES256')] }));
    const v = verifier({ jwksFile: file });
    expect((await v.verifyConnection(await sign({ sub: 'e2' }, ec2.privateKey, 'ES256'))).user).toBe('e2');
    const stranger = await generateKeyPair('ES256');
    await unauthorized(v.verifyConnection(await sign({ sub: 'x' }, stranger.privateKey, 'ES256')), 'invalid signature');
  });

  it('accepts RS256 and ES256 with a jwksUrl', async () => {
    served.set('/main.json', [await jwk(rsa, 'RS256', 'rsa-1'), await jwk(ec, 'ES256', 'ec-1')]);
    const v = verifier({ jwksUrl: `${base}/main.json` });
    expect((await v.verifyConnection(await sign({ sub: 'r' }, rsa.privateKey, 'RS256', 'rsa-1'))).user).toBe('r');
    expect((await v.verifyConnection(await sign({ sub: 'e' }, ec.privateKey, 'ES256', 'ec-1'))).user).toBe('e');
  });

  it('rejects a token signed by an unknown key', async () => {
    await unauthorized(verifier({ publicKey: rsaPem }).verifyConnection(await sign({ sub: 'x' }, rsaOther.privateKey, 'RS256')), 'invalid signature');
  });

  it('refuses a PEM that is not a public key at start', () => {
    expect(() => verifier({ publicKey: 'not a pem' })).toThrow(/publicKey/);
  });
});

describe('time claims', () => {
  it('reports an expired token as token_expired', async () => {
    const err = await rejection(verifier({ secret: SECRET }).verifyConnection(await sign({ sub: 'a', exp: now() - 10 }, enc(SECRET))));
    expect(err.code).toBe('token_expired');
    expect(err.message).toBe('token expired');
  });

  it('accepts a token expired by less than the clock tolerance, not by more', async () => {
    const v = verifier({ secret: SECRET, clockToleranceMs: 5_000 });
    expect((await v.verifyConnection(await sign({ sub: 'a', exp: now() - 2 }, enc(SECRET)))).user).toBe('a');
    expect((await rejection(v.verifyConnection(await sign({ sub: 'a', exp: now() - 10 }, enc(SECRET))))).code).toBe('token_expired');
  });

  it('rejects nbf in the future beyond the tolerance', async () => {
    const v = verifier({ secret: SECRET, clockToleranceMs: 5_000 });
    await unauthorized(v.verifyConnection(await sign({ sub: 'a', nbf: now() + 60 }, enc(SECRET))), 'token not active yet');
    expect((await v.verifyConnection(await sign({ sub: 'a', nbf: now() + 2 }, enc(SECRET)))).user).toBe('a');
  });
});

describe('audience and issuer', () => {
  const v = () => verifier({ secret: SECRET, audience: ['tidings', 'tidings-dev'], issuer: 'https://auth.example' });
  const ok = { sub: 'a', aud: 'tidings-dev', iss: 'https://auth.example' };

  it('accepts any of the audiences', async () => {
    expect((await v().verifyConnection(await sign(ok, enc(SECRET)))).user).toBe('a');
  });

  it('rejects a wrong or missing aud', async () => {
    await unauthorized(v().verifyConnection(await sign({ ...ok, aud: 'other' }, enc(SECRET))), 'audience mismatch');
    await unauthorized(v().verifyConnection(await sign({ sub: 'a', iss: ok.iss }, enc(SECRET))), 'audience mismatch');
  });

  it('rejects a wrong iss', async () => {
    await unauthorized(v().verifyConnection(await sign({ ...ok, iss: 'https://evil.example' }, enc(SECRET))), 'issuer mismatch');
  });
});

describe('algorithms', () => {
  it('rejects alg none', async () => {
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'mallory' })}.`;
    await unauthorized(verifier({ secret: SECRET }).verifyConnection(token), 'algorithm not allowed');
    await unauthorized(verifier({ publicKey: rsaPem }).verifyConnection(token), 'algorithm not allowed');
  });

  it('rejects HS256 signed with the RSA public PEM (algorithm confusion)', async () => {
    const token = await sign({ sub: 'mallory' }, enc(rsaPem), 'HS256');
    await unauthorized(verifier({ publicKey: rsaPem }).verifyConnection(token), 'no key for token');
    await unauthorized(verifier({ publicKey: rsaPem, secret: SECRET }).verifyConnection(token), 'invalid signature');
  });

  it('honours the algorithms option', async () => {
    const rs = await sign({ sub: 'a' }, rsa.privateKey, 'RS256');
    await unauthorized(verifier({ publicKey: rsaPem, algorithms: ['HS256', 'ES256'] }).verifyConnection(rs), 'algorithm not allowed');
    const hs512 = await sign({ sub: 'a' }, enc(SECRET), 'HS512');
    await unauthorized(verifier({ secret: SECRET, algorithms: ['HS256'] }).verifyConnection(hs512), 'algorithm not allowed');
  });

  it('rejects an unsupported alg even with the right key', async () => {
    const rs512 = `${b64({ alg: 'RS512', typ: 'JWT' })}.${b64({ sub: 'a' })}.c2ln`;
    await unauthorized(verifier({ publicKey: rsaPem }).verifyConnection(rs512), 'algorithm not allowed');
  });

  it('rejects every token when no keys are configured', async () => {
    await unauthorized(verifier({}).verifyConnection(await sign({ sub: 'a' }, enc(SECRET))), 'no key for token');
    await unauthorized(verifier({}).verifyConnection(await sign({ sub: 'a' }, rsa.privateKey, 'RS256')), 'no key for token');
  });
});

describe('claims', () => {
  const v = () => verifier({ secret: SECRET });
  const token = (payload: Record<string, unknown>) => sign(payload, enc(SECRET));

  it('requires a valid sub', async () => {
    await unauthorized(v().verifyConnection(await token({ roles: [] })), 'missing sub');
    for (const sub of ['a#b', 'a b', 'a,b', '', 'x'.repeat(201)]) {
      await unauthorized(v().verifyConnection(await token({ sub })), 'invalid sub');
    }
    await unauthorized(v().verifyConnection(await token({ sub: 123 })));
  });

  it.each([
    ['roles', 'admin'],
    ['roles', [1]],
    ['roles', null],
    ['info', ['x']],
    ['info', 'x'],
    ['info', null],
    ['channels', 'news:all'],
    ['channels', ['no-namespace']],
    ['channels', ['news:a b']],
  ])('rejects an ill-typed %s: %j', async (claim, value) => {
    await unauthorized(v().verifyConnection(await token({ sub: 'a', [claim]: value })), `invalid ${claim} claim`);
  });

  it.each(['', 'abc', 'a.b.c', `${b64({ alg: 'HS256' })}.bm90IGpzb24.sig`])('rejects malformed %j', async (bad) => {
    await unauthorized(v().verifyConnection(bad), 'malformed token');
  });
});

describe('subscription tokens', () => {
  const v = () => verifier({ secret: SECRET });

  it('verifies user, channel, info, exp', async () => {
    const exp = now() + 60;
    const claims = await v().verifySubscription(await sign({ sub: 'bob', channel: 'chat:room-1', info: { seat: 3 }, exp }, enc(SECRET)));
    expect(claims).toEqual({ user: 'bob', channel: 'chat:room-1', info: { seat: 3 }, expiresAt: exp * 1000 });
  });

  it('requires a valid channel', async () => {
    await unauthorized(v().verifySubscription(await sign({ sub: 'bob' }, enc(SECRET))), 'missing channel');
    await unauthorized(v().verifySubscription(await sign({ sub: 'bob', channel: 'room*' }, enc(SECRET))), 'invalid channel claim');
  });

  it('cannot be used to connect', async () => {
    await unauthorized(v().verifyConnection(await sign({ sub: 'bob', channel: 'chat:room-1' }, enc(SECRET))));
  });
});

describe('issuers', () => {
  const A = 'https://a.example';
  const B = 'https://b.example';

  it('uses each issuer’s own JWKS and audience', async () => {
    served.set('/a.json', [await jwk(rsa, 'RS256', 'a')]);
    served.set('/b.json', [await jwk(rsaB, 'RS256', 'b')]);
    const v = verifier({
      audience: 'tidings',
      issuers: [
        { issuer: A, jwksUrl: `${base}/a.json`, audience: 'app-a' },
        { issuer: B, jwksUrl: `${base}/b.json` },
      ],
    });
    expect((await v.verifyConnection(await sign({ sub: 'ua', iss: A, aud: 'app-a' }, rsa.privateKey, 'RS256', 'a'))).user).toBe('ua');
    expect((await v.verifyConnection(await sign({ sub: 'ub', iss: B, aud: 'tidings' }, rsaB.privateKey, 'RS256', 'b'))).user).toBe('ub');
    // Claims issuer A but is signed with B's key: A's keys alone decide.
    await unauthorized(v.verifyConnection(await sign({ sub: 'x', iss: A, aud: 'app-a' }, rsaB.privateKey, 'RS256', 'b')), 'no key for token');
    await unauthorized(v.verifyConnection(await sign({ sub: 'x', iss: A, aud: 'app-a' }, rsaB.privateKey, 'RS256', 'a')), 'invalid signature');
    // B has no audience of its own, so the top-level one applies.
    await unauthorized(v.verifyConnection(await sign({ sub: 'x', iss: B, aud: 'app-a' }, rsaB.privateKey, 'RS256', 'b')), 'audience mismatch');
    expect(hits.get('/a.json')).toBeGreaterThanOrEqual(1);
    expect(hits.get('/b.json')).toBeGreaterThanOrEqual(1);
  });

  it('falls back to the top-level keys and checks for an unknown iss, never for a known one', async () => {
    const issuers = [{ issuer: A, jwksUrl: `${base}/a.json` }];
    const other = await sign({ sub: 'o', iss: 'https://other.example' }, enc(SECRET));
    expect((await verifier({ secret: SECRET, issuers }).verifyConnection(other)).user).toBe('o');
    await unauthorized(verifier({ secret: SECRET, issuer: 'https://top.example', issuers }).verifyConnection(other), 'issuer mismatch');
    const claimsA = await sign({ sub: 'x', iss: A }, enc(SECRET));
    await unauthorized(verifier({ secret: SECRET, issuers }).verifyConnection(claimsA), 'no key for token');
  });
});

describe('remote JWKS', () => {
  it('refetches on an unknown kid after the cooldown (key rotation)', async () => {
    served.set('/rotate.json', [await jwk(rsa, 'RS256', 'old')]);
    const rotated = await sign({ sub: 'b' }, rsaNew.privateKey, 'RS256', 'new');
    const v = verifier({ jwksUrl: `${base}/rotate.json`, jwksCooldownMs: 500 });
    expect((await v.verifyConnection(await sign({ sub: 'a' }, rsa.privateKey, 'RS256', 'old'))).user).toBe('a');
    expect(hits.get('/rotate.json')).toBe(1);
    served.set('/rotate.json', [await jwk(rsa, 'RS256', 'old'), await jwk(rsaNew, 'RS256', 'new')]);
    // Within the cooldown an unknown kid does not reach the IdP.
    await unauthorized(v.verifyConnection(rotated), 'no key for token');
    expect(hits.get('/rotate.json')).toBe(1);
    await sleep(600);
    expect((await v.verifyConnection(rotated)).user).toBe('b');
    expect(hits.get('/rotate.json')).toBe(2);
  });

  it('a burst of unknown kids fetches at most twice within the cooldown', async () => {
    served.set('/burst.json', [await jwk(rsa, 'RS256', 'k')]);
    const v = verifier({ jwksUrl: `${base}/burst.json`, jwksCooldownMs: 60_000 });
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => sign({ sub: 'x' }, rsaOther.privateKey, 'RS256', `unknown-${i}`)));
    const results = await Promise.allSettled(tokens.map((t) => v.verifyConnection(t)));
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'unauthorized', message: 'no key for token' });
    }
    for (const t of tokens) await unauthorized(v.verifyConnection(t));
    expect((await v.verifyConnection(await sign({ sub: 'a' }, rsa.privateKey, 'RS256', 'k'))).user).toBe('a');
    expect(hits.get('/burst.json')).toBeLessThanOrEqual(2);
  });

  it('reports an unreachable key set as temporary', async () => {
    const token = await sign({ sub: 'a' }, rsa.privateKey, 'RS256', 'k');
    for (const url of [`${base}/missing.json`, `${base}/hang`]) {
      const err = await unauthorized(verifier({ jwksUrl: url, jwksTimeoutMs: 300 }).verifyConnection(token), 'key set unavailable');
      expect(err.temporary).toBe(true);
    }
  });
});

describe('mintToken', () => {
  it('round-trips through the verifier', async () => {
    const token = await mintToken(SECRET, {
      sub: 'alice',
      info: { name: 'Alice' },
      roles: ['admin'],
      channels: ['news:all'],
      ttlSeconds: 60,
      audience: 'tidings',
      issuer: 'cli',
    });
    const claims = await verifier({ secret: SECRET, audience: 'tidings', issuer: 'cli' }).verifyConnection(token);
    expect(claims).toMatchObject({ user: 'alice', info: { name: 'Alice' }, roles: ['admin'], channels: ['news:all'] });
    expect(claims.expiresAt).toBeGreaterThan(Date.now() + 55_000);
    expect(claims.expiresAt).toBeLessThanOrEqual(Date.now() + 61_000);
    expect(decodeJwt(token)).toMatchObject({ aud: 'tidings', iss: 'cli' });
  });

  it('omits exp when ttlSeconds is 0 or unset', async () => {
    for (const ttlSeconds of [0, undefined]) {
      const token = await mintToken(SECRET, { sub: 'alice', ttlSeconds });
      expect(decodeJwt(token).exp).toBeUndefined();
      expect((await verifier({ secret: SECRET }).verifyConnection(token)).expiresAt).toBeUndefined();
    }
  });

  it('mints subscription tokens', async () => {
    const token = await mintToken(SECRET, { sub: 'bob', channel: 'chat:room-1' });
    expect(await verifier({ secret: SECRET }).verifySubscription(token)).toEqual({ user: 'bob', channel: 'chat:room-1' });
  });

  it('refuses claims the verifier would reject', async () => {
    await expect(mintToken(SECRET, { sub: 'a b' })).rejects.toThrow(/sub/);
    await expect(mintToken(SECRET, { sub: 'a', channels: ['nope'] })).rejects.toThrow(/channel/);
    await expect(mintToken(SECRET, { sub: 'a', ttlSeconds: -1 })).rejects.toThrow(/ttl/);
    await expect(mintToken('', { sub: 'a' })).rejects.toThrow(/secret/);
  });
});

describe('error messages', () => {
  it('never contain the token or its parts', async () => {
    const v = verifier({ secret: SECRET, audience: 'tidings' });
    const tokens = [
      await sign({ sub: 'a', aud: 'tidings', exp: now() - 10 }, enc(SECRET)),
      await sign({ sub: 'a', aud: 'tidings' }, enc('wrong-secret')),
      await sign({ sub: 'a', aud: 'secret-audience-value' }, enc(SECRET)),
      await sign({ sub: 'secret sub value', aud: 'tidings' }, enc(SECRET)),
      await sign({ sub: 'a', aud: 'tidings', roles: 'secret-role-value' }, enc(SECRET)),
      'xq1.yq2.zq3',
    ];
    for (const token of tokens) {
      const err = await rejection(v.verifyConnection(token));
      const text = `${err.message} ${JSON.stringify(err.toBody())}`;
      expect(text).not.toContain(token);
      for (const part of token.split('.').filter((p) => p.length > 0)) expect(text).not.toContain(part);
      expect(text).not.toMatch(/secret/);
    }
  });
});
