/**
 * Attack classes on connection tokens (issue 20 §6), each a named test against a real node on
 * 127.0.0.1: the forged, stale or oversized token gets its documented answer (the connect reply's
 * error code and close code, or the handshake's HTTP status), the node stays healthy (a fresh client
 * connects, subscribes and publishes), and a JWKS endpoint that misbehaves (a huge body, a slow one,
 * a redirect) is a local HTTP server. The verifier's unit tests (jwt-verifier.test.ts) cover the same
 * rules one level down; docs/reliability.md "Attack classes" lists every class and its test.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode, WS_BEARER_PREFIX, WS_SUBPROTOCOL } from '@tidings/protocol';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, TEST_SECRET, type TestNode } from '../test-support/test-node.js';
import type { TidingsOptions } from '../node.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secretKey = new TextEncoder().encode(TEST_SECRET);
const now = () => Math.floor(Date.now() / 1000);

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(cleanup.map((f) => f()));
  cleanup = [];
});
async function node(options: TidingsOptions = {}): Promise<TestNode> {
  const n = await startTestNode(options);
  cleanup.push(() => n.close());
  return n;
}

/** The node serves a fresh client end to end (an HS256 token of the test secret). */
async function expectHealthy(t: TestNode): Promise<void> {
  const { client } = await TestClient.connect(t.wsUrl, await t.token('fresh'));
  try {
    await client.ok('subscribe', { channel: 'chat:health' });
    await client.ok('publish', { channel: 'chat:health', data: { ok: true } });
    expect(await client.waitForPush((p) => p.type === 'publication' && p.channel === 'chat:health')).toMatchObject({ data: { ok: true } });
  } finally {
    client.close();
  }
}

/** `connect` with `token` is refused with `code` (and `message` when given), then the connection closes with `closeCode`. */
async function expectRefused(t: TestNode, token: string, code: string, closeCode: number, message?: string): Promise<Record<string, unknown>> {
  const c = await TestClient.open(t.wsUrl);
  const reply = await c.call('connect', { token });
  expect(reply).toMatchObject({ error: { code, ...(message ? { message } : {}) } });
  expect((await c.closed).code).toBe(closeCode);
  return (reply as { error: Record<string, unknown> }).error;
}

const hs = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256', ...header }).sign(secretKey);

/** The status line the node answers a raw HTTP request with. */
async function rawAnswerStatus(port: number, request: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let got = '';
  socket.on('data', (d: Buffer) => (got += d.toString()));
  socket.write(request);
  await new Promise((r) => socket.once('close', r));
  return got.split('\r\n')[0] ?? '';
}

/** A JWKS endpoint on 127.0.0.1 whose behaviour a test sets; counts requests and body bytes written. */
interface JwksServer {
  url: string;
  requests: number;
  bytesWritten: number;
  mode: 'good' | 'huge' | 'slow' | 'redirect';
  redirectTo?: string;
}

async function jwksServer(keys: JWK[]): Promise<JwksServer> {
  const body = JSON.stringify({ keys });
  const state: JwksServer = { url: '', requests: 0, bytesWritten: 0, mode: 'good' };
  const open = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    state.requests++;
    open.add(res);
    res.on('close', () => open.delete(res));
    if (state.mode === 'redirect') {
      res.writeHead(302, { location: state.redirectTo! }).end();
    } else if (state.mode === 'good') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    } else if (state.mode === 'huge') {
      // Valid JSON with the right keys, padded to 64 MiB: a reader without a bound takes it all.
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = ' '.repeat(1024 * 1024);
      let left = 64;
      const pump = () => {
        while (left > 0) {
          left--;
          state.bytesWritten += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end(body);
      };
      res.on('close', () => (left = 0));
      pump();
    } else {
      // Slow: the head at once, then a byte every 100 ms.
      res.writeHead(200, { 'content-type': 'application/json' });
      let i = 0;
      const timer = setInterval(() => {
        if (i >= body.length) return void (clearInterval(timer), res.end());
        res.write(body[i++]!);
        state.bytesWritten++;
      }, 100);
      res.on('close', () => clearInterval(timer));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  cleanup.push(async () => {
    for (const res of open) res.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return state;
}

/** An RS256 key pair published under `kid`. */
async function rsaKey(kid: string) {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const sign = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid, ...header }).setExpirationTime('1h').sign(privateKey);
  return { jwk, publicJwk: await exportJWK(publicKey), sign };
}

describe('algorithms', () => {
  /** A token with any header, signed (or not) by hand: jose refuses to build `alg: none`. */
  const handMade = (header: Record<string, unknown>, claims: Record<string, unknown>, signature = '') => {
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    return `${b64(header)}.${b64(claims)}.${signature}`;
  };

  it('attack: JWT alg none (any case, with or without a signature) is refused (unauthorized "algorithm not allowed", 4500; 401 on the handshake)', async () => {
    const t = await node();
    const claims = { sub: 'admin', exp: now() + 60, roles: ['staff'] };
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      for (const signature of ['', 'c2lnbmF0dXJl']) {
        const token = handMade({ alg, typ: 'JWT' }, claims, signature);
        await expectRefused(t, token, 'unauthorized', CloseCode.InvalidToken, 'algorithm not allowed');
        const handshake = await TestClient.open(t.wsUrl, { token }).catch((e: { status: number; body: string }) => e);
        expect(handshake.status).toBe(401);
        expect(JSON.parse(handshake.body)).toEqual({ error: { code: 'unauthorized', message: 'algorithm not allowed' } });
      }
    }
    // No alg at all, or not a string.
    await expectRefused(t, handMade({ typ: 'JWT' }, claims), 'unauthorized', CloseCode.InvalidToken, 'algorithm not allowed');
    await expectRefused(t, handMade({ alg: ['HS256'] }, claims), 'unauthorized', CloseCode.InvalidToken, 'algorithm not allowed');
    await expectHealthy(t);
  });

  it('attack: HS/RS algorithm confusion: HS256 keyed with the RSA public key (PEM or DER) is refused, as is RS256 with an HMAC signature (unauthorized, 4500)', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
    const pem = await exportSPKI(publicKey);
    const t = await node({ auth: { publicKey: pem } });
    const claims = { sub: 'admin', exp: now() + 60 };
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    for (const key of [new TextEncoder().encode(pem), new TextEncoder().encode(pem.trim()), new Uint8Array(der)]) {
      const confused = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(key);
      await expectRefused(t, confused, 'unauthorized', CloseCode.InvalidToken, 'no key for token');
    }
    // RS256 in the header, an HMAC over the PEM as the signature.
    const hmac = (await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(pem))).split('.')[2]!;
    await expectRefused(t, handMade({ alg: 'RS256' }, claims, hmac), 'unauthorized', CloseCode.InvalidToken, 'invalid signature');
    // The real key works.
    const { client } = await TestClient.connect(t.wsUrl, await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'RS256' }).setExpirationTime('1h').sign(privateKey));
    client.close();
  });
});

describe('claims', () => {
  it('attack: JWT with nbf in the future is refused (unauthorized, 4500 "token not active yet")', async () => {
    const t = await node();
    await expectRefused(t, await hs({ sub: 'alice', nbf: now() + 3600, exp: now() + 7200 }), 'unauthorized', CloseCode.InvalidToken, 'token not active yet');
    await expectHealthy(t);
  });

  it('attack: JWT of another issuer, or without iss, is refused when auth.issuer is set (unauthorized, 4500)', async () => {
    const t = await node({ auth: { secret: TEST_SECRET, issuer: 'https://idp.example' } });
    await expectRefused(t, await hs({ sub: 'alice', iss: 'https://evil.example', exp: now() + 60 }), 'unauthorized', CloseCode.InvalidToken, 'issuer mismatch');
    await expectRefused(t, await hs({ sub: 'alice', exp: now() + 60 }), 'unauthorized', CloseCode.InvalidToken, 'issuer mismatch');
    const { client } = await TestClient.connect(t.wsUrl, await hs({ sub: 'alice', iss: 'https://idp.example', exp: now() + 60 }));
    client.close();
  });

  it('attack: JWT for another audience, or without aud, is refused when auth.audience is set (unauthorized, 4500)', async () => {
    const t = await node({ auth: { secret: TEST_SECRET, audience: 'tidings' } });
    await expectRefused(t, await hs({ sub: 'alice', aud: 'billing', exp: now() + 60 }), 'unauthorized', CloseCode.InvalidToken, 'audience mismatch');
    await expectRefused(t, await hs({ sub: 'alice', exp: now() + 60 }), 'unauthorized', CloseCode.InvalidToken, 'audience mismatch');
  });

  it('attack: JWT without exp is refused when auth.requireExp is on (unauthorized "missing exp claim", 4500), for subscription tokens too; accepted by default', async () => {
    const t = await node({ auth: { secret: TEST_SECRET, requireExp: true } });
    await expectRefused(t, await hs({ sub: 'alice' }), 'unauthorized', CloseCode.InvalidToken, 'missing exp claim');
    const handshake = await TestClient.open(t.wsUrl, { token: await hs({ sub: 'alice' }) }).catch((e: { status: number; body: string }) => e);
    expect(handshake.status).toBe(401);
    expect(JSON.parse(handshake.body)).toEqual({ error: { code: 'unauthorized', message: 'missing exp claim' } });
    const { client } = await TestClient.connect(t.wsUrl, await hs({ sub: 'alice', exp: now() + 60 }));
    // A private channel's subscription token without exp: refused on the subscription alone.
    expect(await client.call('subscribe', { channel: 'task:1', token: await hs({ sub: 'alice', channel: 'task:1' }) })).toMatchObject({ error: { code: 'permission_denied' } });
    await client.ok('subscribe', { channel: 'task:1', token: await hs({ sub: 'alice', channel: 'task:1', exp: now() + 60 }) });
    client.close();
    await expectHealthy(t);
    // The default accepts a token without exp (tidings token --ttl 0 mints one).
    const lenient = await node();
    const { client: forever } = await TestClient.connect(lenient.wsUrl, await hs({ sub: 'alice' }));
    forever.close();
  });

  it('attack: an expired JWT is refused with token_expired and close 4003, over the handshake too (401)', async () => {
    const t = await node();
    const expired = await hs({ sub: 'alice', exp: now() - 60 });
    await expectRefused(t, expired, 'token_expired', CloseCode.TokenExpired);
    const handshake = await TestClient.open(t.wsUrl, { token: expired }).catch((e: { status: number; body: string }) => e);
    expect(handshake.status).toBe(401);
    expect(JSON.parse(handshake.body)).toMatchObject({ error: { code: 'token_expired' } });
    await expectHealthy(t);
  });
});

describe('keys', () => {
  it('attack: JWT with an unknown kid, or a kid crafted as a path, SQL or a URL, finds no key (unauthorized, 4500) and fetches the JWKS at most twice', async () => {
    const good = await rsaKey('key-1');
    const jwks = await jwksServer([good.jwk]);
    const t = await node({ auth: { secret: TEST_SECRET, jwksUrl: jwks.url, jwksCooldown: '1h' } });
    const { client } = await TestClient.connect(t.wsUrl, await good.sign({ sub: 'alice' }));
    client.close();
    const stranger = await rsaKey('key-2');
    for (const kid of ['key-2', '../../../../dev/null', "' OR '1'='1", 'key-1\u0000', `http://127.0.0.1:1/jwks.json`, 'a'.repeat(5000)]) {
      await expectRefused(t, await stranger.sign({ sub: 'mallory' }, { kid }), 'unauthorized', CloseCode.InvalidToken);
    }
    // The right kid with another key's signature is no better.
    await expectRefused(t, await stranger.sign({ sub: 'mallory' }, { kid: 'key-1' }), 'unauthorized', CloseCode.InvalidToken, 'invalid signature');
    // One fetch at first use, at most one more for the unknown kids within the cooldown.
    expect(jwks.requests).toBeLessThanOrEqual(2);
    await expectHealthy(t);
  });

  it('attack: JWT carrying its own key (jwk, jku, x5u headers) is refused and the node fetches nothing from the token', async () => {
    const good = await rsaKey('key-1');
    const jwks = await jwksServer([good.jwk]);
    const attackerJwks = await jwksServer([]);
    const mallory = await rsaKey('key-1');
    attackerJwks.mode = 'good';
    const t = await node({ auth: { secret: TEST_SECRET, jwksUrl: jwks.url } });
    const forged = await mallory.sign({ sub: 'admin' }, { jwk: mallory.publicJwk, jku: attackerJwks.url, x5u: attackerJwks.url });
    await expectRefused(t, forged, 'unauthorized', CloseCode.InvalidToken);
    // An HS256 token whose kid names the JWKS key, signed with that public key's JSON (confusion through kid).
    const confused = await new SignJWT({ sub: 'admin' }).setProtectedHeader({ alg: 'HS256', kid: 'key-1' }).sign(new TextEncoder().encode(JSON.stringify(good.jwk)));
    await expectRefused(t, confused, 'unauthorized', CloseCode.InvalidToken);
    expect(attackerJwks.requests).toBe(0);
    await expectHealthy(t);
  });

  it('attack: an oversized token is refused: past the 16384 characters of connect.token (bad_request), forged just under (unauthorized, 4500), past websocket.maxPayload (1009), in the handshake past the header limit (400)', async () => {
    const t = await node();
    // Past connect.token's limit (16384 characters): bad_request before any verification.
    const padded = await hs({ sub: 'alice', exp: now() + 60, pad: 'x'.repeat(40_000) });
    const c1 = await TestClient.open(t.wsUrl);
    expect(await c1.call('connect', { token: padded })).toMatchObject({ error: { code: 'bad_request', message: 'connect.token: longer than 16384 characters' } });
    c1.close();
    // Just under it, forged: verified and refused like any bad signature, and not echoed.
    const forged = await hs({ sub: 'alice', exp: now() + 60, pad: 'x'.repeat(11_500) });
    expect(forged.length).toBeLessThan(16384);
    const big = await expectRefused(t, forged.slice(0, -2) + 'AA', 'unauthorized', CloseCode.InvalidToken, 'invalid signature');
    expect(JSON.stringify(big)).not.toContain('eHh4');
    const c = await TestClient.open(t.wsUrl);
    c.send(JSON.stringify({ id: 1, type: 'connect', token: 'x'.repeat(70_000) }));
    expect((await c.closed).code).toBe(1009);
    const handshake = await TestClient.open(t.wsUrl, { protocols: [WS_SUBPROTOCOL, WS_BEARER_PREFIX + 'x'.repeat(20_000)] }).catch((e: { status: number }) => e);
    expect(handshake.status).toBe(400);
    // The HTTP transports' open: the same header limit, a bare 400 (docs/errors.md).
    const open = await rawAnswerStatus(t.port, `POST /connection/open HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Bearer ${'x'.repeat(20_000)}\r\nContent-Length: 19\r\n\r\n{"transport":"sse"}`);
    expect(open).toBe('HTTP/1.1 400 Bad Request');
    await expectHealthy(t);
  });
});

describe('JWKS fetch abuse', () => {
  async function jwksNode(mode: JwksServer['mode']) {
    const good = await rsaKey('key-1');
    const jwks = await jwksServer([good.jwk]);
    jwks.mode = mode;
    const t = await node({ auth: { secret: TEST_SECRET, jwksUrl: jwks.url, jwksTimeout: 500, jwksCooldown: 0 } });
    return { good, jwks, t };
  }

  it('attack: JWKS fetch abuse, a huge body: refused as temporarily unauthorized ("key set unavailable", close 4006) without reading it all', async () => {
    const { good, jwks, t } = await jwksNode('huge');
    const { client: bystander } = await TestClient.connect(t.wsUrl, await t.token('bystander'));
    const error = await expectRefused(t, await good.sign({ sub: 'alice' }), 'unauthorized', CloseCode.InternalError, 'key set unavailable');
    expect(error.temporary).toBe(true);
    // The node stopped reading at its bound (1 MiB), far short of the 64 MiB on offer.
    await sleep(100);
    expect(jwks.bytesWritten).toBeLessThan(32 * 1024 * 1024);
    await bystander.ok('subscribe', { channel: 'chat:b' });
    bystander.close();
    // Once the endpoint behaves, the same token connects.
    jwks.mode = 'good';
    const { client } = await TestClient.connect(t.wsUrl, await good.sign({ sub: 'alice' }));
    client.close();
    await expectHealthy(t);
  });

  it('attack: JWKS fetch abuse, a slow body: refused as temporarily unauthorized after auth.jwksTimeout, others unaffected', async () => {
    const { good, t } = await jwksNode('slow');
    const { client: bystander } = await TestClient.connect(t.wsUrl, await t.token('bystander'));
    const refused = expectRefused(t, await good.sign({ sub: 'alice' }), 'unauthorized', CloseCode.InternalError, 'key set unavailable');
    // Meanwhile the node serves others.
    await bystander.ok('subscribe', { channel: 'chat:b' });
    expect((await refused).temporary).toBe(true);
    bystander.close();
    await expectHealthy(t);
  });

  it('attack: JWKS fetch abuse, a redirect: not followed, refused as temporarily unauthorized', async () => {
    const { good, jwks, t } = await jwksNode('redirect');
    const elsewhere = await jwksServer([good.jwk]);
    jwks.redirectTo = elsewhere.url;
    const error = await expectRefused(t, await good.sign({ sub: 'alice' }), 'unauthorized', CloseCode.InternalError, 'key set unavailable');
    expect(error.temporary).toBe(true);
    expect(elsewhere.requests).toBe(0);
    await expectHealthy(t);
  });
});
